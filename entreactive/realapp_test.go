package entreactive_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/internal/ent/memo"
	"github.com/entreactive/reactive/entreactive/internal/ent/schema"
	"github.com/entreactive/reactive/entreactive/internal/ent/task"
	"github.com/entreactive/reactive/entreactive/internal/ent/team"
	"github.com/entreactive/reactive/entreactive/internal/ent/widget"
)

// The tests in this file run on the test schemas Task and Memo, which use
// what real ent apps switch on: a privacy policy that denies reads without
// a viewer, a tenant filter, ent's soft-delete mixin (in both orders), the
// time mixin, a schema hook of their own, upserts and edges. Mutations run
// with contexts that have no viewer and, where it matters, a tenant: the
// hook must see what the statements change, not what the app's queries see.

// tracker is a client on the test schemas with two users and a team.
type tracker struct {
	client     *testent.Client
	rec        *entreactivetest.Recorder
	alice, bob *testent.User
	team       *testent.Team
	drv        *entsql.Driver
	keys       int
}

// newTracker migrates a new database and records its events.
func newTracker(t *testing.T, drv *entsql.Driver) *tracker {
	t.Helper()
	ctx := t.Context()
	rec := &entreactivetest.Recorder{}
	client := newItems(t, drv, rec)
	tr := &tracker{client: client, rec: rec, drv: drv}
	tr.alice = client.User.Create().SetName("alice").SaveX(ctx)
	tr.bob = client.User.Create().SetName("bob").SaveX(ctx)
	tr.team = client.Team.Create().SetName("team").SaveX(ctx)
	return tr
}

// task creates a task with a new key and text, and forgets its event.
func (tr *tracker) task(t *testing.T, text string) *testent.Task {
	t.Helper()
	tr.keys++
	row := tr.client.Task.Create().SetKey("k" + strconv.Itoa(tr.keys)).SetText(text).SaveX(t.Context())
	tr.rec.Reset()
	return row
}

// viewer returns a context that may read tasks and memos.
func viewer(t *testing.T) context.Context {
	return schema.NewViewerContext(t.Context(), 1)
}

// taskEvent is what a test expects of one Task event.
type taskEvent struct {
	action  entreactive.Action
	id      int
	text    string
	changed []string // checked when not nil
}

// checkTasks compares task events with want, in order.
func checkTasks(t *testing.T, got []entreactive.Event, want ...taskEvent) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d: %s", len(got), len(want), describe(got))
	}
	for i, w := range want {
		ev := got[i]
		row, ok := ev.Data.(*testent.Task)
		if !ok {
			t.Fatalf("event %d: data is %T, want *Task", i, ev.Data)
		}
		if ev.Model != "Task" || ev.Action != w.action || ev.ID != w.id || row.ID != w.id || row.Text != w.text {
			t.Errorf("event %d = %s %s id=%v data.id=%d text=%q; want %s Task id=%d text=%q",
				i, ev.Action, ev.Model, ev.ID, row.ID, row.Text, w.action, w.id, w.text)
		}
		if w.changed != nil && !sameSet(ev.Changed, w.changed) {
			t.Errorf("event %d: changed = %v, want %v", i, ev.Changed, w.changed)
		}
	}
}

// describe lists events for failure messages.
func describe(events []entreactive.Event) string {
	var b strings.Builder
	for _, ev := range events {
		fmt.Fprintf(&b, "%s %s %v changed=%v; ", ev.Action, ev.Model, ev.ID, ev.Changed)
	}
	return b.String()
}

// sameSet reports whether a and b hold the same strings, in any order.
func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

func TestUpsertOneSendsWhatTheDatabaseDid(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client

		// A new key inserts: a create with the stored row and its real id.
		id := c.Task.Create().SetKey("a").SetText("first").SetAssigneeID(tr.alice.ID).
			OnConflictColumns(task.FieldKey).UpdateNewValues().IDX(ctx)
		stored := c.Task.GetX(viewer(t), id)
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionCreate, id, "first", nil})
		tr.rec.Reset()

		// A conflict that updates: an update of the stored row, with the
		// fields the upsert did not touch (assignee, create_time) as stored.
		time.Sleep(1100 * time.Millisecond) // MariaDB stores whole seconds: let create and update times differ
		err := c.Task.Create().SetKey("a").SetText("second").
			OnConflictColumns(task.FieldKey).UpdateNewValues().Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got := tr.rec.Events()
		checkTasks(t, got, taskEvent{entreactive.ActionUpdate, id, "second", nil})
		row := got[0].Data.(*testent.Task)
		if row.AssigneeID == nil || *row.AssigneeID != tr.alice.ID {
			t.Errorf("assignee_id = %v, want the stored %d", row.AssigneeID, tr.alice.ID)
		}
		if !row.CreateTime.Equal(stored.CreateTime) {
			t.Errorf("create_time = %v, want the stored %v", row.CreateTime, stored.CreateTime)
		}
		if !slices.Contains(got[0].Changed, task.FieldText) || slices.Contains(got[0].Changed, task.FieldCreateTime) {
			t.Errorf("changed = %v, want text and not create_time", got[0].Changed)
		}
		tr.rec.Reset()

		// Update(func) sets what it names; changed says exactly that.
		c.Task.Create().SetKey("a").SetText("ignored").OnConflictColumns(task.FieldKey).
			Update(func(u *testent.TaskUpsert) { u.SetDone(true) }).ExecX(ctx)
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, id, "second", []string{task.FieldDone}})
		tr.rec.Reset()

		// Ignore leaves the row as it was: nothing to send.
		c.Task.Create().SetKey("a").SetText("ignored").OnConflictColumns(task.FieldKey).Ignore().ExecX(ctx)
		if drv.Dialect() != dialect.MySQL {
			// DO NOTHING returns no row; ent reports it as an error on SQLite and PostgreSQL.
			_ = c.Task.Create().SetKey("a").SetText("ignored").OnConflictColumns(task.FieldKey).DoNothing().Exec(ctx)
		}
		if got := tr.rec.Events(); len(got) != 0 {
			t.Errorf("a conflict that changed nothing sent %s", describe(got))
		}
		if text := c.Task.GetX(viewer(t), id).Text; text != "second" {
			t.Errorf("text = %q after Ignore", text)
		}

		// A conflict that writes the values the row has changes nothing a
		// client may see: update_time, which ent sets by itself, aside.
		c.Task.Create().SetKey("b").SetText("same").OnConflictColumns(task.FieldKey).UpdateNewValues().ExecX(ctx)
		tr.rec.Reset()
		time.Sleep(1100 * time.Millisecond) // MariaDB stores whole seconds: let update_time move
		c.Task.Create().SetKey("b").SetText("same").OnConflictColumns(task.FieldKey).UpdateNewValues().ExecX(ctx)
		if got := tr.rec.Events(); len(got) != 0 {
			t.Errorf("a conflict that wrote the stored values sent %s", describe(got))
		}
	})
}

func TestUpsertConflictingOnAnotherUniqueKey(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		x := c.Task.Create().SetKey("x").SetSlug("s").SetText("x").SaveX(ctx)
		tr.rec.Reset()

		// The conflict target is key, but the row conflicts on slug.
		err := c.Task.Create().SetKey("y").SetSlug("s").SetText("via slug").
			OnConflictColumns(task.FieldKey).UpdateNewValues().Exec(ctx)
		if drv.Dialect() != dialect.MySQL {
			// ON CONFLICT (key) does not cover slug: the insert fails.
			if !testent.IsConstraintError(err) {
				t.Fatalf("err = %v, want a constraint error", err)
			}
			if got := tr.rec.Events(); len(got) != 0 {
				t.Errorf("a failed upsert sent %s", describe(got))
			}
			return
		}
		// ON DUPLICATE KEY UPDATE considers every unique key: x is updated.
		if err != nil {
			t.Fatal(err)
		}
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, x.ID, "via slug", nil})
		if got := tr.rec.Events()[0].Data.(*testent.Task).Key; got != "y" {
			t.Errorf("key = %q, want the new y", got)
		}
	})
}

func TestBulkUpsertSendsOneEventPerChangedRow(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		old := c.Task.Create().SetKey("old").SetText("before").SaveX(ctx)
		same := c.Task.Create().SetKey("same").SetText("unchanged").SaveX(ctx)
		tr.rec.Reset()

		err := c.Task.CreateBulk(
			c.Task.Create().SetKey("old").SetText("after"),
			c.Task.Create().SetKey("new").SetText("created"),
			c.Task.Create().SetKey("same").SetText("unchanged"),
		).OnConflictColumns(task.FieldKey).Update(func(u *testent.TaskUpsert) { u.UpdateText() }).Exec(ctx)
		if err != nil {
			t.Fatal(err)
		}
		created := c.Task.Query().Where(task.Key("new")).OnlyX(viewer(t))
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionUpdate, old.ID, "after", []string{task.FieldText}},
			taskEvent{entreactive.ActionCreate, created.ID, "created", nil})
		if got := c.Task.GetX(viewer(t), same.ID).Text; got != "unchanged" {
			t.Errorf("text = %q", got)
		}
	})
}

func TestBulkUpsertThatSkipsRowsSendsTheInsertedOnesWithTheirIDs(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		kept := c.Task.Create().SetKey("kept").SetText("kept").SaveX(ctx)
		tr.rec.Reset()

		bulk := func(keys ...string) *testent.TaskUpsertBulk {
			builders := make([]*testent.TaskCreate, len(keys))
			for i, k := range keys {
				builders[i] = c.Task.Create().SetKey(k).SetText("new " + k)
			}
			return c.Task.CreateBulk(builders...).OnConflictColumns(task.FieldKey)
		}
		// The skipped row comes first: ent's ids of the inserted rows are
		// shifted (RETURNING) or guessed (LAST_INSERT_ID); the events are not.
		bulk("kept", "a", "b").Ignore().ExecX(ctx)
		if drv.Dialect() != dialect.MySQL {
			bulk("kept", "c").DoNothing().ExecX(ctx)
		}
		var want []taskEvent
		for _, row := range c.Task.Query().Where(task.KeyNEQ("kept")).Order(task.ByID()).AllX(viewer(t)) {
			want = append(want, taskEvent{entreactive.ActionCreate, row.ID, row.Text, nil})
		}
		if len(want) < 2 {
			t.Fatalf("%d rows inserted, want at least 2", len(want))
		}
		checkTasks(t, tr.rec.Events(), want...)
		if got := c.Task.GetX(viewer(t), kept.ID).Text; got != "kept" {
			t.Errorf("text = %q", got)
		}
	})
}

func TestPrivacyAndInterceptorsDoNotHideAffectedRows(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		// The caller's context: no viewer (reads are denied), tenant "a"
		// (reads see tenant a only), and a value of the caller's own.
		type callerKey struct{}
		ctx := context.WithValue(schema.NewTenantContext(t.Context(), "a"), callerKey{}, "caller")
		var contexts []any
		rec := tr.rec
		c := testent.NewClient(testent.Driver(drv), testent.Emitter(entreactive.EmitterFunc(
			func(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
				contexts = append(contexts, ctx.Value(callerKey{}))
				return rec.Emit(ctx, to, ev)
			})))

		a := c.Task.Create().SetKey("a").SetText("draft").SetTenant("a").SetTeamID(tr.team.ID).SaveX(ctx)
		b := c.Task.Create().SetKey("b").SetText("draft").SetTenant("b").SetTeamID(tr.team.ID).SaveX(ctx)
		rec.Reset()

		c.Task.UpdateOne(a).SetDone(true).ExecX(ctx)
		n := c.Task.Update().Where(task.TeamID(tr.team.ID)).SetText("sent").SaveX(ctx)
		if n != 2 {
			t.Fatalf("bulk update changed %d rows, want 2", n)
		}
		checkTasks(t, rec.Events(),
			taskEvent{entreactive.ActionUpdate, a.ID, "draft", nil},
			taskEvent{entreactive.ActionUpdate, a.ID, "sent", nil},
			taskEvent{entreactive.ActionUpdate, b.ID, "sent", nil})
		rec.Reset()

		n = c.Task.Delete().Where(task.TeamID(tr.team.ID)).ExecX(schema.SkipSoftDelete(ctx))
		if n != 2 {
			t.Fatalf("bulk delete removed %d rows, want 2", n)
		}
		checkTasks(t, rec.Events(),
			taskEvent{entreactive.ActionDelete, a.ID, "sent", nil},
			taskEvent{entreactive.ActionDelete, b.ID, "sent", nil})
		if f := rec.Failures(); len(f) != 0 {
			t.Errorf("failures: %+v", f)
		}
		for i, v := range contexts {
			if v != "caller" {
				t.Errorf("event %d: the emitter's context lacks the caller's value", i)
			}
		}
	})
}

func TestRowsAreLoadedInsideTheTransaction(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		tx, err := tr.client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		x := tx.Task.Create().SetKey("x").SetText("draft").SaveX(ctx)
		y := tx.Task.Create().SetKey("y").SetText("draft").SaveX(ctx)
		tx.Task.Update().Where(task.Text("draft")).SetText("sent").ExecX(ctx)
		tx.Task.DeleteOneID(x.ID).ExecX(ctx)
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionCreate, x.ID, "draft", nil},
			taskEvent{entreactive.ActionCreate, y.ID, "draft", nil},
			taskEvent{entreactive.ActionUpdate, x.ID, "sent", nil},
			taskEvent{entreactive.ActionUpdate, y.ID, "sent", nil},
			taskEvent{entreactive.ActionDelete, x.ID, "sent", nil})
	})
}

func TestBulkUpdateOnTheColumnItChangesSendsTheRowsItMatched(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		draft := tr.task(t, "draft")
		tr.task(t, "other")

		n := tr.client.Task.Update().Where(task.Text("draft")).SetText("sent").SaveX(t.Context())
		if n != 1 {
			t.Fatalf("updated %d rows, want 1", n)
		}
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, draft.ID, "sent", nil})
	})
}

func TestSoftDeleteSendsOneDeleteWithTheRowAsItWas(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client

		// Task: the reactive mixin before the soft-delete mixin.
		one, two, three := tr.task(t, "one"), tr.task(t, "two"), tr.task(t, "three")
		c.Task.DeleteOne(one).ExecX(ctx)
		got := tr.rec.Events()
		checkTasks(t, got, taskEvent{entreactive.ActionDelete, one.ID, "one", nil})
		if row := got[0].Data.(*testent.Task); !row.DeleteTime.IsZero() || row.Revision != 0 {
			t.Errorf("deleted row = %+v, want it as it was before the delete", row)
		}
		tr.rec.Reset()
		n := c.Task.Delete().Where(task.KeyIn(one.Key, two.Key, three.Key)).ExecX(ctx)
		if n != 2 {
			t.Fatalf("deleted %d rows, want 2 (one was deleted already)", n)
		}
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionDelete, two.ID, "two", nil},
			taskEvent{entreactive.ActionDelete, three.ID, "three", nil})
		if left := c.Task.Query().CountX(schema.SkipSoftDelete(viewer(t))); left != 3 {
			t.Errorf("%d rows left, want the 3 soft-deleted ones", left)
		}

		// Memo: the soft-delete mixin before the reactive mixin.
		m := c.Memo.Create().SetText("memo").SaveX(ctx)
		tr.rec.Reset()
		c.Memo.DeleteOne(m).ExecX(ctx)
		if err := c.Memo.DeleteOne(m).Exec(ctx); !testent.IsNotFound(err) {
			t.Errorf("second delete: err = %v, want not found", err)
		}
		got = tr.rec.Events()
		if len(got) != 1 || got[0].Action != entreactive.ActionDelete || got[0].Model != "Memo" || got[0].ID != m.ID {
			t.Fatalf("memo delete sent %s, want one delete", describe(got))
		}
		if row := got[0].Data.(*testent.Memo); row.Text != "memo" || !row.DeleteTime.IsZero() {
			t.Errorf("deleted memo = %+v, want it as it was", row)
		}
	})
}

func TestChangedIncludesWhatInnerHooksSet(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		a := tr.task(t, "a")

		tr.client.Task.UpdateOne(a).SetText("b").ExecX(ctx)
		tr.client.Task.Update().Where(task.ID(a.ID)).SetDone(true).ExecX(ctx)
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionUpdate, a.ID, "b", []string{task.FieldText, task.FieldUpdateTime, task.FieldRevision}},
			taskEvent{entreactive.ActionUpdate, a.ID, "b", []string{task.FieldDone, task.FieldUpdateTime, task.FieldRevision}})
		if rev := tr.rec.Events()[1].Data.(*testent.Task).Revision; rev != 2 {
			t.Errorf("revision = %d, want 2", rev)
		}
	})
}

func TestEdgeChangesAreInChanged(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		a := tr.task(t, "a")
		label := tr.client.Label.Create().SetName("urgent").SaveX(ctx)

		tr.client.Task.UpdateOne(a).AddLabels(label).ExecX(ctx)
		tr.client.Task.UpdateOne(a).SetTeam(tr.team).ExecX(ctx)
		tr.client.Task.UpdateOne(a).ClearLabels().ClearTeam().ExecX(ctx)
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionUpdate, a.ID, "a", []string{task.EdgeLabels, task.FieldUpdateTime, task.FieldRevision}},
			taskEvent{entreactive.ActionUpdate, a.ID, "a", []string{task.FieldTeamID, task.FieldUpdateTime, task.FieldRevision}},
			taskEvent{entreactive.ActionUpdate, a.ID, "a", []string{task.EdgeLabels, task.FieldTeamID, task.FieldUpdateTime, task.FieldRevision}})
	})
}

func TestTargetFunctionsSeePreviousRowAndChanges(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		a := c.Task.Create().SetKey("a").SetText("a").SetAssigneeID(tr.alice.ID).SaveX(ctx)
		b := c.Task.Create().SetKey("b").SetText("b").SetAssigneeID(tr.alice.ID).SaveX(ctx)
		tr.rec.Reset()

		// Reassigned: the new and the old assignee hear about it.
		c.Task.UpdateOne(a).SetAssigneeID(tr.bob.ID).ExecX(ctx)
		if got := tr.rec.ToUser(tr.alice.ID); len(got) != 1 || got[0].ID != a.ID {
			t.Errorf("old assignee got %s, want the update", describe(got))
		}
		if got := tr.rec.ToUser(tr.bob.ID); len(got) != 1 {
			t.Errorf("new assignee got %s, want the update", describe(got))
		}
		tr.rec.Reset()
		c.Task.Update().Where(task.IDIn(a.ID, b.ID)).ClearAssigneeID().ExecX(ctx)
		if got := tr.rec.ToUser(tr.alice.ID); len(got) != 1 || got[0].ID != b.ID {
			t.Errorf("bulk: alice got %s, want the update of b", describe(got))
		}
		if got := tr.rec.ToUser(tr.bob.ID); len(got) != 1 || got[0].ID != a.ID {
			t.Errorf("bulk: bob got %s, want the update of a", describe(got))
		}
		tr.rec.Reset()
		c.Task.UpdateOne(a).SetText("a2").ExecX(ctx)
		if got := tr.rec.Deliveries(); len(got) != 1 || len(got[0].Target.Users) != 0 {
			t.Errorf("an update of an unassigned task = %+v, want the tasks room only", got)
		}

		// Memo: an update is sent only when it changed the text.
		m := c.Memo.Create().SetText("memo").SaveX(ctx)
		tr.rec.Reset()
		c.Memo.UpdateOne(m).SetPinned(true).ExecX(ctx)
		c.Memo.UpdateOne(m).SetText("memo 2").ExecX(ctx)
		got := tr.rec.ToRoom(schema.MemosRoom)
		if len(got) != 1 || !slices.Equal(got[0].Changed, []string{memo.FieldText}) {
			t.Errorf("memo updates sent %s, want only the text change", describe(got))
		}
	})
}

func TestUnassignedFromTheUserSideNotifiesTheOldAssignee(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		a := c.Task.Create().SetKey("a").SetText("a").SetAssigneeID(tr.alice.ID).SaveX(ctx)
		b := tr.task(t, "b")

		// Only Previous knows alice: the task has no assignee any more.
		c.User.UpdateOne(tr.alice).ClearTasks().ExecX(ctx)
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, a.ID, "a", []string{task.FieldAssigneeID}})
		if got := tr.rec.ToUser(tr.alice.ID); len(got) != 1 {
			t.Errorf("old assignee got %s, want the update", describe(got))
		}
		tr.rec.Reset()

		c.User.UpdateOne(tr.bob).AddTaskIDs(a.ID, b.ID).ExecX(ctx)
		if got := tr.rec.ToUser(tr.bob.ID); len(got) != 2 {
			t.Errorf("new assignee got %s, want both updates", describe(got))
		}
	})
}

func TestUpdateOfSensitiveFieldsOnlySendsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		m := tr.client.Memo.Create().SetText("memo").SaveX(ctx)
		tr.rec.Reset()

		tr.client.Memo.UpdateOne(m).SetSecret("hunter2").ExecX(ctx)
		tr.client.Memo.Update().Where(memo.ID(m.ID)).ClearSecret().ExecX(ctx)
		if got := tr.rec.Events(); len(got) != 0 {
			t.Errorf("updates of the secret alone sent %s", describe(got))
		}
		tr.client.Memo.UpdateOne(m).SetSecret("hunter3").SetText("memo 2").ExecX(ctx)
		if got := tr.rec.Events(); len(got) != 1 || !slices.Equal(got[0].Changed, []string{memo.FieldText}) {
			t.Errorf("an update of the secret and the text sent %s, want one with changed [text]", describe(got))
		}
	})
}

func TestEdgeChangedFromTheOtherSideUpdatesTheRowsWhoseKeyChanged(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		a, b, d := tr.task(t, "a"), tr.task(t, "b"), tr.task(t, "d")
		other := c.Team.Create().SetName("other").SaveX(ctx)
		changedTeam := []string{task.FieldTeamID}

		c.Team.UpdateOne(tr.team).AddTaskIDs(a.ID, b.ID).ExecX(ctx)
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionUpdate, a.ID, "a", changedTeam},
			taskEvent{entreactive.ActionUpdate, b.ID, "b", changedTeam})
		if got := tr.rec.Events()[0].Data.(*testent.Task).TeamID; got == nil || *got != tr.team.ID {
			t.Errorf("team_id = %v, want %d", got, tr.team.ID)
		}
		tr.rec.Reset()

		// A team update that leaves its edge alone changes no task.
		c.Team.Update().Where(team.ID(tr.team.ID)).SetName("renamed").ExecX(ctx)
		if got := tr.rec.Events(); len(got) != 0 {
			t.Errorf("no key changed, yet %s", describe(got))
		}

		c.Team.UpdateOne(tr.team).RemoveTaskIDs(a.ID).ExecX(ctx)
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, a.ID, "a", changedTeam})
		tr.rec.Reset()

		c.Team.Create().SetName("new").AddTaskIDs(d.ID).ExecX(ctx)
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, d.ID, "d", changedTeam})
		tr.rec.Reset()

		c.Team.UpdateOne(other).AddTaskIDs(a.ID).ExecX(ctx)
		c.Team.Update().Where(team.ID(tr.team.ID)).ClearTasks().ExecX(ctx)
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionUpdate, a.ID, "a", changedTeam},
			taskEvent{entreactive.ActionUpdate, b.ID, "b", changedTeam})
		tr.rec.Reset()

		// Deleting a team sets its tasks' key to NULL (ON DELETE SET NULL).
		c.Team.DeleteOne(other).ExecX(ctx)
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, a.ID, "a", changedTeam})
		if got := tr.rec.Events()[0].Data.(*testent.Task).TeamID; got != nil {
			t.Errorf("team_id = %d after the team's delete, want null", *got)
		}
	})
}

func TestUpdateOneThatSelectsSomeFieldsSendsTheWholeRow(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		a := tr.task(t, "a")

		got := tr.client.Task.UpdateOne(a).SetText("b").Select(task.FieldText).SaveX(t.Context())
		if got.Key != "" {
			t.Fatalf("ent returned key %q for a Select of text: the test needs a partial row", got.Key)
		}
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, a.ID, "b", nil})
		if row := tr.rec.Events()[0].Data.(*testent.Task); row.Key != a.Key || row.Revision != 1 {
			t.Errorf("event row = %+v, want the whole row (key %q, revision 1)", row, a.Key)
		}
	})
}

func TestUpsertThatUpdatesGivesTheTargetFunctionThePreviousRow(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		// The emitter sees what the target function saw: the previous row
		// of each update.
		rec := tr.rec
		em := &previousRecorder{Recorder: rec, previous: map[int]*testent.Task{}}
		previous := em.previous
		c := testent.NewClient(testent.Driver(drv), testent.Emitter(em))
		a := c.Task.Create().SetKey("a").SetText("a1").SetAssigneeID(tr.alice.ID).SaveX(ctx)
		rec.Reset()

		// One row: reassigned to bob by the conflict; alice, the old
		// assignee, hears it only through Previous.
		c.Task.Create().SetKey("a").SetText("a2").SetAssigneeID(tr.bob.ID).
			OnConflictColumns(task.FieldKey).UpdateNewValues().ExecX(ctx)
		checkNoFailures(t, rec)
		checkTasks(t, rec.Events(), taskEvent{entreactive.ActionUpdate, a.ID, "a2", nil})
		if got := rec.ToUser(tr.alice.ID); len(got) != 1 {
			t.Errorf("the old assignee got %s, want the update", describe(got))
		}
		if got := rec.ToUser(tr.bob.ID); len(got) != 1 {
			t.Errorf("the new assignee got %s, want the update", describe(got))
		}
		checkPrevious(t, previous, a.ID, "a1", tr.alice.ID)
		rec.Reset()
		clear(previous)

		// Bulk: each updated row with its own previous row.
		b := c.Task.Create().SetKey("b").SetText("b1").SetAssigneeID(tr.alice.ID).SaveX(ctx)
		d := c.Task.Create().SetKey("d").SetText("d1").SetAssigneeID(tr.bob.ID).SaveX(ctx)
		rec.Reset()
		c.Task.CreateBulk(
			c.Task.Create().SetKey("b").SetText("b2").SetAssigneeID(tr.bob.ID),
			c.Task.Create().SetKey("d").SetText("d2").SetAssigneeID(tr.alice.ID),
		).OnConflictColumns(task.FieldKey).UpdateNewValues().ExecX(ctx)
		checkNoFailures(t, rec)
		checkTasks(t, rec.Events(),
			taskEvent{entreactive.ActionUpdate, b.ID, "b2", nil},
			taskEvent{entreactive.ActionUpdate, d.ID, "d2", nil})
		// Each assignee, old and new, hears about both.
		for _, u := range []*testent.User{tr.alice, tr.bob} {
			if got := rec.ToUser(u.ID); len(got) != 2 {
				t.Errorf("%s got %s, want both updates", u.Name, describe(got))
			}
		}
		checkPrevious(t, previous, b.ID, "b1", tr.alice.ID)
		checkPrevious(t, previous, d.ID, "d1", tr.bob.ID)
	})
}

// checkNoFailures reports the lost events rec was told about.
func checkNoFailures(t *testing.T, rec *entreactivetest.Recorder) {
	t.Helper()
	for _, f := range rec.Failures() {
		t.Errorf("lost %s %s %v: %v", f.Action, f.Model, f.ID, f.Err)
	}
}

// previousRecorder is a Recorder that also keeps, by task id, the previous
// row in the context of each Task update it receives.
type previousRecorder struct {
	*entreactivetest.Recorder
	previous map[int]*testent.Task
}

// Emit notes the previous row of an update, then records the event.
func (r *previousRecorder) Emit(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	if old, ok := entreactive.Previous[*testent.Task](ctx); ok && ev.Action == entreactive.ActionUpdate {
		r.previous[ev.ID.(int)] = old
	}
	return r.Recorder.Emit(ctx, to, ev)
}

// checkPrevious checks the previous row an update of task id had.
func checkPrevious(t *testing.T, previous map[int]*testent.Task, id int, text string, assignee int) {
	t.Helper()
	old, ok := previous[id]
	switch {
	case !ok:
		t.Errorf("task %d: the update had no previous row", id)
	case old == nil:
		t.Errorf("task %d: the previous row is nil", id)
	case old.ID != id || old.Text != text || old.AssigneeID == nil || *old.AssigneeID != assignee:
		t.Errorf("task %d: previous row = id %d text %q assignee %v, want id %d text %q assignee %d",
			id, old.ID, old.Text, old.AssigneeID, id, text, assignee)
	}
}

func TestRemovedM2MEdgeIsInChanged(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		a, b := tr.task(t, "a"), tr.task(t, "b")
		urgent := c.Label.Create().SetName("urgent").SaveX(ctx)
		later := c.Label.Create().SetName("later").SaveX(ctx)
		c.Task.Update().Where(task.IDIn(a.ID, b.ID)).AddLabels(urgent, later).ExecX(ctx)
		tr.rec.Reset()

		c.Task.UpdateOne(a).RemoveLabels(urgent).ExecX(ctx)
		c.Task.UpdateOneID(a.ID).RemoveLabelIDs(later.ID).ExecX(ctx)
		c.Task.Update().Where(task.ID(b.ID)).RemoveLabelIDs(urgent.ID).ExecX(ctx)
		changed := []string{task.EdgeLabels, task.FieldUpdateTime, task.FieldRevision}
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionUpdate, a.ID, "a", changed},
			taskEvent{entreactive.ActionUpdate, a.ID, "a", changed},
			taskEvent{entreactive.ActionUpdate, b.ID, "b", changed})
		if n := c.Task.QueryLabels(a).CountX(viewer(t)); n != 0 {
			t.Errorf("a has %d labels, want none", n)
		}
		if got := c.Task.QueryLabels(b).OnlyX(viewer(t)); got.ID != later.ID {
			t.Errorf("b has label %q, want later", got.Name)
		}
		tr.rec.Reset()

		// Added and removed in one update: the edge is listed once.
		c.Task.UpdateOne(b).AddLabels(urgent).RemoveLabels(later).ExecX(ctx)
		checkTasks(t, tr.rec.Events(), taskEvent{entreactive.ActionUpdate, b.ID, "b", changed})
	})
}

func TestBulkUpdateOfMoreRowsThanOneReloadQuerySendsEachRow(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		em := &previousRecorder{Recorder: tr.rec, previous: map[int]*testent.Task{}}
		c := testent.NewClient(testent.Driver(drv), testent.Emitter(em))
		// The updated rows are reloaded 500 ids at a time: three queries.
		const n = 1001
		builders := make([]*testent.TaskCreate, n)
		for i := range builders {
			builders[i] = c.Task.Create().SetKey("bulk" + strconv.Itoa(i)).SetText("draft")
		}
		rows := c.Task.CreateBulk(builders...).SaveX(ctx)
		tr.rec.Reset()

		if got := c.Task.Update().Where(task.Text("draft")).SetText("sent").SaveX(ctx); got != n {
			t.Fatalf("updated %d rows, want %d", got, n)
		}
		checkNoFailures(t, tr.rec)
		got := tr.rec.Events()
		if len(got) != n {
			ids := make([]any, len(got))
			for i, ev := range got {
				ids[i] = ev.ID
			}
			t.Fatalf("got %d events, want %d; their ids: %v", len(got), n, compactIDs(ids))
		}
		for i, row := range rows {
			if checkTasks(t, got[i:i+1], taskEvent{entreactive.ActionUpdate, row.ID, "sent", nil}); t.Failed() {
				break // the first wrong event says enough
			}
		}
		for _, row := range rows {
			if old := em.previous[row.ID]; old == nil || old.ID != row.ID || old.Text != "draft" {
				t.Fatalf("task %d: previous row = %+v, want it as a draft", row.ID, old)
			}
		}
	})
}

// An emitter may keep the context it was given, to finish the work later
// (a queue, a goroutine): each row's context keeps that row's previous
// row, action and changes after the next row has been emitted.
func TestEmitterThatKeepsTheContextSeesEachRowsPrevious(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		var kept []context.Context
		em := entreactive.EmitterFunc(func(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
			kept = append(kept, ctx)
			return tr.rec.Emit(ctx, to, ev)
		})
		c := testent.NewClient(testent.Driver(drv), testent.Emitter(em))
		a := c.Task.Create().SetKey("a").SetText("a1").SetAssigneeID(tr.alice.ID).SaveX(ctx)
		b := c.Task.Create().SetKey("b").SetText("b1").SetAssigneeID(tr.bob.ID).SaveX(ctx)
		kept = nil

		c.Task.Update().Where(task.IDIn(a.ID, b.ID)).SetText("sent").ExecX(ctx)
		if len(kept) != 2 {
			t.Fatalf("the emitter got %d events, want 2", len(kept))
		}
		previous := map[int]*testent.Task{}
		for _, kctx := range kept {
			old, ok := entreactive.Previous[*testent.Task](kctx)
			if !ok || old == nil {
				t.Fatal("a kept context lost its previous row")
			}
			previous[old.ID] = old
			if action, _ := entreactive.ActionFromContext(kctx); action != entreactive.ActionUpdate {
				t.Errorf("task %d: kept context says %q, want an update", old.ID, action)
			}
			if !entreactive.HasChanged(kctx, task.FieldText) {
				t.Errorf("task %d: kept context lost the changed text", old.ID)
			}
		}
		checkPrevious(t, previous, a.ID, "a1", tr.alice.ID)
		checkPrevious(t, previous, b.ID, "b1", tr.bob.ID)
	})
}

// compactIDs writes a list of int ids with its runs as ranges: "1-500 1001".
func compactIDs(ids []any) string {
	var b strings.Builder
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j].(int)+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(' ')
		}
		if j > i {
			fmt.Fprintf(&b, "%v-%v", ids[i], ids[j])
		} else {
			fmt.Fprint(&b, ids[i])
		}
		i = j + 1
	}
	return b.String()
}

// An O2M edge changed from the side without the foreign key
// (widget.AddParts(part), parent.AddChildren(child)) is named in the
// update's changed, as an M2M edge is: the row's own fields did not move,
// its edges did.
func TestO2MEdgeChangedFromItsOwnSideIsInChanged(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()
		bolt := client.Part.Create().SetName("bolt").SaveX(ctx)
		root := client.Widget.Create().SetName("root").SaveX(ctx)
		child := client.Widget.Create().SetName("child").SaveX(ctx)

		changedOf := func(id int) [][]string {
			var out [][]string
			for _, ev := range rec.Events() {
				if ev.Action == entreactive.ActionUpdate && ev.ID == id {
					out = append(out, ev.Changed)
				}
			}
			return out
		}
		for _, step := range []struct {
			name string
			do   func()
			want string
		}{
			{"AddParts", func() { client.Widget.UpdateOne(root).AddParts(bolt).ExecX(ctx) }, widget.EdgeParts},
			{"RemoveParts", func() { client.Widget.UpdateOne(root).RemoveParts(bolt).ExecX(ctx) }, widget.EdgeParts},
			{"AddChildren", func() { client.Widget.UpdateOne(root).AddChildren(child).ExecX(ctx) }, widget.EdgeChildren},
			{"ClearChildren", func() { client.Widget.Update().Where(widget.ID(root.ID)).ClearChildren().ExecX(ctx) }, widget.EdgeChildren},
		} {
			rec.Reset()
			step.do()
			got := changedOf(root.ID)
			if len(got) != 1 || !slices.Contains(got[0], step.want) {
				t.Errorf("%s: the widget's updates say changed %v, want one naming %q", step.name, got, step.want)
			}
		}
	})
}

func TestBuilderRetriedAfterAFailedAttemptSendsItsEvent(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx, hard := t.Context(), schema.SkipSoftDelete(t.Context())
		c := tr.client
		a := tr.task(t, "a")
		s := c.Setting.Create().SetKey("s").SetValue("s").SaveX(ctx)

		// Each builder fails on a unique key, the row holding it goes, and
		// the same builder, run again, succeeds: a retry loop's way. Task
		// has schema hooks before the reactive one, Tag and Setting do not.
		type retry struct {
			name    string
			block   func() (unblock func())
			attempt func() error
			model   string
			action  entreactive.Action
			id      func() any
		}
		taskKey := func(key string) func() func() {
			return func() func() {
				row := c.Task.Create().SetKey(key).SetText("blocker").SaveX(ctx)
				return func() { c.Task.DeleteOneID(row.ID).ExecX(hard) }
			}
		}
		createTask := c.Task.Create().SetKey("t1").SetText("retried")
		updateTask := c.Task.UpdateOne(a).SetKey("t2").SetText("retried")
		createTag := c.Tag.Create().SetID("go").SetName("retried")
		updateSetting := c.Setting.UpdateOne(s).SetKey("taken").SetValue("retried")
		for _, r := range []retry{
			{"Task create", taskKey("t1"), func() error { return createTask.Exec(ctx) }, "Task", entreactive.ActionCreate,
				func() any { return c.Task.Query().Where(task.Key("t1")).OnlyIDX(viewer(t)) }},
			{"Task update", taskKey("t2"), func() error { return updateTask.Exec(ctx) }, "Task", entreactive.ActionUpdate,
				func() any { return a.ID }},
			{"Tag create", func() func() {
				c.Tag.Create().SetID("go").SetName("blocker").ExecX(ctx)
				return func() { c.Tag.DeleteOneID("go").ExecX(ctx) }
			}, func() error { return createTag.Exec(ctx) }, "Tag", entreactive.ActionCreate, func() any { return "go" }},
			{"Setting update", func() func() {
				row := c.Setting.Create().SetKey("taken").SetValue("blocker").SaveX(ctx)
				return func() { c.Setting.DeleteOne(row).ExecX(ctx) }
			}, func() error { return updateSetting.Exec(ctx) }, "Setting", entreactive.ActionUpdate, func() any { return s.ID }},
		} {
			t.Run(r.name, func(t *testing.T) {
				unblock := r.block()
				tr.rec.Reset()
				if err := r.attempt(); !testent.IsConstraintError(err) {
					t.Fatalf("first attempt: err = %v, want a constraint error", err)
				}
				unblock()
				tr.rec.Reset()
				if err := r.attempt(); err != nil {
					t.Fatalf("retry: %v", err)
				}
				got := tr.rec.Events()
				if id := r.id(); len(got) != 1 || got[0].Model != r.model || got[0].Action != r.action || got[0].ID != id {
					t.Errorf("the retry sent %s; want the %s of %s %v", describe(got), r.action, r.model, id)
				}
			})
		}
	})
}

func TestEdgeChangeFromTheOtherSideThatChangesNoKeySendsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		other := c.Team.Create().SetName("other").SaveX(ctx)
		mine := c.Task.Create().SetKey("mine").SetText("mine").SetTeamID(tr.team.ID).SetAssigneeID(tr.alice.ID).SaveX(ctx)
		theirs := c.Task.Create().SetKey("theirs").SetText("theirs").SetTeamID(other.ID).SaveX(ctx)
		tr.rec.Reset()

		// Removing a task the team or user does not have, or clearing the
		// edge and adding its task back: no task's key changes.
		c.Team.UpdateOne(tr.team).RemoveTaskIDs(theirs.ID).ExecX(ctx)
		c.Team.Update().Where(team.ID(tr.team.ID)).RemoveTaskIDs(theirs.ID).ExecX(ctx)
		c.User.UpdateOne(tr.bob).RemoveTaskIDs(mine.ID).ExecX(ctx)
		c.Team.UpdateOne(tr.team).ClearTasks().AddTaskIDs(mine.ID).ExecX(ctx)
		if got := tr.rec.Events(); len(got) != 0 {
			t.Errorf("no key changed, yet %s", describe(got))
		}
		if got := c.Task.GetX(viewer(t), theirs.ID).TeamID; got == nil || *got != other.ID {
			t.Errorf("theirs: team_id = %v, want %d still", got, other.ID)
		}
		if got := c.Task.GetX(viewer(t), mine.ID); got.TeamID == nil || *got.TeamID != tr.team.ID ||
			got.AssigneeID == nil || *got.AssigneeID != tr.alice.ID {
			t.Errorf("mine: team_id = %v, assignee_id = %v, want %d and %d still", got.TeamID, got.AssigneeID, tr.team.ID, tr.alice.ID)
		}
	})
}

func TestBulkUpsertWhoseConflictRenamesTheKeySendsTheUpdate(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		tr := newTracker(t, drv)
		ctx := t.Context()
		c := tr.client
		old := c.Task.Create().SetKey("old").SetText("old").SaveX(ctx)
		tr.rec.Reset()

		// The conflicting row no longer has the key it conflicted on: it is
		// found by its id.
		c.Task.CreateBulk(
			c.Task.Create().SetKey("old").SetText("ignored"),
			c.Task.Create().SetKey("new").SetText("new"),
		).OnConflictColumns(task.FieldKey).Update(func(u *testent.TaskUpsert) { u.SetKey("renamed") }).ExecX(ctx)
		created := c.Task.Query().Where(task.Key("new")).OnlyX(viewer(t))
		checkTasks(t, tr.rec.Events(),
			taskEvent{entreactive.ActionUpdate, old.ID, "old", []string{task.FieldKey}},
			taskEvent{entreactive.ActionCreate, created.ID, "new", nil})
		if got := tr.rec.Events()[0].Data.(*testent.Task).Key; got != "renamed" {
			t.Errorf("key = %q, want renamed", got)
		}
	})
}
