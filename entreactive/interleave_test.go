package entreactive_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/internal/ent/memo"
	"github.com/entreactive/reactive/entreactive/internal/ent/schema"
	"github.com/entreactive/reactive/entreactive/internal/ent/task"
)

// The tests in this file put another connection's change between the rows
// the statement code loads and the statement itself. No hook runs there:
// the load is part of the builder's sqlExec/sqlSave, after every hook, so
// the seam is the driver.

// interleaver is a driver that, once armed, runs a function of the test
// right before the first statement (Exec) that follows a query (the load of
// the affected rows): in the window between the load and the statement.
type interleaver struct {
	dialect.Driver
	mu      sync.Mutex
	between func() // nil when not armed
	loaded  bool   // a query ran since arm
	hit     string // the statement between ran before
}

// arm makes f run right before the next statement that follows a query.
func (d *interleaver) arm(f func()) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.between, d.loaded, d.hit = f, false, ""
}

// statement returns the statement the armed function ran before, or "".
func (d *interleaver) statement() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.hit
}

// Query notes the load, then runs the query.
func (d *interleaver) Query(ctx context.Context, query string, args, v any) error {
	d.mu.Lock()
	if d.between != nil {
		d.loaded = true
	}
	d.mu.Unlock()
	return d.Driver.Query(ctx, query, args, v)
}

// Exec runs the armed function first when a query ran since arm, then the
// statement.
func (d *interleaver) Exec(ctx context.Context, query string, args, v any) error {
	d.mu.Lock()
	f := d.between
	if f != nil && d.loaded {
		d.between, d.hit = nil, query
	} else {
		f = nil
	}
	d.mu.Unlock()
	if f != nil {
		f()
	}
	return d.Driver.Exec(ctx, query, args, v)
}

func TestDeleteThatRemovedNothingSendsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		hard := schema.SkipSoftDelete(ctx)
		// Two instances of the app, each with its own client (sharing the
		// recorder): other deletes the row after this one loaded it.
		other := tr.client
		race := &interleaver{Driver: drv}
		c := testent.NewClient(testent.Driver(race), testent.Emitter(tr.rec))

		cases := []struct {
			name string
			verb string // of the statement the other delete runs before
			// del deletes the row through c, byOther through the other
			// client; both report how many rows they removed.
			del, byOther func(t *testing.T, id int) int
		}{
			{
				name: "DeleteOne", verb: "DELETE",
				del: func(t *testing.T, id int) int { return deleteOne(t, c.Task.DeleteOneID(id).Exec(hard)) },
				byOther: func(t *testing.T, id int) int {
					return deleteOne(t, other.Task.DeleteOneID(id).Exec(hard))
				},
			},
			{
				name: "bulk Delete", verb: "DELETE",
				del: func(t *testing.T, id int) int { return c.Task.Delete().Where(task.ID(id)).ExecX(hard) },
				byOther: func(t *testing.T, id int) int {
					return other.Task.Delete().Where(task.ID(id)).ExecX(hard)
				},
			},
			{
				// The soft delete's UPDATE ... WHERE delete_time IS NULL.
				name: "soft DeleteOne", verb: "UPDATE",
				del: func(t *testing.T, id int) int { return deleteOne(t, c.Task.DeleteOneID(id).Exec(ctx)) },
				byOther: func(t *testing.T, id int) int {
					return deleteOne(t, other.Task.DeleteOneID(id).Exec(ctx))
				},
			},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				row := tr.task(t, tc.name)
				race.arm(func() {
					if n := tc.byOther(t, row.ID); n != 1 {
						t.Errorf("the other client deleted %d rows, want 1", n)
					}
				})
				if n := tc.del(t, row.ID); n != 0 {
					t.Errorf("deleted %d rows after the other client did, want 0", n)
				}
				if got := race.statement(); !strings.HasPrefix(got, tc.verb) {
					t.Fatalf("the other client did not delete between the load and the statement (it ran before %q)", got)
				}
				// The other client's delete, once; nothing from the one
				// that removed no row.
				checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionDelete, row.ID, tc.name, nil})
			})
		}

		// Memo: the soft-delete mixin before the reactive one.
		t.Run("soft DeleteOne, other mixin order", func(t *testing.T) {
			m := tr.client.Memo.Create().SetText("memo").SaveX(ctx)
			tr.rec.Reset()
			race.arm(func() { other.Memo.DeleteOneID(m.ID).ExecX(ctx) })
			if err := c.Memo.DeleteOneID(m.ID).Exec(ctx); !testent.IsNotFound(err) {
				t.Errorf("err = %v, want not found", err)
			}
			if got := race.statement(); !strings.HasPrefix(got, "UPDATE") {
				t.Fatalf("the other client did not delete between the load and the statement (it ran before %q)", got)
			}
			got := tr.rec.Events()
			if len(got) != 1 || got[0].Action != entreactive.ActionDelete || got[0].ID != m.ID {
				t.Fatalf("sent %s, want the other client's delete only", describe(got))
			}
			if n := other.Memo.Query().Where(memo.ID(m.ID)).CountX(schema.SkipSoftDelete(viewer(t))); n != 1 {
				t.Errorf("%d memos left, want the soft-deleted one", n)
			}
		})
	})
}

// deleteOne turns the error of a DeleteOne into the number of rows it
// removed.
func deleteOne(t *testing.T, err error) int {
	t.Helper()
	switch {
	case err == nil:
		return 1
	case testent.IsNotFound(err):
		return 0
	}
	t.Fatalf("delete: %v", err)
	return 0
}

func TestBulkUpdateOfARowDeletedMeanwhileSendsTheOthersWithTheirOwnPreviousRows(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		other := tr.client
		race := &interleaver{Driver: drv}
		c := testent.NewClient(testent.Driver(race), testent.Emitter(tr.rec))
		a := other.Task.Create().SetKey("a").SetText("draft").SetAssigneeID(tr.alice.ID).SaveX(ctx)
		b := other.Task.Create().SetKey("b").SetText("draft").SetAssigneeID(tr.bob.ID).SaveX(ctx)
		tr.rec.Reset()

		// Both drafts are loaded (Task loads previous rows), then the other
		// client deletes a: the update changes b only.
		race.arm(func() { other.Task.DeleteOneID(a.ID).ExecX(schema.SkipSoftDelete(ctx)) })
		n := c.Task.Update().Where(task.Text("draft")).SetText("sent").ClearAssigneeID().SaveX(ctx)
		if got := race.statement(); !strings.HasPrefix(got, "UPDATE") {
			t.Fatalf("the other client did not delete between the load and the statement (it ran before %q)", got)
		}
		if n != 1 {
			t.Fatalf("updated %d rows, want 1", n)
		}
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionDelete, a.ID, "draft", nil},
			taskEvent{entreactive.ActionUpdate, b.ID, "sent", nil})
		// b's old assignee, whom only b's previous row names, hears of it;
		// a's does not.
		if got := tr.rec.ToUser(tr.bob.ID); len(got) != 1 || got[0].ID != b.ID {
			t.Errorf("bob, b's old assignee, got %s, want the update of b", describe(got))
		}
		if got := tr.rec.ToUser(tr.alice.ID); len(got) != 0 {
			t.Errorf("alice, a's old assignee, got %s, want nothing", describe(got))
		}
	})
}
