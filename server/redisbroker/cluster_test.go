package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// goServer is one node of a test cluster: a served server.Server with its
// own Redis client and Broker.
type goServer struct {
	*testkit.Served
	broker *Broker
}

// startGoServer starts a node on cfg's stream and channels.
func startGoServer(t *testing.T, cfg Config) *goServer {
	t.Helper()
	b, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := testkit.Serve(t, server.Config{Broker: b})
	return &goServer{Served: s, broker: b}
}

// startGoCluster starts n nodes sharing one test config.
func startGoCluster(t *testing.T, n int) (Config, []*goServer) {
	t.Helper()
	cfg := testConfig(t)
	nodes := make([]*goServer, n)
	for i := range nodes {
		nodes[i] = startGoServer(t, cfg)
	}
	return cfg, nodes
}

// dial connects a client to node with auth, user and device ids optional.
func dial(t *testing.T, node *goServer, user any, device string) *sioclient.Client {
	t.Helper()
	auth := map[string]any{}
	if user != nil {
		auth["token"] = testkit.Token(t, user)
	}
	if device != "" {
		auth["device_id"] = device
	}
	return testkit.Dial(t, node.URL, sioclient.Options{Transport: sioclient.WebSocketOnly, Auth: auth})
}

// fence emits "fence" n from node to every socket of the cluster and waits
// until each client has it: whatever node emitted before it has then
// reached them (one publisher, one stream, in order).
func fence(t *testing.T, node *goServer, n int, clients ...*sioclient.Client) {
	t.Helper()
	ctx := testkit.Context(t)
	if err := node.Server.EmitTo(ctx, entreactive.ToAll(), "fence", n); err != nil {
		t.Fatal(err)
	}
	for _, c := range clients {
		if err := c.WaitCount(ctx, "fence", n); err != nil {
			t.Fatal(err)
		}
	}
}

// counts returns how many of each event c received.
func counts(c *sioclient.Client, events ...string) map[string]int {
	out := map[string]int{}
	for _, e := range events {
		if n := c.Count(e); n > 0 {
			out[e] = n
		}
	}
	return out
}

// An event emitted on node A reaches the right clients on B and C, and on A
// itself, exactly once, and nobody else: user rooms, EmitTo with rooms, the
// reactive Emit, binary arguments; the arguments arrive as they were sent.
func TestClusterBroadcasts(t *testing.T) {
	_, nodes := startGoCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := testkit.Context(t)
	alice := dial(t, b, 1, "phone") // user 1 on B
	bob := dial(t, c, 2, "")        // user 2 on C
	carol := dial(t, a, 3, "")      // user 3 on A
	guest := dial(t, c, nil, "")
	everyone := []*sioclient.Client{alice, bob, carol, guest}

	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	big := map[string]any{"n": 12345678901234567, "s": "é\u2028", "f": 1.5, "nested": []any{nil, true}}
	must(a.Server.EmitTo(ctx, entreactive.ToUserIDs(1), "to-alice", big))
	must(a.Server.EmitTo(ctx, entreactive.ToRooms("user_1", "user_2", "user_9"), "to-rooms", "x"))
	must(a.Server.EmitTo(ctx, entreactive.ToRooms(server.UserDeviceRoom(1, "phone")), "to-phone"))
	must(a.Server.EmitTo(ctx, entreactive.ToGuests(), "to-guests"))
	must(a.Server.EmitTo(ctx, entreactive.ToRooms("user_2", "user_3"), "binary", []byte{1, 2, 3}, map[string]any{"b": []byte{4}}))
	must(a.Server.Emit(ctx, entreactive.Target{Users: []any{1, 3}}, entreactive.Event{
		Action: entreactive.ActionCreate, Model: "Message", ID: 7, Data: map[string]any{"text": "hi"},
	}))
	fence(t, a, 1, everyone...)

	events := []string{"to-alice", "to-rooms", "to-phone", "to-guests", "binary", server.EventReactive}
	want := map[*sioclient.Client]map[string]int{
		alice: {"to-alice": 1, "to-rooms": 1, "to-phone": 1, server.EventReactive: 1},
		bob:   {"to-rooms": 1, "binary": 1},
		carol: {"binary": 1, server.EventReactive: 1},
		guest: {"to-guests": 1},
	}
	for cl, w := range want {
		if got := counts(cl, events...); !reflect.DeepEqual(got, w) {
			t.Errorf("client %s got %v, want %v", cl.ID(), got, w)
		}
	}
	if got := alice.Events("to-alice")[0][0]; fmt.Sprint(got) != fmt.Sprint(map[string]any{"n": 1.2345678901234568e16, "s": "é\u2028", "f": 1.5, "nested": []any{nil, true}}) {
		t.Errorf("to-alice argument %#v", got)
	}
	for _, cl := range []*sioclient.Client{bob, carol} {
		args := cl.Events("binary")[0]
		if len(args) < 2 || !reflect.DeepEqual(plain(args[0]), []byte{1, 2, 3}) || !reflect.DeepEqual(plain(args[1]), map[string]any{"b": []byte{4}}) {
			t.Errorf("client %s binary args %#v (%T)", cl.ID(), args, args[0])
		}
	}
	ev := alice.Events(server.EventReactive)[0][0].(map[string]any)
	if ev["model"] != "Message" || ev["action"] != "create" || fmt.Sprint(ev["id"]) != "7" {
		t.Errorf("reactive event %#v", ev)
	}
}

// Join, leave and disconnect on node A act on the sockets of B and C.
func TestClusterOperations(t *testing.T) {
	_, nodes := startGoCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := testkit.Context(t)
	alice := dial(t, b, 1, "phone")
	alice2 := dial(t, c, 1, "laptop")
	bob := dial(t, c, 2, "tablet")

	if err := a.Server.JoinUser(ctx, 1, "team"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "both of alice's sockets in team", func() bool { return testkit.RoomSize(t, a.Server, "team") == 2 })
	if err := c.Server.EmitTo(ctx, entreactive.ToRooms("team"), "team-news"); err != nil {
		t.Fatal(err)
	}
	fence(t, c, 1, alice, alice2, bob)
	if alice.Count("team-news") != 1 || alice2.Count("team-news") != 1 || bob.Count("team-news") != 0 {
		t.Fatalf("team-news counts %d %d %d", alice.Count("team-news"), alice2.Count("team-news"), bob.Count("team-news"))
	}

	if err := a.Server.LeaveUser(ctx, 1, "team"); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "team empty", func() bool { return testkit.RoomSize(t, a.Server, "team") == 0 })

	if err := a.Server.DisconnectDevice(ctx, "laptop"); err != nil {
		t.Fatal(err)
	}
	if _, err := alice2.WaitDisconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Server.DisconnectUser(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.WaitDisconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if !alice.Connected() {
		t.Fatal("alice's phone was disconnected too")
	}
	testkit.Eventually(t, "one connection left", func() bool { return testkit.Connections(t, a.Server) == 1 })
}

// The utility API answers for the whole cluster.
func TestClusterQueries(t *testing.T) {
	_, nodes := startGoCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := testkit.Context(t)
	alice := dial(t, b, 1, "phone")
	dial(t, c, 1, "laptop")
	dial(t, c, 2, "")
	dial(t, a, nil, "")

	if n := testkit.Connections(t, a.Server); n != 4 {
		t.Fatalf("ConnectionCount = %d", n)
	}
	if n := testkit.Users(t, a.Server); n != 2 {
		t.Fatalf("UserCount = %d", n)
	}
	if !testkit.Online(t, a.Server, 1) || !testkit.Online(t, a.Server, 2) || testkit.Online(t, a.Server, 3) {
		t.Fatal("IsUserOnline")
	}
	if n := testkit.RoomSize(t, a.Server, "user_1"); n != 2 {
		t.Fatalf("RoomSize(user_1) = %d", n)
	}
	devices, err := a.Server.UserDevices(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(devices)
	if !slices.Equal(devices, []string{"laptop", "phone"}) {
		t.Fatalf("UserDevices = %v", devices)
	}
	socks, err := a.Server.FetchSockets(ctx, server.Selector{Rooms: []string{"user_1"}, Except: []string{"device_laptop"}})
	if err != nil {
		t.Fatal(err)
	}
	if len(socks) != 1 || socks[0].ID != alice.ID() {
		t.Fatalf("FetchSockets = %+v, want alice's phone %s", socks, alice.ID())
	}
	s := socks[0]
	if !slices.Contains(s.Rooms, alice.ID()) || !slices.Contains(s.Rooms, "user_1") ||
		!reflect.DeepEqual(s.Data, map[string]any{"user_id": "1", "device_id": "phone"}) ||
		!strings.HasPrefix(s.Handshake.Address, "127.0.0.1") || s.Handshake.Time.IsZero() ||
		s.Handshake.Headers.Get("Upgrade") == "" || s.Handshake.Auth["device_id"] != "phone" || s.Handshake.Auth["token"] != nil {
		t.Fatalf("remote socket %+v", s)
	}
}

// ServerSideEmit reaches the handlers of the other nodes; with an ack it
// returns one answer per other node.
func TestClusterServerSideEmit(t *testing.T) {
	_, nodes := startGoCluster(t, 3)
	a, b, c := nodes[0], nodes[1], nodes[2]
	ctx := testkit.Context(t)
	got := make(chan string, 10)
	for i, n := range nodes {
		name := string(rune('A' + i))
		n.Server.OnServerEvent("ping", func(_ context.Context, args []any) any {
			got <- name + fmt.Sprint(args)
			return "pong from " + name
		})
	}
	_ = b
	_ = c
	replies, err := a.Server.ServerSideEmitWithAck(ctx, "ping", "x", 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(replies, func(x, y any) int { return strings.Compare(fmt.Sprint(x), fmt.Sprint(y)) })
	if !reflect.DeepEqual(replies, []any{"pong from B", "pong from C"}) {
		t.Fatalf("replies %#v", replies)
	}
	heard := []string{<-got, <-got}
	slices.Sort(heard)
	if !reflect.DeepEqual(heard, []string{"B[x 1]", "C[x 1]"}) {
		t.Fatalf("handlers heard %v", heard)
	}
	if err := c.Server.ServerSideEmit(ctx, "ping", "y"); err != nil {
		t.Fatal(err)
	}
	heard = []string{<-got, <-got}
	slices.Sort(heard)
	if !reflect.DeepEqual(heard, []string{"A[y]", "B[y]"}) {
		t.Fatalf("handlers heard %v", heard)
	}
}

// A subscriber that never answers (a node that hangs) makes FetchSockets
// and ServerSideEmitWithAck fail at the RequestTimeout, naming how many
// answered, or at the caller's context when that ends first; a lone node
// answers at once.
func TestClusterRequestTimeout(t *testing.T) {
	cfg := testConfig(t)
	cfg.RequestTimeout = 500 * time.Millisecond
	a := startGoServer(t, cfg)
	ctx := testkit.Context(t)

	start := time.Now()
	if socks, err := a.broker.FetchSockets(ctx, server.Selector{}); err != nil || len(socks) != 0 {
		t.Fatalf("FetchSockets alone = %v, %v", socks, err)
	}
	if time.Since(start) > 400*time.Millisecond {
		t.Fatalf("a lone node waited %v", time.Since(start))
	}

	startGoServer(t, cfg)
	mute := newRedis(t).Subscribe(ctx, wire.PublicChannel(cfg.ChannelPrefix, "/"))
	defer mute.Close()
	if _, err := mute.Receive(ctx); err != nil {
		t.Fatal(err)
	}

	start = time.Now()
	_, err := a.Server.FetchSockets(ctx, server.Selector{})
	if !errors.Is(err, ErrRequestTimeout) || !strings.Contains(err.Error(), "only 1 responses received out of 2") {
		t.Fatalf("FetchSockets with a mute node: %v", err)
	}
	if d := time.Since(start); d < cfg.RequestTimeout || d > cfg.RequestTimeout+2*time.Second {
		t.Fatalf("FetchSockets failed after %v, want about %v", d, cfg.RequestTimeout)
	}
	if _, err := testkitConnections(a.Server); !errors.Is(err, ErrRequestTimeout) {
		t.Fatalf("ConnectionCount with a mute node: %v", err)
	}
	if _, err := a.Server.ServerSideEmitWithAck(ctx, "nobody-listens"); !errors.Is(err, ErrRequestTimeout) {
		t.Fatalf("ServerSideEmitWithAck with a mute node: %v", err)
	}
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	start = time.Now()
	if _, err := a.broker.FetchSockets(short, server.Selector{}); !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 400*time.Millisecond {
		t.Fatalf("FetchSockets with a shorter context: %v after %v", err, time.Since(start))
	}
}

func testkitConnections(s *server.Server) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	return s.ConnectionCount(ctx)
}

// The Emitter reaches the clients of every node and, never subscribing,
// does not count as a node: requests do not wait for it.
func TestEmitter(t *testing.T) {
	cfg, nodes := startGoCluster(t, 2)
	ctx := testkit.Context(t)
	rdb := newRedis(t)
	numsub := func() int64 {
		n, err := publisher{rdb, cfg}.serverCount(ctx, "/")
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := numsub(); n != 2 {
		t.Fatalf("NUMSUB with two nodes = %d", n)
	}
	alice := dial(t, nodes[0], 1, "")
	bob := dial(t, nodes[1], 2, "")
	guest := dial(t, nodes[1], nil, "")

	e, err := NewEmitter(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.EmitTo(ctx, entreactive.ToRooms("user_1", "user_2"), "from-worker", "hello", []byte{7}); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(ctx, entreactive.Target{Users: []any{2}}, entreactive.Event{Action: entreactive.ActionDelete, Model: "Message", ID: 9}); err != nil {
		t.Fatal(err)
	}
	if err := e.Emit(ctx, entreactive.Target{}, entreactive.Event{Action: entreactive.ActionDelete, Model: "Message", ID: 10}); err != nil {
		t.Fatal(err)
	}
	if err := e.EmitTo(ctx, entreactive.ToRooms(nil...), "nowhere"); err != nil {
		t.Fatal(err)
	}
	if n := numsub(); n != 2 {
		t.Fatalf("NUMSUB after the emitter published = %d, want 2", n)
	}
	// The emitter's own fence: a node's fence reaches that node's clients
	// without crossing Redis, so it can overtake the emitter's events there;
	// the emitter's events reach every node in the order it published them.
	if err := e.EmitTo(ctx, entreactive.ToRooms(entreactive.RoomAll), "fence", 1); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*sioclient.Client{alice, bob, guest} {
		if err := cl.WaitCount(ctx, "fence", 1); err != nil {
			t.Fatal(err)
		}
	}
	for _, cl := range []*sioclient.Client{alice, bob} {
		args := cl.Events("from-worker")
		if len(args) != 1 || args[0][0] != "hello" || !reflect.DeepEqual(plain(args[0][1]), []byte{7}) {
			t.Fatalf("client %s got from-worker %#v", cl.ID(), args)
		}
	}
	if alice.Count(server.EventReactive) != 0 || bob.Count(server.EventReactive) != 1 || guest.Count("from-worker") != 0 || guest.Count("nowhere") != 0 {
		t.Fatalf("reactive: alice %d bob %d; guest %v", alice.Count(server.EventReactive), bob.Count(server.EventReactive), counts(guest, "from-worker", "nowhere"))
	}
	start := time.Now()
	if n := testkit.Connections(t, nodes[0].Server); n != 3 {
		t.Fatalf("ConnectionCount = %d", n)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("ConnectionCount took %v with an emitter around", time.Since(start))
	}
}

// Publish-only sanity: New refuses clients it does not speak.
func TestNewRefusesClusterClients(t *testing.T) {
	if _, err := New(redis.NewClusterClient(&redis.ClusterOptions{Addrs: []string{"127.0.0.1:1"}}), Config{}); err == nil {
		t.Fatal("New accepted a ClusterClient")
	}
}

// plain returns v with the Go client's binary values (*types.BytesBuffer)
// as []byte.
func plain(v any) any {
	switch x := v.(type) {
	case interface{ Bytes() []byte }:
		return x.Bytes()
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = plain(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = plain(e)
		}
		return out
	}
	return v
}
