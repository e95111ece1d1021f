package redisbroker

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/metrics"
)

// latencyCount returns how many deliveries m's latency histogram holds.
func latencyCount(t *testing.T, m *metrics.Metrics, srv *server.Server) uint64 {
	t.Helper()
	reg := prometheus.NewRegistry()
	if err := reg.Register(m.Collector(srv)); err != nil {
		t.Fatal(err)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "entreactive_delivery_latency_seconds" {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	t.Fatal("no entreactive_delivery_latency_seconds")
	return 0
}

// TestLatencyRecordedInACluster: with a broker, every reactive delivery is
// observed in entreactive_delivery_latency_seconds on the node that writes
// it, whether the event was emitted on that node (it comes back through
// Redis) or on another.
func TestLatencyRecordedInACluster(t *testing.T) {
	cfg := testConfig(t)
	ctx := testkit.Context(t)
	type node struct {
		*goServer
		m *metrics.Metrics
	}
	var nodes []node
	for range 2 {
		b, err := New(newRedis(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		m := metrics.New()
		s := testkit.Serve(t, server.Config{Broker: b, Observer: m})
		nodes = append(nodes, node{&goServer{Served: s, broker: b}, m})
	}
	a, b := nodes[0], nodes[1]
	onA, onB := dial(t, a.goServer, 1, ""), dial(t, b.goServer, 2, "")

	const events = 5
	for i := range events {
		from := nodes[i%2]
		ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Note", ID: i, Data: map[string]any{"i": i}, Timestamp: time.Now()}
		if err := from.Server.Emit(ctx, entreactive.ToAll(), ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := onA.WaitCount(ctx, "reactive", events); err != nil {
		t.Fatal(err)
	}
	if err := onB.WaitCount(ctx, "reactive", events); err != nil {
		t.Fatal(err)
	}
	for i, n := range nodes {
		testkit.Eventually(t, "every delivery observed", func() bool {
			return latencyCount(t, n.m, n.Server) == events
		})
		t.Logf("node %d: %d deliveries observed", i, latencyCount(t, n.m, n.Server))
	}
}
