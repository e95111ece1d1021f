// Package sio is a light Engine.IO v4 / Socket.IO v5 client over a single
// websocket, written for load generation: one process can hold thousands of
// connections, each costing one goroutine and small buffers. It speaks the
// text protocol only (no binary attachments, no long-polling, no
// reconnection), which is all the benchmark servers use. The load tool
// (bench/loadgen, bench/floor), server/servertest and the server's own tests
// use it; it is internal so that it stays free to change with them.
//
// Framing, as seen on the websocket (one Engine.IO packet per frame):
//
//	0{"sid":...,"pingInterval":...}   open (server → client)
//	2 / 3                             ping (server) / pong (client)
//	40 / 40{"token":"..."}            Socket.IO connect to "/" (client), 40{"sid":...} reply
//	44{"message":"..."}               connect error
//	42["event",arg...]                event; 42<id>["event",...] asks for an ack
//	43<id>[arg...]                    ack
//
// A namespace other than "/" is written after the type: 42/chat,1["x"].
package sio

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
)

// Engine.IO v4 packet types, as the first byte of a websocket frame.
const (
	EngineOpen    byte = '0'
	EngineClose   byte = '1'
	EnginePing    byte = '2'
	EnginePong    byte = '3'
	EngineMessage byte = '4'
	EngineUpgrade byte = '5'
	EngineNoop    byte = '6'
)

// Socket.IO v5 packet types, as the byte after EngineMessage.
const (
	Connect     byte = '0'
	Disconnect  byte = '1'
	Event       byte = '2'
	Ack         byte = '3'
	ConnectErr  byte = '4'
	BinaryEvent byte = '5'
	BinaryAck   byte = '6'
)

// NoID marks a packet without an ack id.
const NoID int64 = -1

// ErrMalformed is wrapped by every parse error.
var ErrMalformed = errors.New("sio: malformed packet")

// Packet is a decoded Socket.IO packet. Data aliases the frame it was parsed
// from: copy it to keep it beyond the frame's lifetime.
type Packet struct {
	// Type is one of Connect, Disconnect, Event, Ack, ConnectErr.
	Type byte
	// Namespace is "/" unless the packet names another.
	Namespace string
	// ID is the ack id, or NoID.
	ID int64
	// Data is the JSON payload (an array for Event and Ack, an object for
	// Connect and ConnectErr), or empty.
	Data []byte
}

// ParseEngine splits a websocket frame into its Engine.IO type and payload.
func ParseEngine(frame []byte) (typ byte, payload []byte, err error) {
	if len(frame) == 0 {
		return 0, nil, fmt.Errorf("%w: empty frame", ErrMalformed)
	}
	typ = frame[0]
	if typ < EngineOpen || typ > EngineNoop {
		return 0, nil, fmt.Errorf("%w: engine type %q", ErrMalformed, typ)
	}
	return typ, frame[1:], nil
}

// ParseSocket decodes a Socket.IO packet: the payload of an Engine.IO
// message, without its leading '4'.
func ParseSocket(b []byte) (Packet, error) {
	p := Packet{Namespace: "/", ID: NoID}
	if len(b) == 0 {
		return p, fmt.Errorf("%w: empty socket packet", ErrMalformed)
	}
	p.Type = b[0]
	switch p.Type {
	case Connect, Disconnect, Event, Ack, ConnectErr:
	case BinaryEvent, BinaryAck:
		return p, fmt.Errorf("%w: binary packets are not supported", ErrMalformed)
	default:
		return p, fmt.Errorf("%w: socket type %q", ErrMalformed, p.Type)
	}
	rest := b[1:]
	if len(rest) > 0 && rest[0] == '/' {
		end := bytes.IndexByte(rest, ',')
		if end < 0 {
			// A namespace with nothing after it: "41/chat".
			p.Namespace = string(rest)
			return p, nil
		}
		p.Namespace = string(rest[:end])
		rest = rest[end+1:]
	}
	n := 0
	for n < len(rest) && rest[n] >= '0' && rest[n] <= '9' {
		n++
	}
	if n > 0 {
		id, err := strconv.ParseInt(string(rest[:n]), 10, 64)
		if err != nil {
			return p, fmt.Errorf("%w: ack id: %w", ErrMalformed, err)
		}
		p.ID = id
		rest = rest[n:]
	}
	if (p.Type == Ack) && p.ID == NoID {
		return p, fmt.Errorf("%w: ack without id", ErrMalformed)
	}
	if p.Type == Event || p.Type == Ack {
		if len(rest) < 2 || rest[0] != '[' || rest[len(rest)-1] != ']' {
			return p, fmt.Errorf("%w: payload is not an array", ErrMalformed)
		}
	}
	p.Data = rest
	return p, nil
}

// EventName returns the event name of an Event packet's Data and the rest of
// the array after the name (starting at ',' or ']'). The common case, a name
// without escapes, needs no allocation beyond the name itself.
func EventName(data []byte) (name string, rest []byte, err error) {
	if len(data) < 4 || data[0] != '[' || data[1] != '"' {
		return "", nil, fmt.Errorf("%w: event without a name", ErrMalformed)
	}
	for i := 2; i < len(data); i++ {
		switch data[i] {
		case '\\':
			return eventNameSlow(data)
		case '"':
			return string(data[2:i]), data[i+1:], nil
		}
	}
	return "", nil, fmt.Errorf("%w: unterminated event name", ErrMalformed)
}

func eventNameSlow(data []byte) (string, []byte, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(data, &args); err != nil {
		return "", nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	var name string
	if len(args) == 0 || json.Unmarshal(args[0], &name) != nil {
		return "", nil, fmt.Errorf("%w: event name is not a string", ErrMalformed)
	}
	// Find where the first element ends: after the closing quote of the
	// name, which json.Unmarshal validated.
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // '['
		return "", nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	if _, err := dec.Token(); err != nil { // the name
		return "", nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return name, data[dec.InputOffset():], nil
}

// Args decodes the arguments of an event or ack payload (a JSON array).
// For an event, the first element is the name.
func Args(data []byte) ([]json.RawMessage, error) {
	var args []json.RawMessage
	if err := json.Unmarshal(data, &args); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	return args, nil
}

// AppendPacket appends the text frame of a Socket.IO packet, including the
// Engine.IO message type, to dst.
func AppendPacket(dst []byte, typ byte, nsp string, id int64, data []byte) []byte {
	dst = append(dst, EngineMessage, typ)
	if nsp != "" && nsp != "/" {
		dst = append(dst, nsp...)
		dst = append(dst, ',')
	}
	if id != NoID {
		dst = strconv.AppendInt(dst, id, 10)
	}
	return append(dst, data...)
}

// EncodeEvent returns the frame of an event with its arguments JSON-encoded,
// e.g. 42["auth","token"] or, with an ack id, 421["auth","token"].
func EncodeEvent(nsp string, id int64, event string, args ...any) ([]byte, error) {
	arr := make([]any, 0, 1+len(args))
	arr = append(arr, event)
	arr = append(arr, args...)
	data, err := json.Marshal(arr)
	if err != nil {
		return nil, fmt.Errorf("sio: encode %q: %w", event, err)
	}
	return AppendPacket(nil, Event, nsp, id, data), nil
}
