package outbox_test

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/internal/ent/task"
	"github.com/entreactive/reactive/entreactive/outbox"
	"github.com/entreactive/reactive/internal/testdb"
	"github.com/entreactive/reactive/internal/testkit"
)

// startCaptured is start with the creates captured (Outbox.Capture).
func startCaptured(t *testing.T, drv *entsql.Driver, pub entreactive.Publisher) (*outbox.Outbox, *testent.Client) {
	t.Helper()
	ob, client := start(t, drv, pub)
	if err := ob.Capture(t.Context(), client.ReactiveCapture()); err != nil {
		t.Fatal(err)
	}
	return ob, client
}

// startDead returns a client whose emitter is an Outbox that captures
// creates and whose relay is stopped, as a process's that died: its
// mutations leave their records and events in the table, for another
// process's relay.
func startDead(t *testing.T, drv *entsql.Driver) *testent.Client {
	t.Helper()
	ob, client := startCaptured(t, drv, &gate{})
	if err := ob.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	return client
}

// capturedTexts returns "action:text" for each Task event, in order
// (describe's, without the model).
func capturedTexts(events []entreactive.Event) []string {
	var out []string
	for _, ev := range events {
		if ev.Model == "Task" {
			out = append(out, strings.TrimPrefix(describe(ev), "Task "))
		}
	}
	return out
}

// describe returns "<model> <action>:<text>" of an event, the text being
// the task's text, the item's label or the tag's name, from the row a
// relay built the event with or from the stored event's JSON.
func describe(ev entreactive.Event) string {
	var text string
	switch row := ev.Data.(type) {
	case *testent.Task:
		text = row.Text
	case *testent.Item:
		text = row.Label
	case *testent.Tag:
		text = row.Name
	case json.RawMessage:
		var fields struct{ Text, Label, Name string }
		_ = json.Unmarshal(row, &fields)
		text = fields.Text + fields.Label + fields.Name
	}
	return fmt.Sprintf("%s %s:%s", ev.Model, ev.Action, text)
}

// describeAll returns describe of each event, in order.
func describeAll(events []entreactive.Event) []string {
	out := make([]string, len(events))
	for i, ev := range events {
		out[i] = describe(ev)
	}
	return out
}

func TestCapturedCreatesArePublishedOnceInCommitOrder(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		ob, client := startCaptured(t, drv, rec)
		if !ob.CapturesCreates("Task") {
			t.Fatal("Task's creates are not captured")
		}
		ctx := t.Context()
		for i := range 3 {
			tk := client.Task.Create().SetKey(fmt.Sprint(i)).SetText(fmt.Sprint("one ", i)).SaveX(ctx)
			client.Task.UpdateOne(tk).SetText(fmt.Sprint("two ", i)).ExecX(ctx)
		}
		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Task.Create().SetKey("rolled back").SetText("never").SaveX(ctx)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		tx, err = client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Task.Create().SetKey("tx").SetText("in a transaction").SaveX(ctx)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		client.Task.CreateBulk(client.Task.Create().SetKey("b1").SetText("bulk 1"), client.Task.Create().SetKey("b2").SetText("bulk 2")).SaveX(ctx)
		testkit.Eventually(t, "the events", func() bool { return len(rec.Events()) >= 9 })
		got := capturedTexts(rec.Events())
		// A create carries its row as the relay read it: "one i", or "two
		// i" when the update committed first.
		for i := range 3 {
			j := slices.IndexFunc(got, func(s string) bool { return s == fmt.Sprint("create:one ", i) || s == fmt.Sprint("create:two ", i) })
			k := slices.Index(got, fmt.Sprint("update:two ", i))
			if j < 0 || k < j {
				t.Fatalf("events %v: task %d's create missing or after its update", got, i)
			}
		}
		var rest []string
		for _, s := range got {
			if !strings.HasPrefix(s, "create:one") && !strings.HasPrefix(s, "create:two") {
				rest = append(rest, s)
			}
		}
		want := []string{"update:two 0", "update:two 1", "update:two 2", "create:in a transaction", "create:bulk 1", "create:bulk 2"}
		if !slices.Equal(rest, want) {
			t.Fatalf("events %v, want the creates of the tasks and then %v", got, want)
		}
		eventIDsUnique(t, rec.Events())
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
	})
}

func TestRecordedCreatesOfADeadProcessCarryTheRowAsStored(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		ctx := t.Context()
		client := startDead(t, drv)
		kept := client.Task.Create().SetKey("kept").SetText("one").SaveX(ctx)
		client.Task.UpdateOne(kept).SetText("two").ExecX(ctx)
		// Tasks are soft-deleted: the row is still there, the create is
		// sent, and the delete follows.
		soft := client.Task.Create().SetKey("soft").SetText("soft").SaveX(ctx)
		client.Task.DeleteOne(soft).ExecX(ctx)
		// Items are deleted: the create is built from the delete's event.
		gone := client.Item.Create().SetLabel("gone").SaveX(ctx)
		client.Item.DeleteOne(gone).ExecX(ctx)
		client.Item.Create().SetLabel("nobody").SetAudience("nobody").SaveX(ctx)
		client.Item.Create().SetLabel("failing").SetAudience("panic").SaveX(ctx)
		client.Tag.Create().SetID("go").SetName("Go").SaveX(ctx)

		// Another process's relay builds the creates from the rows.
		rec := &entreactivetest.Recorder{}
		startCaptured(t, drv, rec)
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
		got := describeAll(rec.Events())
		// The deleted item's create is built from its delete's event.
		want := []string{"Task create:two", "Task update:two", "Task create:soft", "Task delete:soft", "Item create:gone", "Item delete:gone", "Tag create:Go"}
		if !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}

func TestRecordedCreatesOfADeadProcessArePublishedByAnother(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		ctx := t.Context()
		client := startDead(t, drv)
		client.Task.Create().SetKey("a").SetText("left behind").SaveX(ctx)
		if n := stored(t, drv); n != 1 {
			t.Fatalf("%d records stored, want the create's", n)
		}

		// A relay that does not capture leaves the record where it is.
		rec := &entreactivetest.Recorder{}
		other, otherClient := start(t, drv, rec)
		time.Sleep(100 * time.Millisecond)
		if n := len(rec.Events()); n != 0 || stored(t, drv) != 1 {
			t.Fatalf("a relay without Capture published %d events and left %d records", n, stored(t, drv))
		}
		if err := other.Capture(ctx, otherClient.ReactiveCapture()); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "the create", func() bool { return len(rec.Events()) == 1 })
		if got := capturedTexts(rec.Events()); !slices.Equal(got, []string{"create:left behind"}) {
			t.Fatalf("events %v", got)
		}
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
	})
}

func TestCapturedUpsertStoresItsUpdates(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		_, client := startCaptured(t, drv, rec)
		ctx := t.Context()
		upsert := func(text string) {
			t.Helper()
			if err := client.Task.Create().SetKey("k").SetText(text).OnConflictColumns(task.FieldKey).UpdateNewValues().Exec(ctx); err != nil {
				t.Fatal(err)
			}
		}
		upsert("one")
		upsert("two")
		testkit.Eventually(t, "two events", func() bool { return len(rec.Events()) >= 2 })
		time.Sleep(50 * time.Millisecond)
		got := capturedTexts(rec.Events())
		if len(got) != 2 || (got[0] != "create:one" && got[0] != "create:two") || got[1] != "update:two" {
			t.Fatalf("events %v, want the create, then update:two", got)
		}
	})
}

func TestUncaptureDropsTheTriggers(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		ob, client := startCaptured(t, drv, rec)
		ctx := t.Context()
		if err := ob.Uncapture(ctx, client.ReactiveCapture()); err != nil {
			t.Fatal(err)
		}
		if ob.CapturesCreates("Task") {
			t.Fatal("Task's creates still captured")
		}
		client.Task.Create().SetKey("a").SetText("stored").SaveX(ctx)
		testkit.Eventually(t, "the create", func() bool { return len(rec.Events()) == 1 })
		time.Sleep(50 * time.Millisecond)
		if got := capturedTexts(rec.Events()); !slices.Equal(got, []string{"create:stored"}) {
			t.Fatalf("events %v, want one create", got)
		}
	})
}

func TestRecordedCreatesInAnotherOrderThanTheirRowsArePublished(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		ctx := t.Context()
		rec := &entreactivetest.Recorder{}
		g := &gate{next: rec}
		g.down.Store(true)
		_, client := startCaptured(t, drv, g)
		first := client.Item.Create().SetLabel("first").SaveX(ctx)
		second := client.Item.Create().SetLabel("second").SaveX(ctx)
		// On PostgreSQL and MariaDB, rows inserted concurrently may have
		// their records in another order than their ids: store them so,
		// as a dead process's relay would leave them.
		if _, err := client.ExecContext(ctx, "DELETE FROM "+outbox.DefaultTable); err != nil {
			t.Fatal(err)
		}
		insert := "INSERT INTO " + outbox.DefaultTable + " (created_at, body) VALUES (-1, ?)"
		if drv.Dialect() == dialect.Postgres {
			insert = "INSERT INTO " + outbox.DefaultTable + " (created_at, body) VALUES (-1, $1)"
		}
		for _, id := range []int{second.ID, first.ID} {
			if _, err := client.ExecContext(ctx, insert, []byte(fmt.Sprintf(`{"capture":"Item","id":"%d"}`, id))); err != nil {
				t.Fatal(err)
			}
		}
		restarted := &entreactivetest.Recorder{}
		startCaptured(t, drv, restarted)
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
		got := describeAll(restarted.Events())
		if !slices.Equal(got, []string{"Item create:second", "Item create:first"}) {
			t.Fatalf("created items published: %v, want second, first (the records' order)", got)
		}
	})
}

func TestACreateWhoseRowIsGoneIsBuiltFromItsNextEvent(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		ctx := t.Context()
		client := startDead(t, drv)
		it := client.Item.Create().SetLabel("one").SaveX(ctx)
		client.Item.UpdateOne(it).SetLabel("two").ExecX(ctx)
		client.Item.DeleteOne(it).ExecX(ctx)
		// Tags send creates only: a deleted tag has no later event.
		tag := client.Tag.Create().SetID("gone").SetName("Gone").SaveX(ctx)
		client.Tag.DeleteOne(tag).ExecX(ctx)

		// A relay that finds the item gone builds its create from the
		// item's next event, as one that read it alive would have sent a
		// create there: clients never get the update before a create.
		rec := &entreactivetest.Recorder{}
		startCaptured(t, drv, rec)
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
		got := describeAll(rec.Events())
		if want := []string{"Item create:two", "Item update:two", "Item delete:two"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		if ids := rec.Events(); ids[0].EventID == "" || ids[0].EventID == ids[1].EventID {
			t.Fatalf("the create's event id %q, the update's %q", ids[0].EventID, ids[1].EventID)
		}
		// Its audience is the create's (the target function's, for the
		// row as the update left it), not the update's.
		if to := rec.Deliveries()[0].Target; !slices.Equal(to.Rooms, []string{"items", "items_create"}) {
			t.Fatalf("the create went to %v, want items and items_create", to)
		}
	})
}

// The creates of several rows gone before a relay read their records are
// each built from their own row's next event, whichever rows' events come
// in between.
func TestCreatesOfSeveralGoneRowsAreBuiltFromTheirOwnNextEvents(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		ctx := t.Context()
		client := startDead(t, drv)
		var items []*testent.Item
		for _, label := range []string{"a", "b", "c"} {
			items = append(items, client.Item.Create().SetLabel(label).SaveX(ctx))
		}
		for _, it := range items {
			client.Item.UpdateOne(it).SetLabel(it.Label + "2").ExecX(ctx)
		}
		for _, it := range items {
			client.Item.DeleteOne(it).ExecX(ctx)
		}
		rec := &entreactivetest.Recorder{}
		startCaptured(t, drv, rec)
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
		want := []string{
			"Item create:a2", "Item create:b2", "Item create:c2",
			"Item update:a2", "Item update:b2", "Item update:c2",
			"Item delete:a2", "Item delete:b2", "Item delete:c2",
		}
		if got := describeAll(rec.Events()); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}

// A migration that rebuilds a captured table (SQLite does, for some
// changes) drops its trigger while the processes run: their relays create
// it again at their next poll, and say so, rather than leaving every later
// create unrecorded until a process restarts.
func TestATriggerAMigrationDroppedIsCreatedAgain(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		ctx := t.Context()
		rec := &entreactivetest.Recorder{}
		var logs testkit.Buffer
		ob, client := startWith(t, drv, rec, outbox.Config{Poll: 20 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		if err := ob.Capture(ctx, client.ReactiveCapture()); err != nil {
			t.Fatal(err)
		}
		drop := "DROP TRIGGER " + outbox.DefaultTable + "_items"
		if drv.Dialect() == dialect.Postgres {
			drop = "DROP TRIGGER " + outbox.DefaultTable + "_capture ON items"
		}
		if _, err := client.ExecContext(ctx, drop); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "the warning", func() bool { return strings.Contains(logs.String(), "created again") })
		client.Item.Create().SetLabel("after").SaveX(ctx)
		testkit.Eventually(t, "the create made after", func() bool {
			return slices.Contains(describeAll(rec.Events()), "Item create:after")
		})
	})
}

func TestCapturedCreateIsPublishedWithoutWaitingForThePoll(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		ob, client := startWith(t, drv, rec, outbox.Config{Poll: time.Hour})
		if err := ob.Capture(t.Context(), client.ReactiveCapture()); err != nil {
			t.Fatal(err)
		}
		// The commit tells the relay, whose poll is an hour away.
		client.Task.Create().SetKey("a").SetText("at once").SaveX(t.Context())
		testkit.Eventually(t, "the create", func() bool { return len(rec.Events()) == 1 })
	})
}

// With go-sqlite3's statement cache (_stmt_cache_size), as docs/durable.md
// recommends with Capture, an INSERT prepared before Capture created the
// trigger, or before Uncapture dropped it, is prepared again by SQLite: a
// create is recorded once the trigger exists, and stored again once it is
// gone. Events stored before Capture, and records left when Uncapture ran,
// are published, in commit order.
func TestCaptureAndUncaptureTakeEffectOnCachedStatements(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "test.db")
	drv := testdb.OpenDriver(t, dialect.SQLite, "file:"+path+"?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_stmt_cache_size=16")
	rec := &entreactivetest.Recorder{}
	g := &gate{next: rec}
	// Everything waits in the outbox until Uncapture ran.
	g.down.Store(true)
	ob, client := start(t, drv, g)
	var want []string
	create := func(text string, n int) {
		for i := range n {
			client.Task.Create().SetKey(fmt.Sprint(text, i)).SetText(text).SaveX(ctx)
			want = append(want, "create:"+text)
		}
	}
	create("stored", 10)
	if err := ob.Capture(ctx, client.ReactiveCapture()); err != nil {
		t.Fatal(err)
	}
	create("captured", 10)
	if err := ob.Uncapture(ctx, client.ReactiveCapture()); err != nil {
		t.Fatal(err)
	}
	create("stored again", 10)
	if n := stored(t, drv); n != 30 {
		t.Fatalf("%d records in the outbox, want 30", n)
	}
	g.down.Store(false)
	testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
	if got := capturedTexts(rec.Events()); !slices.Equal(got, want) {
		t.Fatalf("events %v, want %v", got, want)
	}
}
