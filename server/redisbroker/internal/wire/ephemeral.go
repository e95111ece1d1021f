package wire

import (
	"fmt"

	"github.com/vmihailenco/msgpack/v5"
)

// PublicChannel is the pub/sub channel every server of namespace nsp
// subscribes to; ephemeral requests are published on it.
func PublicChannel(prefix, nsp string) string {
	return prefix + "#" + nsp + "#"
}

// PrivateChannel is the pub/sub channel of the server whose adapter uid is
// uid; responses to its requests are published on it.
func PrivateChannel(prefix, nsp, uid string) string {
	return prefix + "#" + nsp + "#" + uid + "#"
}

// envelope is a whole message in msgpack, as the adapter publishes it:
// {type, data, uid, nsp}.
type envelope struct {
	Type int     `json:"type"`
	Data Payload `json:"data"`
	UID  string  `json:"uid"`
	Nsp  string  `json:"nsp"`
}

type rawEnvelope struct {
	Type int                `json:"type"`
	Data msgpack.RawMessage `json:"data"`
	UID  string             `json:"uid"`
	Nsp  string             `json:"nsp"`
}

// EncodePubSub returns m as a pub/sub payload: msgpack of the whole message.
// Nil slices are sent as empty arrays.
func EncodePubSub(m Message) ([]byte, error) {
	if m.Data == nil {
		return nil, fmt.Errorf("%w: no payload", ErrMalformed)
	}
	p, err := msgpackPayload(m.Data.normalized())
	if err != nil {
		return nil, err
	}
	b, err := marshalMsgpack(envelope{Type: int(m.Type()), Data: p, UID: m.UID, Nsp: m.Nsp})
	if err != nil {
		return nil, fmt.Errorf("wire: encode type %d: %w", m.Type(), err)
	}
	return b, nil
}

// DecodePubSub decodes a pub/sub payload published by EncodePubSub or by a
// Node adapter.
func DecodePubSub(b []byte) (Message, error) {
	var raw rawEnvelope
	if err := unmarshalMsgpack(b, &raw); err != nil {
		return Message{}, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	p, ok := newPayload(Type(raw.Type))
	if !ok {
		return Message{}, fmt.Errorf("%w: %d", ErrUnknownType, raw.Type)
	}
	if len(raw.Data) == 0 {
		return Message{}, fmt.Errorf("%w: type %d without data", ErrMalformed, raw.Type)
	}
	if err := unmarshalMsgpack(raw.Data, p); err != nil {
		return Message{}, fmt.Errorf("%w: type %d: %w", ErrMalformed, raw.Type, err)
	}
	p.loosen()
	return Message{UID: raw.UID, Nsp: raw.Nsp, Data: p}, nil
}
