package upgrade_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"example.com/upgrade/ent"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	"github.com/entreactive/reactive/entreactive/outbox"
)

// TestDurablePathNeedsRegeneratedCode sets an outbox as the emitter: with
// code of version 3, which predates the durable path, a create fails with
// an error that says to run go generate, and stores nothing; once
// regenerated, it succeeds and its event is published.
func TestDurablePathNeedsRegeneratedCode(t *testing.T) {
	ctx := context.Background()
	src, err := os.ReadFile(filepath.Join("ent", "reactive.go"))
	if err != nil {
		t.Fatal(err)
	}
	v3 := strings.Contains(string(src), "type _ entreactive.GeneratedCodeV3\n")
	drv, err := entsql.Open(dialect.SQLite, "file:"+filepath.Join(t.TempDir(), "db")+"?_fk=1&_journal_mode=WAL&_busy_timeout=5000")
	if err != nil {
		t.Fatal(err)
	}
	defer drv.Close()
	rec := &entreactivetest.Recorder{}
	ob, err := outbox.New(ctx, drv, rec, outbox.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer ob.Close(ctx)
	client := ent.NewClient(ent.Driver(drv), ent.Emitter(ob))
	if err := client.Schema.Create(ctx); err != nil {
		t.Fatal(err)
	}
	_, err = client.Note.Create().SetText("durable").Save(ctx)
	switch {
	case v3 && (err == nil || !strings.Contains(err.Error(), "go generate")):
		t.Fatalf("version 3 code with an outbox: %v, want an error that says to run go generate", err)
	case v3:
		if n := client.Note.Query().CountX(ctx); n != 0 {
			t.Fatalf("%d notes stored by the failed create", n)
		}
	case err != nil:
		t.Fatalf("regenerated code with an outbox: %v", err)
	}
}
