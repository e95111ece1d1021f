package entreactive_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq"
	_ "github.com/mattn/go-sqlite3"
)

// database is one of the databases the suite runs on.
type database struct {
	name    string // subtest name
	dialect string // ent dialect and database/sql driver name
	env     string // variable holding the DSN of an existing database; "" for SQLite
}

// databases lists the databases of the suite. SQLite always runs; the
// others run when their DSN variable is set (.ci/run sets both).
func databases() []database {
	return []database{
		{name: "sqlite", dialect: dialect.SQLite},
		{name: "postgres", dialect: dialect.Postgres, env: "ENTREACTIVE_POSTGRES_DSN"},
		{name: "mariadb", dialect: dialect.MySQL, env: "ENTREACTIVE_MARIADB_DSN"},
	}
}

// eachDatabase runs test as one subtest per database, each on a new, empty
// database. A database whose DSN is not set is skipped by name, or fails the
// test when running in CI.
func eachDatabase(t *testing.T, test func(t *testing.T, drv *entsql.Driver)) {
	t.Helper()
	for _, db := range databases() {
		t.Run(db.name, func(t *testing.T) {
			test(t, openDatabase(t, db))
		})
	}
}

// openDatabase returns a driver on a new database that is dropped when the
// test ends.
func openDatabase(t *testing.T, db database) *entsql.Driver {
	t.Helper()
	name := "er_" + strings.ToLower(rand.Text()[:12])
	if db.env == "" {
		return openDriver(t, db.dialect, "file:"+name+"?mode=memory&cache=shared&_fk=1")
	}
	dsn := os.Getenv(db.env)
	if dsn == "" {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not set: CI must run the suite on %s", db.env, db.name)
		}
		t.Skipf("%s is not set: not running on %s", db.env, db.name)
	}
	admin := openDriver(t, db.dialect, dsn)
	ctx := context.Background()
	if err := admin.Exec(ctx, "CREATE DATABASE "+name, []any{}, nil); err != nil {
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		drop := "DROP DATABASE " + name
		if db.dialect == dialect.Postgres {
			drop += " WITH (FORCE)"
		}
		if err := admin.Exec(ctx, drop, []any{}, nil); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return openDriver(t, db.dialect, withDatabase(t, db.dialect, dsn, name))
}

// openDriver opens an ent SQL driver that is closed when the test ends.
func openDriver(t *testing.T, driver, dsn string) *entsql.Driver {
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
func withDatabase(t *testing.T, driver, dsn, name string) string {
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
