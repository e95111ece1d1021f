package upgrade_test

import (
	"context"
	"testing"

	"entgo.io/ent/dialect"
	_ "github.com/mattn/go-sqlite3"

	"example.com/upgrade/ent"
	_ "example.com/upgrade/ent/runtime"
	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
)

// TestCreateEmitsAfterCommit creates a note in a transaction through a
// client with a recorder as its emitter: the event arrives after the commit,
// not before.
func TestCreateEmitsAfterCommit(t *testing.T) {
	ctx := context.Background()
	rec := &entreactivetest.Recorder{}
	client, err := ent.Open(dialect.SQLite, "file:upgrade?mode=memory&_fk=1", ent.Emitter(rec))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer client.Close()
	if err := client.Schema.Create(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	tx, err := client.Tx(ctx)
	if err != nil {
		t.Fatalf("tx: %v", err)
	}
	note := tx.Note.Create().SetText("hello").SaveX(ctx)
	if got := rec.Events(); len(got) != 0 {
		t.Fatalf("events before the commit: %v", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	got := rec.ToRoom("notes")
	if len(got) != 1 {
		t.Fatalf("events to room notes after the commit: %v, want 1", got)
	}
	if ev := got[0]; ev.Model != "Note" || ev.Action != entreactive.ActionCreate || ev.ID != note.ID {
		t.Fatalf("event: %+v, want the create of Note %d", ev, note.ID)
	}
}
