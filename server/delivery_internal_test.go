package server

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestQueueFullDropsLogsAndCounts(t *testing.T) {
	var logs bytes.Buffer
	s := &Server{log: slog.New(slog.NewTextHandler(&logs, nil)), ctx: context.Background()}
	d := newDelivery(s, 2) // not running: nothing drains it
	f, err := encodeFrame("x", 1)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := d.enqueue(job{rooms: []string{"all"}, frame: f}); err != nil {
			t.Fatalf("enqueue %d: %v", i, err)
		}
	}
	err = d.enqueue(job{rooms: []string{"all"}, frame: f, attrs: []slog.Attr{slog.String("model", "Message")}})
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("third enqueue = %v", err)
	}
	if s.stats.dropped.Load() != 1 || s.stats.queued.Load() != 2 || d.depth() != 2 {
		t.Fatalf("dropped %d queued %d depth %d", s.stats.dropped.Load(), s.stats.queued.Load(), d.depth())
	}
	if !strings.Contains(logs.String(), "queue full") || !strings.Contains(logs.String(), "model=Message") {
		t.Fatalf("log: %s", logs.String())
	}
}

func TestFrameIsEncodedOnce(t *testing.T) {
	f, err := encodeFrame("ev", map[string]any{"a": 1}, "b")
	if err != nil {
		t.Fatal(err)
	}
	if got := f.packet[0].String(); got != `2["ev",{"a":1},"b"]` {
		t.Fatalf("packet %q", got)
	}
	if got := f.opts.WsPreEncodedFrame.String(); got != `42["ev",{"a":1},"b"]` {
		t.Fatalf("ws frame %q", got)
	}
}
