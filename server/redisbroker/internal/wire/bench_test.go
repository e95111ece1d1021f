package wire

import (
	"encoding/json"
	"testing"
)

// A reactive event as the server emits it: the arguments already JSON.
var benchEvent = Message{UID: "0123456789abcdef", Nsp: "/", Data: &Broadcast{
	Packet: Packet{Type: 2, Data: []any{"reactive", json.RawMessage(`{"action":"update","model":"Message","id":12345,"data":{"id":12345,"body":"hello there, this is a message of about a hundred bytes","conversation_id":42},"timestamp":1764590000000}`)}},
	Opts:   Opts{Rooms: []string{"conversation_42"}},
}}

func BenchmarkEntryFields(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EntryFields(benchEvent); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEntry(b *testing.B) {
	fields, _ := EntryFields(benchEvent)
	values := map[string]any{}
	for i := 0; i < len(fields); i += 2 {
		values[fields[i]] = fields[i+1]
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeEntry(values); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPubSubRoundTrip(b *testing.B) {
	m := Message{UID: "0123456789abcdef", Nsp: "/", Data: &FetchSockets{Opts: Opts{Rooms: []string{"user_7"}}, RequestID: "fedcba9876543210"}}
	b.ReportAllocs()
	for b.Loop() {
		p, err := EncodePubSub(m)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecodePubSub(p); err != nil {
			b.Fatal(err)
		}
	}
}
