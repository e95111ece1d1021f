package server

import (
	"context"
	"errors"
	"fmt"
)

// On registers the handler of a custom client event, replacing any previous
// one. The protocol's events (auth, deauth, join, leave) and Socket.IO's
// reserved names cannot be registered. Events without a handler are
// ignored; a client that asked for an ack gets {success:false, error:
// "unknown event"}.
func (s *Server) On(event string, h EventHandler) error {
	switch event {
	case "", EventAuth, EventDeauth, EventJoin, EventLeave,
		"connect", "connect_error", "disconnect", "disconnecting", "error", "newListener", "removeListener":
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	if h == nil {
		return errors.New("server: nil handler")
	}
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.handlers[event] = h
	return nil
}

// Use adds a connection middleware. Middlewares run in the order added.
func (s *Server) Use(mw Middleware) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.middlewares = append(s.middlewares[:len(s.middlewares):len(s.middlewares)], mw)
}

// OnConnect adds a hook run once a socket is connected and in its rooms.
func (s *Server) OnConnect(h func(ctx context.Context, c *Conn)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.onConnect = append(s.onConnect[:len(s.onConnect):len(s.onConnect)], h)
}

// OnDisconnect adds a hook run exactly once per socket, after it has left
// every room.
func (s *Server) OnDisconnect(h func(ctx context.Context, c *Conn, reason string)) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.onDisconnect = append(s.onDisconnect[:len(s.onDisconnect):len(s.onDisconnect)], h)
}
