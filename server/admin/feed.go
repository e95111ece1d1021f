package admin

import (
	"encoding/json"
	"fmt"
	"sync"

	"github.com/entreactive/reactive/server"
)

// feed carries the server's changes from its watcher, which must never
// block, to the admin's goroutine, which sends them to the UI in order.
// It is bounded: past maxPending changes waiting, they are dropped and the
// UI is sent every socket again instead.
type feed struct {
	send func(server.Change)
	// ready has a value when changes are waiting.
	ready chan struct{}

	mu      sync.Mutex
	pending []server.Change
	lost    bool
}

// maxPending bounds the changes waiting to be sent.
const maxPending = 10000

// maxEventArgs bounds, in JSON bytes, the arguments of a client event
// shown in the UI.
const maxEventArgs = 4096

func newFeed(send func(server.Change)) *feed {
	return &feed{send: send, ready: make(chan struct{}, 1)}
}

// push queues ch without blocking.
func (f *feed) push(ch server.Change) {
	f.mu.Lock()
	if len(f.pending) >= maxPending {
		f.pending = nil
		f.lost = true
	}
	f.pending = append(f.pending, ch)
	f.mu.Unlock()
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// drain sends the waiting changes, after resync if some were lost.
func (f *feed) drain(resync func()) {
	f.mu.Lock()
	pending, lost := f.pending, f.lost
	f.pending, f.lost = nil, false
	f.mu.Unlock()
	if lost {
		resync()
	}
	for _, ch := range pending {
		f.send(ch)
	}
}

// watch is the admin's server watcher.
func (a *Admin) watch(ch server.Change) {
	switch ch.Kind {
	case server.ClientConnected:
		a.events.push(ch.Time, "rawConnection", "")
	case server.ClientDisconnected:
		a.events.push(ch.Time, "rawDisconnection", ch.Reason)
	case server.EventReceived:
		// As instrument(): not the UI's own events. Large arguments are
		// not kept for the UI.
		if ch.Namespace == a.cfg.Namespace {
			return
		}
		if b, err := json.Marshal(ch.Args); err != nil || len(b) > maxEventArgs {
			ch.Args = []any{fmt.Sprintf("[%d bytes not shown]", len(b))}
		}
		a.feed.push(ch)
	default:
		a.feed.push(ch)
	}
}

// emitChange sends one change to every UI, as instrument() words it.
func (a *Admin) emitChange(ch server.Change) {
	var err error
	switch ch.Kind {
	case server.SocketConnected:
		err = a.nsp.Emit("socket_connected", serialize(ch.Socket), ch.Time)
	case server.SocketDisconnected:
		err = a.nsp.Emit("socket_disconnected", ch.Namespace, ch.SocketID, ch.Reason, ch.Time)
	case server.RoomJoined:
		err = a.nsp.Emit("room_joined", ch.Namespace, ch.Room, ch.SocketID, ch.Time)
	case server.RoomLeft:
		err = a.nsp.Emit("room_left", ch.Namespace, ch.Room, ch.SocketID, ch.Time)
	case server.TransportUpgraded:
		err = a.nsp.Emit("socket_updated", map[string]any{
			"id": ch.SocketID, "nsp": ch.Namespace, "transport": ch.Transport,
		})
	case server.EventReceived:
		err = a.nsp.Emit("event_received", ch.Namespace, ch.SocketID, append([]any{ch.Event}, ch.Args...), ch.Time)
	case server.UserChanged:
		// The UI merges data into what it has: a guest's userId is null.
		var user any
		if ch.User != nil {
			user = ch.User.ID
		}
		err = a.nsp.Emit("socket_updated", map[string]any{
			"id": ch.SocketID, "nsp": ch.Namespace, "data": map[string]any{"userId": user},
		})
	}
	if err != nil {
		a.log.Debug("admin: emit change", "change", ch.Kind.String(), "err", err)
	}
}
