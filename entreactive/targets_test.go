package entreactive_test

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"testing"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/internal/ent/item"
	_ "github.com/entreactive/reactive/entreactive/internal/ent/runtime"
	"github.com/entreactive/reactive/entreactive/internal/ent/schema"
	"github.com/entreactive/reactive/entreactive/internal/ent/setting"
	"github.com/entreactive/reactive/entreactive/internal/ent/tag"
)

// newItems migrates the test schemas on drv, with emitter set.
func newItems(t *testing.T, drv *entsql.Driver, emitter entreactive.Emitter) *testent.Client {
	t.Helper()
	client := testent.NewClient(testent.Driver(drv), testent.Emitter(emitter))
	if err := client.Schema.Create(t.Context()); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	return client
}

func TestTargetsDecideTheAudience(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		for _, audience := range []string{"skip", "nobody"} {
			it := client.Item.Create().SetLabel(audience).SetAudience(audience).SaveX(ctx)
			client.Item.UpdateOne(it).SetCount(1).ExecX(ctx)
			client.Item.DeleteOne(it).ExecX(ctx)
		}
		if got := rec.Deliveries(); len(got) != 0 {
			t.Fatalf("skipped and empty targets sent %d events: %+v", len(got), got)
		}

		it := client.Item.Create().SetLabel("summary").SetAudience("instance").SaveX(ctx)
		d := rec.Deliveries()
		if len(d) != 1 {
			t.Fatalf("instance: got %d deliveries, want 1", len(d))
		}
		if want := map[string]string{"label": "summary", "kind": "summary"}; !equalJSON(t, d[0].Event.Data, want) {
			t.Errorf("instance data = %+v, want %v", d[0].Event.Data, want)
		}
		if d[0].Target.Instance != nil || d[0].Event.ID != it.ID {
			t.Errorf("delivery = %+v: the emitter gets the instance as data, and the row's id", d[0])
		}

		rec.Reset()
		users := client.Item.Create().SetLabel("for two").SetAudience("users").SaveX(ctx)
		if a, b := rec.ToUser(1), rec.ToUser(int64(2)); len(a) != 1 || len(b) != 1 || a[0].ID != users.ID {
			t.Errorf("ToUserIDs(1, 2): user 1 got %d, user 2 got %d events", len(a), len(b))
		}
	})
}

func TestOnAllServesEveryActionAndTellsWhich(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		it := client.Item.Create().SetLabel("x").SaveX(ctx)
		client.Item.UpdateOne(it).SetLabel("y").ExecX(ctx)
		client.Item.DeleteOne(it).ExecX(ctx)

		for _, action := range []entreactive.Action{entreactive.ActionCreate, entreactive.ActionUpdate, entreactive.ActionDelete} {
			got := rec.ToRoom("items_" + string(action))
			if len(got) != 1 || got[0].Action != action || got[0].Model != "Item" {
				t.Errorf("room items_%s got %+v, want the one %s event", action, got, action)
			}
		}
		if got := len(rec.ToRoom("items")); got != 3 {
			t.Errorf("room items got %d events, want 3", got)
		}
	})
}

func TestActionsWithoutTargetFunctionSendNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		tag := client.Tag.Create().SetID("go").SetName("Go").SaveX(ctx)
		client.Tag.UpdateOne(tag).SetName("Golang").ExecX(ctx)
		client.Tag.DeleteOne(tag).ExecX(ctx)

		got := rec.Events()
		if len(got) != 1 || got[0].Action != entreactive.ActionCreate || got[0].ID != "go" {
			t.Fatalf("tag events = %+v, want only the create with id \"go\"", got)
		}
	})
}

func TestUpsertOfACreateOnlySchemaSendsItsCreatesOnly(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()
		client.Tag.Create().SetID("go").SetName("Go").ExecX(ctx)
		rec.Reset()

		// Tag has no update target function: the conflict that renames "go"
		// sends nothing, the insert of "ent" its create.
		client.Tag.CreateBulk(
			client.Tag.Create().SetID("go").SetName("Golang"),
			client.Tag.Create().SetID("ent").SetName("ent"),
		).OnConflictColumns(tag.FieldID).UpdateNewValues().ExecX(ctx)
		client.Tag.Create().SetID("go").SetName("Go again").
			OnConflictColumns(tag.FieldID).UpdateNewValues().ExecX(ctx)
		if got := client.Tag.GetX(ctx, "go").Name; got != "Go again" {
			t.Fatalf("name = %q: the upserts did not update", got)
		}
		for _, f := range rec.Failures() {
			t.Errorf("lost %s %s %v: %v", f.Action, f.Model, f.ID, f.Err)
		}
		got := rec.Events()
		if len(got) != 1 || got[0].Action != entreactive.ActionCreate || got[0].ID != "ent" {
			t.Fatalf("tag events = %+v, want only the create of \"ent\"", got)
		}
	})
}

func TestUpsertOfAnUpdateOnlySchemaSendsItsUpdates(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()
		theme := client.Setting.Create().SetKey("theme").SetValue("light").SaveX(ctx)
		client.Setting.CreateBulk(client.Setting.Create().SetKey("a").SetValue("a"),
			client.Setting.Create().SetKey("b").SetValue("b")).ExecX(ctx)
		if got, lost := rec.Events(), rec.Failures(); len(got) != 0 || len(lost) != 0 {
			t.Fatalf("creates of an update-only schema sent %+v and lost %+v, want nothing", got, lost)
		}

		// Setting has no create target function, but an upsert, a create
		// statement, may update: the conflict on "theme" sends its update,
		// the insert of "lang" nothing.
		client.Setting.Create().SetKey("theme").SetValue("dark").
			OnConflictColumns(setting.FieldKey).UpdateNewValues().ExecX(ctx)
		client.Setting.CreateBulk(
			client.Setting.Create().SetKey("lang").SetValue("en"),
			client.Setting.Create().SetKey("theme").SetValue("solarized"),
		).OnConflictColumns(setting.FieldKey).UpdateNewValues().ExecX(ctx)
		for _, f := range rec.Failures() {
			t.Errorf("lost %s %s %v: %v", f.Action, f.Model, f.ID, f.Err)
		}
		got := rec.ToRoom(schema.SettingsRoom)
		if len(got) != 2 || len(rec.Events()) != 2 {
			t.Fatalf("setting events = %+v, want the two updates of theme", rec.Events())
		}
		for i, value := range []string{"dark", "solarized"} {
			row, _ := got[i].Data.(*testent.Setting)
			if got[i].Action != entreactive.ActionUpdate || got[i].ID != theme.ID || row == nil || row.Value != value {
				t.Errorf("event %d = %s %v %+v, want the update of theme to %q", i, got[i].Action, got[i].ID, got[i].Data, value)
			}
		}
	})
}

func TestSensitiveFieldsNeverLeave(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		it := client.Item.Create().SetLabel("vault").SetSecret("hunter2").SaveX(ctx)
		client.Item.UpdateOne(it).SetSecret("hunter3").SetLabel("vault 2").ExecX(ctx)
		client.Item.UpdateOne(it).ClearSecret().ExecX(ctx)
		client.Item.Update().Where(item.ID(it.ID)).SetSecret("hunter4").ExecX(ctx)
		client.Item.DeleteOne(it).ExecX(ctx)

		events := rec.Events()
		if len(events) != 5 {
			t.Fatalf("got %d events, want 5", len(events))
		}
		for i, ev := range events {
			raw, err := json.Marshal(ev)
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(raw, []byte("hunter")) || bytes.Contains(raw, []byte(item.FieldSecret)) {
				t.Errorf("event %d carries the secret: %s", i, raw)
			}
		}
		if got := events[1].Changed; !slices.Equal(got, []string{item.FieldLabel}) {
			t.Errorf("changed = %v, want only label", got)
		}
		if got := events[2].Changed; len(got) != 0 {
			t.Errorf("clearing the secret reports changed = %v, want none", got)
		}
	})
}

func TestFailingTargetFunctionLeavesTheWriteStanding(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		items := client.Item.CreateBulk(
			client.Item.Create().SetLabel("before"),
			client.Item.Create().SetLabel("boom").SetAudience("panic"),
			client.Item.Create().SetLabel("after"),
		).SaveX(ctx)

		if n := client.Item.Query().CountX(ctx); n != 3 {
			t.Fatalf("%d rows stored, want 3", n)
		}
		if got := rec.ToRoom("items"); len(got) != 2 || got[0].ID != items[0].ID || got[1].ID != items[2].ID {
			t.Errorf("the other rows' events = %+v, want rows 1 and 3", got)
		}
		f := rec.Failures()
		if len(f) != 1 || f[0].Model != "Item" || f[0].Action != entreactive.ActionCreate || f[0].ID != items[1].ID ||
			!strings.Contains(f[0].Err.Error(), "target function failed for boom") {
			t.Errorf("failures = %+v, want the panic of row 2", f)
		}
	})
}

// TestEmitterErrorIsLogged replaces slog's default logger, so it does not
// run in parallel.
func TestEmitterErrorIsLogged(t *testing.T) {
	var logs bytes.Buffer
	defer slog.SetDefault(slog.Default())
	slog.SetDefault(slog.New(slog.NewTextHandler(&logs, nil)))

	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		logs.Reset()
		emitter := &failingEmitter{}
		client := newItems(t, drv, emitter)
		ctx := t.Context()

		it, err := client.Item.Create().SetLabel("kept").Save(ctx)
		if err != nil {
			t.Fatalf("the write failed with the emitter: %v", err)
		}
		if got := client.Item.GetX(ctx, it.ID).Label; got != "kept" || emitter.calls != 1 {
			t.Fatalf("stored label %q after %d emits", got, emitter.calls)
		}
		line := logs.String()
		for _, want := range []string{"model=Item", "action=create", "id=" + strconv.Itoa(it.ID), "socket server is down"} {
			if !strings.Contains(line, want) {
				t.Errorf("log %q lacks %q", line, want)
			}
		}
	})
}

// equalJSON reports whether a and b encode to the same JSON.
func equalJSON(t *testing.T, a, b any) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Equal(ja, jb)
}
