package wire

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestNewID(t *testing.T) {
	a, b := NewID(), NewID()
	if len(a) != 16 || strings.Trim(a, "0123456789abcdef") != "" {
		t.Fatalf("NewID() = %q, want 16 lowercase hex characters", a)
	}
	if a == b {
		t.Fatalf("two NewID() calls returned %q", a)
	}
}

// The hashes below were computed with the adapter's hashCode in Node 20.
func TestStreamKey(t *testing.T) {
	for _, tc := range []struct {
		nsp        string
		count      int
		want, node string
	}{
		{"/", 1, "socket.io", "socket.io"},
		{"/notifications", 1, "socket.io", "socket.io"},
		{"/", 4, "socket.io-3", "socket.io-3"},               // 47
		{"/chat", 4, "socket.io-3", "socket.io-3"},           // 46457863
		{"/admin", 4, "socket.io-0", "socket.io-0"},          // 1438238848
		{"/é😀x", 4, "socket.io-3", "socket.io-3"},            // 105306779, UTF-16 code units
		{"/notifications", 4, "socket.io-1", "socket.io--3"}, // -1014064871: Node's stream is read by nobody
	} {
		if got := StreamKey("socket.io", tc.count, tc.nsp); got != tc.want {
			t.Errorf("StreamKey(%q, %d) = %q, want %q", tc.nsp, tc.count, got, tc.want)
		}
		if got := NodeStreamKey("socket.io", tc.count, tc.nsp); got != tc.node {
			t.Errorf("NodeStreamKey(%q, %d) = %q, want %q", tc.nsp, tc.count, got, tc.node)
		}
	}
}

func TestEntryFieldsJSON(t *testing.T) {
	m := Message{UID: "0123456789abcdef", Nsp: "/", Data: &Broadcast{
		Packet: Packet{Type: 2, Data: []any{"reactive", json.RawMessage(`{"id":5}`), 1.5}},
		Opts:   Opts{Rooms: []string{"user_7"}},
	}}
	got, err := EntryFields(m)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"uid", "0123456789abcdef", "nsp", "/", "type", "3",
		"data", `{"packet":{"type":2,"data":["reactive",{"id":5},1.5]},"opts":{"rooms":["user_7"],"except":[],"flags":{}}}`}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("EntryFields =\n%q\nwant\n%q", got, want)
	}
	if m.Data.(*Broadcast).Opts.Except != nil {
		t.Fatal("EntryFields modified the message")
	}
}

func TestEntryRoundTripBinary(t *testing.T) {
	in := Message{UID: "u", Nsp: "/", Data: &Broadcast{
		Packet: Packet{Type: 2, Data: []any{"file", []byte{1, 2, 3}, json.RawMessage(`{"n":1}`)}},
		Opts:   Opts{Rooms: []string{"r"}, Except: []string{"x"}, Flags: Flags{Compress: true}},
	}}
	fields, err := EntryFields(in)
	if err != nil {
		t.Fatal(err)
	}
	data := fields[7]
	if strings.HasPrefix(data, "{") {
		t.Fatalf("binary payload encoded as JSON: %s", data)
	}
	if _, err := base64.StdEncoding.DecodeString(data); err != nil {
		t.Fatalf("data is not base64: %v", err)
	}
	out, err := DecodeEntry(valuesOf(fields))
	if err != nil {
		t.Fatal(err)
	}
	want := &Broadcast{
		Packet: Packet{Type: 2, Data: []any{"file", []byte{1, 2, 3}, map[string]any{"n": 1.0}}},
		Opts:   Opts{Rooms: []string{"r"}, Except: []string{"x"}, Flags: Flags{Compress: true}},
	}
	if out.UID != "u" || out.Nsp != "/" || !reflect.DeepEqual(out.Data, want) {
		t.Fatalf("decoded %+v %#v, want %#v", out, out.Data, want)
	}
}

func TestDecodeEntryRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		values map[string]any
		want   error
	}{
		"no nsp":       {map[string]any{"uid": "u", "type": "3", "data": "{}"}, ErrMalformed},
		"bad type":     {map[string]any{"uid": "u", "nsp": "/", "type": "x", "data": "{}"}, ErrMalformed},
		"heartbeat":    {map[string]any{"uid": "u", "nsp": "/", "type": "2"}, ErrUnknownType},
		"no data":      {map[string]any{"uid": "u", "nsp": "/", "type": "3"}, ErrMalformed},
		"bad json":     {map[string]any{"uid": "u", "nsp": "/", "type": "3", "data": "{"}, ErrMalformed},
		"bad base64":   {map[string]any{"uid": "u", "nsp": "/", "type": "3", "data": "!!"}, ErrMalformed},
		"bad msgpack":  {map[string]any{"uid": "u", "nsp": "/", "type": "3", "data": "wQ=="}, ErrMalformed},
		"wrong shapes": {map[string]any{"uid": "u", "nsp": "/", "type": "4", "data": `{"rooms":"a"}`}, ErrMalformed},
	} {
		if _, err := DecodeEntry(tc.values); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", name, err, tc.want)
		}
	}
}

func TestPubSubRoundTrip(t *testing.T) {
	for _, p := range []Payload{
		&Broadcast{Packet: Packet{Type: 2, Data: []any{"ev", int64(1)}}, Opts: Opts{Rooms: []string{}, Except: []string{}, Flags: Flags{Timeout: 5000}}, RequestID: "r1"},
		&FetchSockets{Opts: Opts{Rooms: []string{"a"}, Except: []string{}}, RequestID: "r2"},
		&FetchSocketsResponse{RequestID: "r2", Sockets: []SocketInfo{{ID: "s1", Rooms: []string{"s1", "a"}, Data: map[string]any{"userId": int64(7)},
			Handshake: Handshake{Address: "::1", Issued: 1764590000000, Auth: map[string]any{"token": "t"}}}}},
		&ServerSideEmit{RequestID: "r3", Packet: []any{"ping", []byte{9}}},
		&ServerSideEmitResponse{RequestID: "r3", Packet: "pong"},
		&BroadcastClientCount{RequestID: "r1", ClientCount: 2},
		&BroadcastAck{RequestID: "r1", Packet: map[string]any{"ok": true}},
	} {
		b, err := EncodePubSub(Message{UID: "u", Nsp: "/chat", Data: p})
		if err != nil {
			t.Fatal(err)
		}
		m, err := DecodePubSub(b)
		if err != nil {
			t.Fatalf("type %d: %v", p.Type(), err)
		}
		if m.UID != "u" || m.Nsp != "/chat" || !reflect.DeepEqual(m.Data, p) {
			t.Errorf("type %d: decoded %#v, want %#v", p.Type(), m.Data, p)
		}
	}
	if _, err := DecodePubSub([]byte{0xc1}); !errors.Is(err, ErrMalformed) {
		t.Errorf("garbage: err = %v", err)
	}
}

func TestEphemeral(t *testing.T) {
	for _, tc := range []struct {
		p    Payload
		want bool
	}{
		{&Broadcast{}, false},
		{&Broadcast{RequestID: "r"}, true},
		{&SocketsJoin{}, false},
		{&SocketsLeave{}, false},
		{&DisconnectSockets{}, false},
		{&FetchSockets{}, true},
		{&ServerSideEmit{}, true},
	} {
		if got := (Message{Data: tc.p}).Ephemeral(); got != tc.want {
			t.Errorf("type %d: Ephemeral = %v", tc.p.Type(), got)
		}
	}
}

func TestOffsets(t *testing.T) {
	o, err := ParseOffset("1795635966168-7")
	if err != nil || o.String() != "1795635966168-7" || o.Next().String() != "1795635966168-8" {
		t.Fatalf("ParseOffset = %v %v", o, err)
	}
	if got := (Offset{MS: 1, Seq: ^uint64(0)}).Next(); got != (Offset{MS: 2}) {
		t.Errorf("Next at the last sequence = %v", got)
	}
	for _, bad := range []string{"", "1", "1-", "-1", "1-2-3", "a-1", " 1-2", "1-2\n", "99999999999999999999-0", "１-2"} {
		if _, err := ParseOffset(bad); !errors.Is(err, ErrInvalidOffset) {
			t.Errorf("ParseOffset(%q) err = %v", bad, err)
		}
	}
}

func TestWithOffset(t *testing.T) {
	id := int64(3)
	for _, tc := range []struct {
		name string
		b    Broadcast
		want []any
	}{
		{"event", Broadcast{Packet: Packet{Type: 2, Data: []any{"ev", 1.0}}}, []any{"ev", 1.0, "9-0"}},
		{"volatile", Broadcast{Packet: Packet{Type: 2, Data: []any{"ev"}}, Opts: Opts{Flags: Flags{Volatile: true}}}, []any{"ev"}},
		{"ack id", Broadcast{Packet: Packet{Type: 2, Data: []any{"ev"}, ID: &id}}, []any{"ev"}},
		{"with ack", Broadcast{Packet: Packet{Type: 2, Data: []any{"ev"}}, RequestID: "r"}, []any{"ev"}},
		{"binary event", Broadcast{Packet: Packet{Type: 5, Data: []any{"ev"}}}, []any{"ev"}},
	} {
		before := append([]any(nil), tc.b.Packet.Data...)
		if got := WithOffset(&tc.b, "9-0"); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: WithOffset = %v, want %v", tc.name, got, tc.want)
		}
		if !reflect.DeepEqual(tc.b.Packet.Data, before) {
			t.Errorf("%s: WithOffset changed the packet", tc.name)
		}
	}
}

func TestSessionRoundTrip(t *testing.T) {
	in := Session{SID: "sid1", PID: "pid1", Rooms: []string{"sid1", "user_7"}, Data: map[string]any{"userId": int64(7), "deviceId": "web"}}
	v, err := EncodeSession(in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := DecodeSession(v)
	if err != nil || !reflect.DeepEqual(out, in) {
		t.Fatalf("DecodeSession = %#v %v, want %#v", out, err, in)
	}
	for _, bad := range []string{"", "!!", base64.StdEncoding.EncodeToString([]byte{0xc1}), base64.StdEncoding.EncodeToString([]byte{0x80})} {
		if _, err := DecodeSession(bad); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeSession(%q) err = %v", bad, err)
		}
	}
}

func TestMissedPacket(t *testing.T) {
	rooms := []string{"sid1", "user_7"}
	bc := func(o Opts) Message {
		return Message{Nsp: "/", Data: &Broadcast{Packet: Packet{Type: 2, Data: []any{"ev"}}, Opts: o}}
	}
	for _, tc := range []struct {
		name string
		m    Message
		want bool
	}{
		{"everyone", bc(Opts{}), true},
		{"my room", bc(Opts{Rooms: []string{"user_8", "user_7"}}), true},
		{"my socket", bc(Opts{Rooms: []string{"sid1"}}), true},
		{"other room", bc(Opts{Rooms: []string{"user_8"}}), false},
		{"excluded", bc(Opts{Rooms: []string{"user_7"}, Except: []string{"sid1"}}), false},
		{"everyone but me", bc(Opts{Except: []string{"user_7"}}), false},
		{"volatile", bc(Opts{Flags: Flags{Volatile: true}}), false},
		{"other namespace", Message{Nsp: "/chat", Data: bc(Opts{}).Data}, false},
		{"join", Message{Nsp: "/", Data: &SocketsJoin{}}, false},
	} {
		args, ok := MissedPacket(rooms, "/", "5-1", tc.m)
		if ok != tc.want {
			t.Errorf("%s: included = %v, want %v", tc.name, ok, tc.want)
		}
		if ok && !reflect.DeepEqual(args, []any{"ev", "5-1"}) {
			t.Errorf("%s: args = %v", tc.name, args)
		}
	}
}

func valuesOf(fields []string) map[string]any {
	m := map[string]any{}
	for i := 0; i+1 < len(fields); i += 2 {
		m[fields[i]] = fields[i+1]
	}
	return m
}

// Decoding whatever Redis hands over returns a message or an error, never a
// panic.
func FuzzDecode(f *testing.F) {
	for _, p := range []Payload{
		&Broadcast{Packet: Packet{Type: 2, Data: []any{"ev", []byte{1}, map[string]any{"a": 1.0}}}},
		&FetchSocketsResponse{RequestID: "r", Sockets: []SocketInfo{{ID: "s", Data: []byte{1}}}},
		&SocketsJoin{Rooms: []string{"a"}},
	} {
		fields, _ := EntryFields(Message{UID: "u", Nsp: "/", Data: p})
		f.Add(fields[7], "3")
		b, _ := EncodePubSub(Message{UID: "u", Nsp: "/", Data: p})
		f.Add(string(b), "8")
	}
	session, _ := EncodeSession(Session{SID: "s", PID: "p", Data: map[string]any{"x": []any{1.0}}})
	f.Add(session, "4")
	f.Fuzz(func(t *testing.T, data, typ string) {
		_, _ = DecodeEntry(map[string]any{"uid": "u", "nsp": "/", "type": typ, "data": data})
		_, _ = DecodePubSub([]byte(data))
		_, _ = DecodeSession(data)
	})
}

// A packet's data array travels as JSON text, byte for byte, both ways:
// a Go node passes its clients' arguments on without decoding them.
func TestEntryRawData(t *testing.T) {
	raw := json.RawMessage(`["reactive",{"id":5,"big":12345678901234567890},1.50]`)
	m := Message{UID: "u", Nsp: "/", Data: &Broadcast{
		Packet: Packet{Type: 2, RawData: raw, Nsp: "/"},
		Opts:   Opts{Rooms: []string{"r"}, Flags: Flags{Volatile: true}},
	}}
	fields, err := EntryFields(m)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"packet":{"type":2,"data":` + string(raw) + `,"nsp":"/"},"opts":{"rooms":["r"],"except":[],"flags":{"volatile":true}}}`
	if fields[7] != want {
		t.Fatalf("data = %s\nwant %s", fields[7], want)
	}
	values := map[string]any{}
	for i := 0; i < len(fields); i += 2 {
		values[fields[i]] = fields[i+1]
	}
	got, err := DecodeEntryRaw(values)
	if err != nil {
		t.Fatal(err)
	}
	b := got.Data.(*Broadcast)
	if string(b.Packet.RawData) != string(raw) || b.Packet.Data != nil {
		t.Fatalf("DecodeEntryRaw packet = %#v", b.Packet)
	}
	decoded, err := DecodeEntry(values)
	if err != nil {
		t.Fatal(err)
	}
	if d := decoded.Data.(*Broadcast).Packet; d.RawData != nil || len(d.Data) != 3 || d.Data[0] != "reactive" {
		t.Fatalf("DecodeEntry packet = %#v", d)
	}
	// Through msgpack (pub/sub) the text is decoded into values.
	enc, err := EncodePubSub(m)
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodePubSub(enc)
	if err != nil {
		t.Fatal(err)
	}
	if d := back.Data.(*Broadcast).Packet; len(d.Data) != 3 || d.Data[2] != 1.5 {
		t.Fatalf("pub/sub packet = %#v", d)
	}
}
