package app

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	_ "github.com/mattn/go-sqlite3" // the "sqlite3" database/sql driver

	"github.com/entreactive/reactive/ent"
	_ "github.com/entreactive/reactive/ent/runtime" // required: the reactive schemas' hooks
)

// MemoryDB is the Config.DB value for a database that lives in memory for
// as long as the App.
const MemoryDB = ":memory:"

// sqliteDSN returns the go-sqlite3 data source name for path, a file or
// MemoryDB, with foreign keys on.
func sqliteDSN(path string) string {
	if path == MemoryDB {
		return "file::memory:?_fk=1"
	}
	// A URI filename: '?', '#' and '%' in the path must be escaped.
	// Transactions take the write lock when they begin (_txlock=immediate),
	// so that one that reads before it writes waits its turn behind
	// another process writing to the same file, rather than failing with
	// "database is locked" when it upgrades (several nodes of a cluster may
	// share the file).
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate"
}

// migrateMu serializes schema creation: ent's migration writes to the
// package-level table descriptions of ent/migrate, so two Apps created at
// once in one process would race on them.
var migrateMu sync.Mutex

// openDB opens the SQLite database at path (or in memory), creates or
// migrates the schema and returns an ent client built with opts.
//
// The pool holds a single connection. SQLite writes one transaction at a
// time anyway, an in-memory database lives in its connection, and one
// connection rules out "database is locked" errors between the app's own
// requests. Everything that runs inside a transaction must therefore use
// the transaction's client.
func openDB(ctx context.Context, path string, opts ...ent.Option) (*ent.Client, error) {
	db, err := sql.Open("sqlite3", sqliteDSN(path))
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", path, err)
	}
	client := ent.NewClient(append(opts, ent.Driver(entsql.OpenDB(dialect.SQLite, db)))...)
	migrateMu.Lock()
	err = client.Schema.Create(ctx)
	migrateMu.Unlock()
	if err != nil {
		client.Close()
		return nil, fmt.Errorf("create schema in %s: %w", path, err)
	}
	return client, nil
}
