package server_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// echoBroker is a Broker of a cluster of one node that keeps a history:
// it hands the broadcasts published with Echo back to the node, drops the
// repeats of a Broadcast.Once, fails while fail is set, and holds each
// Publish while gate is closed.
type echoBroker struct {
	mu        sync.Mutex
	node      server.Node
	published []server.Broadcast // what reached the "stream"
	seen      []server.Broadcast // every Publish call's broadcast
	once      map[string]bool
	fail      error
	gate      chan struct{}
}

func (b *echoBroker) Start(_ context.Context, node server.Node) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.node, b.once = node, map[string]bool{}
	return nil
}

func (b *echoBroker) Publish(ctx context.Context, m server.ClusterMessage) (string, error) {
	b.mu.Lock()
	gate := b.gate
	b.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return "", ctx.Err()
		}
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if m.Broadcast == nil {
		return "", nil
	}
	bc := *m.Broadcast
	b.seen = append(b.seen, bc)
	if b.fail != nil {
		return "", b.fail
	}
	if bc.Once != "" {
		if b.once[bc.Once] {
			return "", nil
		}
		b.once[bc.Once] = true
	}
	b.published = append(b.published, bc)
	if bc.Echo {
		b.node.Deliver(server.ClusterMessage{Broadcast: &bc, Own: true}, "")
	}
	return "", nil
}

func (b *echoBroker) FetchSockets(context.Context, server.Selector) ([]server.RemoteSocket, error) {
	return nil, nil
}

func (b *echoBroker) ServerSideEmit(context.Context, string, []any, bool) ([]any, error) {
	return nil, nil
}
func (b *echoBroker) PersistSession(context.Context, server.Session) error { return nil }
func (b *echoBroker) DropSession(context.Context, string) error            { return nil }
func (b *echoBroker) RestoreSession(context.Context, string, string) (*server.RestoredSession, error) {
	return nil, server.ErrNotRecoverable
}
func (b *echoBroker) Close(context.Context) error { return nil }

// calls returns the broadcast of every Publish call so far.
func (b *echoBroker) calls() []server.Broadcast {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.seen)
}

func (b *echoBroker) set(f func(b *echoBroker)) {
	b.mu.Lock()
	defer b.mu.Unlock()
	f(b)
}

// With a broker, Publish hands the event to it with Echo and Once set,
// and this node's sockets get it from the broker's echo only: once, and
// not at all for a repeat the broker drops.
func TestPublishThroughABroker(t *testing.T) {
	b := &echoBroker{}
	srv, url := startServer(t, server.Config{Broker: b})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	for _, id := range []string{"e1", "e1", "e2"} {
		if err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published(id, 0)); err != nil {
			t.Fatal(err)
		}
	}
	marker(t, srv, []*sioclient.Client{c}, 1)
	if got := eventIDs(c); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("the client got %v, want [e1 e2]", got)
	}
	calls := b.calls()
	if len(calls) < 3 {
		t.Fatalf("the broker got %d broadcasts", len(calls))
	}
	for i, want := range []string{"e1", "e1", "e2"} {
		if calls[i].Once != want || !calls[i].Echo || !slices.Equal(calls[i].Selector.Rooms, []string{"user_1"}) {
			t.Fatalf("broadcast %d: Once %q Echo %v rooms %v, want Once %q with Echo to user_1", i, calls[i].Once, calls[i].Echo, calls[i].Selector.Rooms, want)
		}
	}
}

// When the broker fails, Publish returns its error and this node's
// sockets get nothing: no local delivery in its place.
func TestPublishFailsWithTheBroker(t *testing.T) {
	b := &echoBroker{}
	srv, url := startServer(t, server.Config{Broker: b})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	down := errors.New("broker down")
	b.set(func(b *echoBroker) { b.fail = down })
	if err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published("e1", 0)); !errors.Is(err, down) {
		t.Fatalf("Publish with the broker down: %v, want it to wrap %v", err, down)
	}
	marker(t, srv, []*sioclient.Client{c}, 1) // delivered at once: the broker does not echo it
	if got := eventIDs(c); len(got) != 0 {
		t.Fatalf("the client got %v from a Publish that failed", got)
	}
	b.set(func(b *echoBroker) { b.fail = nil })
	if err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published("e1", 0)); err != nil {
		t.Fatal(err)
	}
	marker(t, srv, []*sioclient.Client{c}, 2)
	if got := eventIDs(c); !slices.Equal(got, []string{"e1"}) {
		t.Fatalf("the client got %v once the broker was back, want [e1]", got)
	}
}

// A Publish whose context ends while it waits behind other messages is
// never handed to the broker: its error means it was not published.
func TestPublishGivesUpBeforeTheBroker(t *testing.T) {
	b := &echoBroker{}
	srv, url := startServer(t, server.Config{Broker: b})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	gate := make(chan struct{})
	b.set(func(b *echoBroker) { b.gate = gate })
	if err := srv.EmitTo(ctx, entreactive.ToUserIDs(1), "ahead"); err != nil { // holds the publishing goroutine
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := srv.Publish(short, entreactive.Target{Users: []any{1}}, published("late", 0)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Publish behind a held broker: %v, want DeadlineExceeded", err)
	}
	b.set(func(b *echoBroker) { b.gate = nil })
	close(gate)
	if err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published("next", 0)); err != nil {
		t.Fatal(err)
	}
	marker(t, srv, []*sioclient.Client{c}, 1)
	for _, call := range b.calls() {
		if call.Once == "late" {
			t.Fatal("the broker got the Publish that gave up")
		}
	}
	if got := eventIDs(c); !slices.Equal(got, []string{"next"}) {
		t.Fatalf("the client got %v, want [next]", got)
	}
}

// Publish on a closed server with a broker fails with ErrClosed.
func TestPublishAfterCloseWithABroker(t *testing.T) {
	b := &echoBroker{}
	srv, _ := startServer(t, server.Config{Broker: b})
	if err := srv.Close(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	if err := srv.Publish(context.Background(), entreactive.Target{Users: []any{1}}, published("late", 0)); !errors.Is(err, server.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
	if len(b.calls()) != 0 {
		t.Fatal("the broker got a Publish after Close")
	}
}

// PublishBatch through a broker without batches of its own hands it each
// event as Publish does, in order; when the broker fails, it says how many
// events were published before (an event that reaches no socket needs no
// broker), and the sockets get none of the rest.
func TestPublishBatchThroughABroker(t *testing.T) {
	b := &echoBroker{}
	srv, url := startServer(t, server.Config{Broker: b})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	user := entreactive.Target{Users: []any{1}}
	batch := []entreactive.Outgoing{
		{To: entreactive.Target{}, Event: published("nobody", 0)},
		{To: user, Event: published("e1", 0)},
		{To: user, Event: published("e2", 0)},
	}
	down := errors.New("broker down")
	b.set(func(b *echoBroker) { b.fail = down })
	if n, err := srv.PublishBatch(ctx, batch); n != 1 || !errors.Is(err, down) {
		t.Fatalf("PublishBatch with the broker down: %d, %v; want 1 (the event for nobody), %v", n, err, down)
	}
	b.set(func(b *echoBroker) { b.fail = nil })
	if n, err := srv.PublishBatch(ctx, append(batch[1:], batch[1])); n != 3 || err != nil {
		t.Fatalf("PublishBatch: %d, %v; want 3, nil", n, err)
	}
	marker(t, srv, []*sioclient.Client{c}, 1)
	if got := eventIDs(c); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("the client got %v, want [e1 e2]", got)
	}
	if n, err := srv.PublishBatch(ctx, []entreactive.Outgoing{{To: user, Event: published("", 0)}}); n != 0 || !errors.Is(err, server.ErrNoEventID) {
		t.Fatalf("PublishBatch of an event without an id: %d, %v; want 0, ErrNoEventID", n, err)
	}
}

// Without a broker, PublishBatch is Publish for each event: once each, in
// order.
func TestPublishBatchWithoutABroker(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	user := entreactive.Target{Users: []any{1}}
	batch := []entreactive.Outgoing{{To: user, Event: published("e1", 0)}, {To: user, Event: published("e1", 0)}, {To: user, Event: published("e2", 0)}}
	if n, err := srv.PublishBatch(ctx, batch); n != 3 || err != nil {
		t.Fatalf("PublishBatch: %d, %v; want 3, nil", n, err)
	}
	marker(t, srv, []*sioclient.Client{c}, 1)
	if got := eventIDs(c); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("the client got %v, want [e1 e2]", got)
	}
}
