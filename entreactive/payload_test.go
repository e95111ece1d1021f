package entreactive_test

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"testing"
	"time"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/internal/ent/widget"
)

// widgetKeys are the keys of a Widget's data: every field but the
// Sensitive secret, "nick" and "note" under the names their struct tags
// give them.
var widgetKeys = []string{
	"id", "name", "done", "rank", "size", "score", "status", "owner_id", "memo", "nickname",
	"due", "meta", "token", "reviewer", "parent_id", "created_at",
}

// wireData returns the data of ev as it goes over the wire, key by key.
func wireData(t *testing.T, ev entreactive.Event) map[string]json.RawMessage {
	t.Helper()
	raw, err := ev.MarshalJSON()
	if err != nil {
		t.Fatalf("marshal event: %v", err)
	}
	if !json.Valid(raw) {
		t.Fatalf("event is not valid JSON: %s", raw)
	}
	var wire struct{ Data map[string]json.RawMessage }
	if err := json.Unmarshal(raw, &wire); err != nil {
		t.Fatalf("decode event: %v: %s", err, raw)
	}
	return wire.Data
}

// asJSON returns v as encoding/json encodes it.
func asJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDataHasEveryFieldWithZeroValuesAndNulls(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		w := client.Widget.Create().SetName("plain").SaveX(ctx)
		events := rec.ToRoom("widgets")
		if len(events) != 1 {
			t.Fatalf("got %d events, want 1", len(events))
		}
		if _, ok := events[0].Data.(*testent.Widget); !ok {
			t.Errorf("Event.Data is %T, want the row (*ent.Widget)", events[0].Data)
		}
		data := wireData(t, events[0])
		if got := slices.Sorted(maps.Keys(data)); !slices.Equal(got, slices.Sorted(slices.Values(widgetKeys))) {
			t.Errorf("data keys = %v, want %v (every field, no secret, no edges)", got, widgetKeys)
		}
		want := map[string]string{
			"done": "false", "rank": "0", "size": "0", "score": "0", "status": `"todo"`, "owner_id": "null",
			"memo": `""`, "nickname": `""`, "due": "null", "meta": "null", "reviewer": "null", "parent_id": "null",
			"token": asJSON(t, w.Token), "created_at": asJSON(t, w.CreatedAt), "id": asJSON(t, w.ID),
		}
		for key, v := range want {
			if got := string(data[key]); got != v {
				t.Errorf("data[%q] = %s, want %s", key, got, v)
			}
		}
	})
}

func TestDataEncodesValuesAsEncodingJSONDoes(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		due := time.Date(2026, 12, 24, 18, 30, 15, 0, time.FixedZone("CET", 3600))
		reviewer := uuid.New()
		w := client.Widget.Create().
			SetName(`<b>"quoted" & \ tab	é ☃ ` + "\u2028").
			SetDone(true).SetRank(-3).SetSize(65535).SetScore(0.000001).SetStatus(widget.StatusDoing).
			SetOwnerID(7).SetNote("n").SetNick("nick").SetDue(due).
			SetMeta(map[string]any{"b": []any{1.5, "x"}, "a": nil}).
			SetReviewer(reviewer).SetSecret("hunter2").
			SaveX(ctx)
		ev := rec.ToRoom("widgets")[0]
		if ev.Data != w {
			t.Fatalf("Event.Data = %v, want the created row", ev.Data)
		}
		data := wireData(t, ev)
		want := map[string]any{
			"name": w.Name, "done": true, "rank": int8(-3), "size": uint16(65535), "score": 0.000001,
			"status": "doing", "owner_id": 7, "memo": "n", "nickname": "nick", "due": *w.Due,
			"meta": w.Meta, "token": w.Token, "reviewer": reviewer,
		}
		for key, v := range want {
			if got, wantJSON := string(data[key]), asJSON(t, v); got != wantJSON {
				t.Errorf("data[%q] = %s, want %s", key, got, wantJSON)
			}
		}
		if _, ok := data["secret"]; ok {
			t.Errorf("data carries the Sensitive field: %s", data["secret"])
		}
		if bytes.Contains(mustMarshal(t, rec.Events()[0]), []byte("hunter2")) {
			t.Error("the Sensitive value is somewhere in the event")
		}
	})
}

func TestEdgesAreSentOnlyWhenLoaded(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		part := client.Part.Create().SetName("bolt").SaveX(ctx)
		root := client.Widget.Create().SetName("root").AddParts(part).SaveX(ctx)
		client.Widget.Create().SetName("child").SetParentID(root.ID).ExecX(ctx)
		for _, ev := range rec.Events() {
			if _, ok := wireData(t, ev)["edges"]; ok {
				t.Errorf("%s event carries edges, none were loaded", ev.Action)
			}
		}

		loaded := client.Widget.Query().Where(widget.ID(root.ID)).WithChildren().WithParts().WithParent().OnlyX(ctx)
		raw, err := loaded.MarshalReactive()
		if err != nil {
			t.Fatal(err)
		}
		var got struct {
			Edges map[string]json.RawMessage
		}
		if err := json.Unmarshal(raw, &got); err != nil {
			t.Fatalf("%v: %s", err, raw)
		}
		if keys := slices.Sorted(maps.Keys(got.Edges)); !slices.Equal(keys, []string{"children", "parent", "parts"}) {
			t.Fatalf("edges = %v, want the three loaded ones: %s", keys, raw)
		}
		if p := string(got.Edges["parent"]); p != "null" {
			t.Errorf("a loaded unique edge with no row: %s, want null", p)
		}
		var children []map[string]json.RawMessage
		if err := json.Unmarshal(got.Edges["children"], &children); err != nil || len(children) != 1 {
			t.Fatalf("children = %s (%v), want one", got.Edges["children"], err)
		}
		if done := string(children[0]["done"]); done != "false" {
			t.Errorf("a reactive edge entity is encoded as data: done = %s, want false", done)
		}
		if parts, want := string(got.Edges["parts"]), asJSON(t, loaded.Edges.Parts); parts != want {
			t.Errorf("parts = %s, want its ent JSON %s", parts, want)
		}

		only := client.Widget.Query().Where(widget.ID(root.ID)).WithParts().OnlyX(ctx)
		raw, _ = only.MarshalReactive()
		got.Edges = nil
		if err := json.Unmarshal(raw, &got); err != nil || len(got.Edges) != 1 {
			t.Errorf("only parts loaded: edges = %v (%v)", slices.Collect(maps.Keys(got.Edges)), err)
		}
		leaf := client.Widget.Query().Where(widget.Name("child")).WithChildren().OnlyX(ctx)
		raw, _ = leaf.MarshalReactive()
		got.Edges = nil
		if err := json.Unmarshal(raw, &got); err != nil || string(got.Edges["children"]) != "[]" {
			t.Errorf("loaded edge without rows = %s (%v), want []", got.Edges["children"], err)
		}
	})
}

func TestEventDataThatIsNoEntityIsEncodedWithEncodingJSON(t *testing.T) {
	at := time.UnixMilli(1700000000123)
	for _, tt := range []struct {
		name string
		ev   entreactive.Event
		want string
	}{
		{
			"instance map, update without changed",
			entreactive.Event{Action: entreactive.ActionUpdate, Model: "Item", ID: int64(3), Data: map[string]any{"b": 1, "a": "<x>"}, Timestamp: at},
			`{"action":"update","model":"Item","id":3,"data":{"a":"\u003cx\u003e","b":1},"changed":[],"timestamp":1700000000123}`,
		},
		{
			"string id, struct data, create",
			entreactive.Event{Action: entreactive.ActionCreate, Model: "Tag", ID: "go", Data: struct {
				Name string `json:"name,omitempty"`
			}{}, Timestamp: at},
			`{"action":"create","model":"Tag","id":"go","data":{},"timestamp":1700000000123}`,
		},
		{
			"nil entity",
			entreactive.Event{Action: entreactive.ActionDelete, Model: "Widget", ID: 1, Data: (*testent.Widget)(nil), Timestamp: at},
			`{"action":"delete","model":"Widget","id":1,"data":null,"timestamp":1700000000123}`,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.ev.MarshalJSON()
			if err != nil || string(got) != tt.want {
				t.Errorf("MarshalJSON = %s (%v)\nwant          %s", got, err, tt.want)
			}
		})
	}
}

func TestDataEncodingErrorsAreReturned(t *testing.T) {
	w := &testent.Widget{Name: "far future", CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := w.MarshalReactive(); err == nil {
		t.Error("a time encoding/json refuses encoded without error")
	}
	ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Widget", ID: 1, Data: w}
	if _, err := ev.MarshalJSON(); err == nil {
		t.Error("the event of an entity that cannot be encoded encoded without error")
	}
	if _, err := json.Marshal(ev); err == nil {
		t.Error("json.Marshal of the event succeeded")
	}
}

func TestMarshalDataIsTheEventDataEncoding(t *testing.T) {
	w := &testent.Widget{ID: 4, Name: "x"}
	got, err := entreactive.MarshalData(w)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := w.MarshalReactive()
	if !bytes.Equal(got, want) {
		t.Errorf("MarshalData(entity) = %s, want %s", got, want)
	}
	if got, _ := entreactive.MarshalData(map[string]int{"n": 1}); string(got) != `{"n":1}` {
		t.Errorf("MarshalData(map) = %s", got)
	}
}

func mustMarshal(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
