package server_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// pubsubHub is an in-process cluster for brokers that implement Broker
// only (Start and Publish): what one node publishes reaches every other
// node, and a broadcast with Echo comes back to its own node too.
type pubsubHub struct {
	mu    sync.Mutex
	nodes map[*pubsubBroker]server.Node
}

// broker returns a new node's broker.
func (h *pubsubHub) broker() *pubsubBroker { return &pubsubBroker{hub: h} }

// pubsubBroker is a Broker and nothing more: no Requester, SessionStore
// or Closer.
type pubsubBroker struct{ hub *pubsubHub }

func (b *pubsubBroker) Start(_ context.Context, node server.Node) error {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	if b.hub.nodes == nil {
		b.hub.nodes = make(map[*pubsubBroker]server.Node)
	}
	b.hub.nodes[b] = node
	return nil
}

func (b *pubsubBroker) Publish(_ context.Context, m server.ClusterMessage) (string, error) {
	b.hub.mu.Lock()
	defer b.hub.mu.Unlock()
	for peer, node := range b.hub.nodes {
		switch {
		case peer != b:
			node.Deliver(m, "")
		case m.Broadcast != nil && m.Broadcast.Echo:
			node.Deliver(server.ClusterMessage{Broadcast: m.Broadcast, Own: true}, "")
		}
	}
	return "", nil
}

// closingBroker is a pubsubBroker that is also a Closer.
type closingBroker struct {
	*pubsubBroker
	closed atomic.Int32
}

func (b *closingBroker) Close(context.Context) error {
	b.closed.Add(1)
	return nil
}

// localConnections waits until srv has n sockets of its own (the
// cluster-wide counts need a Requester).
func localConnections(t *testing.T, srv *server.Server, n int) {
	t.Helper()
	testkit.Eventually(t, "the node's sockets", func() bool { return srv.Stats().Connections == n })
}

// A Broker that only publishes carries broadcasts, Publish's events and
// socket operations across the nodes.
func TestPubSubOnlyBrokerBroadcastsAcrossNodes(t *testing.T) {
	hub := &pubsubHub{}
	a, _ := startServer(t, server.Config{Broker: hub.broker()})
	b, urlB := startServer(t, server.Config{Broker: hub.broker()})
	ctx := testkit.Context(t)
	c := testkit.Dial(t, urlB, sioclient.Options{Transport: sioclient.WebSocketOnly, Auth: map[string]any{"token": testkit.Token(t, 7)}})
	localConnections(t, b, 1)
	next := func(want float64) {
		t.Helper()
		args, err := c.Next(ctx, "note")
		if err != nil || len(args) == 0 || args[0] != want {
			t.Fatalf("note %v (%v), want %v", args, err, want)
		}
	}

	if err := a.EmitTo(ctx, entreactive.ToUserIDs(7), "note", 1); err != nil {
		t.Fatal(err)
	}
	next(1)
	if err := a.JoinUser(ctx, 7, "team"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "user 7 in team on b", func() bool { return b.Stats().Rooms["team"] == 1 })
	if err := a.EmitTo(ctx, entreactive.ToRooms("team"), "note", 2); err != nil {
		t.Fatal(err)
	}
	next(2)
	if err := a.Publish(ctx, entreactive.Target{Users: []any{7}}, published("e3", 0)); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the published event on b", func() bool { return slices.Equal(eventIDs(c), []string{"e3"}) })
}

// Without a Requester the questions to the other nodes fail with
// ErrNoRequester (an errors.ErrUnsupported) instead of answering for one
// node; the same server without a Broker answers for itself.
func TestBrokerWithoutRequester(t *testing.T) {
	hub := &pubsubHub{}
	srv, url := startServer(t, server.Config{Broker: hub.broker()})
	ctx := testkit.Context(t)
	dialSIO(t, url, map[string]any{"token": testkit.Token(t, 7)}, newNotes())
	localConnections(t, srv, 1)

	calls := map[string]func() error{
		"FetchSockets": func() error { _, err := srv.FetchSockets(ctx, server.Selector{}); return err },
		"IsUserOnline": func() error { _, err := srv.IsUserOnline(ctx, 7); return err },
		"IsDeviceOnline": func() error {
			_, err := srv.IsDeviceOnline(ctx, "phone")
			return err
		},
		"RoomSize":        func() error { _, err := srv.RoomSize(ctx, "all"); return err },
		"ConnectionCount": func() error { _, err := srv.ConnectionCount(ctx); return err },
		"UserCount":       func() error { _, err := srv.UserCount(ctx); return err },
		"UserDevices":     func() error { _, err := srv.UserDevices(ctx, 7); return err },
		"ServerSideEmit":  func() error { return srv.ServerSideEmit(ctx, "hello") },
		"ServerSideEmitWithAck": func() error {
			_, err := srv.ServerSideEmitWithAck(ctx, "hello")
			return err
		},
	}
	for name, call := range calls {
		err := call()
		if !errors.Is(err, server.ErrNoRequester) || !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: %v, want ErrNoRequester", name, err)
		}
	}

	single, url1 := startServer(t, server.Config{})
	dialSIO(t, url1, map[string]any{"token": testkit.Token(t, 7)}, newNotes())
	localConnections(t, single, 1)
	if socks, err := single.FetchSockets(ctx, server.Selector{}); err != nil || len(socks) != 1 {
		t.Fatalf("FetchSockets without a broker: %d sockets, %v", len(socks), err)
	}
	if err := single.ServerSideEmit(ctx, "hello"); err != nil {
		t.Fatalf("ServerSideEmit without a broker: %v", err)
	}
}

// Close closes a broker that is a Closer, once, and leaves one that is not
// to its owner.
func TestCloseClosesACloser(t *testing.T) {
	hub := &pubsubHub{}
	cb := &closingBroker{pubsubBroker: hub.broker()}
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: []byte(testkit.Secret)}, Broker: cb, Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := srv.Close(testkit.Context(t)); err != nil {
			t.Fatal(err)
		}
	}
	if n := cb.closed.Load(); n != 1 {
		t.Fatalf("the Closer was closed %d times, want 1", n)
	}
}

// Under recovery with a Broker that is no SessionStore, a client recovers
// on the node it left, with what it missed from every node, and gets a
// fresh connection on another node.
func TestRecoveryWithoutSessionStoreIsPerNode(t *testing.T) {
	hub := &pubsubHub{}
	rec := &server.Recovery{}
	a, urlA := startServer(t, server.Config{Broker: hub.broker(), Recovery: rec})
	b, urlB := startServer(t, server.Config{Broker: hub.broker(), Recovery: rec})
	ctx := testkit.Context(t)
	emit := func(srv *server.Server, n int) {
		t.Helper()
		if err := srv.EmitTo(ctx, entreactive.ToUserIDs(7), "note", n); err != nil {
			t.Fatal(err)
		}
	}

	got := newNotes()
	c1 := dialSIO(t, urlA, map[string]any{"token": testkit.Token(t, 7)}, got)
	localConnections(t, a, 1)
	emit(b, 1)
	got.waitFor(t, 1)
	c1.Drop()
	localConnections(t, a, 0)
	emit(b, 2) // from the other node
	emit(a, 3)

	// On another node: no session there.
	elsewhere := dialSIO(t, urlB, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, newNotes())
	if elsewhere.SID == c1.SID {
		t.Fatal("recovered on a node that does not hold the session")
	}
	_ = elsewhere.Close()
	localConnections(t, b, 0)

	// Back on its node: restored, with what it missed, in order.
	c2 := dialSIO(t, urlA, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, got)
	if c2.SID != c1.SID {
		t.Fatalf("not restored on its node: sid %s, was %s", c2.SID, c1.SID)
	}
	emit(b, 4)
	got.waitFor(t, 4)
	// 2 and 3 come from two nodes: their order on a is the order a got
	// them in, which its offsets follow.
	nums := got.snapshot()
	if len(nums) != 4 || nums[0] != 1 || nums[1]+nums[2] != 5 || nums[1]*nums[2] != 6 || nums[3] != 4 {
		t.Fatalf("notes %v, want 1, then 2 and 3, then 4", nums)
	}
	for i := 1; i < len(got.offsets); i++ {
		if got.offsets[i] == got.offsets[i-1] {
			t.Fatalf("offsets repeat: %v", got.offsets)
		}
	}
}
