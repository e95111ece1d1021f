package redisbroker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// redisAddr is the Redis the tests use: $ENTREACTIVE_REDIS_ADDR, or the
// local default.
var redisAddr = cmp.Or(os.Getenv("ENTREACTIVE_REDIS_ADDR"), "127.0.0.1:6379")

// testConfig returns a Config whose stream, channels and session keys are
// this test's own, and removes them when the test ends.
func testConfig(t *testing.T) Config {
	t.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "i10test-" + hex.EncodeToString(b[:])
	cfg, err := Config{
		StreamName:       prefix + "-stream",
		ChannelPrefix:    prefix + "-chan",
		SessionKeyPrefix: prefix + "-session:",
		BlockTime:        time.Second,
		Logger:           slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	rdb := newRedis(t)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, prefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return cfg
}

// newRedis returns a client of the test Redis, closed when the test ends.
// When Redis does not answer, the test is skipped, as the suites on
// PostgreSQL and MariaDB are without their DSN; in CI it fails.
func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis at %s: %v (.ci/run starts it)", redisAddr, err)
		}
		t.Skipf("no Redis at %s (%v): not running the Redis tests; set ENTREACTIVE_REDIS_ADDR or start redis-server", redisAddr, err)
	}
	return rdb
}

// testWriter sends log lines to t.Log and keeps them for assertions.
type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// args returns the event arguments r replays, each ending with its offset,
// as a client receives them.
func (r restored) args() [][]any {
	out := [][]any{}
	for _, m := range r.Missed {
		out = append(out, wire.WithOffset(m.Broadcast, m.ID))
	}
	return out
}
