package upgrade_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"example.com/upgrade/ent"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	"github.com/entreactive/reactive/entreactive/outbox"
)

// TestDurablePathRuns sets an outbox as the emitter: a create of a bulk of
// three notes stores their events with the change and the relay publishes
// them, in row order, with the code of version 4 (through package
// entreactive's deprecated shims) and with the regenerated code alike.
func TestDurablePathRuns(t *testing.T) {
	ctx := context.Background()
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
	texts := []string{"one", "two", "three"}
	builders := make([]*ent.NoteCreate, len(texts))
	for i, text := range texts {
		builders[i] = client.Note.Create().SetText(text)
	}
	if _, err := client.Note.CreateBulk(builders...).Save(ctx); err != nil {
		t.Fatalf("durable bulk create: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for len(rec.Events()) < len(texts) && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	events := rec.Events()
	if len(events) != len(texts) {
		t.Fatalf("%d events published, want %d", len(events), len(texts))
	}
	for i, ev := range events {
		data, _ := ev.Data.(json.RawMessage)
		var note struct{ Text string }
		if err := json.Unmarshal(data, &note); err != nil || note.Text != texts[i] || ev.EventID == "" {
			t.Errorf("event %d = %+v, want note %q with an event id", i, ev, texts[i])
		}
	}
}
