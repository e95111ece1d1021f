package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/entreactive/reactive/server"
)

// collector reads a server's Stats at each scrape, beside the Metrics it
// was made from.
type collector struct {
	m   *Metrics
	srv *server.Server
}

// statDesc describes one metric read from Stats.
type statDesc struct {
	desc  *prometheus.Desc
	kind  prometheus.ValueType
	value func(*server.Stats) float64
}

func desc(name, help string, labels ...string) *prometheus.Desc {
	return prometheus.NewDesc(prometheus.BuildFQName(namespace, "", name), help, labels, nil)
}

// connectionsDesc is the one Stats metric with a label.
var connectionsDesc = desc("connections", "Connected sockets, by transport (websocket, polling).", "transport")

// statDescs are the metrics read from Stats, without labels.
var statDescs = []statDesc{
	{desc("users", "Distinct authenticated users with at least one connected socket."), prometheus.GaugeValue,
		func(s *server.Stats) float64 { return float64(s.Users) }},
	{desc("rooms", "Rooms with at least one socket, the server's own (all, users, user_{id}, ...) included."), prometheus.GaugeValue,
		func(s *server.Stats) float64 { return float64(len(s.Rooms)) }},
	{desc("delivery_queue_depth", "Broadcasts waiting in the delivery queue between the commits and the sockets."), prometheus.GaugeValue,
		func(s *server.Stats) float64 { return float64(s.QueueDepth) }},
	{desc("delivery_queue_capacity", "Capacity of the delivery queue (Config.QueueSize); when full, new broadcasts are dropped."), prometheus.GaugeValue,
		func(s *server.Stats) float64 { return float64(s.QueueCapacity) }},
	{desc("broadcasts_queued_total", "Broadcasts (reactive events and EmitTo* calls) accepted into the delivery queue."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.EventsQueued) }},
	{desc("deliveries_total", "Broadcast events queued on a socket for writing: one per socket per broadcast."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.EventsSent) }},
	{desc("drops_total", "Broadcasts dropped because the delivery queue was full."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.Dropped) }},
	{desc("events_lost_total", "Reactive events reported lost after their commit (entreactive's FailureReporter), drops included."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.Failures) }},
	{desc("slow_consumer_disconnects_total", "Sockets disconnected because more than Config.MaxPendingBytes waited to be written to them."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.SlowConsumers) }},
	{desc("write_timeout_disconnects_total", "Sockets disconnected because a write took longer than Config.WriteTimeout."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.WriteTimeouts) }},
	{desc("auth_failures_total", "Tokens refused from sockets, in \"auth\" events and handshakes."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.AuthFailures) }},
	{desc("joins_refused_total", "Client \"join\" requests refused."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.JoinsRefused) }},
	{desc("client_events_received_total", "Events received from clients."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.EventsReceived) }},
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.m.emittedVec.Describe(ch)
	c.m.latency.Describe(ch)
	ch <- connectionsDesc
	for _, d := range statDescs {
		ch <- d.desc
	}
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	c.m.emittedVec.Collect(ch)
	c.m.latency.Collect(ch)
	st := c.srv.Stats()
	for _, transport := range []string{"websocket", "polling"} {
		ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.GaugeValue, float64(st.Transports[transport]), transport)
	}
	for _, d := range statDescs {
		ch <- prometheus.MustNewConstMetric(d.desc, d.kind, d.value(&st))
	}
}
