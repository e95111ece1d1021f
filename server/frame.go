package server

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"time"
)

// frame is one event encoded once, ready to be written to any number of
// connections. It holds plain bytes and no library types, so that a broker
// can carry it between nodes: a broker publishes the rooms with packet and
// attachments, and a node rebuilds the frame (frameFromWire) and delivers
// it to its local rooms as any other job.
//
// A frame is immutable once built; the same bytes are queued on every
// connection that receives it.
type frame struct {
	// event is the event name, for logs.
	event string
	// packet is the Socket.IO EVENT packet, `2["event",...args]`, as the
	// polling transport and the library carry it (or, for binary data,
	// the BINARY_EVENT packet `5<n>-[...]`, followed by attachments).
	packet      []byte
	attachments [][]byte
	// ws is what goes on a websocket: the text frame (server frames are
	// not masked) carrying the Engine.IO MESSAGE `4` + packet, then a
	// binary frame per attachment. packet is a slice of it: one
	// allocation per event.
	ws []byte
	// committed is the commit time of the reactive event the frame
	// carries, in Unix nanoseconds, for Observer.EventDelivered; 0 for
	// other events.
	committed int64
	// off is the broadcast's offset, the frame's last event argument,
	// under connection state recovery; zero otherwise.
	off offset
}

// withOffset returns a copy of f with o appended as its last event
// argument, as Socket.IO's recovery sends it: encoded once, the same bytes
// for every recipient.
func (f *frame) withOffset(o offset) *frame {
	g := frameWithOffset(f.event, f.packet, f.attachments, o)
	g.committed = f.committed
	return g
}

// frameWithOffset builds the frame of a packet as a broker carries it
// (see frameFromWire) with o appended as its last event argument. A packet
// that is not a JSON array (which no encoder here makes) is left as it is.
func frameWithOffset(event string, packet []byte, attachments [][]byte, o offset) *frame {
	// The packet is `2[...]` or `5<n>-[...]`: its JSON array ends it.
	end := len(packet) - 1
	if end < 0 || packet[end] != ']' {
		return frameFromWire(event, packet, attachments)
	}
	str := o.String()
	with := make([]byte, 0, len(packet)+len(str)+3)
	with = append(with, packet[:end]...)
	with = append(with, ',', '"')
	with = append(with, str...)
	with = append(with, '"', ']')
	f := frameFromWire(event, with, attachments)
	f.committed = committedAt(event, packet)
	f.off = o
	return f
}

// encodeFrame encodes event and args as a Socket.IO packet. Args are
// encoded with encoding/json; a json.RawMessage goes in as it is. Binary
// data ([]byte, as an argument or inside a []any or map[string]any
// argument) is sent as binary attachments, as Socket.IO clients expect it:
// a BINARY_EVENT packet with placeholders, followed by the attachments.
// (Binary inside a struct is encoded by encoding/json: base64 text.)
func encodeFrame(event string, args ...any) (*frame, error) {
	return encodeFrameIn(RootNamespace, event, args...)
}

// encodeFrameIn is encodeFrame for a socket of namespace nsp: outside
// "/" the packet names its namespace (`2/chat,["event",...]`).
func encodeFrameIn(nsp, event string, args ...any) (*frame, error) {
	var atts [][]byte
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	for _, a := range args {
		data = append(data, placeBinary(a, &atts))
	}
	body, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("server: encode %q: %w", event, err)
	}
	head := ""
	if nsp != RootNamespace {
		head = nsp + ","
	}
	if len(atts) > 0 {
		return buildFrame(event, "5"+strconv.Itoa(len(atts))+"-"+head, body, atts), nil
	}
	return buildFrame(event, "2"+head, body, nil), nil
}

// placeBinary returns v with every []byte it holds (directly, or in
// nested []any and map[string]any) replaced by a Socket.IO placeholder,
// the bytes appended to atts. Containers holding binary are copied; v is
// not modified.
func placeBinary(v any, atts *[][]byte) any {
	switch x := v.(type) {
	case []byte:
		*atts = append(*atts, x)
		return map[string]any{"_placeholder": true, "num": len(*atts) - 1}
	case []any:
		if !hasBinary(x) {
			return v
		}
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = placeBinary(e, atts)
		}
		return out
	case map[string]any:
		if !hasBinary(x) {
			return v
		}
		// Keys in sorted order, as encoding/json writes them, so that
		// attachments are numbered in the order they appear.
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		out := make(map[string]any, len(x))
		for _, k := range keys {
			out[k] = placeBinary(x[k], atts)
		}
		return out
	}
	return v
}

// hasBinary reports whether v is or holds (in []any and map[string]any)
// a []byte.
func hasBinary(v any) bool {
	switch x := v.(type) {
	case []byte:
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

// size is the memory f holds: its websocket bytes and its attachments.
func (f *frame) size() int {
	n := cap(f.ws)
	for _, a := range f.attachments {
		n += len(a)
	}
	return n
}

// newFrame builds the frame of an encoded JSON array `["event",...]`.
func newFrame(event string, body []byte) *frame { return buildFrame(event, "2", body, nil) }

// buildFrame builds the frame of the Socket.IO packet head + body (head
// is the packet type, with the attachment count and the namespace when
// there are), followed by the binary attachments atts: one allocation for
// every byte that goes on a websocket, the packet a slice of it.
func buildFrame(event, head string, body []byte, atts [][]byte) *frame {
	payload := 1 + len(head) + len(body) // "4" (Engine.IO MESSAGE) + the packet
	var hdr [10]byte
	n := wsHeader(hdr[:], wsText, payload)
	size := n + payload
	for _, a := range atts {
		size += 10 + len(a)
	}
	ws := make([]byte, 0, size)
	ws = append(ws, hdr[:n]...)
	ws = append(ws, '4')
	ws = append(ws, head...)
	ws = append(ws, body...)
	f := &frame{event: event, packet: ws[n+1:]}
	for _, a := range atts {
		h := wsHeader(hdr[:], wsBinary, len(a))
		ws = append(ws, hdr[:h]...)
		ws = append(ws, a...)
	}
	f.ws = ws
	if len(atts) > 0 {
		f.attachments = atts
	}
	return f
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

// frameFromWire rebuilds a frame from what a broker carries between nodes:
// the Socket.IO packet and its binary attachments (the frame's packet and
// attachments fields, as buildFrame built them on the node
// that encoded the event). The result is the same frame, byte for byte.
func frameFromWire(event string, packet []byte, attachments [][]byte) *frame {
	f := buildFrame(event, "", packet, attachments)
	f.committed = committedAt(event, packet)
	return f
}

// timestampKey precedes the commit time, the last field of a reactive
// event (entreactive.Event.MarshalJSON).
const timestampKey = `,"timestamp":`

// committedAt returns the commit time, in Unix nanoseconds, of the reactive
// event a broker carried in packet (`2["reactive",{…,"timestamp":ms}]`,
// without an offset), for Observer.EventDelivered: the frame's commit time
// itself stayed on the node that emitted it. It is read from the event's
// "timestamp", so to the millisecond: a latency measured from it is up to
// 1 ms high. It is 0 for any other packet.
func committedAt(event string, packet []byte) int64 {
	if event != EventReactive || !bytes.HasSuffix(packet, []byte("}]")) {
		return 0
	}
	body := packet[:len(packet)-2]
	i := bytes.LastIndex(body, []byte(timestampKey))
	if i < 0 {
		return 0
	}
	ms, err := strconv.ParseInt(string(body[i+len(timestampKey):]), 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	return ms * int64(time.Millisecond)
}
