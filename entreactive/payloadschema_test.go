package entreactive_test

import (
	"bytes"
	"os"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	"github.com/entreactive/reactive/entreactive/internal/ent/widget"
)

// testSchema is the JSON Schema entreactivegen writes for the test schemas
// (internal/ent/entc.go, WithJSONSchema).
const testSchema = "internal/ent/reactive.schema.json"

// compileTestSchema compiles testSchema, asserting formats (date-time,
// uuid) as well as types.
func compileTestSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(testSchema)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	if err := c.AddResource("reactive.schema.json", doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("reactive.schema.json")
	if err != nil {
		t.Fatalf("%s does not compile: %v", testSchema, err)
	}
	return sch
}

// validateEvent validates the wire form of ev against sch.
func validateEvent(t *testing.T, sch *jsonschema.Schema, ev entreactive.Event) (string, error) {
	t.Helper()
	raw, err := ev.MarshalJSON()
	if err != nil {
		t.Fatalf("marshal %s %s: %v", ev.Model, ev.Action, err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	return string(raw), sch.Validate(v)
}

// TestEventsMatchTheGeneratedJSONSchema checks the generated JSON Schema
// against the events the hook really sends: every field kind with zero
// values and nulls, then set; updates with changed fields; deletes; string
// ids; and an entity with loaded edges, reactive and not. An event whose
// data a target function replaced by an Instance is not described.
func TestEventsMatchTheGeneratedJSONSchema(t *testing.T) {
	sch := compileTestSchema(t)
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		plain := client.Widget.Create().SetName("").SaveX(ctx)
		owner, reviewer := 7, uuid.New()
		full := client.Widget.Create().SetName("full").SetDone(true).SetRank(-3).SetSize(9).SetScore(0.5).
			SetStatus(widget.StatusDoing).SetOwnerID(owner).SetNote("n").SetNick("nick").
			SetDue(time.Date(2030, 1, 2, 3, 4, 5, 6, time.UTC)).SetMeta(map[string]any{"k": []any{1, "two"}}).
			SetReviewer(reviewer).SetSecret("s3cret").SetParentID(plain.ID).SaveX(ctx)
		full.Update().SetName("renamed").ClearOwnerID().ClearDue().SetSecret("other").ExecX(ctx)
		client.Widget.Update().Where(widget.ID(plain.ID)).SetNote("bulk").ExecX(ctx)
		client.Item.Create().SetLabel("item").SaveX(ctx)
		client.Item.Create().SetLabel("with note").SetNote("hi").SetSecret("x").SaveX(ctx)
		client.Tag.Create().SetID("t1").SetName("tag").ExecX(ctx)
		client.Widget.DeleteOneID(full.ID).ExecX(ctx)

		events := rec.Events()
		seen := make(map[string]bool)
		for _, ev := range events {
			seen[ev.Model+" "+string(ev.Action)] = true
			if raw, err := validateEvent(t, sch, ev); err != nil {
				t.Errorf("%s %s does not match %s: %v\nevent: %s", ev.Model, ev.Action, testSchema, err, raw)
			}
		}
		for _, want := range []string{"Widget create", "Widget update", "Widget delete", "Item create", "Tag create"} {
			if !seen[want] {
				t.Errorf("no %s event among %d", want, len(events))
			}
		}

		loaded := client.Widget.Query().Where(widget.ID(plain.ID)).WithChildren().WithParts().WithParent().OnlyX(ctx)
		withEdges := entreactive.Event{Action: entreactive.ActionCreate, Model: "Widget", ID: loaded.ID, Data: loaded, Timestamp: time.Now()}
		if raw, err := validateEvent(t, sch, withEdges); err != nil {
			t.Errorf("a widget with loaded edges does not match: %v\nevent: %s", err, raw)
		}

		instance := client.Item.Create().SetLabel("summary").SetAudience("instance").SaveX(ctx)
		for _, ev := range rec.Events() {
			if ev.Model == "Item" && ev.ID == instance.ID {
				if raw, err := validateEvent(t, sch, ev); err == nil {
					t.Errorf("an Instance event matches the schema of the default payload: %s", raw)
				}
			}
		}
	})
}
