package entreactive_test

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
)

// The tests in this file pin down "only committed changes are sent": an
// event leaves after the database committed, and never when the commit
// failed, whoever refused it.

func TestCommitRefusedByACommitHookSendsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		old := tr.task(t, "old")

		tx, err := tr.client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Task.Create().SetKey("new").SetText("new").ExecX(ctx)
		tx.Task.UpdateOne(old).SetText("edited").ExecX(ctx)
		// Registered after the mutations, the refusing hook runs inside
		// theirs: they see the commit fail.
		refused := errors.New("refused by a commit hook")
		tx.OnCommit(func(testent.Committer) testent.Committer {
			return testent.CommitFunc(func(context.Context, *testent.Tx) error { return refused })
		})
		if err := tx.Commit(); !errors.Is(err, refused) {
			t.Fatalf("commit: err = %v, want the hook's refusal", err)
		}
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := tr.rec.Events(); len(got) != 0 {
			t.Errorf("a refused commit sent %s", describe(got))
		}
	})
}

func TestCommitRefusedByTheDatabaseSendsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		tx, err := tr.client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		// A constraint the database checks only at COMMIT.
		switch drv.Dialect() {
		case dialect.Postgres:
			if _, err := tx.ExecContext(ctx, `ALTER TABLE tasks ADD CONSTRAINT tasks_text_deferred UNIQUE (text) DEFERRABLE INITIALLY DEFERRED`); err != nil {
				t.Fatal(err)
			}
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
			if tx, err = tr.client.Tx(ctx); err != nil {
				t.Fatal(err)
			}
			tx.Task.Create().SetKey("a").SetText("same").ExecX(ctx)
			tx.Task.Create().SetKey("b").SetText("same").ExecX(ctx)
		case dialect.SQLite:
			if _, err := tx.ExecContext(ctx, `PRAGMA defer_foreign_keys = ON`); err != nil {
				t.Fatal(err)
			}
			tx.Task.Create().SetKey("a").SetText("dangling").SetAssigneeID(404).ExecX(ctx)
		default:
			tx.Rollback()
			t.Skipf("%s has no deferred constraints", drv.Dialect())
		}
		if err := tx.Commit(); err == nil {
			t.Fatal("commit succeeded, want the deferred constraint to fail it")
		}
		if got := tr.rec.Events(); len(got) != 0 {
			t.Errorf("a commit the database refused sent %s", describe(got))
		}
	})
}

func TestEventsLeaveWhenOtherConnectionsSeeTheChange(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		old := tr.task(t, "old")

		// The emitter reads each row from another connection of the pool:
		// the transaction's own connection would see it before the commit.
		var mu sync.Mutex
		var seen []string
		client := testent.NewClient(testent.Driver(drv), testent.Emitter(entreactive.EmitterFunc(
			func(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
				text := readText(t, drv, ev.ID.(int))
				mu.Lock()
				seen = append(seen, text)
				mu.Unlock()
				return tr.rec.Emit(ctx, to, ev)
			})))

		tx, err := client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tx.Task.Create().SetKey("new").SetText("new").ExecX(ctx)
		tx.Task.UpdateOne(old).SetText("edited").ExecX(ctx)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		client.Task.UpdateOne(old).SetText("outside a transaction").ExecX(ctx)

		if got := tr.rec.Events(); len(got) != 3 {
			t.Fatalf("got %d events, want 3", len(got))
		}
		want := []string{"new", "edited", "outside a transaction"}
		for i := range want {
			if seen[i] != want[i] {
				t.Errorf("event %d: another connection read %q at emit time, want %q (committed)", i, seen[i], want[i])
			}
		}
	})
}

// readText reads a task's text on a connection of its own, waiting at most
// a second for locks (SQLite's shared cache locks the table while a
// transaction writes it). It describes what it found instead of failing.
func readText(t *testing.T, drv *entsql.Driver, id int) string {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	conn, err := drv.DB().Conn(ctx)
	if err != nil {
		return "no connection: " + err.Error()
	}
	defer conn.Close()
	var text string
	if err := conn.QueryRowContext(ctx, "SELECT text FROM tasks WHERE id = "+strconv.Itoa(id)).Scan(&text); err != nil {
		return "not visible: " + err.Error()
	}
	return text
}

func TestEventsOutliveTheMutationsContext(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		type requestKey struct{}
		// An emitter that works with the context it is given, as a broker's
		// publish does: it gives up on a canceled one.
		client := testent.NewClient(testent.Driver(drv), testent.Emitter(&checkingRecorder{tr.rec,
			func(ctx context.Context, ev entreactive.Event) error {
				if err := ctx.Err(); err != nil {
					return err
				}
				if _, ok := ctx.Deadline(); ok {
					return errors.New("the context has a deadline")
				}
				var text string
				err := drv.DB().QueryRowContext(ctx, "SELECT text FROM tasks WHERE id = "+strconv.Itoa(ev.ID.(int))).Scan(&text)
				if err != nil {
					return err
				}
				if ctx.Value(requestKey{}) != "request" {
					return errors.New("the context lost the request's values")
				}
				return nil
			}}))

		// The request's context ends after its mutations and before the
		// commit, which runs on the transaction's context.
		tx, err := client.Tx(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.WithValue(t.Context(), requestKey{}, "request"), time.Minute)
		a := tx.Task.Create().SetKey("a").SetText("a").SaveX(ctx)
		tx.Task.UpdateOne(a).SetText("edited").ExecX(ctx)
		cancel()
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		checkNoFailures(t, tr.rec)
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionCreate, a.ID, "a", nil},
			taskEvent{entreactive.ActionUpdate, a.ID, "edited", nil})
	})
}

// checkingRecorder is a Recorder whose Emit fails, and records nothing,
// when check fails: the emitter reports it as a lost event.
type checkingRecorder struct {
	*entreactivetest.Recorder
	check func(ctx context.Context, ev entreactive.Event) error
}

// Emit records ev when check lets it.
func (r *checkingRecorder) Emit(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	if err := r.check(ctx, ev); err != nil {
		return err
	}
	return r.Recorder.Emit(ctx, to, ev)
}
