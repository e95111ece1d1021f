package server

import (
	"encoding/json"
	"net/http"
	"sync/atomic"
)

// counters are the server's monotonic counters.
type counters struct {
	queued       atomic.Uint64
	sent         atomic.Uint64
	dropped      atomic.Uint64
	failures     atomic.Uint64
	encodeErrors atomic.Uint64
	received     atomic.Uint64
	unknown      atomic.Uint64
	authFailures atomic.Uint64
	joinsRefused atomic.Uint64
	// slowConsumers and writeTimeouts count connections closed by their
	// writer (see connWriter).
	slowConsumers atomic.Uint64
	writeTimeouts atomic.Uint64
	// publishErrors counts broadcasts that did not reach the broker.
	publishErrors atomic.Uint64
	// recoveryCloses counts sockets closed, under recovery, because an
	// event for them found the delivery queue full.
	recoveryCloses atomic.Uint64
}

// Stats is a snapshot of the server's state and counters.
type Stats struct {
	// Connections is the number of connected sockets.
	Connections int `json:"connections"`
	// Transports maps each transport ("websocket", "polling") to the
	// number of connected sockets on it.
	Transports map[string]int `json:"transports"`
	// Users is the number of distinct authenticated users.
	Users int `json:"users"`
	// Rooms maps every non-empty room to its size.
	Rooms map[string]int `json:"rooms"`
	// EventsQueued counts broadcasts accepted into the delivery queue.
	EventsQueued uint64 `json:"events_queued"`
	// EventsSent counts events written to sockets (one per socket).
	EventsSent uint64 `json:"events_sent"`
	// QueueDepth and QueueCapacity describe the delivery queue now.
	QueueDepth    int `json:"queue_depth"`
	QueueCapacity int `json:"queue_capacity"`
	// Dropped counts broadcasts dropped because the queue was full.
	Dropped uint64 `json:"dropped"`
	// Failures counts events reported lost by entreactive (ReportFailure).
	Failures uint64 `json:"failures"`
	// EncodeErrors counts events whose JSON encoding failed.
	EncodeErrors uint64 `json:"encode_errors"`
	// EventsReceived counts events received from clients; UnknownEvents
	// those without a handler.
	EventsReceived uint64 `json:"events_received"`
	UnknownEvents  uint64 `json:"unknown_events"`
	// AuthFailures counts refused tokens; JoinsRefused refused joins.
	AuthFailures uint64 `json:"auth_failures"`
	JoinsRefused uint64 `json:"joins_refused"`
	// SlowConsumers counts connections closed because more than
	// Config.MaxPendingBytes waited to be written to them;
	// WriteTimeouts those closed because a write took longer than
	// Config.WriteTimeout.
	SlowConsumers uint64 `json:"slow_consumers"`
	WriteTimeouts uint64 `json:"write_timeouts"`
	// RecoveryCloses counts sockets closed, under Config.Recovery,
	// because an event for them found the delivery queue full: they get
	// it from the history when they come back. PublishErrors counts
	// broadcasts that did not reach the other nodes (Config.Broker).
	RecoveryCloses uint64 `json:"recovery_closes"`
	PublishErrors  uint64 `json:"publish_errors"`
}

// Stats returns a snapshot of the server's state and counters.
func (s *Server) Stats() Stats {
	conns := s.reg.all()
	transports := make(map[string]int, 2)
	for _, c := range conns {
		transports[c.transportName()]++
	}
	return Stats{
		Connections:    len(conns),
		Transports:     transports,
		Users:          len(s.localUsers()),
		Rooms:          s.reg.sizes(),
		EventsQueued:   s.stats.queued.Load(),
		EventsSent:     s.stats.sent.Load(),
		QueueDepth:     s.del.depth(),
		QueueCapacity:  cap(s.del.queue),
		Dropped:        s.stats.dropped.Load(),
		Failures:       s.stats.failures.Load(),
		EncodeErrors:   s.stats.encodeErrors.Load(),
		EventsReceived: s.stats.received.Load(),
		UnknownEvents:  s.stats.unknown.Load(),
		AuthFailures:   s.stats.authFailures.Load(),
		JoinsRefused:   s.stats.joinsRefused.Load(),
		SlowConsumers:  s.stats.slowConsumers.Load(),
		WriteTimeouts:  s.stats.writeTimeouts.Load(),
		RecoveryCloses: s.stats.recoveryCloses.Load(),
		PublishErrors:  s.stats.publishErrors.Load(),
	}
}

// transportName returns the name of the socket's transport now:
// "websocket" or "polling".
func (c *Conn) transportName() string {
	if t := c.sock.Client().Conn().Transport(); t != nil {
		return t.Name()
	}
	return "none"
}

// StatsHandler returns an http.Handler that serves Stats as JSON. Room
// names reveal who is online (user_{id}): mount it behind your own access
// control.
func (s *Server) StatsHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
}
