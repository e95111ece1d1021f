package metrics

import (
	"context"
	"errors"
	"time"

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

// Metrics read from Stats with a label, and from the broker.
var (
	connectionsDesc = desc("connections", "Connected sockets, by transport (websocket, polling).", "transport")
	disconnectsDesc = desc("disconnections_total",
		"Sockets disconnected, by reason: the server's (server disconnect, slow consumer, ...) and the Socket.IO library's "+
			"(client namespace disconnect, ping timeout, transport close, ...); any other reason is counted as other.", "reason")
	sessionsDesc = desc("sessions_total",
		"Under connection state recovery, sockets by how their session started: recovered (restored with what they missed), "+
			"not_recovered (the client asked for a restore and got a fresh socket), new (the client asked for none).", "result")
	bytesDesc = desc("bytes_written_total",
		"Bytes written to clients, by transport: websocket frames (headers included) and polling response bodies.", "transport")
	brokerNodesDesc = desc("broker_nodes",
		"Nodes of the cluster, this one included, as the broker sees them now; 0 when it cannot reach the cluster.")
	brokerLagDesc = desc("broker_read_lag_seconds",
		"How far behind this node reads what the other nodes publish: the age of the oldest message it has not read yet.")
	brokerPublishErrorsDesc = desc("broker_publish_errors_total", "Messages the broker failed to send to the cluster.")
	brokerReadErrorsDesc    = desc("broker_read_errors_total", "Failed reads of what the cluster sent.")
)

// brokerTimeout bounds the broker's answer at each scrape.
const brokerTimeout = time.Second

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
	{desc("unknown_events_total", "Events received from clients with no handler (answered \"unknown event\")."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.UnknownEvents) }},
	{desc("encode_errors_total", "Events that could not be encoded to JSON, and so were not sent."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.EncodeErrors) }},
	{desc("recovery_disconnects_total", "Under connection state recovery, sockets closed because an event for them found "+
		"the delivery queue full (they get it from the history when they come back)."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.RecoveryCloses) }},
	{desc("broadcasts_unpublished_total", "Broadcasts that did not reach the other nodes of the cluster: "+
		"the broker failed, or its queue was full."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.PublishErrors) }},
	{desc("connections_total", "Sockets connected since the server started."), prometheus.CounterValue,
		func(s *server.Stats) float64 { return float64(s.Connects) }},
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	c.m.emittedVec.Describe(ch)
	c.m.latency.Describe(ch)
	for _, d := range []*prometheus.Desc{
		connectionsDesc, disconnectsDesc, sessionsDesc, bytesDesc,
		brokerNodesDesc, brokerLagDesc, brokerPublishErrorsDesc, brokerReadErrorsDesc, c.m.buildInfo.Desc(),
	} {
		ch <- d
	}
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
	for _, reason := range server.DisconnectReasons() {
		ch <- prometheus.MustNewConstMetric(disconnectsDesc, prometheus.CounterValue, float64(st.Disconnects[reason]), reason)
	}
	for result, n := range map[string]uint64{
		"recovered": st.SessionsRecovered, "not_recovered": st.SessionsNotRecovered, "new": st.SessionsNew,
	} {
		ch <- prometheus.MustNewConstMetric(sessionsDesc, prometheus.CounterValue, float64(n), result)
	}
	for _, transport := range []string{"websocket", "polling"} {
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, float64(st.BytesWritten[transport]), transport)
	}
	c.collectBroker(ch)
	ch <- c.m.buildInfo
}

// collectBroker collects what the server's broker reports, if it does:
// its counters always, the nodes (0 when it cannot reach the cluster) and
// the read lag when it answers.
func (c *collector) collectBroker(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), brokerTimeout)
	defer cancel()
	st, err := c.srv.BrokerStats(ctx)
	if errors.Is(err, server.ErrNoBrokerStats) {
		return
	}
	ch <- prometheus.MustNewConstMetric(brokerPublishErrorsDesc, prometheus.CounterValue, float64(st.PublishErrors))
	ch <- prometheus.MustNewConstMetric(brokerReadErrorsDesc, prometheus.CounterValue, float64(st.ReadErrors))
	if err != nil {
		ch <- prometheus.MustNewConstMetric(brokerNodesDesc, prometheus.GaugeValue, 0)
		return
	}
	ch <- prometheus.MustNewConstMetric(brokerNodesDesc, prometheus.GaugeValue, float64(st.Nodes))
	ch <- prometheus.MustNewConstMetric(brokerLagDesc, prometheus.GaugeValue, st.ReadLag.Seconds())
}
