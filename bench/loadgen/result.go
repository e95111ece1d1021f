// Package loadgen drives a server that speaks the example app's HTTP API
// (example/README.md) and socket protocol (the protocol table of
// docs/protocol.md) with thousands of Socket.IO connections from one process, and
// measures delivery, latency and the server's cost. The scenarios are
// Fanout, Targeted, Rollback and SlowConsumers; each returns a Result,
// which bench/cmd/benchreport turns into BENCHMARKS.md.
package loadgen

import (
	"slices"
	"time"
)

// Result is what one scenario run measured. Counts are deliveries (one
// event reaching one socket) unless named otherwise.
type Result struct {
	// Scenario is "fanout", "targeted", "rollback" or "slow"; Case names the
	// configuration, e.g. "fanout-1000-rate".
	Scenario string `json:"scenario"`
	Case     string `json:"case"`
	// Target labels the server: "go", "node", "node-hook", "floor",
	// "floor-coalesced".
	Target string    `json:"target"`
	Round  int       `json:"round"`
	Start  time.Time `json:"start"`

	Clients  int     `json:"clients"`
	Messages int     `json:"messages"`       // notifications, messages or batches posted
	Rate     float64 `json:"rate,omitempty"` // posts per second; 0 = saturation
	Pinned   string  `json:"pinned,omitempty"`
	// Nodes is how many server processes served the run (0 in results
	// of single-server runs); Redis is set when they (or the one) ran on
	// a Redis broker (bench/cluster.sh).
	Nodes int  `json:"nodes,omitempty"`
	Redis bool `json:"redis,omitempty"`

	Expected   int64 `json:"expected"`
	Delivered  int64 `json:"delivered"`
	Duplicates int64 `json:"duplicates"`
	Leaks      int64 `json:"leaks"`    // targeted: an event seen by a socket it was not for
	Phantoms   int64 `json:"phantoms"` // rollback: an event for a row of a failed batch
	Stored     int64 `json:"stored"`   // rollback: rows of failed batches found by GET
	PostErrors int64 `json:"post_errors"`
	Unexpected int64 `json:"unexpected"` // events of this run that are malformed or foreign

	ConnectSeconds   float64        `json:"connect_s"`
	Seconds          float64        `json:"seconds"` // first post to last receipt
	DeliveriesPerSec float64        `json:"deliveries_per_s"`
	Latency          LatencySummary `json:"latency_ms"`
	// LatencyLocal and LatencyRemote split Latency in a cluster run of
	// more than one node: deliveries to sockets on the node that took the
	// POST, and to sockets on the other nodes (the event crossed Redis).
	LatencyLocal  *LatencySummary `json:"latency_local_ms,omitempty"`
	LatencyRemote *LatencySummary `json:"latency_remote_ms,omitempty"`
	// CDF holds latency in ms at the quantiles of CDFQuantiles.
	CDF []float64 `json:"cdf_ms,omitempty"`

	Server ServerCost `json:"server"`
	Box    BoxLoad    `json:"box"`
	// Slow is set by the slow-consumer scenario.
	Slow *SlowResult `json:"slow,omitempty"`

	Errors []string `json:"errors,omitempty"`
}

// LatencySummary is the distribution from POST sent to event received.
type LatencySummary struct {
	Count int64   `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// ServerCost is the server process's CPU and memory, read from /proc. In a
// cluster run every figure is the sum over the nodes and Redis, and Procs
// holds each process's share.
type ServerCost struct {
	PID int `json:"pid,omitempty"`
	// CPUSeconds is user+system time over the delivery phase (first post to
	// the end of the drain).
	CPUSeconds float64 `json:"cpu_s"`
	// CPUPer1k is CPUSeconds per 1,000 deliveries.
	CPUPer1k float64 `json:"cpu_s_per_1k"`
	// RSS in MiB before the clients connect, after they have and after
	// the run.
	RSSBefore       float64 `json:"rss_before_mib"`
	RSSAfterConnect float64 `json:"rss_connected_mib"`
	RSSAfter        float64 `json:"rss_after_mib"`
	// RSSPeak is the highest RSS sampled during the delivery phase (slow
	// scenario only).
	RSSPeak float64 `json:"rss_peak_mib,omitempty"`
	// Procs is the per-process breakdown of a run measured over several
	// processes (Env.Procs), the first being Env.PID.
	Procs []ProcCost `json:"procs,omitempty"`
}

// ProcCost is one process's part of ServerCost.
type ProcCost struct {
	Label           string  `json:"label"`
	PID             int     `json:"pid"`
	CPUSeconds      float64 `json:"cpu_s"`
	RSSAfterConnect float64 `json:"rss_connected_mib"`
	RSSAfter        float64 `json:"rss_after_mib"`
}

// SlowResult is what the slow-consumer scenario adds: how the server
// treated the sockets that stopped reading.
type SlowResult struct {
	// Stalled is how many sockets stopped reading (0 in the control run).
	Stalled int `json:"stalled"`
	// StalledClosed is how many of them the server closed by the end.
	StalledClosed int `json:"stalled_closed"`
	// CloseSeconds holds, per closed stalled socket, the time from its
	// stall until the client saw the connection closed (an upper bound:
	// it notices at its next heartbeat, or at the end of the run).
	CloseSeconds []float64 `json:"close_s,omitempty"`
	// PayloadBytes is the size of each notification's message.
	PayloadBytes int `json:"payload_bytes"`
	// PendingLimitMiB is the server's per-connection limit on pending
	// bytes as configured for the run (0: not given).
	PendingLimitMiB float64 `json:"pending_limit_mib,omitempty"`
}

// BoxLoad tells how busy the machine was with other work during the run.
type BoxLoad struct {
	WallSeconds float64 `json:"wall_s"`
	// OtherCores is the CPU time of every other process (user, nice,
	// system), divided by the wall time: 0.5 means half a core was taken.
	OtherCores float64 `json:"other_cores"`
	// SoftIRQCores is kernel network work, mostly this run's own loopback
	// traffic; reported, not counted as other.
	SoftIRQCores float64 `json:"softirq_cores"`
	LoadGenCPU   float64 `json:"loadgen_cpu_s"`
	ServerCPU    float64 `json:"server_cpu_s"`
	// Busy is set when OtherCores exceeded the run's threshold: such a run
	// is not published.
	Busy      bool    `json:"busy"`
	Threshold float64 `json:"threshold"`
}

// CDFQuantiles are the quantiles at which Result.CDF is sampled: every
// percent, then finer in the tail.
func CDFQuantiles() []float64 {
	qs := make([]float64, 0, 112)
	for i := 0; i <= 99; i++ {
		qs = append(qs, float64(i)/100)
	}
	qs = append(qs, 0.992, 0.994, 0.996, 0.998, 0.999, 0.9995, 1)
	return qs
}

// summarize sorts samples (microseconds) and fills the latency fields.
func summarize(samples []int32, r *Result) {
	if len(samples) == 0 {
		return
	}
	r.Latency = latencyOf(samples)
	at := func(q float64) float64 {
		i := int(q * float64(len(samples)-1))
		return float64(samples[i]) / 1000
	}
	qs := CDFQuantiles()
	r.CDF = make([]float64, len(qs))
	for i, q := range qs {
		r.CDF[i] = at(q)
	}
}

// latencyOf sorts samples (microseconds) and summarizes them in ms.
func latencyOf(samples []int32) LatencySummary {
	if len(samples) == 0 {
		return LatencySummary{}
	}
	slices.Sort(samples)
	at := func(q float64) float64 {
		i := int(q * float64(len(samples)-1))
		return float64(samples[i]) / 1000
	}
	return LatencySummary{
		Count: int64(len(samples)),
		P50:   at(0.50),
		P90:   at(0.90),
		P99:   at(0.99),
		Max:   float64(samples[len(samples)-1]) / 1000,
	}
}
