package entreactive

import "encoding/json"

// Marshaler is implemented by the generated entities of reactive schemas
// (e.g. *ent.Message). MarshalReactive returns the entity as the data of a
// reactive event, and AppendReactive appends the same bytes to b:
//
//   - the key "id" and, for every field that is not Sensitive, the field's
//     JSON name as in the entity's struct tag; every key is always present,
//     so false, 0, "" and null are sent rather than left out;
//   - a Nillable field is null when it is nil; time.Time is encoded as
//     encoding/json encodes it (RFC 3339), enums as strings, other types
//     with encoding/json;
//   - "edges" is present only when at least one edge was loaded, and holds
//     only the loaded edges: a unique edge is an object or null, any other
//     edge an array. Entities of reactive schemas are encoded this way at
//     every depth, others with encoding/json.
//
// A nil entity encodes as null.
type Marshaler interface {
	MarshalReactive() ([]byte, error)
	AppendReactive(b []byte) ([]byte, error)
}

// MarshalData encodes v the way the data of an event is encoded: with
// MarshalReactive when v implements Marshaler, with encoding/json
// otherwise. An application whose HTTP API returns rows can encode them
// with it, so that they are the same objects its clients receive in events.
func MarshalData(v any) ([]byte, error) {
	if m, ok := v.(Marshaler); ok {
		return m.MarshalReactive()
	}
	return json.Marshal(v)
}
