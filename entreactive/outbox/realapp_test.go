package outbox_test

import (
	"slices"
	"testing"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	"github.com/entreactive/reactive/entreactive/internal/ent/schema"
	"github.com/entreactive/reactive/entreactive/internal/ent/task"
	"github.com/entreactive/reactive/internal/testdb"
	"github.com/entreactive/reactive/internal/testkit"
)

// ent's everyday features through the durable path: an upsert that
// inserts then updates, soft delete (a delete an inner hook turns into an
// update), an M2M edge removed, a transaction of several mutations, and
// privacy rules on reads. Each sends what it sends without the durable
// path, in commit order, and every change is in the database.
func TestEntFeaturesThroughTheDurablePath(t *testing.T) {
	testdb.EachFile(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		_, c := start(t, drv, rec)
		ctx := t.Context()
		viewer := schema.NewViewerContext(ctx, 1)
		var want []string
		expect := func(s ...string) { want = append(want, s...) }

		id := c.Task.Create().SetKey("u").SetText("inserted").OnConflictColumns(task.FieldKey).UpdateNewValues().IDX(ctx)
		expect("create:inserted")
		c.Task.Create().SetKey("u").SetText("upserted").OnConflictColumns(task.FieldKey).UpdateNewValues().ExecX(ctx)
		expect("update:upserted")

		urgent := c.Label.Create().SetName("urgent").SaveX(ctx)
		c.Task.UpdateOneID(id).AddLabels(urgent).ExecX(ctx)
		expect("update:upserted")
		c.Task.UpdateOneID(id).RemoveLabels(urgent).ExecX(ctx)
		expect("update:upserted")

		tx, err := c.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		other := tx.Task.Create().SetKey("t").SetText("in tx").SaveX(ctx)
		tx.Task.UpdateOne(other).SetText("in tx, edited").ExecX(ctx)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		expect("create:in tx", "update:in tx, edited")

		c.Task.DeleteOneID(id).ExecX(ctx) // soft delete
		expect("delete:upserted")

		testkit.Eventually(t, "every event", func() bool { return len(texts(rec.Events())) >= len(want) })
		got := texts(rec.Events())
		if !slices.Equal(got, want) {
			t.Fatalf("events\n%v\nwant\n%v", got, want)
		}
		events := rec.Events()
		for _, i := range []int{2, 3} {
			if !slices.Contains(events[i].Changed, task.EdgeLabels) {
				t.Errorf("event %d (an M2M edge change) has changed %v, want %q in it", i, events[i].Changed, task.EdgeLabels)
			}
		}
		if events[len(events)-1].Action != entreactive.ActionDelete {
			t.Errorf("the soft delete sent %s", events[len(events)-1].Action)
		}
		if n := c.Task.Query().CountX(schema.SkipSoftDelete(viewer)); n != 2 {
			t.Fatalf("%d tasks stored (soft-deleted included), want 2", n)
		}
		if n := c.Task.Query().CountX(viewer); n != 1 {
			t.Fatalf("%d tasks visible, want 1: the soft delete was not committed", n)
		}
		testkit.Eventually(t, "the outbox emptied", func() bool { return stored(t, drv) == 0 })
	})
}
