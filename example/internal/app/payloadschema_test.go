package app_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/testkit"
)

// payloadSchema is the JSON Schema entreactivegen writes for the example's
// schemas (ent/entc.go, WithJSONSchema).
const payloadSchema = "../../../ent/reactive.schema.json"

// compilePayloadSchema compiles the committed JSON Schema of the events,
// asserting formats (date-time) as well as types.
func compilePayloadSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	raw, err := os.ReadFile(payloadSchema)
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
		t.Fatalf("%s does not compile: %v", payloadSchema, err)
	}
	return sch
}

// nextPayload returns the next "reactive" event u's socket receives, as the
// JSON the client decoded.
func nextPayload(t *testing.T, u *user) []byte {
	t.Helper()
	args, err := u.sock.Next(testkit.Context(t), "reactive")
	if err != nil {
		t.Fatal(err)
	}
	// The event, then its offset (the app runs with connection state
	// recovery).
	if off, _ := args[len(args)-1].(string); len(args) != 2 || off == "" {
		t.Fatalf("reactive event with arguments %v, want the event and its offset", args)
	}
	raw, err := json.Marshal(args[0])
	if err != nil {
		t.Fatal(err)
	}
	return raw
}

// TestPayloadsMatchTheGeneratedJSONSchema captures, with a real Socket.IO
// client, an event of every kind the example sends (a notification created,
// a message created, updated and deleted) and validates each against the
// JSON Schema generated from the schemas. Notifications are reactive on
// create only. Each payload with one data key taken out must then fail, so
// the schema is not one that anything matches.
func TestPayloadsMatchTheGeneratedJSONSchema(t *testing.T) {
	sch := compilePayloadSchema(t)
	e := start(t, app.Config{})
	alice, bob := e.connect(1), e.connect(2)
	conv := e.conversation(alice, bob.id)
	if !e.join(bob, fmt.Sprintf("conversation_%d", conv)) {
		t.Fatal("bob may not join his conversation")
	}

	type captured struct {
		name, key string // key is a data key the payload must not lack
		raw       []byte
	}
	var events []captured
	e.must(http.StatusCreated, "POST", "/api/notifications", "", map[string]string{"message": "hello"}, nil)
	events = append(events, captured{"Notification create", "message", nextPayload(t, bob)})
	m := e.send(alice, conv, bob.id, "first")
	events = append(events, captured{"Message create", "text", nextPayload(t, bob)})
	e.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/messages/%d", m.ID), alice.token, map[string]string{"text": "edited"}, nil)
	events = append(events, captured{"Message update", "updated_at", nextPayload(t, bob)})
	e.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/messages/%d", m.ID), alice.token, nil, nil)
	events = append(events, captured{"Message delete", "conversation_id", nextPayload(t, bob)})

	for _, ev := range events {
		var head struct{ Model, Action string }
		if err := json.Unmarshal(ev.raw, &head); err != nil {
			t.Fatal(err)
		}
		if got := head.Model + " " + head.Action; got != ev.name {
			t.Fatalf("captured %s, want %s: %s", got, ev.name, ev.raw)
		}
		if err := validate(sch, ev.raw); err != nil {
			t.Errorf("%s does not match %s: %v\npayload: %s", ev.name, payloadSchema, err, ev.raw)
		}
		var tampered map[string]any
		if err := json.Unmarshal(ev.raw, &tampered); err != nil {
			t.Fatal(err)
		}
		delete(tampered["data"].(map[string]any), ev.key)
		raw, err := json.Marshal(tampered)
		if err != nil {
			t.Fatal(err)
		}
		if validate(sch, raw) == nil {
			t.Errorf("%s without data.%s matches the schema: it judges nothing", ev.name, ev.key)
		}
	}
}

// validate validates a JSON document against sch.
func validate(sch *jsonschema.Schema, raw []byte) error {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}
