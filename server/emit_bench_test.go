package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// BenchmarkEmit is the cost of Emit on the commit path: encode the event
// once and queue it (no socket listens, so the shards do nothing).
func BenchmarkEmit(b *testing.B) {
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: []byte(testkit.Secret)}, QueueSize: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close(context.Background())
	ctx := context.Background()
	ev := entreactive.Event{
		Action: entreactive.ActionCreate, Model: "Notification", ID: 1, Timestamp: time.Now(),
		Data: map[string]any{"id": 1, "message": "hello"},
	}
	to := entreactive.ToUserIDs(7)
	b.ReportAllocs()
	for b.Loop() {
		if err := srv.Emit(ctx, to, ev); err != nil {
			b.Fatal(err)
		}
	}
}
