package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

func broadcast(rooms []string, event string, args ...any) wire.Message {
	return wire.Message{UID: "gotest0000000000", Nsp: "/", Data: &wire.Broadcast{
		Packet: wire.Packet{Type: wire.PacketTypeEvent, Data: append([]any{event}, args...)},
		Opts:   wire.Opts{Rooms: rooms},
	}}
}

// received collects what an entryHandler got.
type received struct {
	mu      sync.Mutex
	ids     []string
	entries []wire.Message
}

func (r *received) handle(id string, m wire.Message) {
	// The reader keeps a JSON broadcast's data as text; compare values.
	if b, ok := m.Data.(*wire.Broadcast); ok && b.Packet.RawData != nil {
		c := *b
		c.Packet.Data, _ = b.Packet.Args()
		c.Packet.RawData = nil
		m.Data = &c
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ids = append(r.ids, id)
	r.entries = append(r.entries, m)
}

func (r *received) snapshot() ([]string, []wire.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.ids...), append([]wire.Message(nil), r.entries...)
}

func TestPublishEntryLayout(t *testing.T) {
	cfg := testConfig(t)
	rdb := newRedis(t)
	ctx := context.Background()
	id, err := publisher{rdb, cfg}.publish(ctx, broadcast([]string{"r1"}, "ev", 1))
	if err != nil {
		t.Fatal(err)
	}
	// The raw reply keeps the field order, which XRANGE's map would lose.
	raw, err := rdb.Do(ctx, "XRANGE", cfg.StreamName, "-", "+").Slice()
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]any{[]any{id, []any{"uid", "gotest0000000000", "nsp", "/", "type", "3",
		"data", `{"packet":{"type":2,"data":["ev",1]},"opts":{"rooms":["r1"],"except":[],"flags":{}}}`}}})
	if got := fmt.Sprint(raw); got != want {
		t.Fatalf("stream holds\n%s\nwant\n%s", got, want)
	}
}

func TestPublishTrimsTheStream(t *testing.T) {
	cfg := testConfig(t)
	cfg.MaxLen = 100
	rdb := newRedis(t)
	ctx := context.Background()
	for i := range 1000 {
		if _, err := (publisher{rdb, cfg}).publish(ctx, broadcast(nil, "ev", i)); err != nil {
			t.Fatal(err)
		}
	}
	// MAXLEN ~ trims whole macro nodes (100 entries by default), so the
	// stream keeps between MaxLen and MaxLen + 100 entries.
	if n := rdb.XLen(ctx, cfg.StreamName).Val(); n < 100 || n > 200 {
		t.Fatalf("stream length after 1000 entries with MaxLen 100 = %d", n)
	}
}

func TestStreamReader(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testConfig(t)
	ctx := context.Background()
	pub := publisher{newRedis(t), cfg}
	before, err := pub.publish(ctx, broadcast(nil, "before"))
	if err != nil {
		t.Fatal(err)
	}
	var got received
	r, err := startStreamReader(ctx, redis.NewClient(&redis.Options{Addr: redisAddr}), cfg.StreamName, cfg, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close(ctx)
	var want []string
	for i := range 3 { // right after start: nothing is lost to a late "$"
		id, err := pub.publish(ctx, broadcast([]string{"r"}, "ev", i))
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, id)
	}
	testkit.Eventually(t, "three entries", func() bool { ids, _ := got.snapshot(); return len(ids) >= 3 })
	ids, msgs := got.snapshot()
	if !reflect.DeepEqual(ids, want) || slicesContain(ids, before) {
		t.Fatalf("reader got %v, want %v (not %s, added before start)", ids, want, before)
	}
	if b := msgs[2].Data.(*wire.Broadcast); !reflect.DeepEqual(b.Packet.Data, []any{"ev", 2.0}) {
		t.Fatalf("third entry = %#v", b.Packet.Data)
	}

	// close interrupts the blocked XREAD (BlockTime is 1 s) at once.
	start := time.Now()
	if err := r.close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := r.close(ctx); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("close took %v", d)
	}
}

// A killed connection is logged, retried, and the reader resumes after the
// last entry it read: entries added while it was down arrive, once.
func TestStreamReaderResumesAfterAnError(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testConfig(t)
	var logs testkit.Buffer
	cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	ctx := context.Background()
	admin := newRedis(t)
	pub := publisher{admin, cfg}
	name := cfg.StreamName + "-reader"

	var got received
	// No go-redis retries: the reader's own loop must see the error.
	rc := redis.NewClient(&redis.Options{Addr: redisAddr, ClientName: name, MaxRetries: -1})
	r, err := startStreamReader(ctx, rc, cfg.StreamName, cfg, got.handle)
	if err != nil {
		t.Fatal(err)
	}
	defer r.close(ctx)
	first, _ := pub.publish(ctx, broadcast(nil, "first"))
	testkit.Eventually(t, "first entry", func() bool { ids, _ := got.snapshot(); return len(ids) == 1 })

	killed := 0
	testkit.Eventually(t, "the reader's connection killed", func() bool {
		list, _ := admin.ClientList(ctx).Result()
		for line := range strings.SplitSeq(list, "\n") {
			if strings.Contains(line, " name="+name+" ") {
				id := strings.TrimPrefix(strings.Fields(line)[0], "id=")
				if admin.Do(ctx, "CLIENT", "KILL", "ID", id).Err() == nil {
					killed++
				}
			}
		}
		return killed > 0
	})
	second, _ := pub.publish(ctx, broadcast(nil, "second"))
	third, _ := pub.publish(ctx, broadcast(nil, "third"))
	testkit.Eventually(t, "entries after the error", func() bool { ids, _ := got.snapshot(); return len(ids) >= 3 })
	time.Sleep(100 * time.Millisecond) // room for a duplicate to show up
	if ids, _ := got.snapshot(); !reflect.DeepEqual(ids, []string{first, second, third}) {
		t.Fatalf("reader got %v, want %v", ids, []string{first, second, third})
	}
	if !strings.Contains(logs.String(), "reading the stream failed") {
		t.Fatalf("the error was not logged: %q", logs.String())
	}
}

func TestSubscriberAndResponses(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	cfg := testConfig(t)
	ctx := context.Background()
	rdb := newRedis(t)
	pub := publisher{rdb, cfg}
	uid := wire.NewID()
	channels := []string{wire.PublicChannel(cfg.ChannelPrefix, "/"), wire.PrivateChannel(cfg.ChannelPrefix, "/", uid)}

	if n, err := pub.serverCount(ctx, "/"); err != nil || n != 0 {
		t.Fatalf("serverCount before subscribing = %d, %v", n, err)
	}
	got := make(chan wire.Message, 10)
	sub, err := startSubscriber(ctx, rdb, channels, cfg, func(m wire.Message) { got <- m })
	if err != nil {
		t.Fatal(err)
	}
	defer sub.close(ctx)
	if n, err := pub.serverCount(ctx, "/"); err != nil || n != 1 {
		t.Fatalf("serverCount once subscribed = %d, %v", n, err)
	}

	req := wire.Message{UID: "other", Nsp: "/", Data: &wire.FetchSockets{Opts: wire.Opts{Rooms: []string{"r"}, Except: []string{}}, RequestID: "q1"}}
	if off, err := pub.publish(ctx, req); err != nil || off != "" {
		t.Fatalf("ephemeral publish = %q, %v", off, err)
	}
	if n := rdb.Exists(ctx, cfg.StreamName).Val(); n != 0 {
		t.Fatal("an ephemeral message went to the stream")
	}
	resp := wire.Message{UID: "other", Nsp: "/", Data: &wire.BroadcastClientCount{RequestID: "q2", ClientCount: 3}}
	if err := pub.publishResponse(ctx, uid, resp); err != nil {
		t.Fatal(err)
	}
	if err := pub.publishResponse(ctx, "someone-else", resp); err != nil {
		t.Fatal(err)
	}
	for _, want := range []wire.Message{req, resp} {
		select {
		case m := <-got:
			if !reflect.DeepEqual(m, want) {
				t.Fatalf("got %#v, want %#v", m.Data, want.Data)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no message of type %d", want.Type())
		}
	}
	if err := sub.close(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case m := <-got:
		t.Fatalf("got a response meant for another server: %#v", m.Data)
	default:
	}
	// Redis drops the subscription when it sees the connection closed,
	// which can come after Close returned.
	testkit.Eventually(t, "serverCount 0 after close", func() bool {
		n, _ := pub.serverCount(ctx, "/")
		return n == 0
	})
}

func TestSessionRestoreGo(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	rdb := newRedis(t)
	pub, ss := publisher{rdb, cfg}, sessions{rdb, cfg}
	s := wire.Session{SID: "sid1", PID: "pid1", Rooms: []string{"sid1", "r1"}, Data: map[string]any{"userId": int64(7)}}

	offset, _ := pub.publish(ctx, broadcast([]string{"r1"}, "seen"))
	if err := ss.persist(ctx, s); err != nil {
		t.Fatal(err)
	}
	if ttl := rdb.PTTL(ctx, wire.SessionKey(cfg.SessionKeyPrefix, "pid1")).Val(); ttl <= 0 || ttl > cfg.SessionTTL {
		t.Fatalf("session TTL = %v, want up to %v", ttl, cfg.SessionTTL)
	}
	m1, _ := pub.publish(ctx, broadcast([]string{"r1"}, "m1"))
	_, _ = pub.publish(ctx, broadcast([]string{"r2"}, "other room"))
	vol := broadcast([]string{"r1"}, "volatile")
	vol.Data.(*wire.Broadcast).Opts.Flags.Volatile = true
	_, _ = pub.publish(ctx, vol)
	_, _ = pub.publish(ctx, wire.Message{UID: "x", Nsp: "/", Data: &wire.SocketsJoin{Rooms: []string{"z"}}})
	m2, _ := pub.publish(ctx, broadcast(nil, "m2", []byte{1}))

	// A malformed offset is refused before the session is touched.
	if _, err := ss.restore(ctx, "/", "pid1", "1-x"); !errors.Is(err, ErrInvalidOffset) {
		t.Fatalf("restore with a bad offset: %v", err)
	}
	r, err := ss.restore(ctx, "/", "pid1", offset)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]any{{"m1", m1}, {"m2", []byte{1}, m2}}
	if !reflect.DeepEqual(r.Session, s) || !reflect.DeepEqual(r.args(), want) || r.LastID != m2 {
		t.Fatalf("restored %#v missed %#v last %s, want %#v", r.Session, r.args(), r.LastID, want)
	}
	if _, err := ss.restore(ctx, "/", "pid1", offset); !errors.Is(err, ErrSessionNotFound) {
		t.Fatalf("second restore: %v", err)
	}
}

func TestSessionRestoreFailsPastTheHistory(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	rdb := newRedis(t)
	pub, ss := publisher{rdb, cfg}, sessions{rdb, cfg}
	s := wire.Session{SID: "sid1", PID: "pid1", Rooms: []string{"sid1"}}

	offset, _ := pub.publish(ctx, broadcast(nil, "seen"))
	_ = ss.persist(ctx, s)
	_, _ = pub.publish(ctx, broadcast(nil, "missed"))
	rdb.XTrimMaxLen(ctx, cfg.StreamName, 1) // the client's offset is gone
	if _, err := ss.restore(ctx, "/", "pid1", offset); !errors.Is(err, ErrOffsetNotFound) {
		t.Fatalf("restore past the history: %v", err)
	}

	// A walk longer than the stream can be is refused, not cut short.
	cfg.MaxLen = 1
	pub.cfg, ss.cfg = cfg, cfg
	offset, _ = pub.publish(ctx, broadcast(nil, "seen"))
	_ = ss.persist(ctx, s)
	for range cfg.restoreLimit() + restoreBatch {
		rdb.XAdd(ctx, &redis.XAddArgs{Stream: cfg.StreamName, Values: []string{"uid", "x", "nsp", "/", "type", "4", "data", `{"opts":{"rooms":[],"except":[]},"rooms":["a"]}`}})
	}
	if _, err := ss.restore(ctx, "/", "pid1", offset); !errors.Is(err, ErrHistoryTooLong) {
		t.Fatalf("restore over a too long history: %v", err)
	}
}

func slicesContain(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// One XADD of a reactive-sized broadcast to the local Redis, encoding
// included.
func BenchmarkPublish(b *testing.B) {
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer rdb.Close()
	ctx := context.Background()
	stream := "i10bench-" + wire.NewID()
	defer rdb.Del(ctx, stream)
	cfg, _ := Config{StreamName: stream}.withDefaults()
	pub := publisher{rdb, cfg}
	m := broadcast([]string{"conversation_42"}, "reactive", map[string]any{"action": "update", "model": "Message", "id": 12345})
	b.ReportAllocs()
	for b.Loop() {
		if _, err := pub.publish(ctx, m); err != nil {
			b.Fatal(err)
		}
	}
}
