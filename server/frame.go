package server

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// frame is one event encoded once, ready to be written to any number of
// connections. It holds plain bytes and no library types, so that a broker
// can carry it between nodes: packet is what goes over the wire, and the
// websocket frame is rebuilt from it by newFrame.
//
// A frame is immutable once built; the same bytes are queued on every
// connection that receives it.
type frame struct {
	// event is the event name, for logs.
	event string
	// packet is the Socket.IO EVENT packet, `2["event",...args]`, as the
	// polling transport and the library carry it.
	packet []byte
	// ws is the complete websocket text frame (server frames are not
	// masked) carrying the Engine.IO MESSAGE `4` + packet. packet is a
	// slice of it: one allocation per event.
	ws []byte
	// committed is the commit time of the reactive event the frame
	// carries, in Unix nanoseconds, for Observer.EventDelivered; 0 for
	// other events.
	committed int64
}

// encodeFrame encodes event and args as a Socket.IO EVENT packet. Args are
// encoded with encoding/json; a json.RawMessage goes in as it is. Binary
// arguments are refused (ErrBinaryArgument): encoding/json would turn them
// into base64 text, or an object, that the client does not expect.
func encodeFrame(event string, args ...any) (*frame, error) {
	for _, a := range args {
		if hasBinary(a) {
			return nil, fmt.Errorf("%w: event %q", ErrBinaryArgument, event)
		}
	}
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	data = append(data, args...)
	body, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("server: encode %q: %w", event, err)
	}
	return newFrame(event, body), nil
}

// hasBinary reports whether v is, or directly holds, binary data.
func hasBinary(v any) bool {
	switch x := v.(type) {
	case []byte:
		return true
	case [][]byte:
		return true
	case []any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	case map[string]any:
		for _, e := range x {
			if hasBinary(e) {
				return true
			}
		}
	}
	return false
}

// newFrame builds the frame of an encoded JSON array `["event",...]`.
func newFrame(event string, body []byte) *frame {
	payload := 2 + len(body) // "4" (Engine.IO MESSAGE) + "2" (Socket.IO EVENT) + body
	var hdr [10]byte
	n := wsHeader(hdr[:], wsText, payload)
	ws := make([]byte, 0, n+payload)
	ws = append(ws, hdr[:n]...)
	ws = append(ws, '4', '2')
	ws = append(ws, body...)
	return &frame{event: event, packet: ws[n+1:], ws: ws}
}

// Websocket opcodes (RFC 6455 §5.2) written by the server.
const (
	wsText   byte = 0x1
	wsBinary byte = 0x2
	wsClose  byte = 0x8
	wsPong   byte = 0xA
)

// wsHeader writes the header of a final, unmasked websocket frame of
// opcode op with a payload of n bytes into b (at least 10 bytes long) and
// returns its length.
func wsHeader(b []byte, op byte, n int) int {
	b[0] = 0x80 | op
	switch {
	case n < 126:
		b[1] = byte(n)
		return 2
	case n <= 0xFFFF:
		b[1] = 126
		binary.BigEndian.PutUint16(b[2:], uint16(n))
		return 4
	default:
		b[1] = 127
		binary.BigEndian.PutUint64(b[2:], uint64(n))
		return 10
	}
}

// wsFrame returns a websocket frame of opcode op carrying the
// concatenation of parts.
func wsFrame(op byte, parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	var hdr [10]byte
	h := wsHeader(hdr[:], op, n)
	b := make([]byte, 0, h+n)
	b = append(b, hdr[:h]...)
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}
