package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"sync"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/go-sql-driver/mysql" // the "mysql" database/sql driver (MySQL, MariaDB)
	"github.com/lib/pq"              // the "postgres" database/sql driver
	_ "github.com/mattn/go-sqlite3"  // the "sqlite3" database/sql driver

	"github.com/entreactive/reactive/ent"
	_ "github.com/entreactive/reactive/ent/runtime" // required: the reactive schemas' hooks
)

// MemoryDB is the Config.DB value for a database that lives in memory for
// as long as the App.
const MemoryDB = ":memory:"

// Database is where the app keeps its rows, as ParseDB reads Config.DB.
type Database struct {
	// Dialect is the ent dialect: dialect.SQLite, dialect.Postgres or
	// dialect.MySQL (MySQL and MariaDB).
	Dialect string
	// Driver is the database/sql driver name: "sqlite3", "postgres" or
	// "mysql".
	Driver string
	// DSN is the driver's data source name.
	DSN string
	// File is the SQLite database file; "" in memory and on a database
	// server.
	File string
	// shown is the DSN for logs and errors, its password hidden.
	shown string
}

// String returns the database for logs: the SQLite file, or the URL with
// its password hidden.
func (d Database) String() string { return d.shown }

// urlScheme matches the scheme of a URL at the start of Config.DB.
var urlScheme = regexp.MustCompile(`^([A-Za-z][A-Za-z0-9+.-]*)://`)

// ParseDB reads a Config.DB value:
//
//   - a SQLite file path ("example.db", "/var/lib/app/app.db"), created if
//     missing, or MemoryDB;
//   - a PostgreSQL URL, postgres://user:pass@host:5432/db?sslmode=disable
//     (postgresql:// too), for lib/pq;
//   - a MySQL or MariaDB DSN in go-sql-driver/mysql's form behind mysql://
//     or mariadb://: mysql://user:pass@tcp(host:3306)/db?param=value.
//     parseTime=true is added: the rows have times.
//
// Any other URL scheme is an error, as is a URL the driver cannot read.
func ParseDB(s string) (Database, error) {
	if s == "" {
		return Database{}, errors.New("no database: give a SQLite file, :memory:, postgres://… or mysql://…")
	}
	m := urlScheme.FindStringSubmatch(s)
	if m == nil {
		d := Database{Dialect: dialect.SQLite, Driver: "sqlite3", DSN: sqliteDSN(s), shown: s}
		if s != MemoryDB {
			d.File = s
		}
		return d, nil
	}
	switch scheme := strings.ToLower(m[1]); scheme {
	case "postgres", "postgresql":
		u, err := url.Parse(s)
		if err != nil {
			return Database{}, fmt.Errorf("postgres URL: %w", errors.Unwrap(err))
		}
		shown := u.Redacted()
		if _, err := pq.NewConfig(s); err != nil {
			return Database{}, fmt.Errorf("postgres URL %s: %w", shown, err)
		}
		if strings.Trim(u.Path, "/") == "" {
			return Database{}, fmt.Errorf("postgres URL %s: no database name (postgres://user@host:5432/NAME)", shown)
		}
		return Database{Dialect: dialect.Postgres, Driver: "postgres", DSN: s, shown: shown}, nil
	case "mysql", "mariadb":
		dsn := s[len(m[0]):]
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			return Database{}, fmt.Errorf("%s DSN: %w (the form is %s://user:pass@tcp(host:3306)/NAME)", scheme, err, scheme)
		}
		hidden := cfg.Clone()
		if hidden.Passwd != "" {
			hidden.Passwd = "xxxxx"
		}
		shown := scheme + "://" + hidden.FormatDSN()
		if cfg.Net != "tcp" && cfg.Net != "tcp6" && cfg.Net != "unix" {
			return Database{}, fmt.Errorf("%s DSN %s: network %q: write the address as tcp(host:3306) or unix(/path/to/socket)", scheme, shown, cfg.Net)
		}
		if cfg.DBName == "" {
			return Database{}, fmt.Errorf("%s DSN %s: no database name (%s://user@tcp(host:3306)/NAME)", scheme, shown, scheme)
		}
		cfg.ParseTime = true
		return Database{Dialect: dialect.MySQL, Driver: "mysql", DSN: cfg.FormatDSN(), shown: shown}, nil
	default:
		return Database{}, fmt.Errorf("database URL scheme %q is not supported: give a SQLite file path, postgres://…, mysql://… or mariadb://…", m[1])
	}
}

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
	// share the file). Each connection keeps its prepared statements
	// (_stmt_cache_size): SQLite compiles the capture triggers (-capture)
	// into every INSERT it prepares.
	return "file:" + (&url.URL{Path: path}).EscapedPath() + "?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_stmt_cache_size=64"
}

// migrateMu serializes schema creation: ent's migration writes to the
// package-level table descriptions of ent/migrate, so two Apps created at
// once in one process would race on them.
var migrateMu sync.Mutex

// serverPool is the most connections the app opens to a database server
// (PostgreSQL, MySQL, MariaDB).
const serverPool = 16

// openDB opens the database d and returns its ent driver.
//
// On SQLite the pool holds a single connection. SQLite writes one
// transaction at a time anyway, an in-memory database lives in its
// connection, and one connection rules out "database is locked" errors
// between the app's own requests. Everything that runs inside a
// transaction must therefore use the transaction's client.
func openDB(ctx context.Context, d Database) (*entsql.Driver, error) {
	db, err := sql.Open(d.Driver, d.DSN)
	if err != nil {
		return nil, fmt.Errorf("open database %s: %w", d, err)
	}
	if d.Dialect == dialect.SQLite {
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxLifetime(0)
		db.SetConnMaxIdleTime(0)
	} else {
		db.SetMaxOpenConns(serverPool)
		db.SetMaxIdleConns(serverPool)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("open database %s: %w", d, err)
	}
	return entsql.OpenDB(d.Dialect, db), nil
}

// newClient returns an ent client on drv built with opts, after creating
// or migrating the schema.
func newClient(ctx context.Context, d Database, drv *entsql.Driver, opts ...ent.Option) (*ent.Client, error) {
	client := ent.NewClient(append(opts, ent.Driver(drv))...)
	migrateMu.Lock()
	err := client.Schema.Create(ctx)
	migrateMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("create schema in %s: %w", d, err)
	}
	return client, nil
}
