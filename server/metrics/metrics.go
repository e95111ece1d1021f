// Package metrics exports an entreactive Socket.IO server's state and
// counters to Prometheus. It lives apart from package server so that apps
// that do not use Prometheus do not import it.
//
// A Metrics is the server's Observer (for what only the delivery path can
// see: events emitted by model and action, commit-to-write latency) and,
// through Collector, a prometheus.Collector of those and of the server's
// Stats, read at each scrape:
//
//	m := metrics.New()
//	srv, err := server.New(server.Config{JWT: jwt, Observer: m})
//	if err != nil { ... }
//	reg := prometheus.NewRegistry()
//	reg.MustRegister(m.Collector(srv))
//	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
//
// With a Broker that reports (redisbroker's does, see
// server.BrokerReporter) the Collector adds the cluster's nodes, this
// node's read lag and the broker's errors, asked of the broker at each
// scrape within a second. AdminCollector exports an admin.Admin's refused
// logins and actions; entreactive_build_info says which version of this
// module and of Go built the binary.
//
// The metrics, all prefixed entreactive_, are listed in docs/metrics.md
// and in each metric's HELP text.
package metrics

import (
	"runtime"
	"runtime/debug"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/server"
)

// namespace prefixes every metric name.
const namespace = "entreactive"

// latencyBuckets returns the upper bounds, in seconds, of the buckets of
// entreactive_delivery_latency_seconds: from half a millisecond (a write
// on an idle server) to ten seconds (the default write timeout).
func latencyBuckets() []float64 {
	return []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
}

// Metrics holds the metrics fed by the server's Observer calls. Create it
// with New; pass it as server.Config.Observer and register its Collector.
// It is safe for concurrent use.
type Metrics struct {
	emittedVec *prometheus.CounterVec
	latency    prometheus.Histogram
	// buildInfo is entreactive_build_info, fixed at New.
	buildInfo prometheus.Metric

	// emitted caches emittedVec's counter of each model and action, so
	// that EventEmitted allocates nothing.
	mu      sync.RWMutex
	emitted map[eventKey]prometheus.Counter
}

type eventKey struct {
	model  string
	action entreactive.Action
}

var _ server.Observer = (*Metrics)(nil)

// New returns Metrics with every counter at zero.
func New() *Metrics {
	return &Metrics{
		emittedVec: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace,
			Name:      "events_emitted_total",
			Help:      "Reactive events queued for delivery after their commit, by model and action.",
		}, []string{"model", "action"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: namespace,
			Name:      "delivery_latency_seconds",
			Help: "Time from a reactive event's commit to its delivery to one socket: the socket write " +
				"returning (websocket), or the handover to the polling transport.",
			Buckets: latencyBuckets(),
		}),
		emitted:   make(map[eventKey]prometheus.Counter),
		buildInfo: buildInfo(),
	}
}

// modulePath is the path of this module, whose version build_info reports.
const modulePath = "github.com/entreactive/reactive"

// buildInfo returns entreactive_build_info: 1, labelled with the version
// of this module in the running binary and the Go version that built it.
func buildInfo() prometheus.Metric {
	d := desc("build_info", "Always 1: the version of github.com/entreactive/reactive in this binary "+
		"(\"(devel)\" when built from a checkout or unknown) and the Go version that built it.", "version", "go_version")
	bi, _ := debug.ReadBuildInfo()
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, 1, moduleVersion(bi), runtime.Version())
}

// moduleVersion returns the version of this module in bi: the main
// module's when it is this one, else the dependency's (or its
// replacement's); "(devel)" when bi says nothing.
func moduleVersion(bi *debug.BuildInfo) string {
	const unknown = "(devel)"
	if bi == nil {
		return unknown
	}
	mods := append([]*debug.Module{&bi.Main}, bi.Deps...)
	for _, m := range mods {
		if m == nil || m.Path != modulePath {
			continue
		}
		if m.Replace != nil && m.Replace.Version != "" {
			return m.Replace.Version
		}
		if m.Version != "" {
			return m.Version
		}
		return unknown
	}
	return unknown
}

// EventEmitted implements server.Observer.
func (m *Metrics) EventEmitted(model string, action entreactive.Action) {
	k := eventKey{model, action}
	m.mu.RLock()
	c, ok := m.emitted[k]
	m.mu.RUnlock()
	if !ok {
		m.mu.Lock()
		if c, ok = m.emitted[k]; !ok {
			c = m.emittedVec.WithLabelValues(model, string(action))
			m.emitted[k] = c
		}
		m.mu.Unlock()
	}
	c.Inc()
}

// EventDelivered implements server.Observer.
func (m *Metrics) EventDelivered(sinceCommit time.Duration) {
	m.latency.Observe(sinceCommit.Seconds())
}

// Collector returns a prometheus.Collector of m's metrics and of srv's
// Stats. srv must have been created with m as its Config.Observer, or the
// emitted and latency metrics stay at zero. Register one Collector per
// Metrics: a second registration fails as a duplicate.
func (m *Metrics) Collector(srv *server.Server) prometheus.Collector {
	return &collector{m: m, srv: srv}
}
