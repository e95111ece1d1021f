package server

import (
	"time"
)

// Recovery configures connection state recovery (Socket.IO's
// connectionStateRecovery; socket.recovered in the npm client): a client
// that drops and reconnects within MaxDisconnection gets back its socket id,
// rooms and authentication, and receives the events it missed, in order,
// each once. Every broadcast then carries its offset as the last event
// argument (the client sends back the last one it saw); events for one
// socket (Conn.Emit) are not kept. Past the window, or when the history no
// longer holds the client's offset, the client gets a fresh connection
// (socket.recovered false) and should resync.
//
// Without a Broker the history and the sessions are kept in memory: at most
// HistorySize broadcasts of at most HistoryBytes in all, and one session
// per dropped socket for MaxDisconnection. So they are with a Broker that
// is no SessionStore, and a client recovers only on the node it left. With
// a SessionStore Broker they are the broker's (see redisbroker), and a
// client recovers on any node: each live socket's session is kept in the
// broker ahead of time (at connect, after each change of its rooms or
// user, and every MaxDisconnection/2), so the clients of a node that dies
// without closing recover too; a socket the server disconnected, or whose
// client left, has its session dropped.
type Recovery struct {
	// MaxDisconnection is how long a dropped socket can come back.
	// Default 2 minutes.
	MaxDisconnection time.Duration
	// HistorySize bounds the broadcasts kept in memory. Default 10,000.
	HistorySize int
	// HistoryBytes bounds the bytes of the broadcasts kept in memory (their
	// encoded frames, binary attachments included): the oldest go first
	// when a new one would pass it, the newest always stays. Default 8 MiB.
	// Of HistorySize and HistoryBytes the tighter bound holds: with events
	// of a few hundred bytes the count does, with large ones the bytes do,
	// so that the history's memory stays bounded whatever the events carry.
	HistoryBytes int
}

// Defaults of Recovery.
const (
	DefaultMaxDisconnection = 2 * time.Minute
	DefaultHistorySize      = 10_000
	DefaultHistoryBytes     = 8 << 20
)

func (r *Recovery) setDefaults() {
	if r.MaxDisconnection <= 0 {
		r.MaxDisconnection = DefaultMaxDisconnection
	}
	if r.HistorySize <= 0 {
		r.HistorySize = DefaultHistorySize
	}
	if r.HistoryBytes <= 0 {
		r.HistoryBytes = DefaultHistoryBytes
	}
}
