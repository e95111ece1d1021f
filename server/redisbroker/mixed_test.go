package redisbroker

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// startMixedCluster starts a Go server.Server node and the Node peer on one
// config, with Node client "n1" in rooms r1 and user_7, and waits until
// each node reads the stream and counts the other.
func startMixedCluster(t *testing.T) (*goServer, *nodePeer, connected) {
	t.Helper()
	cfg := testConfig(t)
	peer := startNodePeer(t, cfg)
	g := startGoServer(t, cfg)
	n1 := peer.client("n1", map[string]any{"auth": map[string]any{"rooms": []string{"r1", "user_7"}, "data": map[string]any{"from": "node"}}})
	peer.syncWithGo(publisher{newRedis(t), cfg}, "n1")
	ctx := testkit.Context(t)
	testkit.Eventually(t, "both nodes subscribed", func() bool {
		n, err := publisher{newRedis(t), cfg}.serverCount(ctx, "/")
		return err == nil && n == 2
	})
	return g, peer, n1
}

// Broadcasts cross both ways between a Go node and a Node node, text and
// binary, each reaching its targets once and nobody else; a Node broadcast
// with acknowledgements reaches Go clients and completes (the Go node
// answers that it waits for none).
func TestMixedBroadcasts(t *testing.T) {
	g, peer, _ := startMixedCluster(t)
	peer.client("n2", map[string]any{"auth": map[string]any{"rooms": []string{"r2"}}})
	ctx := testkit.Context(t)
	alice := dial(t, g, 1, "phone")
	guest := dial(t, g, nil, "")

	// Go → Node and Go → Go; EmitTo(ToAll) reaches Node's sockets too.
	if err := g.Server.EmitTo(ctx, entreactive.ToRooms("r1", "user_1"), "from-go", map[string]any{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	if err := g.Server.EmitTo(ctx, entreactive.ToRooms("r1"), "bin-from-go", []byte{5, 6}); err != nil {
		t.Fatal(err)
	}
	if err := g.Server.EmitTo(ctx, entreactive.ToAll(), "fence"); err != nil {
		t.Fatal(err)
	}
	names := func(events []clientEvent) []string {
		var out []string
		for _, e := range events {
			out = append(out, e.Event)
		}
		return out
	}
	n1 := peer.clientEventsUntil("n1", "fence")
	if got := names(n1); !reflect.DeepEqual(got, []string{"from-go", "bin-from-go", "fence"}) {
		t.Fatalf("n1 received %v", got)
	}
	if !reflect.DeepEqual(n1[0].Args[0], map[string]any{"k": "v"}) || !reflect.DeepEqual(n1[1].Args[0], map[string]any{"buffer": []any{5.0, 6.0}}) {
		t.Fatalf("n1 arguments %s", jsonOf(n1))
	}
	if got := names(peer.clientEventsUntil("n2", "fence")); !reflect.DeepEqual(got, []string{"fence"}) {
		t.Fatalf("n2 received %v", got)
	}

	// Node → Go.
	peer.do("broadcast", map[string]any{"rooms": []string{"user_1"}, "event": "from-node", "args": []any{map[string]any{"n": 1}, "s"}})
	peer.do("broadcast", map[string]any{"rooms": []string{"user_1", "r1"}, "event": "bin-from-node", "args": []any{map[string]any{"buffer": []int{1, 2}}}})
	peer.do("broadcast", map[string]any{"except": []string{"users"}, "event": "not-users"})
	var acks []any
	if err := json.Unmarshal(peer.do("broadcastWithAck", map[string]any{"rooms": []string{"user_1", "r1"}, "event": "question-from-go", "args": []any{"q"}}), &acks); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(acks, []any{"client n1 got q"}) {
		t.Fatalf("Node's broadcast with acks got %v", acks)
	}
	peer.do("broadcast", map[string]any{"event": "node-fence"})
	for _, c := range []interface {
		WaitCount(context.Context, string, int) error
	}{alice, guest} {
		if err := c.WaitCount(ctx, "node-fence", 1); err != nil {
			t.Fatal(err)
		}
	}
	want := map[string]int{"from-go": 1, "from-node": 1, "bin-from-node": 1, "question-from-go": 1}
	if got := counts(alice, "from-go", "bin-from-go", "from-node", "bin-from-node", "not-users", "question-from-go"); !reflect.DeepEqual(got, want) {
		t.Fatalf("alice received %v, want %v", got, want)
	}
	if got := counts(guest, "from-go", "from-node", "bin-from-node", "not-users", "question-from-go"); !reflect.DeepEqual(got, map[string]int{"not-users": 1}) {
		t.Fatalf("guest received %v", got)
	}
	if args := alice.Events("from-node")[0]; args[0].(map[string]any)["n"] != 1.0 || args[1] != "s" {
		t.Fatalf("from-node arguments %#v", args)
	}
	if args := alice.Events("bin-from-node")[0]; !reflect.DeepEqual(plain(args[0]), []byte{1, 2}) {
		t.Fatalf("bin-from-node arguments %#v", args)
	}
}

// Remote joins from either side, fetchSockets from either side, and
// server-side emits with acknowledgements both ways.
func TestMixedRequests(t *testing.T) {
	g, peer, n1 := startMixedCluster(t)
	ctx := testkit.Context(t)
	alice := dial(t, g, 1, "phone")

	// Go joins the Node socket of user 7 to a room; Node sees it there.
	if err := g.Server.JoinUser(ctx, 7, "team"); err != nil {
		t.Fatal(err)
	}
	var fetched []struct {
		ID        string
		Rooms     []string
		Data      map[string]any
		Handshake map[string]any
	}
	testkit.Eventually(t, "the Node socket in team", func() bool {
		fetched = nil
		_ = json.Unmarshal(peer.do("fetch", map[string]any{"rooms": []string{"team"}}), &fetched)
		return len(fetched) == 1 && fetched[0].ID == n1.ID
	})
	// Node joins alice's Go socket to a room; Go sees it there.
	peer.do("join", map[string]any{"rooms": []string{"user_1"}, "join": []string{"node-room"}})
	testkit.Eventually(t, "alice in node-room", func() bool { return testkit.RoomSize(t, g.Server, "node-room") == 1 })

	// Node's fetchSockets sees the Go socket, in Node's shape.
	fetched = nil
	_ = json.Unmarshal(peer.do("fetch", map[string]any{"rooms": []string{"user_1"}}), &fetched)
	if len(fetched) != 1 || fetched[0].ID != alice.ID() || !slices.Contains(fetched[0].Rooms, "node-room") ||
		!reflect.DeepEqual(fetched[0].Data, map[string]any{"user_id": "1", "device_id": "phone"}) ||
		fetched[0].Handshake["address"] == "" || fetched[0].Handshake["issued"] == nil {
		t.Fatalf("Node fetched %+v", fetched)
	}
	// Go's FetchSockets sees both.
	socks, err := g.Server.FetchSockets(ctx, server.Selector{Rooms: []string{"team", "node-room"}})
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, s := range socks {
		ids = append(ids, s.ID)
		if s.ID == n1.ID && (!reflect.DeepEqual(s.Data, map[string]any{"from": "node"}) || s.Handshake.Time.IsZero() || s.Handshake.Headers.Get("host") == "") {
			t.Fatalf("the Node socket as Go sees it: %+v", s)
		}
	}
	slices.Sort(ids)
	want := []string{alice.ID(), n1.ID}
	slices.Sort(want)
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("Go fetched %v, want %v", ids, want)
	}
	if n := testkit.Connections(t, g.Server); n != 2 {
		t.Fatalf("ConnectionCount = %d", n)
	}

	// Server-side emits with acknowledgements, both ways.
	g.Server.OnServerEvent("ask", func(_ context.Context, args []any) any { return fmt.Sprint("go got ", args[0]) })
	replies, err := g.Server.ServerSideEmitWithAck(ctx, "ask", "q1")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(replies, []any{"node got q1"}) {
		t.Fatalf("Go's ServerSideEmitWithAck = %#v", replies)
	}
	var nodeReplies []any
	if err := json.Unmarshal(peer.do("serverSideEmitWithAck", map[string]any{"event": "ask", "args": []any{"q2"}}), &nodeReplies); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(nodeReplies, []any{"go got q2"}) {
		t.Fatalf("Node's serverSideEmitWithAck = %#v", nodeReplies)
	}
	// Without an ack: Go → Node.
	if err := g.Server.ServerSideEmit(ctx, "hello", "there", 3); err != nil {
		t.Fatal(err)
	}
	var heard struct{ Args []any }
	peer.decode(peer.waitFor("server-side-emit", func(l nodeLine) bool {
		var h struct{ Args []any }
		_ = json.Unmarshal(l.Raw, &h)
		return len(h.Args) == 2 && h.Args[0] == "there"
	}), &heard)
	if !reflect.DeepEqual(heard.Args, []any{"there", 3.0}) {
		t.Fatalf("Node heard %v", heard.Args)
	}
}
