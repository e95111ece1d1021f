// Package testdb gives tests a fresh database of each kind the suites run
// on: SQLite in memory always, PostgreSQL and MariaDB when their DSN
// variables are set (ENTREACTIVE_POSTGRES_DSN, ENTREACTIVE_MARIADB_DSN; CI
// sets both and a missing one fails there).
package testdb

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq"           // PostgreSQL
	_ "github.com/mattn/go-sqlite3" // SQLite
)

// Database is one of the databases the suites run on.
type Database struct {
	Name    string // subtest name
	Dialect string // ent dialect and database/sql driver name
	Env     string // variable holding the DSN of an existing database; "" for SQLite
}

// databases lists the databases of the suite. SQLite always runs; the
// others run when their DSN variable is set (.ci/run sets both).
func Databases() []Database {
	return []Database{
		{Name: "sqlite", Dialect: dialect.SQLite},
		{Name: "postgres", Dialect: dialect.Postgres, Env: "ENTREACTIVE_POSTGRES_DSN"},
		{Name: "mariadb", Dialect: dialect.MySQL, Env: "ENTREACTIVE_MARIADB_DSN"},
	}
}

// Each runs test as one subtest per database, each on a new, empty
// database. A database whose DSN is not set is skipped by name, or fails the
// test when running in CI.
func Each(t *testing.T, test func(t *testing.T, drv *entsql.Driver)) {
	t.Helper()
	for _, db := range Databases() {
		t.Run(db.Name, func(t *testing.T) {
			test(t, Open(t, db))
		})
	}
}

// EachFile is Each with SQLite on a file in WAL mode, as applications run
// it, rather than in memory with a shared cache: the shared cache locks
// tables, so that a reader on one connection fails a writer on another
// ("database table is locked") instead of letting it wait.
func EachFile(t *testing.T, test func(t *testing.T, drv *entsql.Driver)) {
	t.Helper()
	for _, db := range Databases() {
		t.Run(db.Name, func(t *testing.T) {
			if db.Env == "" {
				path := filepath.Join(t.TempDir(), "test.db")
				test(t, OpenDriver(t, db.Dialect, "file:"+path+"?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate"))
				return
			}
			test(t, Open(t, db))
		})
	}
}

// Open returns a driver on a new database that is dropped when the
// test ends.
func Open(t testing.TB, db Database) *entsql.Driver {
	t.Helper()
	name := "er_" + strings.ToLower(rand.Text()[:12])
	if db.Env == "" {
		return OpenDriver(t, db.Dialect, "file:"+name+"?mode=memory&cache=shared&_fk=1")
	}
	dsn := os.Getenv(db.Env)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the suite on %s", db.Env, db.Name)
		}
		t.Skipf("%s is not set: not running on %s", db.Env, db.Name)
	}
	admin := OpenDriver(t, db.Dialect, dsn)
	ctx := context.Background()
	if err := admin.Exec(ctx, "CREATE DATABASE "+name, []any{}, nil); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		drop := "DROP DATABASE " + name
		if db.Dialect == dialect.Postgres {
			drop += " WITH (FORCE)"
		}
		if err := admin.Exec(ctx, drop, []any{}, nil); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return OpenDriver(t, db.Dialect, withDatabase(t, db.Dialect, dsn, name))
}

// OpenDriver opens an ent SQL driver that is closed when the test ends.
func OpenDriver(t testing.TB, driver, dsn string) *entsql.Driver {
	t.Helper()
	sqlDB, err := sql.Open(driver, dsn)
	if err != nil {
		t.Fatalf("open %s: %v", driver, err)
	}
	t.Cleanup(func() { sqlDB.Close() })
	if err := sqlDB.Ping(); err != nil {
		t.Fatalf("ping %s: %v", driver, err)
	}
	return entsql.OpenDB(driver, sqlDB)
}

// withDatabase returns dsn with its database replaced by name.
func withDatabase(t testing.TB, driver, dsn, name string) string {
	t.Helper()
	switch driver {
	case dialect.Postgres:
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme == "" {
			t.Fatalf("postgres DSN must be a URL (postgres://...): %q", dsn)
		}
		u.Path = "/" + name
		return u.String()
	case dialect.MySQL:
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("parse mysql DSN: %v", err)
		}
		cfg.DBName, cfg.ParseTime = name, true
		return cfg.FormatDSN()
	}
	panic(fmt.Sprintf("no database switch for %s", driver))
}
