package redisbroker

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// clientEvent is an event a Node client received; a Buffer argument is
// {"buffer": [bytes...]}.
type clientEvent struct {
	Name  string `json:"name"`
	Event string `json:"event"`
	Args  []any  `json:"args"`
}

func (p *nodePeer) clientEvent(name, event string) clientEvent {
	p.t.Helper()
	var e clientEvent
	p.decode(p.waitFor("client-event", func(l nodeLine) bool {
		var e clientEvent
		_ = json.Unmarshal(l.Raw, &e)
		return e.Name == name && e.Event == event
	}), &e)
	return e
}

// clientEventsUntil returns the events client name received, sync probes
// left out, up to and including the first event last.
func (p *nodePeer) clientEventsUntil(name, last string) []clientEvent {
	p.t.Helper()
	var events []clientEvent
	for {
		var e clientEvent
		p.decode(p.waitFor("client-event", func(l nodeLine) bool {
			var e clientEvent
			_ = json.Unmarshal(l.Raw, &e)
			return e.Name == name
		}), &e)
		if e.Event == "sync" {
			continue
		}
		events = append(events, e)
		if e.Event == last {
			return events
		}
	}
}

// syncWithGo waits until the peer's stream reader has started, which the
// Node adapter does some time after the server starts: it publishes probe
// broadcasts from Go until client name receives one.
func (p *nodePeer) syncWithGo(pub publisher, name string) {
	p.t.Helper()
	for i := range 100 {
		nonce := fmt.Sprint(i)
		if _, err := pub.publish(context.Background(), broadcast(nil, "sync", nonce)); err != nil {
			p.t.Fatal(err)
		}
		if _, ok := p.next("client-event", func(l nodeLine) bool {
			var e clientEvent
			_ = json.Unmarshal(l.Raw, &e)
			return e.Name == name && e.Event == "sync" && len(e.Args) > 0 && e.Args[0] == nonce
		}, 200*time.Millisecond); ok {
			return
		}
	}
	p.t.Fatal("the Node peer never read the stream")
}

type connected struct {
	ID        string `json:"id"`
	Recovered bool   `json:"recovered"`
	PID       string `json:"pid"`
}

func (p *nodePeer) client(name string, args map[string]any) connected {
	p.t.Helper()
	if args == nil {
		args = map[string]any{}
	}
	args["name"] = name
	var c connected
	if err := json.Unmarshal(p.do("client", args), &c); err != nil {
		p.t.Fatal(err)
	}
	return c
}

func jsonOf(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// A Go node's broadcasts, XADDed in our encoding, reach a Node server's
// clients with the entry id as the last argument; volatile ones without it.
func TestNodeClientReceivesGoBroadcasts(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	pub := publisher{newRedis(t), cfg}
	peer := startNodePeer(t, cfg)
	peer.client("c1", map[string]any{"auth": map[string]any{"rooms": []string{"r1"}}})
	peer.syncWithGo(pub, "c1")

	// A volatile packet may be dropped when the transport is busy (that is
	// what volatile means): send it until one arrives, and see it has no
	// offset.
	for i := 0; ; i++ {
		vol := broadcast([]string{"r1"}, "vol", "v")
		vol.Data.(*wire.Broadcast).Opts.Flags.Volatile = true
		_, _ = pub.publish(ctx, vol)
		l, ok := peer.next("client-event", func(l nodeLine) bool {
			var e clientEvent
			_ = json.Unmarshal(l.Raw, &e)
			return e.Event == "vol"
		}, 500*time.Millisecond)
		if ok {
			var e clientEvent
			peer.decode(l, &e)
			if !reflect.DeepEqual(e.Args, []any{"v"}) {
				t.Fatalf("volatile broadcast arrived with %v, want no offset", e.Args)
			}
			break
		}
		if i == 20 {
			t.Fatal("no volatile broadcast arrived")
		}
	}

	hello, _ := pub.publish(ctx, broadcast([]string{"r1"}, "hello", json.RawMessage(`{"a":1}`), 2.5))
	bin, _ := pub.publish(ctx, broadcast([]string{"r1"}, "bin", []byte{1, 2, 3}, map[string]any{"n": "x"}))
	_, _ = pub.publish(ctx, broadcast([]string{"r2"}, "not-for-c1"))
	except := broadcast(nil, "excluded")
	except.Data.(*wire.Broadcast).Opts.Except = []string{"r1"}
	_, _ = pub.publish(ctx, except)
	last, _ := pub.publish(ctx, broadcast(nil, "last"))

	got := peer.clientEventsUntil("c1", "last")
	want := []clientEvent{
		{"c1", "hello", []any{map[string]any{"a": 1.0}, 2.5, hello}},
		{"c1", "bin", []any{map[string]any{"buffer": []any{1.0, 2.0, 3.0}}, map[string]any{"n": "x"}, bin}},
		{"c1", "last", []any{last}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the Node client received\n%s\nwant\n%s", jsonOf(got), jsonOf(want))
	}
}

// goNode is the Go side of the interop tests: a stream reader and a
// subscriber that answer the Node peer's requests as a server would, with
// one socket ("gosocket", in room r1).
type goNode struct {
	uid     string
	pub     publisher
	entries received
	msgs    chan wire.Message
	replyC  chan wire.Message // responses to our own requests
}

var goSocket = wire.SocketInfo{
	ID:        "gosocket",
	Rooms:     []string{"gosocket", "r1"},
	Data:      map[string]any{"userId": 7.0},
	Handshake: wire.Handshake{Address: "10.0.0.7", Time: "Tue Dec 01 2026", Issued: 1764590000000, URL: "/socket.io/", Headers: map[string]any{}, Query: map[string]any{}, Auth: map[string]any{"token": "t"}},
}

func startGoNode(t *testing.T, cfg Config) *goNode {
	t.Helper()
	ctx := context.Background()
	g := &goNode{uid: wire.NewID(), pub: publisher{newRedis(t), cfg}, msgs: make(chan wire.Message, 100), replyC: make(chan wire.Message, 100)}
	r, err := startStreamReader(ctx, redis.NewClient(&redis.Options{Addr: redisAddr}), cfg.StreamName, cfg, g.entries.handle)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = r.close(context.Background()) })
	channels := []string{wire.PublicChannel(cfg.ChannelPrefix, "/"), wire.PrivateChannel(cfg.ChannelPrefix, "/", g.uid)}
	s, err := startSubscriber(ctx, g.pub.rdb.(*redis.Client), channels, cfg, g.onMessage)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.close(context.Background()) })
	return g
}

func (g *goNode) onMessage(m wire.Message) {
	if m.UID == g.uid {
		return
	}
	ctx := context.Background()
	respond := func(p wire.Payload) {
		_ = g.pub.publishResponse(ctx, m.UID, wire.Message{UID: g.uid, Nsp: m.Nsp, Data: p})
	}
	switch d := m.Data.(type) {
	case *wire.FetchSockets:
		sockets := []wire.SocketInfo{}
		if slices.Contains(d.Opts.Rooms, "r1") {
			sockets = append(sockets, goSocket)
		}
		respond(&wire.FetchSocketsResponse{RequestID: d.RequestID, Sockets: sockets})
	case *wire.ServerSideEmit:
		if d.RequestID != "" {
			respond(&wire.ServerSideEmitResponse{RequestID: d.RequestID, Packet: fmt.Sprintf("go got %v", d.Packet[1])})
		}
	case *wire.Broadcast:
		if d.RequestID != "" {
			respond(&wire.BroadcastClientCount{RequestID: d.RequestID, ClientCount: 1})
			respond(&wire.BroadcastAck{RequestID: d.RequestID, Packet: "go ack"})
		}
	case *wire.FetchSocketsResponse, *wire.ServerSideEmitResponse, *wire.BroadcastClientCount, *wire.BroadcastAck:
		g.replyC <- m
		return
	}
	g.msgs <- m
}

func (g *goNode) next(t *testing.T, c chan wire.Message) wire.Message {
	t.Helper()
	select {
	case m := <-c:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message from the Node peer")
		return wire.Message{}
	}
}

// lastEntry waits for the stream entry number n (1-based) the reader got.
func (g *goNode) entry(t *testing.T, n int) (string, wire.Message) {
	t.Helper()
	testkit.Eventually(t, fmt.Sprintf("stream entry %d", n), func() bool { ids, _ := g.entries.snapshot(); return len(ids) >= n })
	ids, msgs := g.entries.snapshot()
	return ids[n-1], msgs[n-1]
}

func assertMessage(t *testing.T, what string, got wire.Message, want wire.Message) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: decoded\n%#v\n%s\nwant\n%#v\n%s", what, got, jsonOf(got.Data), want, jsonOf(want.Data))
	}
}

// Every message a Node server publishes, through the stream or by pub/sub,
// decodes exactly in Go; Go's answers and requests are understood by Node.
func TestNodeAndGoExchangeMessages(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	g := startGoNode(t, cfg)
	peer := startNodePeer(t, cfg)
	testkit.Eventually(t, "the Node peer subscribed", func() bool { n, _ := g.pub.serverCount(ctx, "/"); return n == 2 })
	node := func(p wire.Payload) wire.Message { return wire.Message{UID: peer.UID, Nsp: "/", Data: p} }
	opts := func(rooms ...string) wire.Opts {
		return wire.Opts{Rooms: append([]string{}, rooms...), Except: []string{}}
	}

	t.Run("stream", func(t *testing.T) {
		peer.do("broadcast", map[string]any{"rooms": []string{"r1"}, "except": []string{"r2"}, "event": "ev",
			"args": []any{1, "two", map[string]any{"x": []any{true, nil}}}})
		_, m := g.entry(t, 1)
		assertMessage(t, "broadcast", m, node(&wire.Broadcast{
			Packet: wire.Packet{Type: 2, Data: []any{"ev", 1.0, "two", map[string]any{"x": []any{true, nil}}}},
			Opts:   wire.Opts{Rooms: []string{"r1"}, Except: []string{"r2"}},
		}))

		peer.do("broadcast", map[string]any{"event": "bin", "args": []any{map[string]any{"buffer": []int{1, 2, 3}}, 4}})
		_, m = g.entry(t, 2)
		assertMessage(t, "binary broadcast", m, node(&wire.Broadcast{
			Packet: wire.Packet{Type: 2, Data: []any{"bin", []byte{1, 2, 3}, int64(4)}}, Opts: opts(),
		}))

		peer.do("broadcast", map[string]any{"rooms": []string{"r1"}, "volatile": true, "event": "vol"})
		_, m = g.entry(t, 3)
		assertMessage(t, "volatile broadcast", m, node(&wire.Broadcast{
			Packet: wire.Packet{Type: 2, Data: []any{"vol"}}, Opts: wire.Opts{Rooms: []string{"r1"}, Except: []string{}, Flags: wire.Flags{Volatile: true}},
		}))

		peer.do("join", map[string]any{"rooms": []string{"r1"}, "join": []string{"a", "b"}})
		_, m = g.entry(t, 4)
		assertMessage(t, "socketsJoin", m, node(&wire.SocketsJoin{Opts: opts("r1"), Rooms: []string{"a", "b"}}))

		peer.do("leave", map[string]any{"rooms": []string{"r1"}, "leave": "a"})
		_, m = g.entry(t, 5)
		assertMessage(t, "socketsLeave", m, node(&wire.SocketsLeave{Opts: opts("r1"), Rooms: []string{"a"}}))

		peer.do("disconnect", map[string]any{"rooms": []string{"r1"}, "close": true})
		_, m = g.entry(t, 6)
		assertMessage(t, "disconnectSockets", m, node(&wire.DisconnectSockets{Opts: opts("r1"), Close: true}))
	})

	t.Run("node requests", func(t *testing.T) {
		var fetched []wire.SocketInfo
		if err := json.Unmarshal(peer.do("fetch", map[string]any{"rooms": []string{"r1"}}), &fetched); err != nil {
			t.Fatal(err)
		}
		m := g.next(t, g.msgs)
		req := m.Data.(*wire.FetchSockets)
		assertMessage(t, "fetchSockets", m, node(&wire.FetchSockets{Opts: opts("r1"), RequestID: req.RequestID}))
		if len(req.RequestID) != 16 {
			t.Errorf("requestId %q", req.RequestID)
		}
		if !reflect.DeepEqual(fetched, []wire.SocketInfo{goSocket}) {
			t.Fatalf("Node fetched %s, want %s", jsonOf(fetched), jsonOf([]wire.SocketInfo{goSocket}))
		}

		peer.do("serverSideEmit", map[string]any{"event": "hello", "args": []any{1, "x"}})
		assertMessage(t, "serverSideEmit", g.next(t, g.msgs), node(&wire.ServerSideEmit{Packet: []any{"hello", int64(1), "x"}}))

		answers := peer.do("serverSideEmitWithAck", map[string]any{"event": "ask", "args": []any{"q"}})
		m = g.next(t, g.msgs)
		assertMessage(t, "serverSideEmit with ack", m, node(&wire.ServerSideEmit{RequestID: m.Data.(*wire.ServerSideEmit).RequestID, Packet: []any{"ask", "q"}}))
		if string(answers) != `["go got q"]` {
			t.Fatalf("Node's serverSideEmitWithAck got %s", answers)
		}

		acks := peer.do("broadcastWithAck", map[string]any{"rooms": []string{"r1"}, "event": "question", "args": []any{"q2"}, "timeout": 3000})
		m = g.next(t, g.msgs)
		assertMessage(t, "broadcast with ack", m, node(&wire.Broadcast{
			Packet:    wire.Packet{Type: 2, Data: []any{"question", "q2"}},
			Opts:      wire.Opts{Rooms: []string{"r1"}, Except: []string{}, Flags: wire.Flags{Timeout: 3000}},
			RequestID: m.Data.(*wire.Broadcast).RequestID,
		}))
		if string(acks) != `["go ack"]` {
			t.Fatalf("Node's emitWithAck got %s", acks)
		}
	})

	t.Run("go requests", func(t *testing.T) {
		c1 := peer.client("c1", map[string]any{"auth": map[string]any{"rooms": []string{"r1"}, "data": map[string]any{"userId": 8}}})
		peer.syncWithGo(g.pub, "c1")
		mine := func(p wire.Payload) wire.Message { return wire.Message{UID: g.uid, Nsp: "/", Data: p} }

		if _, err := g.pub.publish(ctx, mine(&wire.FetchSockets{Opts: opts("r1"), RequestID: "q1"})); err != nil {
			t.Fatal(err)
		}
		resp := g.next(t, g.replyC)
		fr, ok := resp.Data.(*wire.FetchSocketsResponse)
		if !ok || resp.UID != peer.UID || fr.RequestID != "q1" || len(fr.Sockets) != 1 {
			t.Fatalf("fetchSockets response %s", jsonOf(resp))
		}
		s := fr.Sockets[0]
		if s.ID != c1.ID || !reflect.DeepEqual(s.Rooms, []string{c1.ID, "r1"}) || !reflect.DeepEqual(s.Data, map[string]any{"userId": int64(8)}) ||
			s.Handshake.Address == "" || s.Handshake.Issued == 0 || s.Handshake.URL == "" || s.Handshake.Auth["data"] == nil {
			t.Fatalf("Node's socket: %s", jsonOf(s))
		}

		_, _ = g.pub.publish(ctx, mine(&wire.ServerSideEmit{Packet: []any{"hello", "plain"}}))
		var sse struct{ Args []any }
		peer.decode(peer.waitFor("server-side-emit", nil), &sse)
		if !reflect.DeepEqual(sse.Args, []any{"plain"}) {
			t.Fatalf("Node got serverSideEmit %v", sse.Args)
		}
		_, _ = g.pub.publish(ctx, mine(&wire.ServerSideEmit{RequestID: "q3", Packet: []any{"ask", "from go"}}))
		assertMessage(t, "serverSideEmit response", g.next(t, g.replyC), node(&wire.ServerSideEmitResponse{RequestID: "q3", Packet: "node got from go"}))

		_, _ = g.pub.publish(ctx, mine(&wire.Broadcast{Packet: wire.Packet{Type: 2, Data: []any{"question-from-go", "q4"}}, Opts: opts("r1"), RequestID: "q4"}))
		assertMessage(t, "client count", g.next(t, g.replyC), node(&wire.BroadcastClientCount{RequestID: "q4", ClientCount: 1}))
		assertMessage(t, "client ack", g.next(t, g.replyC), node(&wire.BroadcastAck{RequestID: "q4", Packet: "client c1 got q4"}))

		// join, leave and disconnect through the stream act on Node's socket.
		_, _ = g.pub.publish(ctx, mine(&wire.SocketsJoin{Opts: opts(c1.ID), Rooms: []string{"joined-by-go"}}))
		testkit.Eventually(t, "c1 in joined-by-go", func() bool {
			var got []wire.SocketInfo
			_ = json.Unmarshal(peer.do("fetch", map[string]any{"rooms": []string{"joined-by-go"}}), &got)
			return len(got) == 1 && got[0].ID == c1.ID
		})
		_, _ = g.pub.publish(ctx, mine(&wire.SocketsLeave{Opts: opts("r1"), Rooms: []string{"joined-by-go"}}))
		testkit.Eventually(t, "c1 out of joined-by-go", func() bool {
			var got []wire.SocketInfo
			_ = json.Unmarshal(peer.do("fetch", map[string]any{"rooms": []string{"joined-by-go"}}), &got)
			return len(got) == 0
		})
		_, _ = g.pub.publish(ctx, mine(&wire.DisconnectSockets{Opts: opts("r1")}))
		var gone struct{ ID, Reason string }
		peer.decode(peer.waitFor("disconnect", nil), &gone)
		if gone.ID != c1.ID || gone.Reason != "server namespace disconnect" {
			t.Fatalf("Node socket disconnect: %+v", gone)
		}
	})
}

// A session persisted by Go (a socket that dropped from a Go node) is
// restored by a Node server: same socket id, rooms and data, and the missed
// broadcasts in order, each with its offset.
func TestNodeRestoresGoSession(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	rdb := newRedis(t)
	pub, ss := publisher{rdb, cfg}, sessions{rdb, cfg}
	peer := startNodePeer(t, cfg)

	session := wire.Session{SID: "goSocketId000001", PID: wire.NewID(), Rooms: []string{"goSocketId000001", "r1"}, Data: map[string]any{"userId": int64(7)}}
	offset, _ := pub.publish(ctx, broadcast([]string{"r1"}, "seen"))
	if err := ss.persist(ctx, session); err != nil {
		t.Fatal(err)
	}
	m1, _ := pub.publish(ctx, broadcast([]string{"r1"}, "m1", 1))
	_, _ = pub.publish(ctx, broadcast([]string{"r2"}, "other-room"))
	excluded := broadcast([]string{"r1"}, "excluded")
	excluded.Data.(*wire.Broadcast).Opts.Except = []string{"goSocketId000001"}
	_, _ = pub.publish(ctx, excluded)
	m2, _ := pub.publish(ctx, broadcast([]string{"goSocketId000001"}, "m2", []byte{9}))
	vol := broadcast([]string{"r1"}, "volatile")
	vol.Data.(*wire.Broadcast).Opts.Flags.Volatile = true
	volatile, _ := pub.publish(ctx, vol)
	m3, _ := pub.publish(ctx, broadcast(nil, "m3"))

	c := peer.client("c", map[string]any{"pid": session.PID, "offset": offset})
	if !c.Recovered || c.ID != session.SID || c.PID != session.PID {
		t.Fatalf("Node client after reconnecting: %+v, want recovered as %s", c, session.SID)
	}
	var srv struct {
		ID        string
		Recovered bool
		Rooms     []string
		Data      map[string]any
	}
	peer.decode(peer.waitFor("connection", nil), &srv)
	slices.Sort(srv.Rooms)
	if !srv.Recovered || srv.ID != session.SID || !reflect.DeepEqual(srv.Rooms, session.Rooms) || !reflect.DeepEqual(srv.Data, map[string]any{"userId": 7.0}) {
		t.Fatalf("Node socket after recovery: %+v", srv)
	}
	got := peer.clientEventsUntil("c", "m3")
	want := []clientEvent{
		{"c", "m1", []any{1.0, m1}},
		{"c", "m2", []any{map[string]any{"buffer": []any{9.0}}, m2}},
		{"c", "volatile", []any{volatile}}, // Node's defect: MissedPacket skips it
		{"c", "m3", []any{m3}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("the recovered Node client received\n%s\nwant\n%s", jsonOf(got), jsonOf(want))
	}
}

// A session persisted by a Node server when its client dropped is restored
// by Go with what the client missed, from Node and Go publishers alike.
func TestGoRestoresNodeSession(t *testing.T) {
	cfg := testConfig(t)
	ctx := context.Background()
	rdb := newRedis(t)
	pub, ss := publisher{rdb, cfg}, sessions{rdb, cfg}
	peer := startNodePeer(t, cfg)
	c := peer.client("c", map[string]any{"auth": map[string]any{"rooms": []string{"r1"}, "data": map[string]any{"userId": 8}}})
	peer.syncWithGo(pub, "c")

	peer.do("broadcast", map[string]any{"rooms": []string{"r1"}, "event": "seen"})
	seen := peer.clientEvent("c", "seen")
	var dropped struct{ PID, Offset string }
	if err := json.Unmarshal(peer.do("drop", map[string]any{"name": "c"}), &dropped); err != nil {
		t.Fatal(err)
	}
	if dropped.Offset != seen.Args[0] || dropped.PID != c.PID {
		t.Fatalf("client state at drop %+v, last event %v, pid %s", dropped, seen.Args, c.PID)
	}
	key := wire.SessionKey(cfg.SessionKeyPrefix, dropped.PID)
	testkit.Eventually(t, "Node persisted the session", func() bool { return rdb.Exists(ctx, key).Val() == 1 })
	if ttl := rdb.PTTL(ctx, key).Val(); ttl <= 0 || ttl > cfg.SessionTTL {
		t.Fatalf("Node's session TTL = %v", ttl)
	}

	peer.do("broadcast", map[string]any{"rooms": []string{"r1"}, "event": "n1", "args": []any{map[string]any{"k": "v"}}})
	go1, _ := pub.publish(ctx, broadcast([]string{"r1"}, "g1", []byte{1, 2}))
	peer.do("broadcast", map[string]any{"rooms": []string{"r2"}, "event": "other-room"})
	peer.do("broadcast", map[string]any{"rooms": []string{"r1"}, "volatile": true, "event": "volatile"})
	peer.do("broadcast", map[string]any{"event": "n2", "args": []any{map[string]any{"buffer": []int{3}}}})
	peer.do("join", map[string]any{"join": []string{"x"}})

	// The ids Node's entries got, by event name, once the last one (the
	// join: Node's emit returns before its XADD) is in the stream.
	ids := map[string]string{}
	testkit.Eventually(t, "Node's entries in the stream", func() bool {
		entries, err := rdb.XRange(ctx, cfg.StreamName, "-", "+").Result()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			m, err := wire.DecodeEntry(e.Values)
			if err != nil {
				continue
			}
			switch d := m.Data.(type) {
			case *wire.Broadcast:
				ids[d.Packet.Data[0].(string)] = e.ID
			case *wire.SocketsJoin:
				return true
			}
		}
		return false
	})

	r, err := ss.restore(ctx, "/", dropped.PID, dropped.Offset)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(r.Rooms)
	wantRooms := []string{c.ID, "r1"}
	slices.Sort(wantRooms)
	if r.SID != c.ID || r.PID != dropped.PID || !reflect.DeepEqual(r.Rooms, wantRooms) || !reflect.DeepEqual(r.Data, map[string]any{"userId": int64(8)}) {
		t.Fatalf("restored session %+v", r.Session)
	}
	want := [][]any{
		{"n1", map[string]any{"k": "v"}, ids["n1"]},
		{"g1", []byte{1, 2}, go1},
		{"n2", []byte{3}, ids["n2"]}, // Node would also replay "volatile"
	}
	// Node's emit returns before its XADD: stream order decides.
	slices.SortFunc(want, func(a, b []any) int {
		x, _ := wire.ParseOffset(a[len(a)-1].(string))
		y, _ := wire.ParseOffset(b[len(b)-1].(string))
		return cmp.Or(cmp.Compare(x.MS, y.MS), cmp.Compare(x.Seq, y.Seq))
	})
	if !reflect.DeepEqual(r.args(), want) {
		t.Fatalf("missed\n%#v\nwant\n%#v", r.args(), want)
	}
	if _, err := ss.restore(ctx, "/", dropped.PID, dropped.Offset); err != ErrSessionNotFound {
		t.Fatalf("second restore: %v", err)
	}
}

// With several streams, Node puts a namespace whose hash is negative on a
// stream no server reads (doc.go); StreamKey picks one that every server,
// Node's included, reads.
func TestNodeNegativeHashStream(t *testing.T) {
	cfg := testConfig(t)
	cfg.StreamCount = 4
	ctx := context.Background()
	rdb := newRedis(t)
	peer := startNodePeer(t, cfg)

	peer.do("namespaceBroadcast", map[string]any{"nsp": "/notifications", "event": "lost"})
	nodeKey := wire.NodeStreamKey(cfg.StreamName, cfg.StreamCount, "/notifications")
	testkit.Eventually(t, "Node's entry", func() bool { return rdb.XLen(ctx, nodeKey).Val() == 1 })
	if nodeKey != cfg.StreamName+"--3" || slices.Contains(cfg.streamKeys(), nodeKey) {
		t.Fatalf("Node wrote to %s; the streams read are %v", nodeKey, cfg.streamKeys())
	}
	if ours := cfg.streamKey("/notifications"); ours != cfg.StreamName+"-1" || !slices.Contains(cfg.streamKeys(), ours) {
		t.Fatalf("our stream for /notifications is %s, not one of %v", ours, cfg.streamKeys())
	}
	// For "/" (hash 47) both pick the same stream.
	peer.do("broadcast", map[string]any{"event": "root"})
	testkit.Eventually(t, "Node's entry for /", func() bool { return rdb.XLen(ctx, cfg.streamKey("/")).Val() == 1 })
}
