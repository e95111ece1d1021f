package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
)

func TestQueueFullDropsLogsAndCounts(t *testing.T) {
	var logs bytes.Buffer
	var stats counters
	d := newDelivery(newRegistry(1), 2, slog.New(slog.NewTextHandler(&logs, nil)), &stats) // not running: nothing drains it
	f, err := encodeFrame("x", 1)
	if err != nil {
		t.Fatal(err)
	}
	// Nothing drains the queue: an enqueue that waits for room fails here
	// within a second, not at the test binary's timeout.
	within(t, time.Second, "enqueue to a full queue", func() {
		for i := range 2 {
			if err := d.enqueue(context.Background(), job{rooms: []string{"all"}, frame: f}, nil); err != nil {
				t.Errorf("enqueue %d: %v", i, err)
			}
		}
		err = d.enqueue(context.Background(), job{rooms: []string{"all"}, frame: f}, &entreactive.Event{Model: "Message", Action: entreactive.ActionCreate, ID: 7})
	})
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third enqueue = %v", err)
	}
	if stats.dropped.Load() != 1 || stats.queued.Load() != 2 || d.depth() != 2 {
		t.Fatalf("dropped %d queued %d depth %d", stats.dropped.Load(), stats.queued.Load(), d.depth())
	}
	if log := logs.String(); !strings.Contains(log, "queue full") || !strings.Contains(log, "model=Message") ||
		!strings.Contains(log, "action=create") || !strings.Contains(log, "id=7") {
		t.Fatalf("log: %s", logs.String())
	}
}

func TestFrameIsEncodedOnce(t *testing.T) {
	f, err := encodeFrame("ev", map[string]any{"a": 1}, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got := string(f.packet); got != `2["ev",{"a":1},"b"]` {
		t.Fatalf("packet %q", got)
	}
	if got := f.ws; got[0] != 0x81 || int(got[1]) != len(got)-2 || string(got[2:]) != `42["ev",{"a":1},"b"]` {
		t.Fatalf("ws frame %q", got)
	}
}

func TestFrameRebuildsFromWhatABrokerCarries(t *testing.T) {
	big := strings.Repeat("y", 70_000) // a 64-bit websocket length
	for _, args := range [][]any{
		{map[string]any{"a": 1}},
		{big},
		{[]byte{1, 2, 3}, map[string]any{"b": []byte(big)}},
	} {
		f, err := encodeFrame("ev", args...)
		if err != nil {
			t.Fatal(err)
		}
		g := frameFromWire(f.event, bytes.Clone(f.packet), f.attachments)
		if !bytes.Equal(g.ws, f.ws) || !bytes.Equal(g.packet, f.packet) || len(g.attachments) != len(f.attachments) {
			t.Fatalf("rebuilt frame differs for %d args: %q", len(args), g.ws[:min(40, len(g.ws))])
		}
	}
}

// A shard writes at once only when idle: nothing else queued and no job
// just before; in a burst its frames queue up and go out coalesced.
func TestShardIsBusyInABurst(t *testing.T) {
	reg := newRegistry(1)
	d := newDelivery(reg, 8, slog.Default(), &counters{})
	sh := d.shards[0]
	start := time.Now()
	if !sh.idle(d, start) {
		t.Fatal("a shard that never ran is busy")
	}
	sh.finished = start
	if sh.idle(d, start.Add(busyGap/2)) {
		t.Fatal("a job right after the last one found the shard idle")
	}
	if !sh.idle(d, start.Add(busyGap)) {
		t.Fatal("the shard is still busy busyGap after its last job")
	}
	d.queue <- job{}
	if sh.idle(d, start.Add(time.Second)) {
		t.Fatal("a shard with a job queued behind this one is idle")
	}
}

// A frame a broker carried gets back the commit time of its reactive
// event from the event's timestamp, with or without an offset appended;
// other packets have none.
func TestCommittedAtFromWire(t *testing.T) {
	ts := time.UnixMilli(1795642354927)
	ev := entreactive.Event{Action: entreactive.ActionUpdate, Model: "Card", ID: 7,
		Data: map[string]any{"title": `"timestamp":1`}, Changed: []string{"title"}, Timestamp: ts}
	_, f, err := reactiveFrame(entreactive.ToRooms("r"), &ev, func(any) {})
	if err != nil {
		t.Fatal(err)
	}
	b := f.broadcast([]string{"r"})
	if got := frameFromWire(b.Event, b.Packet, b.Attachments).committed; got != ts.UnixNano() {
		t.Errorf("frameFromWire: committed %d, want %d", got, ts.UnixNano())
	}
	if got := frameWithOffset(b.Event, b.Packet, b.Attachments, offset{ms: 1, seq: 2}).committed; got != ts.UnixNano() {
		t.Errorf("frameWithOffset: committed %d, want %d", got, ts.UnixNano())
	}
	for _, c := range []struct{ event, packet string }{
		{"note", `2["note",{"timestamp":1795642354927}]`},
		{EventReactive, `2["reactive",{"action":"create"}]`},
		{EventReactive, `2["reactive",{"timestamp":"soon"}]`},
		{EventReactive, `2["reactive",{"x":1,"timestamp":-5}]`},
		{EventReactive, `2["reactive"]`},
	} {
		if got := committedAt(c.event, []byte(c.packet)); got != 0 {
			t.Errorf("committedAt(%s, %s) = %d, want 0", c.event, c.packet, got)
		}
	}
}
