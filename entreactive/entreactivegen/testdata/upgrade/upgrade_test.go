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

// TestCreateEmitsAfterCommit creates notes in a transaction through a
// client with a recorder as its emitter, one and then three in a CreateBulk
// statement: the events arrive after the commit, not before, in row order.
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
	notes := []*ent.Note{tx.Note.Create().SetText("hello").SaveX(ctx)}
	notes = append(notes, tx.Note.CreateBulk(
		tx.Note.Create().SetText("a"),
		tx.Note.Create().SetText("b"),
		tx.Note.Create().SetText("c"),
	).SaveX(ctx)...)
	if got := rec.Events(); len(got) != 0 {
		t.Fatalf("events before the commit: %v", got)
	}
	if err := tx.Commit(); err != nil {
		t.Fatalf("commit: %v", err)
	}
	got := rec.ToRoom("notes")
	if len(got) != len(notes) {
		t.Fatalf("events to room notes after the commit: %v, want %d", got, len(notes))
	}
	for i, ev := range got {
		if ev.Model != "Note" || ev.Action != entreactive.ActionCreate || ev.ID != notes[i].ID {
			t.Fatalf("event %d: %+v, want the create of Note %d", i, ev, notes[i].ID)
		}
	}
}
