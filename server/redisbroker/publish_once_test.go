package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// onceConfig is testConfig whose once keys are removed too when the test
// ends (they are named after the stream, in braces: see OnceKeyPrefix).
func onceConfig(t *testing.T) Config {
	t.Helper()
	cfg := testConfig(t)
	dropOnceKeys(t, cfg)
	return cfg
}

// dropOnceKeys removes cfg's once keys when the test ends.
func dropOnceKeys(t *testing.T, cfg Config) {
	t.Helper()
	rdb := newRedis(t)
	t.Cleanup(func() {
		ctx := context.Background()
		keys, _ := rdb.Keys(ctx, cfg.OnceKeyPrefix+"*").Result()
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
}

// rowEvent is a Message update of row 1 with n in its data, under id.
func rowEvent(id string, n int) entreactive.Event {
	return entreactive.Event{
		Action: entreactive.ActionUpdate, Model: "Message", ID: 1,
		Data: map[string]any{"id": 1, "n": n}, Changed: []string{"n"},
		Timestamp: time.Now(), EventID: id,
	}
}

// fenceEvent is a reactive event of model "Fence" for every socket.
func fenceEvent(id string) entreactive.Event {
	return entreactive.Event{Action: entreactive.ActionCreate, Model: "Fence", ID: id, Data: map[string]any{}, Timestamp: time.Now(), EventID: id}
}

// rowNote is one event a raw client got: its name, and for a reactive
// event its model, eventId, data.n and whether an offset followed.
type rowNote struct {
	Event, Model, EventID string
	N                     int
	Offset                string
}

// rowLog collects what a raw client receives.
type rowLog struct {
	mu    sync.Mutex
	notes []rowNote
}

func (l *rowLog) handle(name string, data []byte) {
	n := rowNote{Event: name}
	var args []json.RawMessage
	if json.Unmarshal(data, &args) == nil && name == server.EventReactive && len(args) >= 2 {
		var ev struct {
			Model   string `json:"model"`
			EventID string `json:"eventId"`
			Data    struct {
				N int `json:"n"`
			} `json:"data"`
		}
		_ = json.Unmarshal(args[1], &ev)
		n.Model, n.EventID, n.N = ev.Model, ev.EventID, ev.Data.N
		if len(args) == 3 {
			_ = json.Unmarshal(args[2], &n.Offset)
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.notes = append(l.notes, n)
}

// rows returns the notes of model "Message", in order.
func (l *rowLog) rows() []rowNote {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []rowNote
	for _, n := range l.notes {
		if n.Model == "Message" {
			out = append(out, n)
		}
	}
	return out
}

// ids returns the eventIds of the rows, in order.
func (l *rowLog) ids() []string {
	var out []string
	for _, n := range l.rows() {
		out = append(out, n.EventID)
	}
	return out
}

// has reports whether the client got a reactive event of model with
// eventId id, or (model "") an event named id.
func (l *rowLog) has(model, id string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.ContainsFunc(l.notes, func(n rowNote) bool {
		if model == "" {
			return n.Event == id
		}
		return n.Model == model && n.EventID == id
	})
}

// dialRow connects a raw client as user id to url, recording into a new
// rowLog.
func dialRow(t *testing.T, url string, user int) *rowLog {
	t.Helper()
	l := &rowLog{}
	c, err := sio.Dial(testkit.Context(t), sio.Config{URL: url, Auth: map[string]any{"token": testkit.Token(t, user)}, OnEvent: l.handle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return l
}

// publishFence publishes a Fence event for every socket with p and waits
// until each log has it: whatever was published before it then reached
// them (Publish keeps the stream's order on every node).
func publishFence(t *testing.T, p entreactive.Publisher, id string, logs ...*rowLog) {
	t.Helper()
	if err := p.Publish(testkit.Context(t), entreactive.ToAll(), fenceEvent(id)); err != nil {
		t.Fatalf("fence %s: %v", id, err)
	}
	for _, l := range logs {
		testkit.Eventually(t, "fence "+id, func() bool { return l.has("Fence", id) })
	}
}

// waitRoom waits until room has n sockets in the cluster, as node sees it.
func waitRoom(t *testing.T, node *goServer, room string, n int) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("%d sockets in %s", n, room), func() bool { return testkit.RoomSize(t, node.Server, room) == n })
}

// Publish the same EventID twice on node A and once on node B: every
// client of A and B gets it once, and the stream holds it once; other ids
// get through.
func TestPublishOnceAcrossNodes(t *testing.T) {
	cfg := onceConfig(t)
	a, b := startGoServer(t, cfg), startGoServer(t, cfg)
	ctx := testkit.Context(t)
	logs := []*rowLog{dialRow(t, a.URL, 1), dialRow(t, a.URL, 1), dialRow(t, b.URL, 1)}
	waitRoom(t, a, "user_1", 3)
	to := entreactive.Target{Users: []any{1}}
	for _, p := range []struct {
		node *goServer
		id   string
	}{{a, "e1"}, {a, "e1"}, {b, "e1"}, {b, "e2"}, {a, "e2"}} {
		if err := p.node.Server.Publish(ctx, to, rowEvent(p.id, 0)); err != nil {
			t.Fatalf("Publish %s: %v", p.id, err)
		}
	}
	publishFence(t, b.Server, "f1", logs...)
	for i, l := range logs {
		if got := l.ids(); !slices.Equal(got, []string{"e1", "e2"}) {
			t.Errorf("client %d got %v, want [e1 e2]", i, got)
		}
	}
	if n, err := newRedis(t).XLen(ctx, cfg.streamKey(nsp)).Result(); err != nil || n != 3 {
		t.Fatalf("the stream holds %d entries (%v), want 3: e1, e2, f1", n, err)
	}
	ttl, err := newRedis(t).PTTL(ctx, cfg.onceKey("e1")).Result()
	if err != nil || ttl <= 0 || ttl > DefaultOnceWindow {
		t.Fatalf("the once key of e1 has TTL %v (%v), want up to %v", ttl, err, DefaultOnceWindow)
	}
}

// 500 events of one row, published alternately on node A and node B, each
// after the previous Publish returned, reach every client of both nodes
// in exactly that order, once each: with recovery, with increasing offsets,
// the same on every client.
func TestPublishOrderAcrossNodes(t *testing.T) {
	for _, recovery := range []bool{false, true} {
		t.Run("recovery="+strconv.FormatBool(recovery), func(t *testing.T) {
			cfg := onceConfig(t)
			start := startGoServer
			if recovery {
				start = startRecoveringNode
			}
			a, b := start(t, cfg), start(t, cfg)
			ctx := testkit.Context(t)
			logs := []*rowLog{dialRow(t, a.URL, 1), dialRow(t, a.URL, 1), dialRow(t, b.URL, 1), dialRow(t, b.URL, 1)}
			waitRoom(t, a, "user_1", 4)
			waitRoom(t, b, "user_1", 4)
			const n = 500
			to := entreactive.Target{Users: []any{1}}
			for i := range n {
				node := a
				if i%2 == 1 {
					node = b
				}
				if err := node.Server.Publish(ctx, to, rowEvent("row1-"+strconv.Itoa(i), i)); err != nil {
					t.Fatalf("Publish %d: %v", i, err)
				}
			}
			for i, l := range logs {
				testkit.Eventually(t, fmt.Sprintf("client %d: every event", i), func() bool { return len(l.rows()) >= n })
			}
			var offsets []string
			for i, l := range logs {
				rows := l.rows()
				inversions := 0
				for j := 1; j < len(rows); j++ {
					if rows[j].N < rows[j-1].N {
						inversions++
					}
				}
				nums := make([]int, 0, len(rows))
				var offs []string
				for _, r := range rows {
					nums = append(nums, r.N)
					offs = append(offs, r.Offset)
				}
				if len(rows) != n || inversions != 0 || !slices.IsSorted(nums) || nums[0] != 0 || nums[n-1] != n-1 {
					t.Fatalf("client %d got %d events with %d inversions: %v", i, len(rows), inversions, nums)
				}
				switch {
				case !recovery && slices.ContainsFunc(offs, func(o string) bool { return o != "" }):
					t.Fatalf("client %d got offsets without recovery", i)
				case recovery && slices.Contains(offs, ""):
					t.Fatalf("client %d got events without an offset under recovery: %v", i, offs)
				case recovery && offsets != nil && !slices.Equal(offs, offsets):
					t.Fatalf("client %d got other offsets than client 0", i)
				}
				offsets = offs
			}
		})
	}
}

// While Redis is unreachable from node A, Publish on A fails and nobody
// gets the event, not even A's own client (no local fallback); once
// Redis is back, Publish succeeds and every client gets the event once,
// however many times it was tried.
func TestPublishWhileRedisIsDown(t *testing.T) {
	for _, recovery := range []bool{false, true} {
		t.Run("recovery="+strconv.FormatBool(recovery), func(t *testing.T) {
			cfg := onceConfig(t)
			cfg.RequestTimeout = 500 * time.Millisecond
			cfg.BlockTime = 200 * time.Millisecond
			p := startProxy(t)
			flaky := redis.NewClient(&redis.Options{Addr: p.addr})
			defer flaky.Close()
			broker, err := New(flaky, cfg)
			if err != nil {
				t.Fatal(err)
			}
			scfg := server.Config{Broker: broker}
			if recovery {
				scfg.Recovery = &server.Recovery{}
			}
			a := &goServer{Served: testkit.Serve(t, scfg), broker: broker}
			b := startGoServer(t, cfg)
			ctx := testkit.Context(t)
			onA, onB := dialRow(t, a.URL, 1), dialRow(t, b.URL, 1)
			waitRoom(t, a, "user_1", 2)
			to := entreactive.Target{Users: []any{1}}

			p.stop()
			start := time.Now()
			err = a.Server.Publish(ctx, to, rowEvent("e1", 1))
			if err == nil {
				t.Fatal("Publish succeeded without Redis")
			}
			if d := time.Since(start); d > 5*cfg.RequestTimeout {
				t.Fatalf("Publish took %v to fail", d)
			}
			t.Logf("Publish without Redis: %v", err)
			// A's fence: A cannot publish, it delivers its emits at once,
			// after anything Publish might have queued for its sockets.
			if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(1), "local-fence"); err != nil {
				t.Fatal(err)
			}
			testkit.Eventually(t, "A's local fence", func() bool { return onA.has("", "local-fence") })
			publishFence(t, b.Server, "f1", onB)
			if got := onA.ids(); len(got) != 0 {
				t.Fatalf("A's client got %v from a Publish that failed", got)
			}
			if got := onB.ids(); len(got) != 0 {
				t.Fatalf("B's client got %v from a Publish that failed", got)
			}

			p.start()
			tries := 0
			testkit.Eventually(t, "Publish once Redis is back", func() bool {
				tries++
				return a.Server.Publish(ctx, to, rowEvent("e1", 1)) == nil
			})
			if err := a.Server.Publish(ctx, to, rowEvent("e1", 1)); err != nil {
				t.Fatalf("the repeat: %v", err)
			}
			publishFence(t, a.Server, "f2", onA, onB)
			for name, l := range map[string]*rowLog{"A": onA, "B": onB} {
				if got := l.ids(); !slices.Equal(got, []string{"e1"}) {
					t.Errorf("%s's client got %v after %d tries and a repeat, want [e1]", name, got, tries)
				}
			}
		})
	}
}

// Emitter.Publish delivers an event once per EventID to a Go node's
// clients, and shares the window with the nodes' Server.Publish.
func TestEmitterPublish(t *testing.T) {
	g, l, e := startEmitterNode(t)
	ctx := testkit.Context(t)
	to := entreactive.Target{Users: []any{1}}
	for _, id := range []string{"e1", "e1", "e2", "e1"} {
		if err := e.Publish(ctx, to, rowEvent(id, 0)); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
	if err := g.Server.Publish(ctx, to, rowEvent("e2", 0)); err != nil {
		t.Fatalf("the node's Publish of e2: %v", err)
	}
	if err := g.Server.Publish(ctx, to, rowEvent("e3", 0)); err != nil {
		t.Fatalf("the node's Publish of e3: %v", err)
	}
	if err := e.Publish(ctx, to, rowEvent("e3", 0)); err != nil {
		t.Fatalf("the emitter's Publish of e3: %v", err)
	}
	if err := e.Publish(ctx, to, rowEvent("", 0)); !errors.Is(err, server.ErrNoEventID) {
		t.Fatalf("Publish without an EventID: %v, want server.ErrNoEventID", err)
	}
	// A target whose only user id names no room can never be delivered: no
	// error, or a relay would retry it, and every later event, for ever.
	nobody := entreactive.Target{Users: []any{"not an id"}}
	if err := e.Publish(ctx, nobody, rowEvent("nobody", 0)); err != nil {
		t.Fatalf("Publish to a user id that names no room: %v, want nil", err)
	}
	if err := e.Publish(ctx, entreactive.Target{}, rowEvent("nobody", 0)); err != nil {
		t.Fatalf("Publish to an empty target: %v", err)
	}
	publishFence(t, e, "f1", l)
	if got := l.ids(); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("the client got %v, want [e1 e2 e3]", got)
	}
}

// startEmitterNode starts a Go node with a client of user 1 and an Emitter
// on the same stream.
func startEmitterNode(t *testing.T) (*goServer, *rowLog, *Emitter) {
	t.Helper()
	cfg := onceConfig(t)
	g := startGoServer(t, cfg)
	l := dialRow(t, g.URL, 1)
	waitRoom(t, g, "user_1", 1)
	e, err := NewEmitter(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g, l, e
}

// A Node peer's client gets a Go node's Published events once, as any
// broadcast: the entry on the wire is the same.
func TestPublishReachesANodePeer(t *testing.T) {
	g, peer, _ := startMixedCluster(t)
	dropOnceKeys(t, g.broker.cfg)
	ctx := testkit.Context(t)
	goClient := dialRow(t, g.URL, 7)
	waitRoom(t, g, "user_7", 2) // n1 (Node) and the Go client
	to := entreactive.Target{Users: []any{7}}
	for i, id := range []string{"e1", "e1", "e2"} {
		if err := g.Server.Publish(ctx, to, rowEvent(id, i)); err != nil {
			t.Fatalf("Publish %s: %v", id, err)
		}
	}
	if err := g.Server.EmitTo(ctx, entreactive.ToAll(), "fence"); err != nil { // after the Published events in the stream
		t.Fatal(err)
	}
	var ids []string
	for _, e := range peer.clientEventsUntil("n1", "fence") {
		if e.Event != server.EventReactive {
			continue
		}
		ev, _ := e.Args[0].(map[string]any)
		data, _ := ev["data"].(map[string]any)
		ids = append(ids, fmt.Sprintf("%v:%v:%v", ev["eventId"], ev["model"], data["n"]))
		if len(e.Args) != 2 || !strings.Contains(fmt.Sprint(e.Args[1]), "-") {
			t.Errorf("the Node client got %s without the entry id as its offset", jsonOf(e.Args))
		}
	}
	if want := []string{"e1:Message:0", "e2:Message:2"}; !slices.Equal(ids, want) {
		t.Fatalf("the Node client got %v, want %v", ids, want)
	}
	publishFence(t, g.Server, "f1", goClient)
	if got := goClient.ids(); !slices.Equal(got, []string{"e1", "e2"}) {
		t.Fatalf("the Go client got %v", got)
	}
}

// The broker's Publish of a broadcast with Once: one entry, with the
// fields of any broadcast, and a key that expires with the window; the
// repeat adds nothing and returns no offset. When the XADD fails, the key
// is gone again, so that the broadcast can be published later.
func TestBrokerPublishOnce(t *testing.T) {
	cfg := onceConfig(t)
	cfg.OnceWindow = 2 * time.Second
	ctx := testkit.Context(t)
	rdb := newRedis(t)
	var node fakeNode
	b := startBroker(t, rdb, cfg, &node)
	msg := func(once string) server.ClusterMessage {
		m := textBroadcast([]string{"r"}, "ev", `2["ev",1]`)
		m.Broadcast.Once = once
		return m
	}
	first, err := b.Publish(ctx, msg("x"))
	if err != nil || first == "" {
		t.Fatalf("first Publish: %q, %v", first, err)
	}
	again, err := b.Publish(ctx, msg("x"))
	if err != nil || again != "" {
		t.Fatalf("the repeat: %q, %v; want no offset, no error", again, err)
	}
	plain, err := b.Publish(ctx, msg(""))
	if err != nil {
		t.Fatal(err)
	}
	entries, err := rdb.XRange(ctx, cfg.streamKey(nsp), "-", "+").Result()
	if err != nil || len(entries) != 2 || entries[0].ID != first || entries[1].ID != plain {
		t.Fatalf("stream %v (%v), want the once entry %s and the plain one %s", entries, err, first, plain)
	}
	if !equalValues(entries[0].Values, entries[1].Values) {
		t.Fatalf("the once entry %v differs from a plain one %v", entries[0].Values, entries[1].Values)
	}
	ttl, err := rdb.PTTL(ctx, cfg.onceKey("x")).Result()
	if err != nil || ttl <= 0 || ttl > cfg.OnceWindow {
		t.Fatalf("the key's TTL is %v (%v), want up to %v", ttl, err, cfg.OnceWindow)
	}

	// A stream key of another type: XADD fails, the error comes back and
	// the once key is not left behind.
	broken := cfg
	broken.StreamName = cfg.StreamName + "-broken"
	broken.OnceKeyPrefix = ""
	broken, _ = broken.withDefaults()
	dropOnceKeys(t, broken)
	if err := rdb.Set(ctx, broken.StreamName, "not a stream", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	pub := publisher{rdb, broken}
	m := wire.Message{UID: "u", Nsp: nsp, Data: &wire.Broadcast{Packet: wire.Packet{Type: wire.PacketTypeEvent, Nsp: nsp, Data: []any{"ev"}}}}
	if _, err := pub.publishOnce(ctx, m, "y"); err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("publishOnce onto a string: %v, want WRONGTYPE", err)
	}
	if n, err := rdb.Exists(ctx, broken.onceKey("y")).Result(); err != nil || n != 0 {
		t.Fatalf("the once key is left behind after a failed XADD (%d, %v)", n, err)
	}
	rdb.Del(ctx, broken.StreamName)
	if id, err := pub.publishOnce(ctx, m, "y"); err != nil || id == "" {
		t.Fatalf("publishOnce after the failure: %q, %v", id, err)
	}
	rdb.Del(ctx, broken.StreamName)

	// After the window, the id can be published again.
	testkit.Eventually(t, "the window over", func() bool {
		id, err := b.Publish(ctx, msg("x"))
		if err != nil {
			t.Fatal(err)
		}
		return id != ""
	})
}

// equalValues compares two entries' fields, the uid aside.
func equalValues(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if k != "uid" && fmt.Sprint(b[k]) != fmt.Sprint(v) {
			return false
		}
	}
	return true
}

// OnceKeyPrefix defaults to the stream of "/" as a hash tag, so that the
// key and the stream share a Redis Cluster slot.
func TestOnceKeyPrefixDefaults(t *testing.T) {
	for _, c := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "{socket.io}:once:"},
		{Config{StreamName: "app", StreamCount: 3}, "{" + Config{StreamName: "app", StreamCount: 3}.streamKey(nsp) + "}:once:"},
		{Config{StreamName: "{app}.sio"}, "{app}.sio:once:"},
		{Config{StreamName: "a{}b"}, "{a{}b}:once:"},
		{Config{OnceKeyPrefix: "mine:"}, "mine:"},
	} {
		got, err := c.cfg.withDefaults()
		if err != nil {
			t.Fatal(err)
		}
		if got.OnceKeyPrefix != c.want || got.OnceWindow != DefaultOnceWindow {
			t.Errorf("%+v: prefix %q window %v, want %q and %v", c.cfg, got.OnceKeyPrefix, got.OnceWindow, c.want, DefaultOnceWindow)
		}
	}
	for _, w := range []time.Duration{-time.Second, time.Microsecond} {
		if _, err := (Config{OnceWindow: w}).withDefaults(); err == nil || !strings.Contains(err.Error(), "OnceWindow") {
			t.Errorf("OnceWindow %v: %v", w, err)
		}
	}
}
