package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Event names of the wire protocol (the protocol table of the README).
const (
	// EventConnected is sent to every socket once connected:
	// {socketId, deviceId|null, timestamp}.
	EventConnected = "connected"
	// EventAuth is sent by a client with a JWT string (+ optional ack).
	EventAuth = "auth"
	// EventAuthenticated is sent after a successful auth:
	// {userId, deviceId, socketId}.
	EventAuthenticated = "authenticated"
	// EventDeauth is sent by a client to drop its identity (+ optional ack).
	EventDeauth = "deauth"
	// EventDeauthenticated is sent after deauth or token expiry:
	// {socketId, reason: "deauth"|"expired"}.
	EventDeauthenticated = "deauthenticated"
	// EventJoin is sent by a client with a room name (+ optional ack).
	EventJoin = "join"
	// EventLeave is sent by a client with a room name (+ optional ack).
	EventLeave = "leave"
	// EventReactive carries committed ent changes (see entreactive.Event).
	EventReactive = "reactive"
)

// Error strings clients see in acks.
const (
	errInvalidToken = "Invalid token"
	errForbidden    = "forbidden"
	errInvalidRoom  = "invalid room"
	errUnknownEvent = "unknown event"
	// errAlreadyConnected refuses a second CONNECT on one connection.
	errAlreadyConnected = "already connected"
)

// JoinRequest is a client's request to join a room.
type JoinRequest struct {
	// Room is the requested room; never a reserved one.
	Room string
	// SocketID and DeviceID identify the socket.
	SocketID string
	DeviceID string
	// User is the socket's user, nil for a guest. The context passed to the
	// authorizer carries it too (UserFromContext).
	User *User
}

// JoinAuthorizer decides whether a socket may join a room. It returns false
// to refuse; an error refuses too and is logged. It runs on the socket's
// own goroutine and may take time (e.g. a database query); ctx is cancelled
// if the socket disconnects.
//
//	func(ctx context.Context, r server.JoinRequest) (bool, error) {
//		var convID int
//		if _, err := fmt.Sscanf(r.Room, "conversation_%d", &convID); err != nil || r.User == nil {
//			return false, nil
//		}
//		return isMember(ctx, convID, r.User.ID)
//	}
type JoinAuthorizer func(ctx context.Context, req JoinRequest) (bool, error)

// EventHandler handles a custom client event registered with Server.On.
// args are the event's JSON-decoded arguments (numbers are float64). When
// the client asked for an ack, it receives the returned value, or
// {success:false, error: err.Error()} when err is not nil.
type EventHandler func(ctx context.Context, c *Conn, args []any) (any, error)

// Middleware runs for every connecting socket, after its handshake token
// (if any) is verified and before it joins any room. An error refuses the
// connection: the client gets a connect_error with the error's text.
type Middleware func(ctx context.Context, c *Conn) error

func ackOK() map[string]any { return map[string]any{"success": true} }

func ackFail(msg string) map[string]any { return map[string]any{"success": false, "error": msg} }

// connectError is the connect_error sent to a refused client: its message
// is msg and its data the same object as a failed ack. (Data must not be
// null: the zishang520 Go client cannot parse a null data.)
func connectError(msg string) *socket.ExtendedError {
	return socket.NewExtendedError(msg, ackFail(msg))
}

// admit is the library's namespace middleware: it reads the handshake,
// verifies a handshake token and runs the application's middlewares.
func (s *Server) admit(sock *socket.Socket, next func(*socket.ExtendedError)) {
	if !s.enter() {
		next(connectError("server closed"))
		return
	}
	defer s.exit()

	// One socket per Engine.IO connection: the library accepts a second
	// CONNECT for the namespace while the first is still being admitted,
	// which would give one client two sockets.
	cl := sock.Client()
	if _, dup := s.engineConns.LoadOrStore(cl, struct{}{}); dup {
		next(connectError(errAlreadyConnected))
		return
	}
	release := func() { s.engineConns.Delete(cl) }
	gone := make(chan struct{})
	onClose := sync.OnceFunc(func() {
		release()
		close(gone)
	})
	_ = cl.Conn().Once("close", func(...any) { onClose() })
	if cl.Conn().ReadyState() == "closed" {
		onClose()
	}
	admitted := false
	defer func() {
		if !admitted {
			release()
		}
	}()

	hs := sock.Handshake()
	auth := make(map[string]any, len(hs.Auth))
	for k, v := range hs.Auth {
		if k != "token" {
			auth[k] = v
		}
	}
	ctx, cancel := context.WithCancel(s.ctx)
	connected := make(chan struct{})
	c := &Conn{
		srv:          s,
		sock:         sock,
		id:           string(sock.Id()),
		ctx:          ctx,
		cancel:       cancel,
		markRecorded: sync.OnceFunc(func() { close(connected) }),
		handshake: Handshake{
			Address: hs.Address,
			Auth:    auth,
			Time:    time.UnixMilli(hs.Issued),
		},
	}
	if req := sock.Request(); req != nil && req.Request() != nil {
		c.handshake.Headers = req.Request().Header.Clone()
		c.handshake.Query = url.Values(req.Request().URL.Query())
	}
	if c.handshake.Headers == nil {
		c.handshake.Headers = http.Header{}
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
			cancel()
			next(connectError(errInvalidToken))
			return
		}
		c.user = &u
	}
	for _, mw := range s.middlewareList() {
		if err := s.runMiddleware(mw, c); err != nil {
			cancel()
			next(connectError(err.Error()))
			return
		}
	}
	sock.SetData(c)
	admitted = true
	next(nil)
	s.awaitRecorded(c, connected, gone)
}

// awaitRecorded returns once the library has recorded c's socket on its
// connection (connected is closed by onConnection), the connection is
// gone, or the server closes.
//
// It guards against a defect of the library (v3.0.6): namespace._doConnect
// writes the CONNECT reply before it records the socket on its connection
// (Client.nsps), on the socket's own task goroutine. A packet the client
// sends as soon as it reads the reply, if decoded before the socket is
// recorded, is taken for a packet of a namespace the client never
// connected to: the library closes the connection without a word (Client
// ondecoded, "invalid state"; the client sees websocket close 1006), and a
// second CONNECT would make a second socket. admit runs on the goroutine
// that reads the client's packets, so waiting here holds them back until
// the socket can receive them; they then reach it in order. The wait is
// bounded by ConnectTimeout in case the library never connects the socket
// and never closes the connection either.
func (s *Server) awaitRecorded(c *Conn, connected, gone <-chan struct{}) {
	t := time.NewTimer(s.cfg.ConnectTimeout)
	defer t.Stop()
	select {
	case <-connected:
	case <-gone:
	case <-s.ctx.Done():
	case <-t.C:
		s.log.Warn("server: socket admitted but never connected", "socket", c.id)
	}
}

// onConnection sets up a socket the library has connected.
func (s *Server) onConnection(args ...any) {
	sock, _ := args[0].(*socket.Socket)
	if sock == nil {
		return
	}
	c, _ := sock.Data().(*Conn)
	if c == nil {
		sock.Disconnect(true)
		return
	}
	// The library has recorded the socket: its packets may flow.
	c.markRecorded()
	if !s.enter() {
		c.disconnect("server shutting down")
		return
	}
	defer s.exit()

	_ = sock.On("disconnect", func(args ...any) { s.handleDisconnect(c, args) })
	sock.OnAny(func(args ...any) { s.route(c, args) })

	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	s.reg.add(c)
	rooms := []string{entreactive.RoomAll}
	if c.deviceID != "" {
		rooms = append(rooms, DeviceRoom(c.deviceID))
	}
	s.reg.join(c, rooms...)
	user := c.user
	if user != nil {
		c.user = nil
		s.authenticateLocked(c, *user)
	} else {
		s.reg.join(c, entreactive.RoomGuests)
	}
	c.mu.Unlock()

	// The library may have closed the socket before the disconnect
	// listener was registered; close covers that case once.
	if !sock.Connected() {
		c.close("transport close")
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
	s.runConnectHooks(c)
}

// handleDisconnect handles the library's "disconnect" event. The library
// emits it to the same listeners as client events; its decoder refuses
// client events with reserved names today, but a "disconnect" that arrives
// while the socket is still connected is not a disconnection and is
// ignored all the same.
func (s *Server) handleDisconnect(c *Conn, args []any) {
	if c.sock.Connected() {
		return
	}
	reason, _ := firstArg(args).(string)
	c.close(reason)
}

// route handles every event a client sends, in order, on the socket's own
// goroutine.
func (s *Server) route(c *Conn, args []any) {
	if len(args) == 0 {
		return
	}
	name, _ := args[0].(string)
	rest := args[1:]
	var ack socket.Ack
	if n := len(rest); n > 0 {
		if a, ok := rest[n-1].(socket.Ack); ok {
			ack = a
			rest = rest[:n-1]
		}
	}
	reply := func(v any) {
		if ack != nil {
			ack([]any{v}, nil)
		}
	}
	if !s.enter() {
		return
	}
	defer s.exit()
	s.stats.received.Add(1)

	switch name {
	case EventAuth:
		s.handleAuth(c, firstArg(rest), reply)
	case EventDeauth:
		s.handleDeauth(c, reply)
	case EventJoin:
		s.handleJoin(c, firstArg(rest), reply)
	case EventLeave:
		s.handleLeave(c, firstArg(rest), reply)
	default:
		h := s.handler(name)
		if h == nil {
			s.stats.unknown.Add(1)
			reply(ackFail(errUnknownEvent))
			return
		}
		v, err := s.runHandler(h, c, rest)
		if err != nil {
			reply(ackFail(err.Error()))
			return
		}
		reply(v)
	}
}

func firstArg(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

func (s *Server) handleAuth(c *Conn, token any, reply func(any)) {
	u, err := s.verifier.verify(token)
	if err != nil {
		s.stats.authFailures.Add(1)
		s.log.Debug("server: auth refused", "socket", c.id, "err", err)
		reply(ackFail(errInvalidToken))
		return
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	s.authenticateLocked(c, u)
	c.mu.Unlock()
	reply(ackOK())
	c.emit(EventAuthenticated, s.authenticatedPayload(c, u))
}

// authenticateLocked makes c the socket of u. Re-authenticating as another
// user first leaves everything the previous user had joined; as the same
// user it only renews the expiry. c.mu must be held.
func (s *Server) authenticateLocked(c *Conn, u User) {
	if c.user != nil && c.user.ID != u.ID {
		s.resetLocked(c)
	}
	c.user = &u
	c.gen++
	s.reg.leave(c, entreactive.RoomGuests)
	rooms := []string{entreactive.RoomUsers, UserRoom(u.ID)}
	if c.deviceID != "" {
		rooms = append(rooms, UserDeviceRoom(u.ID, c.deviceID))
	}
	s.reg.join(c, rooms...)
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	if !u.ExpiresAt.IsZero() {
		gen := c.gen
		wait := time.Until(u.ExpiresAt) + s.cfg.JWT.Leeway
		c.expiry = time.AfterFunc(wait, func() { s.expire(c, gen) })
	}
}

func (s *Server) authenticatedPayload(c *Conn, u User) map[string]any {
	var device any
	if c.deviceID != "" {
		device = c.deviceID
	}
	return map[string]any{"userId": u.raw, "deviceId": device, "socketId": c.id}
}

// resetLocked turns c back into a guest: it leaves every room but "all"
// and its device room, and joins "guests". c.mu must be held.
func (s *Server) resetLocked(c *Conn) {
	keep := []string{entreactive.RoomAll}
	if c.deviceID != "" {
		keep = append(keep, DeviceRoom(c.deviceID))
	}
	s.reg.leaveAllBut(c, keep...)
	s.reg.join(c, entreactive.RoomGuests)
	c.user = nil
	c.gen++
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
}

func (s *Server) handleDeauth(c *Conn, reply func(any)) {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	s.resetLocked(c)
	c.mu.Unlock()
	reply(ackOK())
	c.emit(EventDeauthenticated, map[string]any{"socketId": c.id, "reason": "deauth"})
}

// expire deauthenticates c when the token of authentication gen expires.
func (s *Server) expire(c *Conn, gen uint64) {
	if !s.enter() {
		return
	}
	defer s.exit()
	c.mu.Lock()
	if c.closed.Load() || c.gen != gen || c.user == nil {
		c.mu.Unlock()
		return
	}
	s.resetLocked(c)
	c.mu.Unlock()
	c.emit(EventDeauthenticated, map[string]any{"socketId": c.id, "reason": "expired"})
}

func (s *Server) handleJoin(c *Conn, arg any, reply func(any)) {
	room, ok := arg.(string)
	if !ok || !validRoom(room) {
		reply(ackFail(errInvalidRoom))
		return
	}
	if reservedRoom(room) || s.cfg.Authorize == nil {
		s.stats.joinsRefused.Add(1)
		reply(ackFail(errForbidden))
		return
	}
	c.mu.Lock()
	gen := c.gen
	ctx := c.contextLocked()
	req := JoinRequest{Room: room, SocketID: c.id, DeviceID: c.deviceID}
	if c.user != nil {
		u := *c.user
		req.User = &u
	}
	c.mu.Unlock()

	if !s.authorize(ctx, req) {
		s.stats.joinsRefused.Add(1)
		reply(ackFail(errForbidden))
		return
	}
	c.mu.Lock()
	// The identity may have changed (expiry) while the authorizer ran.
	if c.closed.Load() || c.gen != gen {
		c.mu.Unlock()
		s.stats.joinsRefused.Add(1)
		reply(ackFail(errForbidden))
		return
	}
	s.reg.join(c, room)
	c.mu.Unlock()
	reply(ackOK())
}

// handleLeave leaves a room that is not reserved. Leaving needs no
// authorization: it cannot reveal anything.
func (s *Server) handleLeave(c *Conn, arg any, reply func(any)) {
	room, ok := arg.(string)
	if !ok || !validRoom(room) {
		reply(ackFail(errInvalidRoom))
		return
	}
	if reservedRoom(room) {
		reply(ackFail(errForbidden))
		return
	}
	c.mu.Lock()
	if !c.closed.Load() {
		s.reg.leave(c, room)
	}
	c.mu.Unlock()
	reply(ackOK())
}

// authorize runs the join authorizer, turning errors and panics into a
// logged refusal.
func (s *Server) authorize(ctx context.Context, req JoinRequest) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: join authorizer panicked", "room", req.Room, "socket", req.SocketID, "panic", r)
			ok = false
		}
	}()
	allowed, err := s.cfg.Authorize(ctx, req)
	if err != nil {
		s.log.Warn("server: join authorizer failed", "room", req.Room, "socket", req.SocketID, "err", err)
		return false
	}
	return allowed
}

func (s *Server) runHandler(h EventHandler, c *Conn, args []any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: event handler panicked", "socket", c.id, "panic", r)
			v, err = nil, fmt.Errorf("internal error")
		}
	}()
	return h(c.Context(), c, args)
}

func (s *Server) runMiddleware(mw Middleware, c *Conn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: middleware panicked", "socket", c.id, "panic", r)
			err = fmt.Errorf("internal error")
		}
	}()
	return mw(c.Context(), c)
}

func (s *Server) runConnectHooks(c *Conn) {
	s.hooksMu.RLock()
	hooks := s.onConnect
	s.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer s.recoverHook("connect", c)
			h(c.Context(), c)
		}()
	}
}

func (s *Server) runDisconnectHooks(ctx context.Context, c *Conn, reason string) {
	s.hooksMu.RLock()
	hooks := s.onDisconnect
	s.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer s.recoverHook("disconnect", c)
			h(ctx, c, reason)
		}()
	}
}

func (s *Server) recoverHook(kind string, c *Conn) {
	if r := recover(); r != nil {
		s.log.LogAttrs(s.ctx, slog.LevelError, "server: hook panicked",
			slog.String("hook", kind), slog.String("socket", c.id), slog.Any("panic", r))
	}
}

func (s *Server) middlewareList() []Middleware {
	s.hooksMu.RLock()
	defer s.hooksMu.RUnlock()
	return s.middlewares
}

func (s *Server) handler(name string) EventHandler {
	s.hooksMu.RLock()
	defer s.hooksMu.RUnlock()
	return s.handlers[name]
}
