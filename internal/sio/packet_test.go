package sio

import (
	"errors"
	"testing"
)

func TestParseEngine(t *testing.T) {
	for _, tc := range []struct {
		in      string
		typ     byte
		payload string
		bad     bool
	}{
		{in: `0{"sid":"x"}`, typ: EngineOpen, payload: `{"sid":"x"}`},
		{in: "2", typ: EnginePing},
		{in: "3", typ: EnginePong},
		{in: `42["a"]`, typ: EngineMessage, payload: `2["a"]`},
		{in: "6", typ: EngineNoop},
		{in: "", bad: true},
		{in: "7", bad: true},
		{in: "b", bad: true},
	} {
		typ, payload, err := ParseEngine([]byte(tc.in))
		if tc.bad {
			if !errors.Is(err, ErrMalformed) {
				t.Errorf("ParseEngine(%q) err = %v, want ErrMalformed", tc.in, err)
			}
			continue
		}
		if err != nil || typ != tc.typ || string(payload) != tc.payload {
			t.Errorf("ParseEngine(%q) = %q, %q, %v; want %q, %q", tc.in, typ, payload, err, tc.typ, tc.payload)
		}
	}
}

func TestParseSocket(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Packet
	}{
		{in: "0", want: Packet{Type: Connect, Namespace: "/", ID: NoID}},
		{in: `0{"sid":"abc"}`, want: Packet{Type: Connect, Namespace: "/", ID: NoID, Data: []byte(`{"sid":"abc"}`)}},
		{in: `2["reactive",{"id":1}]`, want: Packet{Type: Event, Namespace: "/", ID: NoID, Data: []byte(`["reactive",{"id":1}]`)}},
		{in: `212["auth","t"]`, want: Packet{Type: Event, Namespace: "/", ID: 12, Data: []byte(`["auth","t"]`)}},
		{in: `30[{"success":true}]`, want: Packet{Type: Ack, Namespace: "/", ID: 0, Data: []byte(`[{"success":true}]`)}},
		{in: `3/chat,7[1]`, want: Packet{Type: Ack, Namespace: "/chat", ID: 7, Data: []byte(`[1]`)}},
		{in: `2/chat,["x"]`, want: Packet{Type: Event, Namespace: "/chat", ID: NoID, Data: []byte(`["x"]`)}},
		{in: "1/chat", want: Packet{Type: Disconnect, Namespace: "/chat", ID: NoID}},
		{in: "1", want: Packet{Type: Disconnect, Namespace: "/", ID: NoID}},
		{in: `4{"message":"Invalid token"}`, want: Packet{Type: ConnectErr, Namespace: "/", ID: NoID, Data: []byte(`{"message":"Invalid token"}`)}},
	} {
		got, err := ParseSocket([]byte(tc.in))
		if err != nil {
			t.Errorf("ParseSocket(%q): %v", tc.in, err)
			continue
		}
		if got.Type != tc.want.Type || got.Namespace != tc.want.Namespace || got.ID != tc.want.ID || string(got.Data) != string(tc.want.Data) {
			t.Errorf("ParseSocket(%q) = %+v (data %q), want %+v (data %q)", tc.in, got, got.Data, tc.want, tc.want.Data)
		}
	}
}

func TestParseSocketMalformed(t *testing.T) {
	for _, in := range []string{
		"",
		"9",
		`51-["x",{"_placeholder":true,"num":0}]`,
		`3[1]`,      // ack without id
		`2`,         // event without payload
		`2{"a":1}`,  // event payload not an array
		`23`,        // id but no payload
		`3/chat,[]`, // ack without id, with namespace
		`2["x"`,     // unterminated
		`299999999999999999999["x"]`,
	} {
		if _, err := ParseSocket([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseSocket(%q) err = %v, want ErrMalformed", in, err)
		}
	}
}

func TestEventName(t *testing.T) {
	for _, tc := range []struct {
		in, name, rest string
	}{
		{in: `["reactive",{"a":1}]`, name: "reactive", rest: `,{"a":1}]`},
		{in: `["connected"]`, name: "connected", rest: `]`},
		{in: `["a\"b",1]`, name: `a"b`, rest: `,1]`},
		{in: `["\u0041",1]`, name: "A", rest: `,1]`},
	} {
		name, rest, err := EventName([]byte(tc.in))
		if err != nil || name != tc.name || string(rest) != tc.rest {
			t.Errorf("EventName(%q) = %q, %q, %v; want %q, %q", tc.in, name, rest, err, tc.name, tc.rest)
		}
	}
	for _, in := range []string{``, `[]`, `[1,2]`, `["abc`, `{"a":1}`, `["a\`} {
		if _, _, err := EventName([]byte(in)); !errors.Is(err, ErrMalformed) {
			t.Errorf("EventName(%q) err = %v, want ErrMalformed", in, err)
		}
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct {
		nsp   string
		id    int64
		event string
		args  []any
		want  string
	}{
		{nsp: "/", id: NoID, event: "auth", args: []any{"tok"}, want: `42["auth","tok"]`},
		{nsp: "", id: 3, event: "auth", args: []any{"tok"}, want: `423["auth","tok"]`},
		{nsp: "/admin", id: 0, event: "join", args: []any{"room_1"}, want: `42/admin,0["join","room_1"]`},
		{nsp: "/", id: NoID, event: "ping", want: `42["ping"]`},
		{nsp: "/", id: NoID, event: "obj", args: []any{map[string]int{"a": 1}, 2}, want: `42["obj",{"a":1},2]`},
	} {
		got, err := EncodeEvent(tc.nsp, tc.id, tc.event, tc.args...)
		if err != nil || string(got) != tc.want {
			t.Errorf("EncodeEvent(%q, %d, %q, %v) = %q, %v; want %q", tc.nsp, tc.id, tc.event, tc.args, got, err, tc.want)
		}
		// Round trip through the parsers.
		typ, payload, err := ParseEngine(got)
		if err != nil || typ != EngineMessage {
			t.Fatalf("ParseEngine(%q) = %q, %v", got, typ, err)
		}
		p, err := ParseSocket(payload)
		if err != nil || p.Type != Event || p.ID != tc.id {
			t.Fatalf("ParseSocket(%q) = %+v, %v", payload, p, err)
		}
		if name, _, err := EventName(p.Data); err != nil || name != tc.event {
			t.Fatalf("EventName(%q) = %q, %v", p.Data, name, err)
		}
	}
	if _, err := EncodeEvent("/", NoID, "bad", func() {}); err == nil {
		t.Error("EncodeEvent with a func argument: want an error")
	}
	if got := string(AppendPacket([]byte("x"), Connect, "/", NoID, []byte(`{"token":"t"}`))); got != `x40{"token":"t"}` {
		t.Errorf("AppendPacket = %q", got)
	}
}

func BenchmarkParseEvent(b *testing.B) {
	frame := []byte(`42["reactive",{"action":"create","model":"Notification","id":12,"data":{"id":12,"message":"bm:1:12;","created_at":"2026-11-25T21:00:00Z"},"timestamp":1764104400000}]`)
	b.ReportAllocs()
	for b.Loop() {
		_, payload, err := ParseEngine(frame)
		if err != nil {
			b.Fatal(err)
		}
		p, err := ParseSocket(payload)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := EventName(p.Data); err != nil {
			b.Fatal(err)
		}
	}
}
