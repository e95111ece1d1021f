package server

import (
	"time"

	"github.com/entreactive/reactive/entreactive"
)

// Observer is told, as they happen, what Stats cannot count: which
// reactive events were emitted and how long each delivery took from the
// event's commit to the write to its client. Set it in Config.Observer;
// package server/metrics implements it for Prometheus.
//
// The methods are called on the delivery path, concurrently, from many
// goroutines: they must be fast, must not block, and must not call back
// into the Server. The server allocates nothing to call them.
type Observer interface {
	// EventEmitted is called when Emit has queued a reactive event for
	// delivery (not when it was dropped: see Stats.Dropped), and when
	// Publish has published one (with a broker, repeats the broker
	// dropped included).
	EventEmitted(model string, action entreactive.Action)
	// EventDelivered is called for each delivery of a reactive event to a
	// socket, with the time from the event's commit (Event.Timestamp) to
	// the delivery: on websocket, when the write that carried it to the
	// client returned; on polling (and for the first event after an
	// upgrade to websocket), when it was handed to the library's
	// transport, which writes it to the client's pending poll, or keeps it
	// for the next one.
	EventDelivered(sinceCommit time.Duration)
}
