package outbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	_ "github.com/entreactive/reactive/entreactive/internal/ent/runtime"
	"github.com/entreactive/reactive/entreactive/internal/ent/schema"
	"github.com/entreactive/reactive/entreactive/outbox"
	"github.com/entreactive/reactive/internal/testdb"
	"github.com/entreactive/reactive/internal/testkit"
)

// gate is a Publisher that fails while down is set, and otherwise counts
// and hands the event to next, when there is one.
type gate struct {
	next      entreactive.Publisher
	down      atomic.Bool
	published atomic.Int64
	// wake is the Outbox publishing through the gate, in benchmarks.
	wake *outbox.Outbox
}

func (g *gate) Emit(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	return g.Publish(ctx, to, ev)
}

func (g *gate) Publish(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	if g.down.Load() {
		return errors.New("publisher down")
	}
	if g.next != nil {
		if err := g.next.Publish(ctx, to, ev); err != nil {
			return err
		}
	}
	g.published.Add(1)
	return nil
}

// batchGate is a gate that hands batches to its next, a
// BatchPublisher.
type batchGate struct{ *gate }

func (g batchGate) PublishBatch(ctx context.Context, events []entreactive.Outgoing) (int, error) {
	if g.down.Load() {
		return 0, errors.New("publisher down")
	}
	n, err := g.next.(entreactive.BatchPublisher).PublishBatch(ctx, events)
	g.published.Add(int64(n))
	return n, err
}

// flaky is a Publisher that fails while down is set, and records
// otherwise.
type flaky struct {
	entreactivetest.Recorder
	down atomic.Bool
	// attempts counts the calls of Publish.
	attempts atomic.Int64
}

func (f *flaky) Publish(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	f.attempts.Add(1)
	if f.down.Load() {
		return errors.New("publisher down")
	}
	return f.Recorder.Publish(ctx, to, ev)
}

// start returns an Outbox on drv publishing to pub, with a fast poll, and
// a client whose emitter it is. Both are closed when the test ends.
func start(t *testing.T, drv *entsql.Driver, pub entreactive.Publisher) (*outbox.Outbox, *testent.Client) {
	t.Helper()
	return startWith(t, drv, pub, outbox.Config{Poll: 20 * time.Millisecond})
}

// startWith is start with the Outbox configured by cfg.
func startWith(t *testing.T, drv *entsql.Driver, pub entreactive.Publisher, cfg outbox.Config) (*outbox.Outbox, *testent.Client) {
	t.Helper()
	ob, err := outbox.New(t.Context(), drv, pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := ob.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	client := testent.NewClient(testent.Driver(drv), testent.Emitter(ob))
	if err := client.Schema.Create(t.Context()); err != nil {
		t.Fatal(err)
	}
	return ob, client
}

// stored returns the number of events in the outbox table.
func stored(t *testing.T, drv *entsql.Driver) int {
	t.Helper()
	var rows entsql.Rows
	if err := drv.Query(context.Background(), "SELECT COUNT(*) FROM "+outbox.DefaultTable, []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	n := 0
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	return n
}

// texts returns "action:text" for each Task event, in order.
func texts(events []entreactive.Event) []string {
	var out []string
	for _, ev := range events {
		if ev.Model != "Task" {
			continue
		}
		out = append(out, fmt.Sprintf("%s:%s", ev.Action, taskText(ev)))
	}
	return out
}

// taskText returns the text of the task an event carries, as stored.
func taskText(ev entreactive.Event) string {
	raw, _ := ev.Data.(json.RawMessage)
	var row struct {
		Text string `json:"text"`
	}
	_ = json.Unmarshal(raw, &row)
	return row.Text
}

// eventIDsUnique fails the test unless every event has an event id of its
// own.
func eventIDsUnique(t *testing.T, events []entreactive.Event) {
	t.Helper()
	ids := map[string]bool{}
	for _, ev := range events {
		if ev.EventID == "" || ids[ev.EventID] {
			t.Fatalf("event id %q: empty or repeated", ev.EventID)
		}
		ids[ev.EventID] = true
	}
}

// viewerContext returns a context that may read tasks.
func viewerContext(ctx context.Context) context.Context { return schema.NewViewerContext(ctx, 1) }

func TestEventsOfMutationsOutsideATransactionArePublishedOnce(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		_, client := start(t, drv, rec)
		ctx := t.Context()
		task := client.Task.Create().SetKey("a").SetText("one").SaveX(ctx)
		client.Task.UpdateOne(task).SetText("two").ExecX(ctx)
		client.Task.DeleteOne(task).ExecX(ctx)
		testkit.Eventually(t, "three events", func() bool { return len(rec.Events()) == 3 })
		if got, want := texts(rec.Events()), []string{"create:one", "update:two", "delete:two"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		eventIDsUnique(t, rec.Events())
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
	})
}

func TestRolledBackTransactionStoresNothing(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		_, client := start(t, drv, rec)
		ctx := t.Context()
		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Task.Create().SetKey("a").SetText("never").SaveX(ctx)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		tx, err = client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Task.Create().SetKey("b").SetText("kept").SaveX(ctx)
		tx.Task.Create().SetKey("c").SetText("kept too").SaveX(ctx)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "the committed events", func() bool { return len(rec.Events()) >= 2 })
		if got, want := texts(rec.Events()), []string{"create:kept", "create:kept too"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}

// A publisher that fails keeps the events stored; they go out, once each
// and in order, when it is back.
func TestEventsWaitInTheOutboxWhileThePublisherFails(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		pub := &flaky{}
		pub.down.Store(true)
		_, client := start(t, drv, pub)
		ctx := t.Context()
		var want []string
		for i := range 5 {
			text := fmt.Sprint("v", i)
			client.Task.Create().SetKey(text).SetText(text).SaveX(ctx)
			want = append(want, "create:"+text)
		}
		if n := stored(t, drv); n != 5 {
			t.Fatalf("%d events stored after the commits, want 5", n)
		}
		time.Sleep(100 * time.Millisecond) // a few failed passes
		pub.down.Store(false)
		testkit.Eventually(t, "the events once the publisher is back", func() bool { return len(pub.Events()) == 5 })
		if got := texts(pub.Events()); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
	})
}

// A relay whose publisher fails tries again after a wait that doubles,
// however many commits tell it meanwhile: not once per commit, each
// failure logged.
func TestAFailingRelayWaitsWhileCommitsGoOn(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		pub := &flaky{}
		pub.down.Store(true)
		_, client := start(t, drv, pub)
		ctx := t.Context()
		began, n := time.Now(), 0
		for time.Since(began) < 400*time.Millisecond {
			client.Task.Create().SetKey(fmt.Sprint("k", n)).SetText("t").SaveX(ctx)
			n++
		}
		// At the first commit, then after 50, 100 and 200 ms.
		if got := pub.attempts.Load(); got > 8 {
			t.Fatalf("%d publish attempts during %d commits in 400 ms, want at most 8", got, n)
		}
		pub.down.Store(false)
		testkit.Eventually(t, "every event once the publisher is back", func() bool { return len(pub.Events()) == n })
	})
}

// What a process stored and never published (it died) is published by
// another process's Outbox on the same database.
func TestAnotherOutboxPublishesWhatADeadOneLeft(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		dead := &flaky{}
		dead.down.Store(true)
		_, client := start(t, drv, dead)
		ctx := t.Context()
		client.Task.Create().SetKey("a").SetText("left behind").SaveX(ctx)
		survivor := &entreactivetest.Recorder{}
		start(t, drv, survivor)
		testkit.Eventually(t, "the survivor publishes it", func() bool { return len(survivor.Events()) == 1 })
		if got := texts(survivor.Events()); !slices.Equal(got, []string{"create:left behind"}) {
			t.Fatalf("events %v", got)
		}
	})
}

// A change whose events cannot be stored is not made: a create, a bulk
// create, an update and a delete, each outside of a transaction.
func TestMutationFailsWhenItsEventsCannotBeStored(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		_, client := start(t, drv, rec)
		ctx := t.Context()
		kept := client.Task.Create().SetKey("kept").SetText("before").SaveX(ctx)
		testkit.Eventually(t, "the first event", func() bool { return len(rec.Events()) == 1 })
		if err := drv.Exec(ctx, "DROP TABLE "+outbox.DefaultTable, []any{}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Task.Create().SetKey("a").SetText("lost?").Save(ctx); err == nil {
			t.Error("a create succeeded without its event stored")
		}
		if _, err := client.Task.CreateBulk(client.Task.Create().SetKey("b").SetText("b"), client.Task.Create().SetKey("c").SetText("c")).Save(ctx); err == nil {
			t.Error("a bulk create succeeded without its events stored")
		}
		if err := client.Task.UpdateOne(kept).SetText("after").Exec(ctx); err == nil {
			t.Error("an update succeeded without its event stored")
		}
		if err := client.Task.DeleteOne(kept).Exec(ctx); err == nil {
			t.Error("a delete succeeded without its event stored")
		}
		rows := client.Task.Query().AllX(viewerContext(ctx))
		if len(rows) != 1 || rows[0].Text != "before" {
			t.Fatalf("the tasks are now %v, want only %q as it was: a change was committed without its event", rows, "before")
		}
	})
}

func TestBulkCreateStoresEveryRowInOneTransaction(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		_, client := start(t, drv, rec)
		ctx := t.Context()
		var builders []*testent.TaskCreate
		var want []string
		for i := range 7 {
			text := fmt.Sprint("row", i)
			builders = append(builders, client.Task.Create().SetKey(text).SetText(text))
			want = append(want, "create:"+text)
		}
		client.Task.CreateBulk(builders...).SaveX(ctx)
		testkit.Eventually(t, "seven events", func() bool { return len(rec.Events()) == 7 })
		if got := texts(rec.Events()); !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v", got, want)
		}
	})
}

// An emptied outbox never gives a new event an id it gave before: a relay
// that read an event another relay has published and deleted deletes that
// id in its turn, which must not be a newer, unpublished event's.
func TestOutboxIdsAreNeverReused(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		pub := &flaky{}
		pub.down.Store(true)
		_, client := start(t, drv, pub)
		ctx := t.Context()
		client.Task.Create().SetKey("a").SetText("first").SaveX(ctx)
		first := maxID(t, drv)
		pub.down.Store(false)
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
		pub.down.Store(true)
		client.Task.Create().SetKey("b").SetText("second").SaveX(ctx)
		if second := maxID(t, drv); second <= first {
			t.Fatalf("the event stored after the outbox emptied has id %d, the first had %d: ids are reused", second, first)
		}
	})
}

// maxID returns the highest id in the outbox table.
func maxID(t *testing.T, drv *entsql.Driver) int64 {
	t.Helper()
	var rows entsql.Rows
	if err := drv.Query(context.Background(), "SELECT MAX(id) FROM "+outbox.DefaultTable, []any{}, &rows); err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var id int64
	if rows.Next() {
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
	}
	return id
}

// An event whose id was taken before a later one's but committed after it
// (concurrent transactions on PostgreSQL and MariaDB) is published when the
// next commit wakes the relay, not left to the slow poll: the relay read
// past its id once and must read it again.
func TestEventCommittedAfterAHigherIdIsPublished(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		if drv.Dialect() == dialect.SQLite {
			t.Skip("SQLite runs one writer at a time: its ids commit in order")
		}
		rec := &entreactivetest.Recorder{}
		_, client := startWith(t, drv, rec, outbox.Config{Poll: time.Hour})
		ctx := t.Context()
		// A transaction stores its event, taking an id, and waits.
		slow, err := drv.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer slow.Rollback()
		body := `{"rooms":["tasks"],"eventId":"slow-1","event":{"action":"create","model":"Task","id":1000,"data":{"text":"slow"},"changed":[],"timestamp":0}}`
		insert := "INSERT INTO " + outbox.DefaultTable + " (created_at, body) VALUES (0, ?)"
		if drv.Dialect() == dialect.Postgres {
			insert = strings.Replace(insert, "?", "$1", 1)
		}
		if err := slow.Exec(ctx, insert, []any{[]byte(body)}, nil); err != nil {
			t.Fatal(err)
		}
		// A later transaction takes the next id and commits first.
		client.Task.Create().SetKey("a").SetText("fast").SaveX(ctx)
		testkit.Eventually(t, "the later event", func() bool { return len(rec.Events()) == 1 })
		if err := slow.Commit(); err != nil {
			t.Fatal(err)
		}
		client.Task.Create().SetKey("b").SetText("next").SaveX(ctx)
		testkit.Eventually(t, "the next event", func() bool { return slices.Contains(texts(rec.Events()), "create:next") })
		if got, want := texts(rec.Events()), []string{"create:fast", "create:slow", "create:next"}; !slices.Equal(got, want) {
			t.Fatalf("events %v, want %v: the event committed after a higher id was skipped", got, want)
		}
	})
}

// An Outbox that is closed deletes what it published: the next process's
// relay would publish it again.
func TestClosedOutboxLeavesNothingItPublished(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		ob, client := startWith(t, drv, rec, outbox.Config{Poll: time.Hour})
		ctx := t.Context()
		for i := range 3 {
			client.Task.Create().SetKey(fmt.Sprint(i)).SetText(fmt.Sprint(i)).SaveX(ctx)
		}
		testkit.Eventually(t, "three events", func() bool { return len(rec.Events()) == 3 })
		if err := ob.Close(ctx); err != nil {
			t.Fatal(err)
		}
		if n := stored(t, drv); n != 0 {
			t.Fatalf("%d published events left in the outbox after Close, want 0", n)
		}
	})
}
