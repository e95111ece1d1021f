package app_test

import (
	"context"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/entreactive/reactive/example/internal/app"
)

// ParseDB reads a SQLite path, :memory:, a postgres:// URL and a mysql:// or
// mariadb:// DSN; anything else is a clear error, never a panic, and the
// password never shows in what is logged.
func TestParseDB(t *testing.T) {
	for _, c := range []struct {
		in                     string
		dialect, driver, shown string
		dsn, file              string
	}{
		{in: "example.db", dialect: dialect.SQLite, driver: "sqlite3", shown: "example.db", file: "example.db",
			dsn: "file:example.db?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_stmt_cache_size=64"},
		{in: "/tmp/a dir/x?.db", dialect: dialect.SQLite, driver: "sqlite3", shown: "/tmp/a dir/x?.db", file: "/tmp/a dir/x?.db",
			dsn: "file:/tmp/a%20dir/x%3F.db?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_stmt_cache_size=64"},
		{in: app.MemoryDB, dialect: dialect.SQLite, driver: "sqlite3", shown: ":memory:", dsn: "file::memory:?_fk=1"},
		{in: "postgres://u:pw@127.0.0.1:5432/app?sslmode=disable", dialect: dialect.Postgres, driver: "postgres",
			shown: "postgres://u:xxxxx@127.0.0.1:5432/app?sslmode=disable", dsn: "postgres://u:pw@127.0.0.1:5432/app?sslmode=disable"},
		{in: "postgresql://db.internal/app", dialect: dialect.Postgres, driver: "postgres",
			shown: "postgresql://db.internal/app", dsn: "postgresql://db.internal/app"},
		{in: "mysql://root@tcp(127.0.0.1:3306)/app", dialect: dialect.MySQL, driver: "mysql",
			shown: "mysql://root@tcp(127.0.0.1:3306)/app", dsn: "root@tcp(127.0.0.1:3306)/app?parseTime=true"},
		{in: "mariadb://u:pw@tcp(db:3307)/app?charset=utf8mb4", dialect: dialect.MySQL, driver: "mysql",
			shown: "mariadb://u:xxxxx@tcp(db:3307)/app?charset=utf8mb4", dsn: "u:pw@tcp(db:3307)/app?charset=utf8mb4&parseTime=true"},
		{in: "MySQL://u@unix(/run/mysqld/mysqld.sock)/app", dialect: dialect.MySQL, driver: "mysql",
			shown: "mysql://u@unix(/run/mysqld/mysqld.sock)/app", dsn: "u@unix(/run/mysqld/mysqld.sock)/app?parseTime=true"},
	} {
		d, err := app.ParseDB(c.in)
		if err != nil {
			t.Errorf("ParseDB(%q): %v", c.in, err)
			continue
		}
		if d.Dialect != c.dialect || d.Driver != c.driver || d.DSN != c.dsn || d.File != c.file || d.String() != c.shown {
			t.Errorf("ParseDB(%q) = %+v (shown %q), want dialect %s driver %s dsn %q file %q shown %q",
				c.in, d, d.String(), c.dialect, c.driver, c.dsn, c.file, c.shown)
		}
	}

	for in, want := range map[string]string{
		"":                                        "no database",
		"redis://127.0.0.1:6379/0":                `scheme "redis" is not supported`,
		"sqlite://x.db":                           `scheme "sqlite" is not supported`,
		"postgres://u:secret@h:5432/":             "no database name",
		"postgres://u:secret@h:port/db":           "postgres URL",
		"postgres://h/db?sslmode=maybe":           "sslmode",
		"mysql://root@127.0.0.1:3306/app":         "tcp(host:3306)",
		"mysql://root:secret@tcp(h:3306)/":        "no database name",
		"mariadb://root@tcp(h:3306/app":           "mariadb DSN",
		"mysql://root@tcp(h:3306)/a?timeout=soon": "mysql DSN",
	} {
		d, err := app.ParseDB(in)
		if err == nil {
			t.Errorf("ParseDB(%q) = %+v, want an error with %q", in, d, want)
			continue
		}
		if !strings.Contains(err.Error(), want) {
			t.Errorf("ParseDB(%q): %v, want %q in it", in, err, want)
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("ParseDB(%q): the error shows the password: %v", in, err)
		}
	}
}

// app.New refuses a Config.DB it cannot read before it opens anything.
func TestNewRefusesABadDatabaseURL(t *testing.T) {
	_, err := app.New(context.Background(), app.Config{DB: "mongodb://127.0.0.1/app", JWTSecret: []byte(strings.Repeat("s", 32))})
	if err == nil || !strings.Contains(err.Error(), `"mongodb" is not supported`) {
		t.Fatalf("New with a mongodb URL: %v", err)
	}
}
