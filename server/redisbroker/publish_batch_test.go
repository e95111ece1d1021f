package redisbroker

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// PublishBatch adds what Publish would, in order, in one call: a once id
// published before and one repeated inside the batch are dropped, the
// others are added as Publish adds them, and the repeats count as
// published.
func TestBrokerPublishBatch(t *testing.T) {
	cfg := onceConfig(t)
	ctx := testkit.Context(t)
	rdb := newRedis(t)
	var node fakeNode
	b := startBroker(t, rdb, cfg, &node)
	msg := func(once, packet string) server.ClusterMessage {
		m := textBroadcast([]string{"r"}, "ev", packet)
		m.Broadcast.Once = once
		return m
	}
	before, err := b.Publish(ctx, msg("x", `2["ev","x"]`))
	if err != nil || before == "" {
		t.Fatalf("Publish x: %q, %v", before, err)
	}
	batch := []server.ClusterMessage{
		msg("x", `2["ev","x again"]`),
		msg("y", `2["ev","y"]`),
		msg("y", `2["ev","y again"]`),
		msg("", `2["ev","plain"]`),
		msg("z", `2["ev","z"]`),
	}
	n, err := b.PublishBatch(ctx, batch)
	if err != nil || n != len(batch) {
		t.Fatalf("PublishBatch: %d, %v; want %d, nil", n, err, len(batch))
	}
	entries, err := rdb.XRange(ctx, cfg.streamKey(nsp), "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var packets []string
	for _, e := range entries {
		m, err := wire.DecodeEntry(e.Values)
		if err != nil {
			t.Fatal(err)
		}
		bc, ok := m.Data.(*wire.Broadcast)
		if !ok {
			t.Fatalf("entry %s is a %T", e.ID, m.Data)
		}
		packets = append(packets, fmt.Sprintln(bc.Packet.Data...))
	}
	if want := []string{"ev x\n", "ev y\n", "ev plain\n", "ev z\n"}; !slices.Equal(packets, want) {
		t.Fatalf("the stream holds %q, want %q", packets, want)
	}
	// The entries of a batch are those of Publish.
	single, err := b.Publish(ctx, msg("w", `2["ev","z"]`))
	if err != nil {
		t.Fatal(err)
	}
	last, err := rdb.XRange(ctx, cfg.streamKey(nsp), single, single).Result()
	if err != nil || len(last) != 1 || !equalValues(last[0].Values, entries[len(entries)-1].Values) {
		t.Fatalf("Publish added %v (%v), the batch %v", last, err, entries[len(entries)-1].Values)
	}
}

// A batch whose first XADD fails adds nothing, says how many it added (0),
// leaves no once key behind, and can be tried again.
func TestBrokerPublishBatchStopsAtAFailure(t *testing.T) {
	cfg := onceConfig(t)
	cfg.StreamName += "-broken"
	cfg.OnceKeyPrefix = ""
	cfg, _ = cfg.withDefaults()
	dropOnceKeys(t, cfg)
	ctx := testkit.Context(t)
	rdb := newRedis(t)
	if err := rdb.Set(ctx, cfg.streamKey(nsp), "not a stream", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rdb.Del(ctx, cfg.streamKey(nsp)) })
	pub := publisher{rdb, cfg}
	m := func(s string) wire.Message {
		return wire.Message{UID: "u", Nsp: nsp, Data: &wire.Broadcast{Packet: wire.Packet{Type: wire.PacketTypeEvent, Nsp: nsp, Data: []any{"ev", s}}}}
	}
	msgs, onces := []wire.Message{m("a"), m("b")}, []string{"a", "b"}
	ids, err := pub.publishOnceBatch(ctx, msgs, onces)
	if len(ids) != 0 || err == nil || !strings.Contains(err.Error(), "WRONGTYPE") {
		t.Fatalf("a batch onto a string: %d, %v; want 0, WRONGTYPE", len(ids), err)
	}
	if k, err := rdb.Exists(ctx, cfg.onceKey("a"), cfg.onceKey("b")).Result(); err != nil || k != 0 {
		t.Fatalf("%d once keys left behind after the failed XADD (%v)", k, err)
	}
	rdb.Del(ctx, cfg.streamKey(nsp))
	if ids, err := pub.publishOnceBatch(ctx, msgs, onces); len(ids) != 2 || err != nil {
		t.Fatalf("the batch tried again: %d, %v; want 2, nil", len(ids), err)
	}
	if l, err := rdb.XLen(ctx, cfg.streamKey(nsp)).Result(); err != nil || l != 2 {
		t.Fatalf("the stream holds %d entries (%v), want 2", l, err)
	}
}

// 600 events of one row, in batches of 30 published alternately on node A
// and node B with PublishBatch, each after the previous returned, every
// batch tried twice (the second time on the other node, as two relays
// would): every client of both nodes gets them once each, in order.
func TestPublishBatchOrderAcrossNodes(t *testing.T) {
	cfg := onceConfig(t)
	a, b := startRecoveringNode(t, cfg), startRecoveringNode(t, cfg)
	ctx := testkit.Context(t)
	logs := []*rowLog{dialRow(t, a.URL, 1), dialRow(t, a.URL, 1), dialRow(t, b.URL, 1), dialRow(t, b.URL, 1)}
	waitRoom(t, a, "user_1", 4)
	waitRoom(t, b, "user_1", 4)
	const n, size = 600, 30
	to := entreactive.Target{Users: []any{1}}
	nodes := []*goServer{a, b}
	for k := 0; k < n/size; k++ {
		var batch []entreactive.Outgoing
		for i := k * size; i < (k+1)*size; i++ {
			batch = append(batch, entreactive.Outgoing{To: to, Event: rowEvent("row1-"+strconv.Itoa(i), i)})
		}
		for try := range 2 {
			node := nodes[(k+try)%2]
			if sent, err := node.Server.PublishBatch(ctx, batch); err != nil || sent != size {
				t.Fatalf("PublishBatch %d on node %d: %d, %v", k, (k+try)%2, sent, err)
			}
		}
	}
	for i, l := range logs {
		testkit.Eventually(t, fmt.Sprintf("client %d: every event", i), func() bool { return len(l.rows()) >= n })
	}
	for i, l := range logs {
		var nums []int
		for _, r := range l.rows() {
			nums = append(nums, r.N)
		}
		if len(nums) != n || !slices.IsSorted(nums) || nums[0] != 0 || nums[n-1] != n-1 {
			t.Fatalf("client %d got %d events, want %d once each in order: %v", i, len(nums), n, nums)
		}
	}
}

// The Emitter's PublishBatch is its Publish for each event, in order, in
// one call: repeats dropped, events for nobody counted as published, and
// an event without an id stops the batch there.
func TestEmitterPublishBatch(t *testing.T) {
	g, l, e := startEmitterNode(t)
	ctx := testkit.Context(t)
	to := entreactive.Target{Users: []any{1}}
	if err := g.Server.Publish(ctx, to, rowEvent("e1", 1)); err != nil {
		t.Fatal(err)
	}
	batch := []entreactive.Outgoing{
		{To: to, Event: rowEvent("e1", 1)},
		{To: entreactive.Target{Users: []any{"not an id"}}, Event: rowEvent("nobody", 0)},
		{To: to, Event: rowEvent("e2", 2)},
		{To: entreactive.Target{}, Event: rowEvent("empty", 0)},
		{To: to, Event: rowEvent("e2", 2)},
		{To: to, Event: rowEvent("e3", 3)},
		{To: to, Event: rowEvent("", 4)},
		{To: to, Event: rowEvent("e5", 5)},
	}
	n, err := e.PublishBatch(ctx, batch)
	if n != 6 || !errors.Is(err, server.ErrNoEventID) {
		t.Fatalf("PublishBatch: %d, %v; want 6, ErrNoEventID", n, err)
	}
	publishFence(t, e, "f1", l)
	if got := l.ids(); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Fatalf("the client got %v, want [e1 e2 e3]", got)
	}
}

// A backlog published with PublishBatch (an outbox's relay after a Redis
// outage) many times longer than MaxLen reaches every node whole: each
// full script call waits for the publishing node's reader, so the stream
// is not trimmed past what the nodes have read.
func TestBrokerPublishBatchBacklogLongerThanMaxLen(t *testing.T) {
	cfg := onceConfig(t)
	cfg.MaxLen = 500
	ctx := testkit.Context(t)
	rdb := newRedis(t)
	var a, b fakeNode
	publisher := startBroker(t, rdb, cfg, &a)
	startBroker(t, rdb, cfg, &b)
	const total = 6000
	backlog := make([]server.ClusterMessage, total)
	for i := range backlog {
		backlog[i] = textBroadcast([]string{"r"}, "ev", fmt.Sprintf(`2["ev",%d]`, i))
		backlog[i].Broadcast.Once = fmt.Sprint("backlog-", i)
	}
	if n, err := publisher.PublishBatch(ctx, backlog); err != nil || n != total {
		t.Fatalf("PublishBatch: %d, %v", n, err)
	}
	testkit.Eventually(t, "the other node read the backlog", func() bool { return len(b.events()) >= total })
	if n := len(b.events()); n != total {
		t.Fatalf("the other node received %d broadcasts, want %d", n, total)
	}
}
