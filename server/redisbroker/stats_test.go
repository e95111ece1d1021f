package redisbroker

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// holdingNode is a fakeNode whose Deliver of the event "hold" waits until
// release is closed: the stream reader that calls it stops there.
type holdingNode struct {
	fakeNode
	held    chan struct{} // closed when "hold" arrives
	once    sync.Once
	release chan struct{}
}

func (n *holdingNode) Deliver(m server.ClusterMessage, offset string) {
	if m.Broadcast != nil && m.Broadcast.Event == "hold" {
		n.once.Do(func() { close(n.held) })
		<-n.release
	}
	n.fakeNode.Deliver(m, offset)
}

// BrokerStats says how many nodes share the cluster, how far behind this
// node reads the stream, and counts the publishes and reads Redis failed.
func TestBrokerStats(t *testing.T) {
	cfg := testConfig(t)
	cfg.RequestTimeout = 500 * time.Millisecond
	cfg.BlockTime = 200 * time.Millisecond
	ctx := testkit.Context(t)
	p := startProxy(t)
	flaky := redis.NewClient(&redis.Options{Addr: p.addr})
	defer flaky.Close()
	node := &holdingNode{held: make(chan struct{}), release: make(chan struct{})}
	release := sync.OnceFunc(func() { close(node.release) })
	t.Cleanup(release) // before the broker's Close, which waits for the reader
	b := startBroker(t, flaky, cfg, node)
	var other fakeNode
	peer := startBroker(t, newRedis(t), cfg, &other)

	stats := func() server.BrokerStats {
		t.Helper()
		st, err := b.BrokerStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if st := stats(); st != (server.BrokerStats{Nodes: 2}) {
		t.Fatalf("two idle nodes: %+v", st)
	}

	// The reader is held on the first of two entries: it lags by at least
	// the time it has been held.
	publish := func(event string) {
		t.Helper()
		if _, err := peer.Publish(ctx, textBroadcast([]string{"r"}, event, `2["`+event+`"]`)); err != nil {
			t.Fatal(err)
		}
	}
	publish("hold")
	<-node.held
	publish("next")
	const heldFor = 150 * time.Millisecond
	time.Sleep(heldFor)
	if st := stats(); st.ReadLag < heldFor-10*time.Millisecond {
		t.Fatalf("reader held for %v: lag %v", heldFor, st.ReadLag)
	}
	release()
	testkit.Eventually(t, "the reader to catch up", func() bool { return len(node.events()) == 2 && stats().ReadLag == 0 })

	// Redis gone: publishes and reads fail and are counted; the stats say
	// so, with the counters.
	p.stop()
	if _, err := b.Publish(ctx, textBroadcast([]string{"r"}, "lost", `2["lost"]`)); err == nil {
		t.Fatal("published without Redis")
	}
	var st server.BrokerStats
	testkit.Eventually(t, "a failed read", func() bool {
		var err error
		st, err = b.BrokerStats(ctx)
		return err != nil && st.ReadErrors > 0
	})
	if st.PublishErrors != 1 || st.Nodes != 0 {
		t.Fatalf("without Redis: %+v", st)
	}
	p.start()
	testkit.Eventually(t, "the stats back with Redis", func() bool {
		st, err := b.BrokerStats(ctx)
		return err == nil && st.Nodes == 2 && st.PublishErrors == 1
	})

	if err := b.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := b.BrokerStats(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("stats after Close: %v", err)
	}
}

// A server with a Broker reports the broker's stats; one without says it
// has none.
func TestServerBrokerStats(t *testing.T) {
	cfg := testConfig(t)
	b, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := testkit.Serve(t, server.Config{Broker: b})
	st, err := s.Server.BrokerStats(testkit.Context(t))
	if err != nil || st.Nodes != 1 {
		t.Fatalf("one node: %+v, %v", st, err)
	}
	alone := testkit.Serve(t, server.Config{})
	if _, err := alone.Server.BrokerStats(context.Background()); !errors.Is(err, server.ErrNoBrokerStats) {
		t.Fatalf("without a broker: %v", err)
	}
}

func TestNextID(t *testing.T) {
	for id, want := range map[string]string{"0-0": "0-1", "1700000000000-7": "1700000000000-8", "bad": "0-0"} {
		if got := nextID(id); got != want {
			t.Errorf("nextID(%q) = %q, want %q", id, got, want)
		}
	}
}
