package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
)

// handlers are what the application gave a namespace: "/" (the Server's)
// or one made with Server.Namespace. Both run them the same way: each call
// recovers from a panic, which is logged and, in a middleware or an event
// handler, answered with an internal error.
type handlers struct {
	nsp string
	log *slog.Logger

	mu           sync.RWMutex
	middlewares  []Middleware
	events       map[string]EventHandler
	onConnect    []func(ctx context.Context, c *Conn)
	onDisconnect []func(ctx context.Context, c *Conn, reason string)
}

func newHandlers(nsp string, log *slog.Logger) *handlers {
	return &handlers{nsp: nsp, log: log, events: make(map[string]EventHandler)}
}

// socketIOEvents are Socket.IO's reserved event names, which no handler
// can take.
var socketIOEvents = []string{"connect", "connect_error", "disconnect", "disconnecting", "error", "newListener", "removeListener"}

// on registers h for event, replacing any previous handler, unless event
// is reserved: "", one of Socket.IO's names or one of protocol.
func (hs *handlers) on(event string, h EventHandler, protocol ...string) error {
	if event == "" || slices.Contains(socketIOEvents, event) || slices.Contains(protocol, event) {
		return fmt.Errorf("%w: %q", ErrReservedEvent, event)
	}
	if h == nil {
		return errors.New("server: nil handler")
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.events[event] = h
	return nil
}

func (hs *handlers) use(mw Middleware) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.middlewares = append(hs.middlewares[:len(hs.middlewares):len(hs.middlewares)], mw)
}

func (hs *handlers) addConnect(h func(ctx context.Context, c *Conn)) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.onConnect = append(hs.onConnect[:len(hs.onConnect):len(hs.onConnect)], h)
}

func (hs *handlers) addDisconnect(h func(ctx context.Context, c *Conn, reason string)) {
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.onDisconnect = append(hs.onDisconnect[:len(hs.onDisconnect):len(hs.onDisconnect)], h)
}

// admit runs the middlewares on c, in order, and returns the first error.
func (hs *handlers) admit(c *Conn) error {
	hs.mu.RLock()
	mws := hs.middlewares
	hs.mu.RUnlock()
	for _, mw := range mws {
		if err := hs.runMiddleware(mw, c); err != nil {
			return err
		}
	}
	return nil
}

func (hs *handlers) runMiddleware(mw Middleware, c *Conn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			hs.log.Error("server: middleware panicked", "namespace", hs.nsp, "socket", c.id, "panic", r)
			err = errors.New(errInternal)
		}
	}()
	return mw(c.Context(), c)
}

// handle runs the handler of event with args and reports whether there
// is one.
func (hs *handlers) handle(c *Conn, event string, args []any) (v any, err error, found bool) {
	hs.mu.RLock()
	h := hs.events[event]
	hs.mu.RUnlock()
	if h == nil {
		return nil, nil, false
	}
	v, err = hs.runHandler(h, c, args)
	return v, err, true
}

func (hs *handlers) runHandler(h EventHandler, c *Conn, args []any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			hs.log.Error("server: event handler panicked", "namespace", hs.nsp, "socket", c.id, "panic", r)
			v, err = nil, errors.New(errInternal)
		}
	}()
	return h(c.Context(), c, args)
}

// connected runs the connect hooks.
func (hs *handlers) connected(c *Conn) {
	hs.mu.RLock()
	hooks := hs.onConnect
	hs.mu.RUnlock()
	for _, h := range hooks {
		func() {
			defer hs.recoverHook("connect", c)
			h(c.Context(), c)
		}()
	}
}

// disconnected runs the disconnect hooks.
func (hs *handlers) disconnected(ctx context.Context, c *Conn, reason string) {
	hs.mu.RLock()
	hooks := hs.onDisconnect
	hs.mu.RUnlock()
	for _, h := range hooks {
		func() {
			defer hs.recoverHook("disconnect", c)
			h(ctx, c, reason)
		}()
	}
}

func (hs *handlers) recoverHook(kind string, c *Conn) {
	if r := recover(); r != nil {
		hs.log.Error("server: hook panicked", "hook", kind, "namespace", hs.nsp, "socket", c.id, "panic", r)
	}
}

// On registers the handler of a custom client event, replacing any previous
// one. The protocol's events (auth, deauth, join, leave) and Socket.IO's
// reserved names cannot be registered. Events without a handler are
// ignored; a client that asked for an ack gets {success:false, error:
// "unknown event"}.
func (s *Server) On(event string, h EventHandler) error {
	return s.hooks.on(event, h, EventAuth, EventDeauth, EventJoin, EventLeave)
}

// Use adds a connection middleware. Middlewares run in the order added.
func (s *Server) Use(mw Middleware) { s.hooks.use(mw) }

// OnConnect adds a hook run once a socket is connected and in its rooms.
func (s *Server) OnConnect(h func(ctx context.Context, c *Conn)) { s.hooks.addConnect(h) }

// OnDisconnect adds a hook run exactly once per socket, after it has left
// every room.
func (s *Server) OnDisconnect(h func(ctx context.Context, c *Conn, reason string)) {
	s.hooks.addDisconnect(h)
}
