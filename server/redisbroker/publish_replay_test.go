package redisbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// replayNote is one reactive event a raw client got: the payload's id,
// eventId and data.n, the offset after it, and the connection (0 the
// first, k after the k-th recovery) it came on.
type replayNote struct {
	Model, ID, EventID, Offset string
	N, Conn                    int
}

// replayLog collects the reactive events of a raw client across its
// connections.
type replayLog struct {
	mu    sync.Mutex
	notes []replayNote
}

// handler records the events of connection k.
func (l *replayLog) handler(k int) sio.EventHandler {
	return func(name string, data []byte) {
		if name != server.EventReactive {
			return
		}
		var args []json.RawMessage
		if json.Unmarshal(data, &args) != nil || len(args) < 2 {
			return
		}
		var ev struct {
			Model   string          `json:"model"`
			ID      json.RawMessage `json:"id"`
			EventID string          `json:"eventId"`
			Data    struct {
				N *int `json:"n"`
			} `json:"data"`
		}
		_ = json.Unmarshal(args[1], &ev)
		n := replayNote{Model: ev.Model, ID: string(ev.ID), EventID: ev.EventID, N: -1, Conn: k}
		if ev.Data.N != nil {
			n.N = *ev.Data.N
		}
		if len(args) == 3 {
			_ = json.Unmarshal(args[2], &n.Offset)
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		l.notes = append(l.notes, n)
	}
}

// all returns the notes so far, in order.
func (l *replayLog) all() []replayNote {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.notes)
}

// last returns the offset of the last event received, "" before any.
func (l *replayLog) last() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.notes) == 0 {
		return ""
	}
	return l.notes[len(l.notes)-1].Offset
}

// has reports whether an event of model with eventId id was received.
func (l *replayLog) has(model, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.notes, func(n replayNote) bool { return n.Model == model && n.EventID == id })
}

// counterEvent is an update of row 1 of Message with {"n": n}, under id.
func counterEvent(id string, n int) entreactive.Event {
	return entreactive.Event{
		Action: entreactive.ActionUpdate, Model: "Message", ID: 1,
		Data: map[string]any{"n": n}, Changed: []string{"n"},
		Timestamp: time.Now(), EventID: id,
	}
}

// 300 Publishes of one row's counter, alternately on node A and node B,
// each after the previous returned, while the client of user 7 drops its
// transport twice (after 100 and after 200 Publishes) and recovers with
// its pid and last offset on the other node each time, the Publishes going
// on meanwhile: some events reach it in the broker's replay, some live
// while it is restored (held, then sent after the replay), some live
// after. A few EventIDs are published twice, on the other node, at once or
// much later. The client ends with exactly the counters 0..299, in order,
// once each, with increasing offsets, on the same socket throughout.
func TestPublishOrderThroughRecoveryReplay(t *testing.T) {
	const (
		n      = 300
		ahead  = 10 // Publishes made while the client is away, before it reconnects
		user   = 7
		rowKey = "row1-"
	)
	cfg := onceConfig(t)
	a, b := startRecoveringNode(t, cfg), startRecoveringNode(t, cfg)
	nodes := []*goServer{a, b}
	eventID := func(i int) string { return rowKey + strconv.Itoa(i) }

	got := &replayLog{}
	dialConn := func(url string, auth map[string]any, k int) *sio.Conn {
		t.Helper()
		c, err := sio.Dial(testkit.Context(t), sio.Config{URL: url, Auth: auth, OnEvent: got.handler(k)})
		if err != nil {
			t.Fatalf("dial %d: %v", k, err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	first := dialConn(a.URL, map[string]any{"token": testkit.Token(t, user)}, 0)
	if first.PID == "" {
		t.Fatal("no pid: recovery is off")
	}
	waitRoom(t, a, "user_7", 1)
	waitRoom(t, b, "user_7", 1)

	// Repeats of an EventID, on the other node than the first Publish:
	// right after it (at the drops' edges among them), or long after,
	// when a repeat delivered would be an inversion too.
	repeatNow := map[int]bool{0: true, 37: true, 99: true, 100: true, 101: true, 163: true, 199: true, 200: true, 201: true, 299: true}
	repeatLate := map[int]int{150: 20, 205: 150, 260: 120, 298: 0} // at i, once more the id of ...

	// The publisher: one goroutine, each Publish after the previous
	// returned. After counters 99 and 199 it waits until the client has
	// dropped, then goes on while the client reconnects (replayed, or held
	// during the restore); after 149 and 249 it waits until the client is
	// back, so that the next 50 go live.
	ctx, cancel := context.WithTimeout(context.Background(), 3*testkit.Wait)
	var published atomic.Int64 // counters published so far
	pause := make(chan int)
	resume := make(chan struct{})
	back := make(chan struct{}, 2)
	finished := make(chan struct{})
	var pubErr error // set before finished is closed
	name := map[*goServer]string{a: "A", b: "B"}
	go func() {
		defer close(finished)
		pub := func(node *goServer, id string, i int) error {
			if err := node.Server.Publish(ctx, entreactive.Target{Users: []any{user}}, counterEvent(id, i)); err != nil {
				return fmt.Errorf("Publish %s (n=%d) on %s: %w", id, i, name[node], err)
			}
			return nil
		}
		pubErr = func() error {
			for i := range n {
				node, other := nodes[i%2], nodes[(i+1)%2]
				if err := pub(node, eventID(i), i); err != nil {
					return err
				}
				if repeatNow[i] {
					if err := pub(other, eventID(i), i); err != nil {
						return err
					}
				}
				if j, ok := repeatLate[i]; ok {
					if err := pub(other, eventID(j), j); err != nil {
						return err
					}
				}
				published.Store(int64(i + 1))
				if i+1 == 100 || i+1 == 200 {
					select {
					case pause <- i + 1:
					case <-ctx.Done():
						return ctx.Err()
					}
					select {
					case <-resume:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
				if i+1 == 150 || i+1 == 250 {
					select {
					case <-back:
					case <-ctx.Done():
						return ctx.Err()
					}
				}
			}
			return nil
		}()
	}()
	t.Cleanup(func() { cancel(); <-finished }) // before the nodes close

	// The two drops: from A to B, then from B back to A.
	rdb := newRedis(t)
	conn := first
	type recovery struct {
		droppedAt, dialStart, dialEnd int // counters published by then
		to                            string
	}
	var recoveries []recovery
	for k := 1; k <= 2; k++ {
		var at int
		select {
		case at = <-pause:
		case <-finished:
			t.Fatalf("the publisher stopped before drop %d: %v", k, pubErr)
		}
		// The socket's session is kept in Redis ahead of time (at connect,
		// and at restore), and the client has an offset to come back with
		// (however far behind it is): it can recover as soon as it drops.
		key := wire.SessionKey(cfg.SessionKeyPrefix, conn.PID)
		testkit.Eventually(t, fmt.Sprintf("the session in Redis and an offset before drop %d", k), func() bool {
			return got.last() != "" && rdb.Exists(ctx, key).Val() == 1
		})
		conn.Drop()
		resume <- struct{}{}
		testkit.Eventually(t, fmt.Sprintf("%d Publishes while the client is away", ahead), func() bool {
			return published.Load() >= int64(at+ahead)
		})
		to := nodes[k%2]
		r := recovery{droppedAt: at, to: name[to]}
		last := got.last()
		r.dialStart = int(published.Load())
		next := dialConn(to.URL, map[string]any{"pid": conn.PID, "offset": last}, k)
		r.dialEnd = int(published.Load())
		if next.SID != first.SID {
			t.Fatalf("recovery %d on node %s: a fresh socket %s, was %s (not recovered from offset %s)", k, r.to, next.SID, first.SID, last)
		}
		// The node counts the socket when it registers it, which may come
		// just after the client has its CONNECT reply.
		testkit.Eventually(t, fmt.Sprintf("node %s counts recovery %d", r.to, k), func() bool { return to.Server.Stats().SessionsRecovered == 1 })
		if st := to.Server.Stats(); st.SessionsNotRecovered != 0 {
			t.Fatalf("recovery %d on node %s: SessionsNotRecovered %d, want 0", k, r.to, st.SessionsNotRecovered)
		}
		if next.PID != conn.PID {
			t.Fatalf("recovery %d: pid %q, was %q", k, next.PID, conn.PID)
		}
		conn = next
		recoveries = append(recoveries, r)
		back <- struct{}{}
	}

	select {
	case <-finished:
		if pubErr != nil {
			t.Fatal(pubErr)
		}
	case <-time.After(3 * testkit.Wait):
		t.Fatal("the publisher did not finish")
	}
	testkit.Eventually(t, "the last counter", func() bool { return got.has("Message", eventID(n-1)) })
	// A fence after everything in the stream: a late stray (a repeat, a
	// replayed entry sent twice) would have arrived before it.
	if err := b.Server.Publish(testkit.Context(t), entreactive.Target{Users: []any{user}}, fenceEvent("fence")); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the fence", func() bool { return got.has("Fence", "fence") })
	// The repeats added nothing to the stream: the counters and the fence.
	if l, err := rdb.XLen(testkit.Context(t), cfg.streamKey(nsp)).Result(); err != nil || l != n+1 {
		t.Errorf("the stream holds %d entries (%v), want %d: one per counter and the fence", l, err, n+1)
	}

	var notes []replayNote
	for _, x := range got.all() {
		if x.Model == "Message" {
			notes = append(notes, x)
		}
	}
	nums := make([]int, len(notes))
	for i, x := range notes {
		nums[i] = x.N
	}
	// The figures, for the log and for a failure.
	inversions, dups, seen := 0, 0, map[int]bool{}
	for i, v := range nums {
		if i > 0 && v < nums[i-1] {
			inversions++
		}
		if seen[v] {
			dups++
		}
		seen[v] = true
	}
	var gaps []int
	for i := range n {
		if !seen[i] {
			gaps = append(gaps, i)
		}
	}
	for k, r := range recoveries {
		var replayed, during, after int
		for _, x := range notes {
			switch {
			case x.Conn != k+1:
			case x.N < r.dialStart:
				replayed++
			case x.N < r.dialEnd:
				during++
			default:
				after++
			}
		}
		t.Logf("recovery %d on %s: dropped after %d Publishes, dialled after %d, back after %d; on the new connection %d events published before the dial, %d during it, %d after",
			k+1, r.to, r.droppedAt, r.dialStart, r.dialEnd, replayed, during, after)
	}
	want := make([]int, n)
	for i := range want {
		want[i] = i
	}
	if !slices.Equal(nums, want) {
		t.Fatalf("the client got %d counters with %d inversions, %d duplicates, %d missing %v; want 0..%d once each in order; got %v",
			len(nums), inversions, dups, len(gaps), gaps, n-1, nums)
	}
	var prev wire.Offset
	for i, x := range notes {
		if x.ID != "1" || x.EventID != eventID(x.N) {
			t.Fatalf("event %d: id %s, eventId %q for counter %d; want id 1, eventId %q", i, x.ID, x.EventID, x.N, eventID(x.N))
		}
		o, err := wire.ParseOffset(x.Offset)
		if err != nil {
			t.Fatalf("event %d (counter %d) without an offset: %q", i, x.N, x.Offset)
		}
		if i > 0 && (o.MS < prev.MS || o.MS == prev.MS && o.Seq <= prev.Seq) {
			t.Fatalf("event %d (counter %d): offset %s not after %s", i, x.N, x.Offset, prev)
		}
		prev = o
	}
}
