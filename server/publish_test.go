package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// published is an event for Publish: a Message update of row 1 with n in
// its data, under id.
func published(id string, n int) entreactive.Event {
	return entreactive.Event{
		Action: entreactive.ActionUpdate, Model: "Message", ID: 1,
		Data: map[string]any{"id": 1, "n": n}, Changed: []string{"n"},
		Timestamp: time.Now(), EventID: id,
	}
}

// eventIDs returns the eventId of each reactive event c received, in
// order.
func eventIDs(c *sioclient.Client) []string {
	var out []string
	for _, args := range c.Events(server.EventReactive) {
		if m, ok := args[0].(map[string]any); ok {
			if id, ok := m["eventId"].(string); ok {
				out = append(out, id)
			}
		}
	}
	return out
}

// dialPublishUser connects a client authenticated as user id at the handshake
// and waits until the server has it in the user's room.
func dialPublishUser(t *testing.T, srv *server.Server, url string, id int) *sioclient.Client {
	t.Helper()
	c := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly, Auth: map[string]any{"token": testkit.Token(t, id)}})
	testkit.Eventually(t, "the user online", func() bool { return testkit.Online(t, srv, id) })
	return c
}

// Without a broker, Publish delivers an event once per EventID: a repeat
// is dropped with a nil error, another id is delivered, the payload
// carries the id as "eventId".
func TestPublishOnceWithoutABroker(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	to := entreactive.Target{Users: []any{1}}
	for _, id := range []string{"e1", "e1", "e2", "e1", "e2"} {
		if err := srv.Publish(ctx, to, published(id, 0)); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
	marker(t, srv, []*sioclient.Client{c}, 1)
	if got := eventIDs(c); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("the client got events %v, want [e1 e2]", got)
	}
	ev := c.Events(server.EventReactive)[0][0].(map[string]any)
	if ev["model"] != "Message" || ev["action"] != "update" || fmt.Sprint(ev["id"]) != "1" {
		t.Fatalf("published event %#v", ev)
	}
	if st := srv.Stats(); st.EventsQueued != 3 { // e1, e2 and the marker
		t.Fatalf("EventsQueued = %d, want 3", st.EventsQueued)
	}
}

// Concurrent Publish calls of one EventID deliver it once.
func TestPublishConcurrentRepeats(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published("same", 0)); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	marker(t, srv, []*sioclient.Client{c}, 1)
	if got := eventIDs(c); !slices.Equal(got, []string{"same"}) {
		t.Fatalf("the client got %v, want one event", got)
	}
}

// reactiveLog records, from a raw connection, the "n" of each reactive
// event's data and whether an offset followed the payload.
type reactiveLog struct {
	mu      sync.Mutex
	nums    []int
	offsets int
}

func (l *reactiveLog) handle(name string, data []byte) {
	if name != server.EventReactive {
		return
	}
	var args []json.RawMessage
	if json.Unmarshal(data, &args) != nil || len(args) < 2 {
		return
	}
	var ev struct {
		Model string `json:"model"`
		Data  struct {
			N int `json:"n"`
		} `json:"data"`
	}
	if json.Unmarshal(args[1], &ev) != nil || ev.Model != "Message" {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.nums = append(l.nums, ev.Data.N)
	if len(args) == 3 {
		l.offsets++
	}
}

func (l *reactiveLog) snapshot() ([]int, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.nums), l.offsets
}

// dialRawUser connects a raw client as user id that records into l.
func dialRawUser(t *testing.T, url string, id int, l *reactiveLog) *sio.Conn {
	t.Helper()
	c, err := sio.Dial(testkit.Context(t), sio.Config{URL: url, Auth: map[string]any{"token": testkit.Token(t, id)}, OnEvent: l.handle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// Publish calls made one after the other reach a client in that order,
// each once, with and without recovery (under recovery, each with its
// offset).
func TestPublishKeepsOrder(t *testing.T) {
	for _, recovery := range []bool{false, true} {
		t.Run("recovery="+strconv.FormatBool(recovery), func(t *testing.T) {
			cfg := server.Config{}
			if recovery {
				cfg.Recovery = &server.Recovery{}
			}
			srv, url := startServer(t, cfg)
			ctx := testkit.Context(t)
			var got reactiveLog
			dialRawUser(t, url, 1, &got)
			testkit.Eventually(t, "the user online", func() bool { return testkit.Online(t, srv, 1) })
			const n = 200
			for i := range n {
				if err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published("ev-"+strconv.Itoa(i), i)); err != nil {
					t.Fatal(err)
				}
			}
			testkit.Eventually(t, "every event", func() bool { nums, _ := got.snapshot(); return len(nums) >= n })
			nums, offsets := got.snapshot()
			want := make([]int, n)
			for i := range want {
				want[i] = i
			}
			if !slices.Equal(nums, want) {
				t.Fatalf("the client got %v, want 0..%d in order", nums, n-1)
			}
			if recovery && offsets != n || !recovery && offsets != 0 {
				t.Fatalf("%d events carried an offset (recovery %v)", offsets, recovery)
			}
		})
	}
}

// Publish refuses an event without an EventID, and delivers nothing; a
// target that reaches nobody sends nothing without an error.
func TestPublishNeedsAnEventID(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published("", 0))
	if !errors.Is(err, server.ErrNoEventID) {
		t.Fatalf("Publish without an EventID: %v, want ErrNoEventID", err)
	}
	if err := srv.Publish(ctx, entreactive.Target{}, published("nobody", 0)); err != nil {
		t.Fatalf("Publish to an empty target: %v", err)
	}
	marker(t, srv, []*sioclient.Client{c}, 1)
	if got := eventIDs(c); len(got) != 0 {
		t.Fatalf("the client got %v", got)
	}
}

// Publish on a closed server fails with ErrClosed.
func TestPublishAfterClose(t *testing.T) {
	srv, _ := startServer(t, server.Config{})
	if err := srv.Close(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	err := srv.Publish(context.Background(), entreactive.Target{Users: []any{1}}, published("late", 0))
	if !errors.Is(err, server.ErrClosed) {
		t.Fatalf("Publish after Close: %v, want ErrClosed", err)
	}
}

// An EventID is remembered for PublishWindow and, past PublishMemory ids,
// the oldest are forgotten: a repeat after either is delivered again.
func TestPublishWindowAndMemory(t *testing.T) {
	const window = 300 * time.Millisecond
	srv, url := startServer(t, server.Config{PublishWindow: window, PublishMemory: 2})
	ctx := testkit.Context(t)
	c := dialPublishUser(t, srv, url, 1)
	publish := func(ids ...string) {
		t.Helper()
		for _, id := range ids {
			if err := srv.Publish(ctx, entreactive.Target{Users: []any{1}}, published(id, 0)); err != nil {
				t.Fatal(err)
			}
		}
	}
	start := time.Now()
	publish("a", "a")
	noted := time.Now() // a was noted before this
	marker(t, srv, []*sioclient.Client{c}, 1)
	if time.Since(start) >= window {
		t.Skip("too slow a machine to see the window")
	}
	time.Sleep(time.Until(noted.Add(window)))
	publish("a")      // the window is over: a again
	publish("b", "c") // a is the oldest of three: forgotten
	publish("a", "c") // a again; c remembered
	marker(t, srv, []*sioclient.Client{c}, 2)
	if got := eventIDs(c); !slices.Equal(got, []string{"a", "a", "b", "c", "a"}) {
		t.Fatalf("the client got %v, want [a a b c a]", got)
	}
}
