package redisbroker

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// startRecoveringNode starts a Go node with recovery on cfg.
func startRecoveringNode(t *testing.T, cfg Config) *goServer {
	t.Helper()
	b, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := testkit.Serve(t, server.Config{Broker: b, Recovery: &server.Recovery{}})
	return &goServer{Served: s, broker: b}
}

// noteLog collects the "note" events of a raw connection: the number and
// the offset appended to it.
type noteLog struct {
	mu      sync.Mutex
	nums    []int
	offsets []string
}

func (n *noteLog) handle(name string, data []byte) {
	if name != "note" {
		return
	}
	var args []any
	if json.Unmarshal(data, &args) != nil || len(args) != 3 {
		return
	}
	num, _ := args[1].(float64)
	off, _ := args[2].(string)
	n.mu.Lock()
	defer n.mu.Unlock()
	n.nums = append(n.nums, int(num))
	n.offsets = append(n.offsets, off)
}

func (n *noteLog) snapshot() ([]int, string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	last := ""
	if len(n.offsets) > 0 {
		last = n.offsets[len(n.offsets)-1]
	}
	return slices.Clone(n.nums), last
}

func (n *noteLog) waitFor(t *testing.T, count int) {
	t.Helper()
	testkit.Eventually(t, "notes", func() bool { nums, _ := n.snapshot(); return len(nums) >= count })
}

func dialRaw(t *testing.T, url string, auth map[string]any, n *noteLog) *sio.Conn {
	t.Helper()
	c, err := sio.Dial(testkit.Context(t), sio.Config{URL: url, Auth: auth, OnEvent: n.handle})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A client that drops from node A recovers on node B: same socket, same
// user and rooms, and the notes both nodes sent while it was away, in
// order, once.
func TestClusterRecovery(t *testing.T) {
	cfg := testConfig(t)
	a, b := startRecoveringNode(t, cfg), startRecoveringNode(t, cfg)
	ctx := testkit.Context(t)
	note := func(node *goServer, room string, n int) {
		t.Helper()
		if err := node.Server.EmitTo(ctx, entreactive.ToRooms(room), "note", n); err != nil {
			t.Fatal(err)
		}
	}
	got := &noteLog{}
	c1 := dialRaw(t, a.URL, map[string]any{"token": testkit.Token(t, 7)}, got)
	testkit.Eventually(t, "user 7 online", func() bool { return testkit.Online(t, b.Server, 7) })
	if err := b.Server.JoinUser(ctx, 7, "team"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "user 7 in team", func() bool { return testkit.RoomSize(t, a.Server, "team") == 1 })
	note(b, "team", 1)
	got.waitFor(t, 1)
	c1.Drop()
	testkit.Eventually(t, "the socket gone", func() bool { return testkit.Connections(t, b.Server) == 0 })

	note(b, "team", 2)
	note(a, "user_7", 3)
	note(b, "others", 99)
	note(a, "team", 4)
	_, last := got.snapshot()
	c2 := dialRaw(t, b.URL, map[string]any{"pid": c1.PID, "offset": last}, got)
	if c2.SID != c1.SID {
		t.Fatalf("recovered as %s, was %s", c2.SID, c1.SID)
	}
	note(a, "team", 5)
	got.waitFor(t, 5)
	// Each note once; each node's in the order it emitted them (B: 1, 2;
	// A: 3, 4, 5). Emits of two nodes have no order between them: Emit
	// returns before the broadcast is in the stream.
	nums, _ := got.snapshot()
	fromB := slices.DeleteFunc(slices.Clone(nums), func(n int) bool { return n > 2 })
	fromA := slices.DeleteFunc(slices.Clone(nums), func(n int) bool { return n <= 2 })
	if len(nums) != 5 || !slices.Equal(fromB, []int{1, 2}) || !slices.Equal(fromA, []int{3, 4, 5}) {
		t.Fatalf("notes %v, want 1..5 once each, each node's in order", nums)
	}
	if !testkit.Online(t, a.Server, 7) {
		t.Fatal("user 7 not back")
	}
}

// Sessions cross node kinds: a Node client whose session a Node server
// kept recovers on a Go node, and a Go client's session is restored by the
// Node server.
func TestMixedRecovery(t *testing.T) {
	cfg := testConfig(t)
	peer := startNodePeer(t, cfg)
	g := startRecoveringNode(t, cfg)
	ctx := testkit.Context(t)
	peer.client("n", map[string]any{"auth": map[string]any{"rooms": []string{"r1"}}})
	peer.syncWithGo(publisher{newRedis(t), cfg}, "n")

	// Node → Go.
	if err := g.Server.EmitTo(ctx, entreactive.ToRooms("r1"), "note", 1); err != nil {
		t.Fatal(err)
	}
	peer.clientEvent("n", "note")
	var dropped struct{ PID, Offset string }
	if err := json.Unmarshal(peer.do("drop", map[string]any{"name": "n"}), &dropped); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "Node persisted the session", func() bool {
		return newRedis(t).Exists(ctx, cfg.SessionKeyPrefix+dropped.PID).Val() == 1
	})
	if err := g.Server.EmitTo(ctx, entreactive.ToRooms("r1"), "note", 2); err != nil {
		t.Fatal(err)
	}
	peer.do("broadcast", map[string]any{"rooms": []string{"r1"}, "event": "note", "args": []any{3}})
	got := &noteLog{}
	c := dialRaw(t, g.URL, map[string]any{"pid": dropped.PID, "offset": dropped.Offset}, got)
	got.waitFor(t, 2)
	if nums, _ := got.snapshot(); !slices.Equal(nums, []int{2, 3}) {
		t.Fatalf("the Node client recovered on Go got %v, want [2 3]", nums)
	}

	// Go → Node.
	_, last := got.snapshot()
	c.Drop()
	testkit.Eventually(t, "Go persisted the session", func() bool {
		return newRedis(t).Exists(ctx, cfg.SessionKeyPrefix+c.PID).Val() == 1
	})
	if err := g.Server.EmitTo(ctx, entreactive.ToRooms("r1"), "note", 4); err != nil {
		t.Fatal(err)
	}
	back := peer.client("back", map[string]any{"pid": c.PID, "offset": last})
	if !back.Recovered || back.ID != c.SID {
		t.Fatalf("Node restored %+v, want socket %s", back, c.SID)
	}
	if e := peer.clientEvent("back", "note"); len(e.Args) < 1 || e.Args[0] != 4.0 {
		t.Fatalf("the Go client recovered on Node got %v", e.Args)
	}
}

// A node that dies without closing its sockets (here: it loses Redis, then
// its clients' connections) leaves their sessions behind all the same:
// they were kept in Redis ahead of time, rooms and user included, so the
// clients recover on another node with everything they missed.
func TestRecoveryAfterANodeDies(t *testing.T) {
	cfg := testConfig(t)
	a := startRecoveringNode(t, cfg)
	rdbB := redis.NewClient(&redis.Options{Addr: redisAddr})
	bb, err := New(rdbB, cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := &goServer{Served: testkit.Serve(t, server.Config{Broker: bb, Recovery: &server.Recovery{}}), broker: bb}
	ctx := testkit.Context(t)

	got := &noteLog{}
	c1 := dialRaw(t, b.URL, map[string]any{"token": testkit.Token(t, 8)}, got)
	testkit.Eventually(t, "user 8 online", func() bool { return testkit.Online(t, a.Server, 8) })
	if err := a.Server.JoinUser(ctx, 8, "team"); err != nil {
		t.Fatal(err)
	}
	if err := a.Server.EmitTo(ctx, entreactive.ToRooms("team"), "note", 1); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1)
	check := newRedis(t)
	testkit.Eventually(t, "the session kept with its room", func() bool {
		raw, err := check.Get(ctx, wire.SessionKey(cfg.SessionKeyPrefix, c1.PID)).Result()
		if err != nil {
			return false
		}
		s, err := wire.DecodeSession(raw)
		return err == nil && slices.Contains(s.Rooms, "team")
	})

	// B dies: nothing it does reaches Redis any more, then its client's
	// connection goes.
	_ = rdbB.Close()
	c1.Drop()
	if err := a.Server.EmitTo(ctx, entreactive.ToRooms("team"), "note", 2); err != nil {
		t.Fatal(err)
	}
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(8), "note", 3); err != nil {
		t.Fatal(err)
	}
	_, last := got.snapshot()
	c2 := dialRaw(t, a.URL, map[string]any{"pid": c1.PID, "offset": last}, got)
	if c2.SID != c1.SID {
		t.Fatalf("not recovered after its node died: %s, was %s", c2.SID, c1.SID)
	}
	got.waitFor(t, 3)
	if nums, _ := got.snapshot(); !slices.Equal(nums, []int{1, 2, 3}) {
		t.Fatalf("notes %v, want 1..3", nums)
	}
	if !testkit.Online(t, a.Server, 8) || testkit.RoomSize(t, a.Server, "team") != 1 {
		t.Fatal("user or room not back")
	}
}

// A socket the server disconnected, or whose client left, cannot be
// restored: its kept session is dropped.
func TestKickedSocketIsNotRestored(t *testing.T) {
	cfg := testConfig(t)
	a := startRecoveringNode(t, cfg)
	ctx := testkit.Context(t)
	got := &noteLog{}
	c1 := dialRaw(t, a.URL, map[string]any{"token": testkit.Token(t, 9)}, got)
	testkit.Eventually(t, "user 9 online", func() bool { return testkit.Online(t, a.Server, 9) })
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(9), "note", 1); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1)
	key := wire.SessionKey(cfg.SessionKeyPrefix, c1.PID)
	check := newRedis(t)
	testkit.Eventually(t, "the session kept", func() bool { return check.Exists(ctx, key).Val() == 1 })
	if err := a.Server.DisconnectUser(ctx, 9); err != nil {
		t.Fatal(err)
	}
	<-c1.Done()
	testkit.Eventually(t, "the session dropped", func() bool { return check.Exists(ctx, key).Val() == 0 })
	_, last := got.snapshot()
	c2 := dialRaw(t, a.URL, map[string]any{"pid": c1.PID, "offset": last}, got)
	if c2.SID == c1.SID {
		t.Fatal("a kicked socket came back")
	}
	if testkit.Online(t, a.Server, 9) {
		t.Fatal("a kicked socket's user is online again")
	}
}

// A volatile broadcast from a Node peer reaches a recovering Go node's
// client without an offset: it is not in any history, and the client must
// not take it for a position to recover from. The same peer's plain
// broadcast carries its stream entry id.
func TestVolatileFromANodePeerCarriesNoOffset(t *testing.T) {
	cfg := testConfig(t)
	g := startRecoveringNode(t, cfg)
	peer := startNodePeer(t, cfg)
	var mu sync.Mutex
	events := map[string][][]any{}
	c, err := sio.Dial(testkit.Context(t), sio.Config{URL: g.URL, Auth: map[string]any{"token": testkit.Token(t, 3)},
		OnEvent: func(name string, data []byte) {
			var args []any
			if json.Unmarshal(data, &args) == nil {
				mu.Lock()
				events[name] = append(events[name], args)
				mu.Unlock()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	testkit.Eventually(t, "user 3 online", func() bool { return testkit.Online(t, g.Server, 3) })
	arrived := func(name string) [][]any {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(events[name])
	}

	// Volatile may be dropped on a busy transport: send until one arrives.
	testkit.Eventually(t, "a volatile broadcast", func() bool {
		peer.do("broadcast", map[string]any{"rooms": []string{"user_3"}, "volatile": true, "event": "vol", "args": []any{"v"}})
		return len(arrived("vol")) > 0
	})
	peer.do("broadcast", map[string]any{"rooms": []string{"user_3"}, "event": "solid", "args": []any{"s"}})
	testkit.Eventually(t, "the plain broadcast", func() bool { return len(arrived("solid")) == 1 })
	// The packet's array: the event's name, then its arguments.
	if got := arrived("vol")[0]; len(got) != 2 || got[1] != "v" {
		t.Errorf("the volatile broadcast arrived as %v, want [vol v]", got)
	}
	if got := arrived("solid")[0]; len(got) != 3 || got[1] != "s" {
		t.Errorf("the plain broadcast arrived as %v, want [solid s <offset>]", got)
	} else if off, _ := got[2].(string); !strings.Contains(off, "-") {
		t.Errorf("the plain broadcast's offset %v is no stream entry id", got[2])
	}
}
