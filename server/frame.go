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
	body, atts, err := marshalEvent(event, args)
	if err != nil {
		return nil, err
	}
	if len(atts) > 0 {
		return newBinaryFrame(event, body, atts), nil
	}
	return newFrame(event, body), nil
}

// marshalEvent encodes the JSON array `["event",...args]`, the binary data
// of args taken out as attachments (see encodeFrame).
func marshalEvent(event string, args []any) (body []byte, atts [][]byte, err error) {
	data := make([]any, 0, len(args)+1)
	data = append(data, event)
	for _, a := range args {
		data = append(data, placeBinary(a, &atts))
	}
	body, err = json.Marshal(data)
	if err != nil {
		return nil, nil, fmt.Errorf("server: encode %q: %w", event, err)
	}
	return body, atts, nil
}

// encodeFrameIn is encodeFrame for a socket of namespace nsp: outside
// "/" the packet names its namespace (`2/chat,["event",...]`).
func encodeFrameIn(nsp, event string, args ...any) (*frame, error) {
	if nsp == RootNamespace {
		return encodeFrame(event, args...)
	}
	body, atts, err := marshalEvent(event, args)
	if err != nil {
		return nil, err
	}
	packet := make([]byte, 0, 8+len(nsp)+len(body))
	if len(atts) > 0 {
		packet = append(packet, '5')
		packet = strconv.AppendInt(packet, int64(len(atts)), 10)
		packet = append(packet, '-')
	} else {
		packet = append(packet, '2')
	}
	packet = append(packet, nsp...)
	packet = append(packet, ',')
	packet = append(packet, body...)
	return frameFromWire(event, packet, atts), nil
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

// newBinaryFrame builds the frame of a BINARY_EVENT: the packet
// `5<n>-["event",...placeholders...]`, then the n attachments, each a
// binary websocket frame of its own.
func newBinaryFrame(event string, body []byte, atts [][]byte) *frame {
	prefix := strconv.Itoa(len(atts)) + "-"
	payload := 2 + len(prefix) + len(body) // "4" + "5" + "<n>-" + body
	var hdr [10]byte
	n := wsHeader(hdr[:], wsText, payload)
	size := n + payload
	for _, a := range atts {
		size += 10 + len(a)
	}
	ws := make([]byte, 0, size)
	ws = append(ws, hdr[:n]...)
	ws = append(ws, '4', '5')
	ws = append(ws, prefix...)
	ws = append(ws, body...)
	packet := ws[n+1:]
	for _, a := range atts {
		h := wsHeader(hdr[:], wsBinary, len(a))
		ws = append(ws, hdr[:h]...)
		ws = append(ws, a...)
	}
	return &frame{event: event, packet: packet, attachments: atts, ws: ws}
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
// attachments fields, as newFrame or newBinaryFrame built them on the node
// that encoded the event). The result is the same frame, byte for byte.
func frameFromWire(event string, packet []byte, attachments [][]byte) *frame {
	var hdr [10]byte
	n := wsHeader(hdr[:], wsText, 1+len(packet))
	size := n + 1 + len(packet)
	for _, a := range attachments {
		size += 10 + len(a)
	}
	ws := make([]byte, 0, size)
	ws = append(ws, hdr[:n]...)
	ws = append(ws, '4')
	ws = append(ws, packet...)
	f := &frame{event: event, packet: ws[n+1:], ws: ws}
	for _, a := range attachments {
		h := wsHeader(hdr[:], wsBinary, len(a))
		ws = append(ws, hdr[:h]...)
		ws = append(ws, a...)
	}
	f.ws = ws
	if len(attachments) > 0 {
		f.attachments = attachments
	}
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
