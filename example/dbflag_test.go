package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/entreactive/reactive/internal/testkit"
)

// -db takes a SQLite file, :memory:, a postgres:// URL or a mysql:// or
// mariadb:// DSN; only a SQLite file gets its directory created.
func TestDBFlag(t *testing.T) {
	quiet := slog.New(slog.DiscardHandler)
	noenv := func(string) string { return "" }
	static := t.TempDir()
	for _, c := range []struct {
		name, db, dialect string
		mkdir             string // the directory parse creates, relative to the working directory
	}{
		{"file", filepath.Join("sub", "x.db"), dialect.SQLite, "sub"},
		{"memory", ":memory:", dialect.SQLite, ""},
		{"postgres", "postgres://postgres@127.0.0.1:5432/app?sslmode=disable", dialect.Postgres, ""},
		{"mysql", "mysql://root@tcp(127.0.0.1:3306)/app", dialect.MySQL, ""},
		{"mariadb", "mariadb://root@tcp(127.0.0.1:3306)/app", dialect.MySQL, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			wd := t.TempDir()
			t.Chdir(wd)
			o, err := parse([]string{"-db", c.db, "-static", static}, noenv, io.Discard, quiet)
			if err != nil {
				t.Fatalf("-db %s: %v", c.db, err)
			}
			if o.database.Dialect != c.dialect {
				t.Errorf("-db %s: dialect %q, want %q", c.db, o.database.Dialect, c.dialect)
			}
			var made []string
			entries, _ := os.ReadDir(wd)
			for _, e := range entries {
				made = append(made, e.Name())
			}
			if strings.Join(made, ",") != c.mkdir {
				t.Errorf("-db %s: parse made %q in the working directory, want %q", c.db, made, c.mkdir)
			}
		})
	}
	if o, err := parse([]string{"-static", static}, noenv, io.Discard, quiet); err != nil || o.database.File == "" {
		t.Errorf("no -db: %+v %v, want the default SQLite file", o.database, err)
	}
}

// A -db the example cannot read stops it with an error that says so,
// before it opens anything; a password in it is not shown.
func TestDBFlagRefused(t *testing.T) {
	for db, want := range map[string]string{
		"redis://127.0.0.1:6379/0":             `-db: database URL scheme "redis" is not supported`,
		"mongodb://u:secret@h/app":             `"mongodb" is not supported`,
		"mysql://u:secret@127.0.0.1:3306/app":  "tcp(host:3306)",
		"mysql://u:secret@tcp(h:3306)/":        "no database name",
		"postgres://u:secret@h:5432":           "no database name",
		"postgres://u:secret@h:99999999999/db": "-db: postgres URL",
	} {
		var stderr testkit.Buffer
		err := run(context.Background(), []string{"-db", db, "-addr", "127.0.0.1:0"}, func(string) string { return "" }, &stderr, nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("-db %s: %v, want an error with %q", db, err, want)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(stderr.String(), "secret") {
			t.Errorf("-db %s: the password shows: %v\n%s", db, err, stderr.String())
		}
	}
}
