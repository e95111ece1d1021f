package server

import (
	"context"
	"errors"
	"sync"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// admit is the library's middleware of the namespace: it builds the
// socket's Conn and runs the namespace's middlewares.
func (n *Namespace) admit(sock *socket.Socket, next func(*socket.ExtendedError)) {
	srv := n.srv
	if !srv.work.enter() {
		next(connectError(errServerClosed))
		return
	}
	defer srv.work.done()

	release, gone, ok := srv.claimConnection(sock.Client(), n.name)
	if !ok {
		next(connectError(errAlreadyConnected))
		return
	}
	ctx, cancel := context.WithCancel(srv.ctx)
	connected := make(chan struct{})
	c := &Conn{
		nsp:          n,
		reg:          n.reg,
		log:          srv.log,
		onClosed:     n.closed,
		maxPending:   srv.cfg.MaxPendingBytes,
		stats:        &srv.stats,
		sock:         sock,
		id:           string(sock.Id()),
		handshake:    handshakeOf(sock),
		token:        sock.Handshake().Auth["token"],
		ctx:          ctx,
		cancel:       cancel,
		markRecorded: sync.OnceFunc(func() { close(connected) }),
		release:      release,
	}
	n.hooksMu.RLock()
	mws := n.middlewares
	n.hooksMu.RUnlock()
	for _, mw := range mws {
		if err := n.runMiddleware(mw, c); err != nil {
			cancel()
			release()
			next(connectError(err.Error()))
			return
		}
	}
	sock.SetData(c)
	next(nil)
	srv.awaitRecorded(c.id, connected, gone)
}

// onConnection sets up a socket the library has connected.
func (n *Namespace) onConnection(args ...any) {
	sock, _ := firstArg(args).(*socket.Socket)
	if sock == nil {
		return
	}
	c, _ := sock.Data().(*Conn)
	if c == nil {
		sock.Disconnect(true)
		return
	}
	c.markRecorded()
	if !n.srv.work.enter() {
		c.shutdown()
		return
	}
	defer n.srv.work.done()

	_ = sock.On("disconnect", func(args ...any) {
		if sock.Connected() {
			return // a client event named "disconnect", not a disconnection
		}
		reason, _ := firstArg(args).(string)
		c.close(reason)
	})
	sock.OnAny(func(args ...any) { n.route(c, args) })
	c.watchPolling()

	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	n.reg.add(c)
	c.mu.Unlock()
	if !sock.Connected() {
		c.close(ReasonTransportClose)
		return
	}
	n.srv.socketConnected(n.name, sock, c.info)

	n.hooksMu.RLock()
	hooks := n.onConnect
	n.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer n.recoverHook("connect", c)
			h(c.ctx, c)
		}()
	}
}

// route handles every event a client sends, in order, on the socket's own
// goroutine.
func (n *Namespace) route(c *Conn, args []any) {
	if len(args) == 0 {
		return
	}
	name, _ := args[0].(string)
	rest := args[1:]
	var ack socket.Ack
	if k := len(rest); k > 0 {
		if a, ok := rest[k-1].(socket.Ack); ok {
			ack = a
			rest = rest[:k-1]
		}
	}
	reply := func(v any) {
		if ack != nil {
			ack(ackArgs(v), nil)
		}
	}
	if !n.srv.work.enter() {
		return
	}
	defer n.srv.work.done()
	n.srv.stats.received.Add(1)
	n.srv.eventReceived(n.name, c.id, name, rest)

	n.hooksMu.RLock()
	h := n.handlers[name]
	n.hooksMu.RUnlock()
	if h == nil {
		n.srv.stats.unknown.Add(1)
		reply(ackFail(errUnknownEvent))
		return
	}
	v, err := n.runHandler(h, c, rest)
	if err != nil {
		reply(ackFail(err.Error()))
		return
	}
	reply(v)
}

// closed tells the watchers that c has disconnected and runs the
// namespace's disconnect hooks.
func (n *Namespace) closed(ctx context.Context, c *Conn, reason string) {
	n.srv.socketDisconnected(n.name, c.id, reason)
	n.hooksMu.RLock()
	hooks := n.onDisconnect
	n.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer n.recoverHook("disconnect", c)
			h(ctx, c, reason)
		}()
	}
}

func (n *Namespace) runMiddleware(mw Middleware, c *Conn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			n.srv.log.Error("server: middleware panicked", "namespace", n.name, "socket", c.id, "panic", r)
			err = errors.New(errInternal)
		}
	}()
	return mw(c.ctx, c)
}

func (n *Namespace) runHandler(h EventHandler, c *Conn, args []any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			n.srv.log.Error("server: event handler panicked", "namespace", n.name, "socket", c.id, "panic", r)
			v, err = nil, errors.New(errInternal)
		}
	}()
	return h(c.ctx, c, args)
}

func (n *Namespace) recoverHook(kind string, c *Conn) {
	if r := recover(); r != nil {
		n.srv.log.Error("server: hook panicked", "hook", kind, "namespace", n.name, "socket", c.id, "panic", r)
	}
}
