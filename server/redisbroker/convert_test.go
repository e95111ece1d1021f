package redisbroker

import (
	"errors"
	"net/http"
	"net/url"
	"reflect"
	"testing"
	"time"

	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// entryRoundTrip sends b through a stream entry as Publish and the reader
// do, and returns what the receiving node delivers.
func entryRoundTrip(t *testing.T, b *server.Broadcast) (string, *server.Broadcast) {
	t.Helper()
	wb, err := toWireBroadcast(b)
	if err != nil {
		t.Fatal(err)
	}
	fields, err := wire.EntryFields(wire.Message{UID: "u", Nsp: "/", Data: wb})
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]any{}
	for i := 0; i < len(fields); i += 2 {
		values[fields[i]] = fields[i+1]
	}
	m, err := wire.DecodeEntryRaw(values)
	if err != nil {
		t.Fatal(err)
	}
	out, err := fromWireBroadcast(m.Data.(*wire.Broadcast))
	if err != nil {
		t.Fatal(err)
	}
	return fields[7], out
}

// A Go node's text packet crosses to another Go node byte for byte: the
// arguments are never decoded (a decode would turn 1.50 into 1.5 and lose
// the big integer's digits).
func TestBroadcastTextTravelsRaw(t *testing.T) {
	packet := `2["ev",{"n":12345678901234567890,"f":1.50,"s":"\u00e9<&>"},[]]`
	in := &server.Broadcast{Selector: server.Selector{Rooms: []string{"r"}, Except: []string{"x"}}, Event: "ev", Packet: []byte(packet), Volatile: true}
	data, out := entryRoundTrip(t, in)
	want := `{"packet":{"type":2,"data":` + packet[1:] + `,"nsp":"/"},"opts":{"rooms":["r"],"except":["x"],"flags":{"volatile":true}}}`
	if data != want {
		t.Fatalf("entry data\n%s\nwant\n%s", data, want)
	}
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("delivered %+v (%s), want %+v", out, out.Packet, in)
	}
}

// A binary packet goes as msgpack with the bytes in place of the
// placeholders, as Node's packets do, and comes back as a BINARY_EVENT with
// its attachments.
func TestBroadcastBinary(t *testing.T) {
	in := &server.Broadcast{
		Selector:    server.Selector{Rooms: []string{"r"}},
		Event:       "file",
		Packet:      []byte(`52-["file",{"_placeholder":true,"num":0},{"n":3,"more":[{"_placeholder":true,"num":1}]}]`),
		Attachments: [][]byte{{1, 2}, {3}},
	}
	wb, err := toWireBroadcast(in)
	if err != nil {
		t.Fatal(err)
	}
	wantData := []any{"file", []byte{1, 2}, map[string]any{"n": int64(3), "more": []any{[]byte{3}}}}
	if !reflect.DeepEqual(wb.Packet.Data, wantData) {
		t.Fatalf("wire data %#v", wb.Packet.Data)
	}
	data, out := entryRoundTrip(t, in)
	if data[0] == '{' {
		t.Fatalf("binary broadcast written as JSON: %s", data)
	}
	// Map keys are written sorted, so attachments are renumbered in that
	// order; here it is the same.
	want := *in
	want.Packet = []byte(`52-["file",{"_placeholder":true,"num":0},{"more":[{"_placeholder":true,"num":1}],"n":3}]`)
	if !reflect.DeepEqual(out, &want) {
		t.Fatalf("delivered %s %v, want %s %v", out.Packet, out.Attachments, want.Packet, want.Attachments)
	}

	for _, bad := range []*server.Broadcast{
		{Packet: []byte(`0`)},
		{Packet: []byte(`51-["x"]`)},
		{Packet: []byte(`51-["x",{"_placeholder":true,"num":3}]`), Attachments: [][]byte{{1}}},
		{Packet: []byte(`2/chat,["x"]`)},
	} {
		if _, err := toWireBroadcast(bad); !errors.Is(err, errPacket) {
			t.Errorf("toWireBroadcast(%s) = %v", bad.Packet, err)
		}
	}
}

// A node's socket crosses in Node's handshake shape and back.
func TestSocketInfoRoundTrip(t *testing.T) {
	at := time.UnixMilli(1764590000123)
	in := server.RemoteSocket{
		ID:    "s1",
		Rooms: []string{"s1", "user_1"},
		Data:  map[string]any{"user_id": "1"},
		Handshake: server.Handshake{
			Address:     "127.0.0.1:5000",
			Headers:     http.Header{"User-Agent": {"go"}, "Set-Cookie": {"a=1", "b=2"}},
			Query:       url.Values{"EIO": {"4"}, "tag": {"a", "b"}},
			Auth:        map[string]any{"device_id": "phone"},
			Time:        at,
			URL:         "/socket.io/?EIO=4",
			Secure:      true,
			CrossDomain: true,
		},
	}
	info := toSocketInfo(in)
	if info.Handshake.Headers["user-agent"] != "go" || info.Handshake.Query["EIO"] != "4" ||
		info.Handshake.Issued != 1764590000123 || info.Handshake.Time == "" || !info.Handshake.XDomain {
		t.Fatalf("socket info %+v", info.Handshake)
	}
	out := fromSocketInfo(info)
	if !reflect.DeepEqual(out, in) {
		t.Fatalf("back\n%+v\nwant\n%+v", out, in)
	}
}

// A selector that includes RoomAll goes out as "every socket": Node's
// sockets are in no room "all".
func TestRoomAllIsEverySocket(t *testing.T) {
	wb, err := toWireBroadcast(&server.Broadcast{Selector: server.Selector{Rooms: []string{"all"}, Except: []string{"x"}}, Packet: []byte(`2["e"]`)})
	if err != nil || wb.Opts.Rooms != nil || !reflect.DeepEqual(wb.Opts.Except, []string{"x"}) {
		t.Fatalf("broadcast opts %+v, %v", wb.Opts, err)
	}
	p, err := toWireOperation(&server.Operation{Kind: server.OperationDisconnect, Selector: server.Selector{Rooms: []string{"r", "all"}}})
	if err != nil || p.(*wire.DisconnectSockets).Opts.Rooms != nil {
		t.Fatalf("operation %+v, %v", p, err)
	}
}
