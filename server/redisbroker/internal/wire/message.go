package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Type is the code of a ClusterAdapter message (MessageType in
// socket.io-adapter's cluster-adapter.ts). Codes 1, 2 and 13 (0.2.x
// heartbeats and ADAPTER_CLOSE) are not spoken by 0.3.x and not here.
type Type int

// The message types of socket.io-adapter's ClusterAdapter.
const (
	TypeBroadcast              Type = 3
	TypeSocketsJoin            Type = 4
	TypeSocketsLeave           Type = 5
	TypeDisconnectSockets      Type = 6
	TypeFetchSockets           Type = 7
	TypeFetchSocketsResponse   Type = 8
	TypeServerSideEmit         Type = 9
	TypeServerSideEmitResponse Type = 10
	TypeBroadcastClientCount   Type = 11
	TypeBroadcastAck           Type = 12
)

// PacketTypeEvent is the Socket.IO packet type of an event (EVENT = 2).
const PacketTypeEvent = 2

// Message is one cluster message: who sent it (UID, one per namespace
// adapter), for which namespace, and its payload, whose concrete type gives
// the message type.
type Message struct {
	UID  string
	Nsp  string
	Data Payload
}

// Type returns the message type of m's payload.
func (m Message) Type() Type { return m.Data.Type() }

// Ephemeral reports whether m travels by pub/sub rather than through the
// stream (isEphemeral in the streams adapter): a broadcast that waits for
// acknowledgements, a server-side emit and a fetch-sockets request. Responses
// (types 8, 10, 11, 12) always travel by pub/sub, to the requester's channel.
func (m Message) Ephemeral() bool {
	switch d := m.Data.(type) {
	case *Broadcast:
		return d.RequestID != ""
	case *ServerSideEmit, *FetchSockets:
		return true
	}
	return false
}

// Payload is the data of one message type; it is one of the pointer types
// of payload.go.
type Payload interface {
	// Type returns the message type this payload is the data of.
	Type() Type
	// hasBinary reports whether the payload holds a []byte, which makes
	// the stream entry carry msgpack instead of JSON.
	hasBinary() bool
	// normalized returns the payload with empty slices for nil ones (Node
	// reads opts.rooms.length and would throw on null), sharing what it
	// does not change; the receiver is not modified.
	normalized() Payload
	// loosen widens the numbers msgpack decoded (see loosen).
	loosen()
}

// Opts are the broadcast options of a message: target rooms (none means
// every socket of the namespace), excluded rooms (socket ids are rooms too)
// and flags. Sets travel as arrays.
type Opts struct {
	Rooms  []string `json:"rooms"`
	Except []string `json:"except"`
	Flags  Flags    `json:"flags"`
}

func (o Opts) normalized() Opts {
	o.Rooms = nonNil(o.Rooms)
	o.Except = nonNil(o.Except)
	return o
}

// Flags are the BroadcastFlags of socket.io-adapter. Timeout is in
// milliseconds. Node treats a present volatile key as volatile whatever its
// value; it never sends volatile:false, so a bool is enough here.
type Flags struct {
	Volatile             bool  `json:"volatile,omitempty"`
	Compress             bool  `json:"compress,omitempty"`
	Local                bool  `json:"local,omitempty"`
	Broadcast            bool  `json:"broadcast,omitempty"`
	Binary               bool  `json:"binary,omitempty"`
	Timeout              int64 `json:"timeout,omitempty"`
	ExpectSingleResponse bool  `json:"expectSingleResponse,omitempty"`
}

// Packet is the Socket.IO packet of a broadcast, as the ClusterAdapter
// carries it: Data is [event, args...]; ID is set only for an emit that
// waits for an acknowledgement (a socket.emit with a callback under
// connection state recovery). Nsp is normally absent.
//
// RawData, when set, is the data array as JSON text and Data is nil: a
// packet read from a JSON stream entry by DecodeEntryRaw, or one a Go node
// publishes without decoding its arguments. JSON carries it as is; msgpack
// (binary payloads, pub/sub) decodes it first.
type Packet struct {
	Type    int             `json:"type"`
	Data    []any           `json:"data"`
	ID      *int64          `json:"id,omitempty"`
	Nsp     string          `json:"nsp,omitempty"`
	RawData json.RawMessage `json:"-"`
}

// packetJSON is Packet in JSON with its data kept as text.
type packetJSON struct {
	Type int             `json:"type"`
	Data json.RawMessage `json:"data"`
	ID   *int64          `json:"id,omitempty"`
	Nsp  string          `json:"nsp,omitempty"`
}

// MarshalJSON writes RawData as the data array when it is set.
func (p Packet) MarshalJSON() ([]byte, error) {
	data := p.RawData
	if data == nil {
		b, err := marshalJSON(p.Data)
		if err != nil {
			return nil, err
		}
		data = b
	}
	return marshalJSON(packetJSON{Type: p.Type, Data: data, ID: p.ID, Nsp: p.Nsp})
}

// marshalJSON is json.Marshal without HTML escaping, as JSON.stringify.
func marshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// UnmarshalJSON keeps the data array as text in RawData (Data is nil); see
// Args and DecodeEntry.
func (p *Packet) UnmarshalJSON(b []byte) error {
	var j packetJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*p = Packet{Type: j.Type, ID: j.ID, Nsp: j.Nsp}
	if len(j.Data) > 0 && string(j.Data) != "null" {
		p.RawData = append(json.RawMessage(nil), j.Data...)
	}
	return nil
}

// Args returns the data array, decoding RawData when that is what p holds
// (JSON numbers become float64).
func (p Packet) Args() ([]any, error) {
	if p.RawData == nil {
		return p.Data, nil
	}
	var args []any
	if err := json.Unmarshal(p.RawData, &args); err != nil {
		return nil, fmt.Errorf("%w: packet data: %w", ErrMalformed, err)
	}
	return args, nil
}

// decoded returns p with Data filled from RawData.
func (p Packet) decoded() (Packet, error) {
	if p.RawData == nil {
		return p, nil
	}
	args, err := p.Args()
	if err != nil {
		return p, err
	}
	p.Data, p.RawData = args, nil
	return p, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
