package server

import (
	"context"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// admit is the library's namespace middleware: it reads the handshake,
// verifies a handshake token and runs the application's middlewares.
func (s *Server) admit(sock *socket.Socket, next func(*socket.ExtendedError)) {
	if !s.work.enter() {
		next(connectError(errServerClosed))
		return
	}
	defer s.work.done()

	release, gone, ok := s.claimConnection(sock.Client(), "/")
	if !ok {
		next(connectError(errAlreadyConnected))
		return
	}
	admitted := false
	defer func() {
		if !admitted {
			release()
		}
	}()

	hs := sock.Handshake()
	connected := make(chan struct{})
	c := s.newConn(sock, nil, release, connected)
	if sock.Recovered() {
		c.restored, _ = sock.Data().(*restoreState)
	}
	if s.keeper != nil {
		c.capturePID()
	}
	if raw, ok := hs.Auth["device_id"]; ok && raw != nil {
		if id, ok := FormatID(raw); ok {
			c.deviceID = id
		} else {
			s.log.Debug("server: ignoring invalid device_id", "socket", c.id)
		}
	}
	if tok, ok := hs.Auth["token"]; ok && tok != nil && tok != "" {
		u, err := s.verifier.verify(tok)
		if err != nil {
			s.stats.authFailures.Add(1)
			s.log.Debug("server: handshake token refused", "socket", c.id, "err", err)
			c.cancel()
			next(connectError(errInvalidToken))
			return
		}
		c.user = &u
	}
	if st := c.restored; st != nil {
		if data, _ := st.session.Data.(map[string]any); c.deviceID == "" && data != nil {
			if d, ok := FormatID(data["device_id"]); ok {
				c.deviceID = d
			}
		}
		if c.user == nil {
			c.user, _ = restoredUser(st.session)
		}
	}
	if err := s.hooks.admit(c); err != nil {
		c.cancel()
		next(connectError(err.Error()))
		return
	}
	sock.SetData(c)
	admitted = true
	next(nil)
	s.awaitRecorded(c.id, connected, gone)
}

// newConn returns the Conn of sock, a socket being admitted to nsp (nil:
// "/"): its registry, handlers and the server's settings filled in.
// release frees its claim on the connection; connected is closed once the
// library has recorded it (see Server.awaitRecorded).
func (s *Server) newConn(sock *socket.Socket, nsp *Namespace, release func(), connected chan struct{}) *Conn {
	reg, hs, observer := s.reg, s.hooks, s.cfg.Observer
	if nsp != nil {
		reg, hs, observer = nsp.reg, nsp.hooks, nil
	}
	ctx, cancel := context.WithCancel(s.ctx)
	return &Conn{
		nsp:          nsp,
		reg:          reg,
		log:          s.log,
		onClosed:     s.closedIn(hs),
		observer:     observer,
		maxPending:   s.cfg.MaxPendingBytes,
		stats:        &s.stats,
		sock:         sock,
		id:           string(sock.Id()),
		handshake:    handshakeOf(sock),
		token:        sock.Handshake().Auth["token"],
		ctx:          ctx,
		cancel:       cancel,
		markRecorded: sync.OnceFunc(func() { close(connected) }),
		release:      release,
	}
}

// handshakeOf returns what the client of sock sent when it connected, its
// auth payload without the token.
func handshakeOf(sock *socket.Socket) Handshake {
	hs := sock.Handshake()
	auth := make(map[string]any, len(hs.Auth))
	for k, v := range hs.Auth {
		if k != "token" {
			auth[k] = v
		}
	}
	h := Handshake{
		Address:     hs.Address,
		Auth:        auth,
		Time:        time.UnixMilli(hs.Issued),
		URL:         hs.Url,
		Secure:      hs.Secure,
		CrossDomain: hs.Xdomain,
	}
	if req := sock.Request(); req != nil && req.Request() != nil {
		h.Headers = req.Request().Header.Clone()
		h.Query = url.Values(req.Request().URL.Query())
	}
	if h.Headers == nil {
		h.Headers = http.Header{}
	}
	return h
}

// onConnection sets up a socket the library has connected.
func (s *Server) onConnection(args ...any) {
	c := s.connected(args, s.hooks)
	if c == nil {
		return
	}
	defer s.work.done()
	sock := c.sock

	var user *User
	registered := false
	register := func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.closed.Load() {
			return
		}
		registered = true
		s.reg.add(c)
		s.countSession(c)
		rooms := []string{entreactive.RoomAll}
		if c.deviceID != "" {
			rooms = append(rooms, DeviceRoom(c.deviceID))
		}
		if c.restored != nil {
			rooms = append(rooms, restoreRooms(c.restored.session)...)
		}
		s.reg.join(c, rooms...)
		user = c.user
		if user != nil {
			c.user = nil
			s.authenticateLocked(c, *user)
		} else {
			s.reg.join(c, entreactive.RoomGuests)
		}
	}
	if st := c.restored; st != nil {
		s.restore(c, st, register)
		c.mu.Lock()
		c.restored = nil
		c.mu.Unlock()
	} else {
		register()
	}
	if !registered {
		return
	}

	// The library may have closed the socket before the disconnect
	// listener was registered; close covers that case once.
	if !sock.Connected() {
		c.close(ReasonTransportClose)
		return
	}
	var device any
	if c.deviceID != "" {
		device = c.deviceID
	}
	c.emit(EventConnected, map[string]any{
		"socketId":  c.id,
		"deviceId":  device,
		"timestamp": time.Now().UnixMilli(),
	})
	if user != nil {
		c.emit(EventAuthenticated, s.authenticatedPayload(c, *user))
	}
	s.socketConnected(RootNamespace, c.sock, c.info)
	s.hooks.connected(c)
}

// connected returns the Conn of the socket the library has just connected
// (its "connection" event's args) to the namespace whose handlers are hs,
// with its events routed there and the server's work entered: the caller
// calls s.work.done. It returns nil when there is no Conn (the socket is
// let go) or the server is closing (the socket is shut down).
func (s *Server) connected(args []any, hs *handlers) *Conn {
	sock, _ := firstArg(args).(*socket.Socket)
	if sock == nil {
		return nil
	}
	c, _ := sock.Data().(*Conn)
	if c == nil {
		sock.Disconnect(true)
		return nil
	}
	// The library has recorded the socket: its packets may flow.
	c.markRecorded()
	if !s.work.enter() {
		c.shutdown()
		return nil
	}
	_ = sock.On("disconnect", func(args ...any) { s.handleDisconnect(c, args) })
	sock.OnAny(func(args ...any) { s.route(hs, c, args) })
	c.watchPolling()
	return c
}

// closedIn returns what a socket of the namespace whose handlers are hs
// runs once it has disconnected: the watchers hear of it, then the
// namespace's disconnect hooks run.
func (s *Server) closedIn(hs *handlers) func(ctx context.Context, c *Conn, reason string) {
	return func(ctx context.Context, c *Conn, reason string) {
		s.socketDisconnected(hs.nsp, c.id, reason)
		hs.disconnected(ctx, c, reason)
	}
}
