package outbox

import (
	"testing"

	"github.com/google/uuid"
)

// decodeCaptured reads the record of SQLite's trigger for an integer id
// as encoding/json does, and leaves every other form to decodeJSON.
func TestDecodeCaptured(t *testing.T) {
	for _, c := range []struct {
		body      string
		model, id string
		ok        bool
	}{
		{body: `{"capture":"Item","id":42}`, model: "Item", id: "42", ok: true},
		{body: `{"capture":"Item","id":-7}`, model: "Item", id: "-7", ok: true},
		{body: `{"capture":"Tag","id":"gone"}`},
		{body: `{"capture" : "Item", "id" : "42"}`},
		{body: `{"id": "42", "capture": "Item"}`},
		{body: `{"capture":"Item","id":42} `},
		{body: `{"capture":"Item","id":4x2}`},
		{body: `{"capture":"It\"em","id":42}`},
		{body: `{"capture":"Item"}`},
		{body: `{"rooms":["a"],"eventId":"x","event":{}}`},
		{body: ``},
	} {
		model, id, ok := decodeCaptured([]byte(c.body))
		if model != c.model || id != c.id || ok != c.ok {
			t.Errorf("decodeCaptured(%s) = %q, %q, %v; want %q, %q, %v", c.body, model, id, ok, c.model, c.id, c.ok)
		}
		if !c.ok {
			continue
		}
		d, err := decodeJSON([]byte(c.body))
		if err != nil || d.capture != model || d.rowID != id {
			t.Errorf("decodeJSON(%s) = %q, %q, %v: not what decodeCaptured read", c.body, d.capture, d.rowID, err)
		}
	}
}

// The event id of a trigger's record is the UUID of its name, the same in
// every relay, of this version or of an earlier one (a rolling deploy
// runs both, and Redis drops the repeats by event id).
func TestCaptureEventID(t *testing.T) {
	want := uuid.NewSHA1(uuid.NameSpaceOID, []byte("entreactive/outbox/entreactive_outbox/12/1765100000000")).String()
	if got := captureEventID("entreactive_outbox", 12, 1765100000000); got != want {
		t.Fatalf("captureEventID = %s, want %s", got, want)
	}
}
