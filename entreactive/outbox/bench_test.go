package outbox_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/outbox"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker"
)

// BenchmarkRelay measures how fast relays empty an outbox: b.N events are
// stored while the publisher is down, then the time until they are all
// published is reported as events/s. "nop" publishes to nothing (the
// database's share); "server" through a server.Server, alone, and
// "captured" the same with the creates recorded by a trigger (the relay
// loads their rows to build the events, Outbox.Capture); the
// "redis" ones through a server that is a node of a cluster on the local
// Redis: "redis-each" one script call per event (Publish, in order),
// "redis" a script call per batch of events (PublishBatch), and
// "redis-3nodes" three processes' worth of relays and servers on one
// database and one stream, each relay publishing every event (the repeats
// dropped by Redis), timed until the stream holds them all.
func BenchmarkRelay(b *testing.B) {
	for _, name := range []string{"nop", "server", "captured", "redis-each", "redis", "redis-3nodes"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			nodes := 1
			if name == "redis-3nodes" {
				nodes = 3
			}
			drv := openFile(b)
			var gates []*gate
			var rdb *redis.Client
			var stream string
			for range nodes {
				g := &gate{}
				var pub entreactive.Publisher = g
				switch name {
				case "server", "captured":
					g.next = newServer(b, nil)
				case "redis-each", "redis", "redis-3nodes":
					if rdb == nil {
						rdb, stream = benchRedis(b)
					}
					broker, err := redisbroker.New(rdb, redisbroker.Config{StreamName: stream, ChannelPrefix: stream + "-chan", SessionKeyPrefix: stream + "-session:", MaxLen: int64(max(2*b.N, redisbroker.DefaultMaxLen))})
					if err != nil {
						b.Fatal(err)
					}
					g.next = newServer(b, broker)
					if name != "redis-each" {
						pub = batchGate{g}
					}
				}
				gates = append(gates, g)
				ob, err := outbox.New(ctx, drv, pub, outbox.Config{Poll: time.Hour, Batch: 500, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { ob.Close(context.Background()) })
				g.wake = ob
			}
			client := testent.NewClient(testent.Driver(drv), testent.Emitter(gates[0].wake))
			if err := client.Schema.Create(ctx); err != nil {
				b.Fatal(err)
			}
			if name == "captured" {
				if err := gates[0].wake.Capture(ctx, client.ReactiveCapture()); err != nil {
					b.Fatal(err)
				}
			}
			for _, g := range gates {
				g.down.Store(true)
			}
			const chunk = 500
			for left := b.N; left > 0; left -= chunk {
				builders := make([]*testent.ItemCreate, min(left, chunk))
				for i := range builders {
					builders[i] = client.Item.Create().SetLabel("benchmark").SetAudience("everyone")
				}
				client.Item.CreateBulk(builders...).ExecX(ctx)
			}
			b.ResetTimer()
			start := time.Now()
			for _, g := range gates {
				g.down.Store(false)
				g.wake.Committed(ctx) // wake the relay
			}
			for {
				if nodes == 1 && gates[0].published.Load() >= int64(b.N) ||
					nodes > 1 && rdb.XLen(ctx, stream).Val() >= int64(b.N) {
					break
				}
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// benchRedis returns a client of the local Redis and a stream name of the
// benchmark's own, whose keys are deleted when it ends. It skips the
// benchmark without Redis.
func benchRedis(b *testing.B) (*redis.Client, string) {
	b.Helper()
	ctx := context.Background()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
	b.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Skipf("no Redis: %v", err)
	}
	prefix := "bench-relay-" + rand.Text()[:8]
	b.Cleanup(func() {
		keys, _ := rdb.Keys(context.Background(), "*"+prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	return rdb, prefix + "-stream"
}

// openFile opens a SQLite database file in WAL mode, with go-sqlite3's
// statement cache (docs/durable.md recommends it with Capture).
func openFile(b *testing.B) *entsql.Driver {
	b.Helper()
	drv, err := entsql.Open(dialect.SQLite, "file:"+filepath.Join(b.TempDir(), "bench.db")+"?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_stmt_cache_size=64")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { drv.Close() })
	return drv
}

// newServer returns a server with broker (nil: none), closed when the
// benchmark ends.
func newServer(b *testing.B, broker server.Broker) *server.Server {
	b.Helper()
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: []byte(fmt.Sprint("bench-secret-", rand.Text()))}, Broker: broker})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { srv.Close(context.Background()) })
	return srv
}

// BenchmarkCreateToSocket measures, one create at a time, the time from
// the start of a create on a SQLite file to the arrival of its event at a
// websocket client of a server in the same process: "direct" with the
// server as the client's emitter, "durable" through an Outbox, "captured"
// through an Outbox whose creates a trigger records (Outbox.Capture). The
// difference is what the durable path adds between the commit and the
// socket (the relay's read, publish and delete).
func BenchmarkCreateToSocket(b *testing.B) {
	for _, name := range []string{"direct", "durable", "captured"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			s := testkit.Serve(b, server.Config{})
			got := make(chan struct{}, 1)
			c, err := sio.Dial(ctx, sio.Config{URL: s.URL, Auth: map[string]any{"token": testkit.Token(b, 1)},
				OnEvent: func(event string, _ []byte) {
					if event == "reactive" {
						got <- struct{}{}
					}
				}})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			testkit.Eventually(b, "user 1 online", func() bool { return testkit.Online(b, s.Server, 1) })
			drv := openFile(b)
			var em entreactive.Emitter = s.Server
			var ob *outbox.Outbox
			if name != "direct" {
				ob, err = outbox.New(ctx, drv, s.Server, outbox.Config{Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() { ob.Close(context.Background()) })
				em = ob
			}
			client := testent.NewClient(testent.Driver(drv), testent.Emitter(em))
			if err := client.Schema.Create(ctx); err != nil {
				b.Fatal(err)
			}
			if name == "captured" {
				if err := ob.Capture(ctx, client.ReactiveCapture()); err != nil {
					b.Fatal(err)
				}
			}
			lat := make([]time.Duration, 0, b.N)
			for b.Loop() {
				start := time.Now()
				client.Item.Create().SetLabel("benchmark").SetAudience("users").ExecX(ctx)
				select {
				case <-got:
				case <-time.After(10 * time.Second):
					b.Fatal("no event in 10 s")
				}
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
		})
	}
}
