package entreactive

import (
	"time"

	"github.com/entreactive/reactive/entreactive/glue"
)

// Action is the kind of change an Event reports.
type Action string

// The three actions of a reactive schema.
const (
	ActionCreate Action = "create"
	ActionUpdate Action = "update"
	ActionDelete Action = "delete"
)

// Event is one committed change of one row.
//
// Its JSON form is the payload of the Socket.IO "reactive" event:
//
//	{"action":"update","model":"Message","id":7,"data":{...},"changed":["text"],"timestamp":1700000000000}
//
// "changed" is present on updates only; "timestamp" is in milliseconds
// since the Unix epoch; "eventId" is present on the events of the durable
// path only (see EventID).
type Event struct {
	// Action is create, update or delete.
	Action Action
	// Model is the schema's name, e.g. "Message".
	Model string
	// ID is the row's id.
	ID any
	// Data is the row as committed (as it was before, for a delete), or the
	// Target's Instance when the target function set one. Go consumers get
	// the value itself (the row is the generated entity, e.g. *ent.Message).
	// On the wire, an entity of a reactive schema is encoded by its
	// generated MarshalReactive (every field but the Sensitive ones, zero
	// values and nulls included, edges only when loaded: see Marshaler),
	// anything else with encoding/json.
	Data any
	// Changed lists the fields an update set or cleared, Sensitive fields
	// left out. It is nil for creates and deletes.
	Changed []string
	// Timestamp is when the event was produced, right after the commit.
	Timestamp time.Time
	// EventID, when not empty, identifies the event for good: the durable
	// path (package outbox) may publish an event more than once (a relay
	// that died after publishing, before it could note so), always with the
	// same EventID, and a Publisher drops the repeats. It is sent as
	// "eventId", so that clients can drop repeats too.
	EventID string
}

// MarshalJSON encodes the event in its wire format. Data that implements
// Marshaler (the generated entities of reactive schemas) is encoded by it,
// anything else with encoding/json.
func (e Event) MarshalJSON() ([]byte, error) {
	o := glue.NewObject(make([]byte, 0, 512))
	o.String("action", string(e.Action))
	o.String("model", e.Model)
	o.Value("id", e.ID)
	o.Value("data", e.Data)
	if e.Action == ActionUpdate {
		o.Strings("changed", e.Changed)
	}
	o.Int("timestamp", e.Timestamp.UnixMilli())
	if e.EventID != "" {
		o.String("eventId", e.EventID)
	}
	return o.Bytes()
}
