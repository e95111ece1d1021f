package server_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// BenchmarkNamespaceEmit is one Namespace.Emit to every socket of a
// namespace, with 1 and 100 websocket clients connected (internal/sio,
// which only count what they read). The clients read every event before
// the benchmark ends, so the writes count too; ns/op is the time per emit
// on the box, allocs/op what the server allocates per emit (the clients
// allocate too, a few per event read).
func BenchmarkNamespaceEmit(b *testing.B) {
	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			srv := testkit.Serve(b, server.Config{})
			ns, err := srv.Server.Namespace("/bench")
			if err != nil {
				b.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			var read atomic.Int64
			for range n {
				c, err := sio.Dial(ctx, sio.Config{URL: srv.URL, Namespace: "/bench", OnEvent: func(string, []byte) { read.Add(1) }})
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
			}
			waitFor(b, ctx, func() bool { return len(ns.Sockets()) == n })
			payload := map[string]any{"id": 1, "message": "hello", "read": false}
			sent := int64(0)
			b.ReportAllocs()
			for b.Loop() {
				if err := ns.Emit("tick", payload); err != nil {
					b.Fatal(err)
				}
				sent += int64(n)
			}
			waitFor(b, ctx, func() bool { return read.Load() >= sent })
		})
	}
}

// waitFor polls cond until it holds, failing b when ctx ends first.
func waitFor(b *testing.B, ctx context.Context, cond func() bool) {
	b.Helper()
	for !cond() {
		select {
		case <-ctx.Done():
			b.Fatal("timed out")
		case <-time.After(time.Millisecond):
		}
	}
}
