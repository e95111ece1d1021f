package outbox_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"path/filepath"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/outbox"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker"
)

// BenchmarkRelay measures how fast a relay empties an outbox: b.N events
// are stored while the publisher is down, then the time to publish and
// delete them all is reported as events/s. "nop" publishes to nothing
// (the database's share); "server" and "server+redis" publish through a
// server.Server's Publish, alone and as a node of a cluster on the local
// Redis (one script call per event, in order).
func BenchmarkRelay(b *testing.B) {
	for _, name := range []string{"nop", "server", "server+redis"} {
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			var pub entreactive.Publisher = &gate{}
			switch name {
			case "server":
				srv := newServer(b, nil)
				pub = &gate{next: srv}
			case "server+redis":
				rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
				b.Cleanup(func() { rdb.Close() })
				if err := rdb.Ping(ctx).Err(); err != nil {
					b.Skipf("no Redis: %v", err)
				}
				prefix := "bench-relay-" + rand.Text()[:8]
				broker, err := redisbroker.New(rdb, redisbroker.Config{StreamName: prefix + "-stream", ChannelPrefix: prefix + "-chan", SessionKeyPrefix: prefix + "-session:"})
				if err != nil {
					b.Fatal(err)
				}
				b.Cleanup(func() {
					keys, _ := rdb.Keys(context.Background(), "*"+prefix+"*").Result()
					if len(keys) > 0 {
						rdb.Del(context.Background(), keys...)
					}
				})
				pub = &gate{next: newServer(b, broker)}
			}
			g := pub.(*gate)
			drv := openFile(b)
			ob, err := outbox.New(ctx, drv, g, outbox.Config{Poll: time.Hour, Batch: 500, Logger: slog.New(slog.DiscardHandler)})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { ob.Close(context.Background()) })
			client := testent.NewClient(testent.Driver(drv), testent.Emitter(ob))
			if err := client.Schema.Create(ctx); err != nil {
				b.Fatal(err)
			}
			g.down.Store(true)
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
			g.down.Store(false)
			ob.Committed(ctx) // wake the relay
			for g.published.Load() < int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
}

// openFile opens a SQLite database file in WAL mode.
func openFile(b *testing.B) *entsql.Driver {
	b.Helper()
	drv, err := entsql.Open(dialect.SQLite, "file:"+filepath.Join(b.TempDir(), "bench.db")+"?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate")
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
