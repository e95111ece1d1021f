package server

import (
	"context"
	"errors"
	"sync"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// admit is the library's middleware of the namespace: it builds the
// Socket and runs the namespace's middlewares.
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
	s := &Socket{
		nsp:          n,
		sock:         sock,
		id:           string(sock.Id()),
		handshake:    handshakeOf(sock),
		token:        sock.Handshake().Auth["token"],
		ctx:          ctx,
		cancel:       cancel,
		markRecorded: sync.OnceFunc(func() { close(connected) }),
		release:      release,
		rooms:        make(map[string]struct{}),
	}
	n.hooksMu.RLock()
	mws := n.middlewares
	n.hooksMu.RUnlock()
	for _, mw := range mws {
		if err := n.runMiddleware(mw, s); err != nil {
			cancel()
			release()
			next(connectError(err.Error()))
			return
		}
	}
	sock.SetData(s)
	next(nil)
	srv.awaitRecorded(s.id, connected, gone)
}

// onConnection sets up a socket the library has connected.
func (n *Namespace) onConnection(args ...any) {
	sock, _ := firstArg(args).(*socket.Socket)
	if sock == nil {
		return
	}
	s, _ := sock.Data().(*Socket)
	if s == nil {
		sock.Disconnect(true)
		return
	}
	s.markRecorded()
	if !n.srv.work.enter() {
		s.shutdown()
		return
	}
	defer n.srv.work.done()

	_ = sock.On("disconnect", func(args ...any) {
		if sock.Connected() {
			return // a client event named "disconnect", not a disconnection
		}
		reason, _ := firstArg(args).(string)
		s.close(reason)
	})
	sock.OnAny(func(args ...any) { n.route(s, args) })

	n.mu.Lock()
	if s.closed.Load() {
		n.mu.Unlock()
		return
	}
	n.sockets[s.id] = s
	n.mu.Unlock()
	if !sock.Connected() {
		s.close(ReasonTransportClose)
		return
	}
	n.srv.socketConnected(n.name, sock, s.info)

	n.hooksMu.RLock()
	hooks := n.onConnect
	n.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer n.recoverHook("connect", s)
			h(s.ctx, s)
		}()
	}
}

// route handles every event a client sends, in order, on the socket's own
// goroutine.
func (n *Namespace) route(s *Socket, args []any) {
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
	n.srv.eventReceived(n.name, s.id, name, rest)

	n.hooksMu.RLock()
	h := n.handlers[name]
	n.hooksMu.RUnlock()
	if h == nil {
		n.srv.stats.unknown.Add(1)
		reply(ackFail(errUnknownEvent))
		return
	}
	v, err := n.runHandler(h, s, rest)
	if err != nil {
		reply(ackFail(err.Error()))
		return
	}
	reply(v)
}

// join adds s to rooms, leave removes it; both report the rooms that
// changed to the server's watchers while the namespace's lock is held, so
// that they see every socket's changes in order.
func (n *Namespace) join(s *Socket, rooms ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.sockets[s.id]; !ok {
		return
	}
	for _, room := range rooms {
		members := n.rooms[room]
		if members == nil {
			members = make(map[*Socket]struct{})
			n.rooms[room] = members
		}
		if _, in := members[s]; in {
			continue
		}
		members[s] = struct{}{}
		s.rooms[room] = struct{}{}
		n.srv.roomChanged(n.name, s.id, room, true)
	}
}

func (n *Namespace) leave(s *Socket, rooms ...string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	for _, room := range rooms {
		n.leaveLocked(s, room)
	}
}

func (n *Namespace) leaveLocked(s *Socket, room string) {
	members := n.rooms[room]
	if _, in := members[s]; !in {
		return
	}
	delete(members, s)
	delete(s.rooms, room)
	if len(members) == 0 {
		delete(n.rooms, room)
	}
	n.srv.roomChanged(n.name, s.id, room, false)
}

// remove takes s out of every room and forgets it. It reports false if s
// was not there.
func (n *Namespace) remove(s *Socket) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.sockets[s.id] != s {
		return false
	}
	for room := range s.rooms {
		n.leaveLocked(s, room)
	}
	delete(n.sockets, s.id)
	return true
}

func (n *Namespace) runDisconnectHooks(s *Socket, reason string) {
	n.hooksMu.RLock()
	hooks := n.onDisconnect
	n.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer n.recoverHook("disconnect", s)
			h(s.ctx, s, reason)
		}()
	}
}

func (n *Namespace) runMiddleware(mw SocketMiddleware, s *Socket) (err error) {
	defer func() {
		if r := recover(); r != nil {
			n.srv.log.Error("server: middleware panicked", "namespace", n.name, "socket", s.id, "panic", r)
			err = errors.New(errInternal)
		}
	}()
	return mw(s.ctx, s)
}

func (n *Namespace) runHandler(h SocketHandler, s *Socket, args []any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			n.srv.log.Error("server: event handler panicked", "namespace", n.name, "socket", s.id, "panic", r)
			v, err = nil, errors.New(errInternal)
		}
	}()
	return h(s.ctx, s, args)
}

func (n *Namespace) recoverHook(kind string, s *Socket) {
	if r := recover(); r != nil {
		n.srv.log.Error("server: hook panicked", "hook", kind, "namespace", n.name, "socket", s.id, "panic", r)
	}
}
