package redisbroker

import (
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// A live socket's session is refreshed in Redis within every recovery
// window, not only when it connects or changes: a node that dies long
// after its client connected still leaves the client recoverable.
func TestSessionOutlivesTheWindowWhileLive(t *testing.T) {
	const window = time.Second
	cfg := testConfig(t)
	cfg.SessionTTL = window * 3 / 2 // about the server's recovery window, with room for a late refresh
	rdbB := redis.NewClient(&redis.Options{Addr: redisAddr})
	bb, err := New(rdbB, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := testkit.Serve(t, server.Config{Broker: bb, Recovery: &server.Recovery{MaxDisconnection: window}})
	ab, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := testkit.Serve(t, server.Config{Broker: ab, Recovery: &server.Recovery{MaxDisconnection: window}})
	ctx := testkit.Context(t)

	got := &noteLog{}
	c1 := dialRaw(t, b.URL, map[string]any{"token": testkit.Token(t, 8)}, got)
	testkit.Eventually(t, "user 8 online", func() bool { return testkit.Online(t, a.Server, 8) })
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(8), "note", 1); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1)
	// Three windows pass with nothing changing for the socket: its session
	// is in Redis all along, looked at every 50 ms.
	key := wire.SessionKey(cfg.SessionKeyPrefix, c1.PID)
	rdb := newRedis(t)
	for start := time.Now(); time.Since(start) < 3*window; time.Sleep(50 * time.Millisecond) {
		if n := rdb.Exists(ctx, key).Val(); n != 1 {
			t.Fatalf("the live socket's session is gone from Redis %v after it connected (window %v)", time.Since(start).Round(time.Millisecond), window)
		}
	}

	// B dies: nothing reaches Redis from it any more; its client drops and
	// comes back on A.
	_ = rdbB.Close()
	c1.Drop()
	_, last := got.snapshot()
	c2 := dialRaw(t, a.URL, map[string]any{"pid": c1.PID, "offset": last}, got)
	if c2.SID != c1.SID {
		t.Fatalf("not recovered after its node died: %s, was %s", c2.SID, c1.SID)
	}
}

// After Redis comes back, a node's own broadcasts go through the cluster's
// history again: they carry offsets, so a client of the node that drops
// gets them back. While publishing failed, the node delivered its
// broadcasts to its sockets without offsets.
func TestPublishingHealsWhenRedisReturns(t *testing.T) {
	cfg := testConfig(t)
	cfg.RequestTimeout = 500 * time.Millisecond
	p := startProxy(t)
	flaky := redis.NewClient(&redis.Options{Addr: p.addr})
	defer flaky.Close()
	b, err := New(flaky, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := testkit.Serve(t, server.Config{Broker: b, Recovery: &server.Recovery{}})
	ctx := testkit.Context(t)
	var mu sync.Mutex
	var offsets []bool // per note: whether it carried an offset
	c := dialRawEvents(t, s.URL, map[string]any{"token": testkit.Token(t, 3)}, func(args []any) {
		mu.Lock()
		defer mu.Unlock()
		off, _ := args[len(args)-1].(string)
		offsets = append(offsets, len(args) == 3 && strings.Contains(off, "-"))
	})
	defer c.Close()
	testkit.Eventually(t, "user 3 online", func() bool { return testkit.Online(t, s.Server, 3) })
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(offsets) }

	p.stop()
	for i := range 3 {
		if err := s.Server.EmitTo(ctx, entreactive.ToUserIDs(3), "note", i); err != nil {
			t.Fatal(err)
		}
	}
	testkit.Eventually(t, "notes delivered while Redis is down", func() bool { return count() == 3 })
	p.start()
	testkit.Eventually(t, "Redis back", func() bool { return b.Ping(ctx) == nil })
	// The first publish after the outage tells the node Redis is back;
	// from then on its broadcasts carry offsets again.
	next := 3
	testkit.Eventually(t, "a note with an offset", func() bool {
		if err := s.Server.EmitTo(ctx, entreactive.ToUserIDs(3), "note", next); err != nil {
			t.Fatal(err)
		}
		next++
		testkit.Eventually(t, "the note", func() bool { return count() == next })
		mu.Lock()
		defer mu.Unlock()
		return offsets[len(offsets)-1]
	})
	for range 5 {
		if err := s.Server.EmitTo(ctx, entreactive.ToUserIDs(3), "note", next); err != nil {
			t.Fatal(err)
		}
		next++
	}
	testkit.Eventually(t, "the last notes", func() bool { return count() == next })
	mu.Lock()
	defer mu.Unlock()
	if last := offsets[len(offsets)-5:]; slices.Contains(last, false) {
		t.Fatalf("notes after Redis came back without offsets: %v", offsets)
	}
}

// dialRawEvents dials with a raw client and calls note with the arguments
// of each "note" event.
func dialRawEvents(t *testing.T, url string, auth map[string]any, note func(args []any)) *sio.Conn {
	t.Helper()
	c, err := sio.Dial(testkit.Context(t), sio.Config{URL: url, Auth: auth, OnEvent: func(name string, data []byte) {
		if name != "note" {
			return
		}
		var args []any
		if json.Unmarshal(data, &args) == nil {
			note(args)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// EmitToSockets with the id of a socket on another node reaches it, once.
func TestEmitToSocketsReachesAnotherNode(t *testing.T) {
	_, nodes := startGoCluster(t, 2)
	a, b := nodes[0], nodes[1]
	ctx := testkit.Context(t)
	onB := dial(t, b, 4, "")
	other := dial(t, b, 5, "")
	testkit.Eventually(t, "both online on A", func() bool {
		return testkit.Online(t, a.Server, 4) && testkit.Online(t, a.Server, 5)
	})
	if err := a.Server.Operator().EmitToSockets(ctx, server.RootNamespace, onB.ID(), "direct", "hi"); err != nil {
		t.Fatal(err)
	}
	if err := onB.WaitCount(ctx, "direct", 1); err != nil {
		t.Fatal(err)
	}
	fence(t, a, 1, onB, other)
	if n := onB.Count("direct"); n != 1 {
		t.Errorf("the socket got %d copies", n)
	}
	if n := other.Count("direct"); n != 0 {
		t.Errorf("another socket got it %d times", n)
	}
}

// A Node peer's socketsJoin reaches Go sockets, but never into the rooms
// the server reserves: membership of "users", "user_*", "device_*", "all"
// and "guests" follows authentication alone.
func TestRemoteJoinNeverEntersReservedRooms(t *testing.T) {
	g, peer, _ := startMixedCluster(t)
	guest := dial(t, g, nil, "")
	testkit.Eventually(t, "the guest online", func() bool { return testkit.RoomSize(t, g.Server, "guests") == 1 })
	// (The mixed cluster's Node client is user 7: user 42 is nobody's.)
	reserved := []string{"users", "user_42", "user_42_device_x", "device_x", "guests"}
	peer.do("join", map[string]any{"rooms": []string{"guests"}, "join": append(slices.Clone(reserved), "team")})
	testkit.Eventually(t, "the guest in team", func() bool { return testkit.RoomSize(t, g.Server, "team") == 1 })
	for _, r := range reserved[:4] {
		if n := testkit.RoomSize(t, g.Server, r); n != 0 {
			t.Errorf("a remote join put %d sockets in the reserved room %q", n, r)
		}
	}
	if testkit.Online(t, g.Server, 42) {
		t.Error("a remote join made the guest user 42")
	}
	_ = guest

	// Nor does a remote socketsLeave take a user out of the rooms their
	// authentication put them in: they would stop hearing their events.
	user := dial(t, g, 43, "")
	testkit.Eventually(t, "user 43 online", func() bool { return testkit.Online(t, g.Server, 43) })
	peer.do("leave", map[string]any{"rooms": []string{"user_43"}, "leave": []string{"users", "user_43", "all", "team"}})
	peer.do("join", map[string]any{"rooms": []string{"user_43"}, "join": []string{"after"}}) // ordered after the leave
	testkit.Eventually(t, "the join after the leave applied", func() bool { return testkit.RoomSize(t, g.Server, "after") == 1 })
	for _, r := range []string{"users", "user_43", "all"} {
		if rooms := user.ID(); testkit.RoomSize(t, g.Server, r) < 1 {
			t.Errorf("a remote leave took socket %s out of the reserved room %q", rooms, r)
		}
	}
}

// A slow consumer closed on one node keeps its session, as
// docs/recovery.md promises: its client recovers what it missed, on any node.
func TestSlowConsumerRecovers(t *testing.T) {
	cfg := testConfig(t)
	ab, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := testkit.Serve(t, server.Config{Broker: ab, Recovery: &server.Recovery{}, MaxPendingBytes: 64 << 10})
	bb, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// What the client missed is replayed at once on B: megabytes (what
	// the kernel buffered on A before the limit was reached).
	b := testkit.Serve(t, server.Config{Broker: bb, Recovery: &server.Recovery{}, MaxPendingBytes: 64 << 20})
	ctx := testkit.Context(t)
	reasons := make(chan string, 4)
	a.Server.OnDisconnect(func(_ context.Context, _ *server.Conn, reason string) { reasons <- reason })

	release := make(chan struct{})
	var once sync.Once
	unstall := func() { once.Do(func() { close(release) }) }
	defer unstall()
	var stalled atomic.Bool
	stalling := &websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if err != nil {
			return nil, err
		}
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		return &stallingConn{Conn: c, stalled: &stalled, release: release}, nil
	}}
	// Each note carries its number, maybe a large text, and its offset.
	var mu sync.Mutex
	var nums []int
	var last string
	record := func(name string, data []byte) {
		var args []any
		if name != "note" || json.Unmarshal(data, &args) != nil || len(args) < 3 {
			return
		}
		n, _ := args[1].(float64)
		off, _ := args[len(args)-1].(string)
		mu.Lock()
		defer mu.Unlock()
		nums = append(nums, int(n))
		last = off
	}
	c1, err := sio.Dial(ctx, sio.Config{URL: a.URL, Auth: map[string]any{"token": testkit.Token(t, 6)}, OnEvent: record, Dialer: stalling})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	testkit.Eventually(t, "user 6 online", func() bool { return testkit.Online(t, a.Server, 6) })
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(6), "note", 0); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "note 0", func() bool { mu.Lock(); defer mu.Unlock(); return len(nums) == 1 })
	mu.Lock()
	from := last
	mu.Unlock()
	stalled.Store(true)

	big := strings.Repeat("x", 16<<10)
	sent := 0
	for closed := false; !closed; {
		sent++
		if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(6), "note", sent, big); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-reasons:
			if r != server.ReasonSlowConsumer {
				t.Fatalf("disconnected as %q, want %q", r, server.ReasonSlowConsumer)
			}
			closed = true
		case <-time.After(5 * time.Millisecond):
		}
		if sent > 2000 {
			t.Fatal("the stalled client was never closed as a slow consumer")
		}
	}
	unstall()
	c1.Drop()
	var got []int
	restore := func(name string, data []byte) {
		var args []any
		if name != "note" || json.Unmarshal(data, &args) != nil || len(args) < 3 {
			return
		}
		n, _ := args[1].(float64)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, int(n))
	}
	c2, err := sio.Dial(ctx, sio.Config{URL: b.URL, Auth: map[string]any{"pid": c1.PID, "offset": from}, OnEvent: restore})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.SID != c1.SID {
		t.Fatalf("the slow consumer's session was not restored: %s, was %s", c2.SID, c1.SID)
	}
	testkit.Eventually(t, "every note it missed", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= sent })
	mu.Lock()
	defer mu.Unlock()
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("after the restore, note %d is %d", i+1, n)
		}
	}
}

// stallingConn stops reading (as a client that no longer keeps up) while
// stalled is set, until release is closed.
type stallingConn struct {
	net.Conn
	stalled *atomic.Bool
	release <-chan struct{}
}

func (c *stallingConn) Read(b []byte) (int, error) {
	if c.stalled.Load() {
		<-c.release
	}
	return c.Conn.Read(b)
}

// The stream reader's backoff starts again from its first step after a
// successful read: a node that lived through one outage does not wait up
// to 5 s to resume after the next, short one. Told by the retry_in of the
// reader's log line, not by a clock.
func TestReadBackoffStartsOverAfterARead(t *testing.T) {
	n := startFlakyPair(t)
	p, b, retries, notes := n.proxy, n.b, n.retries, &n.notes
	ctx := testkit.Context(t)

	// A first outage, long enough for the backoff to grow past 400 ms.
	p.stop()
	testkit.Eventually(t, "three failed reads", func() bool { return len(retries.all()) >= 3 })
	if err := b.Server.EmitTo(ctx, entreactive.ToUserIDs(3), "note", 1); err != nil {
		t.Fatal(err)
	}
	p.start()
	testkit.Eventually(t, "the note read once Redis is back", func() bool { return notes.Load() == 1 })
	// At once, before a read can time out empty: a second outage.
	before := len(retries.all())
	p.stop()
	testkit.Eventually(t, "a failed read in the second outage", func() bool { return len(retries.all()) > before })
	if got := retries.all()[before]; got != readRetryFirst {
		t.Fatalf("the first retry of the second outage waits %v, want %v (the retries so far: %v)", got, readRetryFirst, retries.all())
	}
}

// flakyPair is two nodes of a cluster, A reaching Redis through a proxy
// that the test cuts, B directly, with a client of user 3 on A counting
// the events it gets, and A's read retries.
type flakyPair struct {
	proxy   *proxy
	brokerA *Broker
	a, b    *testkit.Served
	retries *retryLog
	notes   atomic.Int32
}

// startFlakyPair starts a flakyPair once user 3 is online on B.
func startFlakyPair(t *testing.T) *flakyPair {
	t.Helper()
	cfg := testConfig(t)
	n := &flakyPair{retries: &retryLog{}}
	cfgA := cfg
	cfgA.Logger = slog.New(n.retries)
	n.proxy = startProxy(t)
	flaky := redis.NewClient(&redis.Options{Addr: n.proxy.addr})
	t.Cleanup(func() { flaky.Close() })
	var err error
	if n.brokerA, err = New(flaky, cfgA); err != nil {
		t.Fatal(err)
	}
	brokerB, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	n.a = testkit.Serve(t, server.Config{Broker: n.brokerA})
	n.b = testkit.Serve(t, server.Config{Broker: brokerB})
	c := dialRawEvents(t, n.a.URL, map[string]any{"token": testkit.Token(t, 3)}, func([]any) { n.notes.Add(1) })
	t.Cleanup(func() { c.Close() })
	testkit.Eventually(t, "user 3 online on B", func() bool { return testkit.Online(t, n.b.Server, 3) })
	return n
}

// retryLog is a slog.Handler that keeps the retry_in of each failed read
// the stream reader logs.
type retryLog struct {
	mu    sync.Mutex
	waits []time.Duration
	at    []time.Time // when each was logged
}

func (*retryLog) Enabled(context.Context, slog.Level) bool { return true }
func (h *retryLog) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *retryLog) WithGroup(string) slog.Handler          { return h }

func (h *retryLog) Handle(_ context.Context, r slog.Record) error {
	if !strings.Contains(r.Message, "reading the stream failed") {
		return nil
	}
	r.Attrs(func(a slog.Attr) bool {
		if a.Key == "retry_in" {
			h.mu.Lock()
			h.waits = append(h.waits, a.Value.Duration())
			h.at = append(h.at, r.Time)
			h.mu.Unlock()
		}
		return true
	})
	return nil
}

func (h *retryLog) all() []time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.waits)
}

// next returns when the reader retries after its last failed read, as it
// logged it.
func (h *retryLog) next() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.at[len(h.at)-1].Add(h.waits[len(h.waits)-1])
}

// When Redis comes back after an outage, what the other nodes published
// meanwhile reaches a node's sockets as soon as the node publishes again,
// not when its reader's backoff (by then seconds) runs out: a node whose
// own sockets get its events through the stream (Publish, the durable
// path) would otherwise hold them all back that long.
func TestReaderReadsAtOnceWhenPublishingWorksAgain(t *testing.T) {
	n := startFlakyPair(t)
	p, brokerA, a, b, retries, notes := n.proxy, n.brokerA, n.a, n.b, n.retries, &n.notes
	ctx := testkit.Context(t)

	p.stop()
	// Node A fails to publish, and its reader's backoff grows to its
	// longest: Redis comes back right after the reader failed and went to
	// sleep for readRetryLast.
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(4), "lost", 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "a failed publish on A", func() bool { return brokerA.publishErrors.Load() > 0 })
	testkit.Eventually(t, "a read failed with the longest backoff", func() bool {
		w := retries.all()
		return len(w) > 0 && w[len(w)-1] == readRetryLast
	})
	retryAt := retries.next()
	if err := b.Server.EmitTo(ctx, entreactive.ToUserIDs(3), "note", 1); err != nil {
		t.Fatal(err)
	}
	p.start()
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(4), "again", 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the note", func() bool { return notes.Load() == 1 })
	if got := time.Now(); !got.Before(retryAt) {
		t.Fatalf("the note arrived %v after the reader's own retry was due: it waited for its backoff (%v) although A published", got.Sub(retryAt), retries.all())
	}
}

// A socket's session is in Redis as soon as the socket is connected, with
// no change of its rooms to prompt it, and so is a restored socket's, whose
// restore took it out: a client that drops again right after it (re)connects
// can still be restored.
func TestSessionIsKeptFromTheConnect(t *testing.T) {
	cfg := testConfig(t)
	ab, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := testkit.Serve(t, server.Config{Broker: ab, Recovery: &server.Recovery{}})
	bb, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := testkit.Serve(t, server.Config{Broker: bb, Recovery: &server.Recovery{}})
	ctx := testkit.Context(t)
	rdb := newRedis(t)
	got := &noteLog{}
	c1 := dialRaw(t, a.URL, map[string]any{"token": testkit.Token(t, 8)}, got)
	key := wire.SessionKey(cfg.SessionKeyPrefix, c1.PID)
	testkit.Eventually(t, "the session in Redis after the connect", func() bool { return rdb.Exists(ctx, key).Val() == 1 })
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(8), "note", 1); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1)
	_, last := got.snapshot()

	c1.Drop()
	c2 := dialRaw(t, b.URL, map[string]any{"pid": c1.PID, "offset": last}, got)
	if c2.SID != c1.SID {
		t.Fatalf("not restored: sid %s, was %s", c2.SID, c1.SID)
	}
	testkit.Eventually(t, "the session in Redis again after the restore", func() bool { return rdb.Exists(ctx, key).Val() == 1 })
	c2.Drop()
	c3 := dialRaw(t, a.URL, map[string]any{"pid": c1.PID, "offset": last}, got)
	if c3.SID != c1.SID {
		t.Fatalf("a drop right after the restore: a fresh socket (sid %s, was %s)", c3.SID, c1.SID)
	}
}
