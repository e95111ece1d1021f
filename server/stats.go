package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"
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
	// connects counts the sockets registered; disconnects those that
	// left, by reason (index of disconnectReasons).
	connects    atomic.Uint64
	disconnects [numReasons]atomic.Uint64
	// Under recovery: sockets restored, sockets whose client asked for a
	// restore that could not be made, and sockets of new clients.
	restored, notRestored, newSessions atomic.Uint64
	// wsBytes and pollingBytes count the bytes written to clients.
	wsBytes, pollingBytes atomic.Uint64
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
	// Connects counts the sockets that connected; Disconnects the sockets
	// that left, by reason: each of DisconnectReasons, every other reason
	// counted under ReasonOther. Connects minus the sum of Disconnects is
	// Connections.
	Connects    uint64            `json:"connects"`
	Disconnects map[string]uint64 `json:"disconnects"`
	// Under Config.Recovery (all zero without): SessionsRecovered counts
	// sockets restored with what they missed; SessionsNotRecovered
	// sockets whose client asked to be restored but got a fresh socket
	// (the session expired, or the history no longer held its offset);
	// SessionsNew sockets of clients that asked for no restore.
	SessionsRecovered    uint64 `json:"sessions_recovered"`
	SessionsNotRecovered uint64 `json:"sessions_not_recovered"`
	SessionsNew          uint64 `json:"sessions_new"`
	// BytesWritten maps each transport ("websocket", "polling") to the
	// bytes written to clients on it: websocket frames, headers included,
	// and polling response bodies (not HTTP headers, not TLS).
	BytesWritten map[string]uint64 `json:"bytes_written"`
}

// Stats returns a snapshot of the server's state and counters.
func (s *Server) Stats() Stats {
	conns := s.reg.all()
	transports := make(map[string]int, 2)
	for _, c := range conns {
		transports[c.transportName()]++
	}
	disconnects := make(map[string]uint64, numReasons)
	for i, r := range disconnectReasons() {
		disconnects[r] = s.stats.disconnects[i].Load()
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
		Connects:       s.stats.connects.Load(),
		Disconnects:    disconnects,

		SessionsRecovered:    s.stats.restored.Load(),
		SessionsNotRecovered: s.stats.notRestored.Load(),
		SessionsNew:          s.stats.newSessions.Load(),
		BytesWritten: map[string]uint64{
			"websocket": s.stats.wsBytes.Load(),
			"polling":   s.stats.pollingBytes.Load(),
		},
	}
}

// countSession counts a socket just registered: a connection and, under
// recovery, whether it was restored, could not be, or asked for none.
func (s *Server) countSession(c *Conn) {
	s.stats.connects.Add(1)
	switch {
	case s.hist == nil:
	case c.restored != nil:
		s.stats.restored.Add(1)
	case c.handshake.Auth["pid"] != nil && c.handshake.Auth["offset"] != nil:
		s.stats.notRestored.Add(1)
	default:
		s.stats.newSessions.Add(1)
	}
}

// countingWriter counts the bytes of the responses to polling clients.
type countingWriter struct {
	http.ResponseWriter
	n *atomic.Uint64
}

// Write implements http.ResponseWriter.
func (w countingWriter) Write(b []byte) (int, error) {
	n, err := w.ResponseWriter.Write(b)
	w.n.Add(uint64(n))
	return n, err
}

// Unwrap lets http.ResponseController reach the ResponseWriter.
func (w countingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// BrokerReporter is implemented by a Broker that can report on its link
// to the cluster (redisbroker's Broker does). Server.BrokerStats asks it;
// package server/metrics exports what it says.
type BrokerReporter interface {
	// BrokerStats returns the broker's counters and, asking the cluster
	// within ctx, the number of nodes and how far behind this node reads.
	// When the cluster cannot be asked it returns an error, with the
	// counters still set.
	BrokerStats(ctx context.Context) (BrokerStats, error)
}

// BrokerStats is what a BrokerReporter reports.
type BrokerStats struct {
	// Nodes is the number of nodes in the cluster now, this one included.
	Nodes int
	// ReadLag is how far behind this node reads what the other nodes
	// publish: the age of the oldest message it has not read yet; 0 when
	// it has read everything.
	ReadLag time.Duration
	// PublishErrors counts messages the broker failed to send to the
	// cluster; ReadErrors failed reads of what the cluster sent.
	PublishErrors uint64
	ReadErrors    uint64
}

// ErrNoBrokerStats is returned by Server.BrokerStats without a broker, or
// when the broker is not a BrokerReporter.
var ErrNoBrokerStats = errors.New("server: no broker stats")

// BrokerStats asks Config.Broker for its stats (see BrokerReporter),
// waiting at most until ctx is done. It returns ErrNoBrokerStats without
// a broker or when the broker does not report; when the broker cannot
// reach the cluster, an error with the broker's counters set.
func (s *Server) BrokerStats(ctx context.Context) (BrokerStats, error) {
	if s.cluster == nil {
		return BrokerStats{}, ErrNoBrokerStats
	}
	r, ok := s.cluster.broker.(BrokerReporter)
	if !ok {
		return BrokerStats{}, ErrNoBrokerStats
	}
	st, err := r.BrokerStats(ctx)
	if err != nil {
		return st, fmt.Errorf("server: broker stats: %w", err)
	}
	return st, nil
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
		if !readOnly(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		_ = json.NewEncoder(w).Encode(s.Stats())
	})
}

// readOnly answers 405 to a request other than GET and HEAD, and reports
// whether the request may go on.
func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET, HEAD")
	http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	return false
}
