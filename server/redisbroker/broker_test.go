package redisbroker

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/goleak"

	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// fakeNode is a server.Node that records what it is handed.
type fakeNode struct {
	mu        sync.Mutex
	delivered []server.ClusterMessage
	offsets   []string
}

func (n *fakeNode) Deliver(m server.ClusterMessage, offset string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.delivered = append(n.delivered, m)
	n.offsets = append(n.offsets, offset)
}

func (n *fakeNode) ServerEvent(string, []any) (any, bool) { return nil, false }

func (n *fakeNode) Sockets(server.Selector) []server.RemoteSocket { return nil }

func (n *fakeNode) events() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, m := range n.delivered {
		if m.Broadcast != nil {
			out = append(out, m.Broadcast.Event)
		}
	}
	return out
}

func startBroker(t *testing.T, rdb redis.UniversalClient, cfg Config, node server.Node) *Broker {
	t.Helper()
	b, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Start(testkit.Context(t), node); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close(context.Background()) })
	return b
}

func textBroadcast(rooms []string, event, packet string) server.ClusterMessage {
	return server.ClusterMessage{Broadcast: &server.Broadcast{Selector: server.Selector{Rooms: rooms}, Event: event, Packet: []byte(packet)}}
}

// Sessions persist and restore through the Broker: the missed broadcasts
// come back as published, without their offset, each with its own; every
// way of failing matches server.ErrNotRecoverable.
func TestBrokerSessions(t *testing.T) {
	cfg := testConfig(t)
	ctx := testkit.Context(t)
	b, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	publish := func(m server.ClusterMessage) string {
		t.Helper()
		id, err := b.Publish(ctx, m)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	offset := publish(textBroadcast([]string{"r1"}, "seen", `2["seen"]`))
	s := server.Session{SID: "s1", PID: "p1", Rooms: []string{"s1", "r1"}, Data: map[string]any{"user_id": "1"}}
	if err := b.PersistSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	m1 := textBroadcast([]string{"r1"}, "m1", `2["m1",{"n":1.50}]`)
	id1 := publish(m1)
	publish(textBroadcast([]string{"r2"}, "other", `2["other"]`))
	vol := textBroadcast([]string{"r1"}, "volatile", `2["volatile"]`)
	vol.Broadcast.Volatile = true
	if id := publish(vol); id != "" {
		t.Fatalf("a volatile broadcast got offset %q", id)
	}
	publish(server.ClusterMessage{Operation: &server.Operation{Kind: server.OperationJoin, Rooms: []string{"x"}}})
	excluded := textBroadcast([]string{"r1"}, "excluded", `2["excluded"]`)
	excluded.Broadcast.Selector.Except = []string{"s1"}
	publish(excluded)
	m2 := server.ClusterMessage{Broadcast: &server.Broadcast{Selector: server.Selector{Rooms: []string{"s1"}}, Event: "m2",
		Packet: []byte(`51-["m2",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{9}}}}
	id2 := publish(m2)
	last := publish(textBroadcast([]string{"r9"}, "last", `2["last"]`))

	r, err := b.RestoreSession(ctx, "p1", offset)
	if err != nil {
		t.Fatal(err)
	}
	want := []server.Missed{{Offset: id1, Broadcast: *m1.Broadcast}, {Offset: id2, Broadcast: *m2.Broadcast}}
	if !reflect.DeepEqual(r.Session, s) || !reflect.DeepEqual(r.Missed, want) || r.LastOffset != last {
		t.Fatalf("restored %+v missed %+v last %s", r.Session, r.Missed, r.LastOffset)
	}

	for name, tc := range map[string]struct {
		pid, offset string
		err         error
	}{
		"restored already": {"p1", offset, ErrSessionNotFound},
		"unknown session":  {"nope", offset, ErrSessionNotFound},
		"invalid offset":   {"p1", "12-x", ErrInvalidOffset},
	} {
		if _, err := b.RestoreSession(ctx, tc.pid, tc.offset); !errors.Is(err, tc.err) || !errors.Is(err, server.ErrNotRecoverable) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if err := b.PersistSession(ctx, s); err != nil {
		t.Fatal(err)
	}
	newRedis(t).XTrimMaxLen(ctx, cfg.StreamName, 1)
	if _, err := b.RestoreSession(ctx, "p1", offset); !errors.Is(err, ErrOffsetNotFound) || !errors.Is(err, server.ErrNotRecoverable) {
		t.Errorf("trimmed offset: %v", err)
	}
}

// A broker started and closed leaves no goroutine behind; Start twice and
// requests after Close fail.
func TestBrokerLifecycle(t *testing.T) {
	cfg := testConfig(t)
	rdb := newRedis(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := testkit.Context(t)
	b, err := New(rdb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.FetchSockets(ctx, server.Selector{}); !errors.Is(err, ErrNotStarted) {
		t.Fatalf("FetchSockets before Start: %v", err)
	}
	if err := b.Start(ctx, &fakeNode{}); err != nil {
		t.Fatal(err)
	}
	if err := b.Start(ctx, &fakeNode{}); err == nil {
		t.Fatal("second Start succeeded")
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.FetchSockets(ctx, server.Selector{}); !errors.Is(err, ErrClosed) {
		t.Fatalf("FetchSockets after Close: %v", err)
	}
}

// proxy is a testkit.Proxy to the tests' Redis: stop cuts it, start
// restores it on the same address.
type proxy struct {
	*testkit.Proxy
	addr string
}

func startProxy(t *testing.T) *proxy {
	p := testkit.StartProxy(t, redisAddr)
	return &proxy{Proxy: p, addr: p.Addr()}
}

func (p *proxy) start() { p.Restore() }

func (p *proxy) stop() { p.Cut() }

// While Redis is unreachable, Publish and FetchSockets fail promptly and
// nothing hangs; when it is back, the subscription and the stream reader
// are re-established on their own; Close returns either way.
func TestBrokerRedisDown(t *testing.T) {
	cfg := testConfig(t)
	cfg.RequestTimeout = 500 * time.Millisecond
	cfg.BlockTime = 200 * time.Millisecond
	ctx := testkit.Context(t)
	p := startProxy(t)
	flaky := redis.NewClient(&redis.Options{Addr: p.addr})
	defer flaky.Close()
	var onFlaky, onSteady fakeNode
	b := startBroker(t, flaky, cfg, &onFlaky)
	steady := startBroker(t, newRedis(t), cfg, &onSteady)
	admin := publisher{newRedis(t), cfg}
	numsub := func() int64 { n, _ := admin.serverCount(ctx, "/"); return n }
	if n := numsub(); n != 2 {
		t.Fatalf("NUMSUB = %d", n)
	}

	p.stop()
	prompt := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); err == nil {
			t.Fatalf("%s succeeded without Redis", what)
		}
		if d := time.Since(start); d > cfg.RequestTimeout+500*time.Millisecond {
			t.Fatalf("%s took %v to fail without Redis", what, d)
		}
	}
	for _, c := range []context.Context{ctx, context.Background()} {
		prompt("Publish", func() error {
			_, err := b.Publish(c, textBroadcast([]string{"r"}, "lost", `2["lost"]`))
			return err
		})
		prompt("FetchSockets", func() error { _, err := b.FetchSockets(c, server.Selector{}); return err })
		prompt("ServerSideEmit", func() error { _, err := b.ServerSideEmit(c, "e", nil, false); return err })
		prompt("PersistSession", func() error { return b.PersistSession(c, server.Session{SID: "s", PID: "p"}) })
	}
	testkit.Eventually(t, "the flaky node's subscription gone", func() bool { return numsub() == 1 })
	if _, err := steady.Publish(ctx, textBroadcast([]string{"r"}, "while-down", `2["while-down"]`)); err != nil {
		t.Fatal(err)
	}

	p.start()
	testkit.Eventually(t, "the subscription back", func() bool { return numsub() == 2 })
	// The reader resumes after the last entry it read: what was added while
	// it was away arrives too.
	if _, err := steady.Publish(ctx, textBroadcast([]string{"r"}, "after", `2["after"]`)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the flaky node's reader back", func() bool { return reflect.DeepEqual(onFlaky.events(), []string{"while-down", "after"}) })
	if _, err := b.Publish(ctx, textBroadcast([]string{"r"}, "from-flaky", `2["from-flaky"]`)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the flaky node publishing again", func() bool { return reflect.DeepEqual(onSteady.events(), []string{"from-flaky"}) })
	if socks, err := steady.FetchSockets(ctx, server.Selector{}); err != nil || len(socks) != 0 {
		t.Fatalf("FetchSockets answered by the recovered node: %v, %v", socks, err)
	}

	p.stop()
	closeCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := b.Close(closeCtx); err != nil {
		t.Fatalf("Close without Redis: %v", err)
	}
}
