package redisbroker

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// nsp is the one namespace the cluster spans.
const nsp = "/"

// errPacket is wrapped by the conversions of a packet that is not an event.
var errPacket = errors.New("redisbroker: not an event packet")

// toWireBroadcast returns the type 3 payload of b. A text packet
// (`2[...]`) keeps its arguments as JSON text; a binary one (`5<n>-[...]`
// and its attachments) has its placeholders replaced by the bytes, as a
// Node server's packet holds them, and travels as msgpack.
func toWireBroadcast(b *server.Broadcast) (*wire.Broadcast, error) {
	pk := wire.Packet{Type: wire.PacketTypeEvent, Nsp: nsp}
	switch {
	case len(b.Packet) >= 2 && b.Packet[0] == '2' && b.Packet[1] == '[':
		pk.RawData = json.RawMessage(b.Packet[1:])
	case len(b.Packet) > 0 && b.Packet[0] == '5':
		data, err := binaryArgs(b.Packet, b.Attachments)
		if err != nil {
			return nil, err
		}
		pk.Data = data
	default:
		return nil, fmt.Errorf("%w: %.20q", errPacket, b.Packet)
	}
	return &wire.Broadcast{
		Packet: pk,
		Opts: wire.Opts{
			Rooms:  wireRooms(b.Selector.Rooms),
			Except: b.Selector.Except,
			Flags:  wire.Flags{Volatile: b.Volatile},
		},
	}, nil
}

// wireRooms returns the target rooms of a selector on the wire: none (every
// socket) when they include entreactive.RoomAll, which every socket of a Go
// node is in but no socket of a Node node is, so that EmitTo(ToAll) reaches
// those too.
func wireRooms(rooms []string) []string {
	if slices.Contains(rooms, entreactive.RoomAll) {
		return nil
	}
	return rooms
}

// binaryArgs decodes a BINARY_EVENT packet `5<n>-[...]` into its data array
// with each placeholder replaced by its attachment.
func binaryArgs(packet []byte, atts [][]byte) ([]any, error) {
	head, body, ok := bytes.Cut(packet[1:], []byte("-"))
	n, err := strconv.Atoi(string(head))
	if !ok || err != nil || n != len(atts) || len(body) == 0 || body[0] != '[' {
		return nil, fmt.Errorf("%w: binary packet %.20q with %d attachments", errPacket, packet, len(atts))
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var data []any
	if err := dec.Decode(&data); err != nil {
		return nil, fmt.Errorf("%w: %w", errPacket, err)
	}
	for i, v := range data {
		if data[i], err = fillBinary(v, atts); err != nil {
			return nil, err
		}
	}
	return data, nil
}

// fillBinary replaces placeholders by attachments and json.Numbers by
// int64 or float64 in v.
func fillBinary(v any, atts [][]byte) (any, error) {
	switch x := v.(type) {
	case json.Number:
		if i, err := x.Int64(); err == nil {
			return i, nil
		}
		f, err := x.Float64()
		if err != nil {
			return nil, fmt.Errorf("%w: number %s", errPacket, x)
		}
		return f, nil
	case []any:
		for i, e := range x {
			var err error
			if x[i], err = fillBinary(e, atts); err != nil {
				return nil, err
			}
		}
	case map[string]any:
		if ph, _ := x["_placeholder"].(bool); ph && len(x) == 2 {
			num, err := x["num"].(json.Number).Int64()
			if err != nil || num < 0 || int(num) >= len(atts) {
				return nil, fmt.Errorf("%w: placeholder %v of %d attachments", errPacket, x["num"], len(atts))
			}
			return atts[num], nil
		}
		for k, e := range x {
			var err error
			if x[k], err = fillBinary(e, atts); err != nil {
				return nil, err
			}
		}
	}
	return v, nil
}

// fromWireBroadcast returns the broadcast a node delivers for b: the packet
// `2` + data as received when it came as JSON text, otherwise the data
// encoded once here (binary as a BINARY_EVENT with attachments). No offset
// is appended: the server adds it.
func fromWireBroadcast(b *wire.Broadcast) (*server.Broadcast, error) {
	out := &server.Broadcast{
		Selector: selector(b.Opts),
		Volatile: b.Opts.Flags.Volatile,
	}
	if b.Packet.RawData != nil {
		out.Packet = append([]byte{'2'}, b.Packet.RawData...)
		out.Event = eventName(b.Packet.RawData)
		return out, nil
	}
	var args []any
	if len(b.Packet.Data) > 0 {
		out.Event, _ = b.Packet.Data[0].(string)
		args = b.Packet.Data[1:]
	}
	// Encoded as the server encodes its own events: binary values become
	// attachments of a BINARY_EVENT.
	enc, err := server.NewBroadcast(entreactive.Target{}, out.Event, args...)
	if err != nil {
		return nil, fmt.Errorf("redisbroker: encode broadcast %q: %w", out.Event, err)
	}
	out.Packet, out.Attachments = enc.Packet, enc.Attachments
	return out, nil
}

// eventName returns the first element of a JSON data array when it is a
// string, reading only that far.
func eventName(data []byte) string {
	dec := json.NewDecoder(bytes.NewReader(data))
	if t, err := dec.Token(); err != nil || t != json.Delim('[') {
		return ""
	}
	t, _ := dec.Token()
	s, _ := t.(string)
	return s
}

// selector returns the selector of opts, empty lists as nil.
func selector(o wire.Opts) server.Selector {
	return server.Selector{Rooms: nilIfEmpty(o.Rooms), Except: nilIfEmpty(o.Except)}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// toWireOperation returns the payload of op (types 4, 5, 6).
func toWireOperation(op *server.Operation) (wire.Payload, error) {
	opts := wire.Opts{Rooms: wireRooms(op.Selector.Rooms), Except: op.Selector.Except}
	switch op.Kind {
	case server.OperationJoin:
		return &wire.SocketsJoin{Opts: opts, Rooms: op.Rooms}, nil
	case server.OperationLeave:
		return &wire.SocketsLeave{Opts: opts, Rooms: op.Rooms}, nil
	case server.OperationDisconnect:
		return &wire.DisconnectSockets{Opts: opts, Close: op.Close}, nil
	}
	return nil, fmt.Errorf("redisbroker: unknown operation kind %d", op.Kind)
}

// fromWireOperation returns the operation of a type 4, 5 or 6 payload.
func fromWireOperation(p wire.Payload) (*server.Operation, bool) {
	sel := selector
	switch d := p.(type) {
	case *wire.SocketsJoin:
		return &server.Operation{Kind: server.OperationJoin, Selector: sel(d.Opts), Rooms: d.Rooms}, true
	case *wire.SocketsLeave:
		return &server.Operation{Kind: server.OperationLeave, Selector: sel(d.Opts), Rooms: d.Rooms}, true
	case *wire.DisconnectSockets:
		return &server.Operation{Kind: server.OperationDisconnect, Selector: sel(d.Opts), Close: d.Close}, true
	}
	return nil, false
}

// jsDate is the layout of JavaScript's Date.prototype.toString, which Node
// uses for handshake.time.
const jsDate = "Mon Jan 02 2006 15:04:05 GMT-0700 (MST)"

// toSocketInfo describes a socket of this node for a FETCH_SOCKETS answer,
// its handshake as Node's socket.handshake: lower-case header names with
// their values joined (set-cookie stays a list), the query with a string per
// key (a list when repeated).
func toSocketInfo(s server.RemoteSocket) wire.SocketInfo {
	h := s.Handshake
	headers := make(map[string]any, len(h.Headers))
	for k, v := range h.Headers {
		k = strings.ToLower(k)
		if k == "set-cookie" {
			headers[k] = toAnySlice(v)
			continue
		}
		headers[k] = strings.Join(v, ", ")
	}
	query := make(map[string]any, len(h.Query))
	for k, v := range h.Query {
		if len(v) == 1 {
			query[k] = v[0]
		} else {
			query[k] = toAnySlice(v)
		}
	}
	auth := h.Auth
	if auth == nil {
		auth = map[string]any{}
	}
	var issued int64
	var date string
	if !h.Time.IsZero() {
		issued, date = h.Time.UnixMilli(), h.Time.Format(jsDate)
	}
	return wire.SocketInfo{
		ID:    s.ID,
		Rooms: s.Rooms,
		Data:  s.Data,
		Handshake: wire.Handshake{
			Headers: headers,
			Time:    date,
			Address: h.Address,
			XDomain: h.CrossDomain,
			Secure:  h.Secure,
			Issued:  issued,
			URL:     h.URL,
			Query:   query,
			Auth:    auth,
		},
	}
}

func toAnySlice(v []string) []any {
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	return out
}

// fromSocketInfo is the socket of another node's FETCH_SOCKETS answer.
func fromSocketInfo(s wire.SocketInfo) server.RemoteSocket {
	h := s.Handshake
	headers := make(http.Header, len(h.Headers))
	for k, v := range h.Headers {
		for _, s := range stringsOf(v) {
			headers.Add(k, s)
		}
	}
	query := make(url.Values, len(h.Query))
	for k, v := range h.Query {
		query[k] = stringsOf(v)
	}
	var t time.Time
	if h.Issued > 0 {
		t = time.UnixMilli(h.Issued)
	}
	return server.RemoteSocket{
		ID:    s.ID,
		Rooms: s.Rooms,
		Data:  s.Data,
		Handshake: server.Handshake{
			Address:     h.Address,
			Headers:     headers,
			Query:       query,
			Auth:        h.Auth,
			Time:        t,
			URL:         h.URL,
			Secure:      h.Secure,
			CrossDomain: h.XDomain,
		},
	}
}

// stringsOf returns a header or query value as strings: a string, a list of
// them, or anything else formatted.
func stringsOf(v any) []string {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return []string{x}
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			out = append(out, stringsOf(e)...)
		}
		return out
	}
	return []string{fmt.Sprint(v)}
}
