package server

import (
	"slices"
	"time"

	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// ChangeKind is what a Change reports.
type ChangeKind int

// Kinds of Change.
const (
	// SocketConnected: a socket connected to a namespace; Change.Socket
	// describes it, in its rooms.
	SocketConnected ChangeKind = iota + 1
	// SocketDisconnected: a socket left its namespace, for Change.Reason,
	// after it had left every room.
	SocketDisconnected
	// TransportUpgraded: a socket's connection moved to Change.Transport.
	TransportUpgraded
	// RoomJoined and RoomLeft: a socket joined or left Change.Room.
	RoomJoined
	RoomLeft
	// ClientConnected and ClientDisconnected: an Engine.IO connection
	// opened (on Change.Transport) or closed (for Change.Reason).
	ClientConnected
	ClientDisconnected
	// UserChanged: a socket of "/" authenticated as Change.User, or
	// became a guest (Change.User nil).
	UserChanged
	// EventReceived: a client sent the event Change.Event with
	// Change.Args (the token of an "auth" event is replaced by
	// "[redacted]").
	EventReceived
)

// String returns the kind in words.
func (k ChangeKind) String() string {
	switch k {
	case SocketConnected:
		return "socket connected"
	case SocketDisconnected:
		return "socket disconnected"
	case TransportUpgraded:
		return "transport upgraded"
	case RoomJoined:
		return "room joined"
	case RoomLeft:
		return "room left"
	case ClientConnected:
		return "client connected"
	case ClientDisconnected:
		return "client disconnected"
	case UserChanged:
		return "user changed"
	case EventReceived:
		return "event received"
	}
	return "unknown"
}

// Change is one change of the server's sockets, rooms or connections, as
// Operator.Watch reports it.
type Change struct {
	Kind ChangeKind
	// Time is when the change happened.
	Time time.Time
	// Namespace and SocketID identify the socket (not set for the
	// Client* kinds).
	Namespace string
	SocketID  string
	// ClientID is the Engine.IO session id (Client* kinds).
	ClientID string
	// Room is the room joined or left.
	Room string
	// Reason is why a socket or a connection closed.
	Reason string
	// Transport is the new transport (TransportUpgraded) or the first one
	// (ClientConnected).
	Transport string
	// Socket describes the socket that connected (SocketConnected only).
	Socket *SocketInfo
	// User is the socket's new user (UserChanged; nil for a guest).
	User *User
	// Event and Args are a client's event (EventReceived). Args must not
	// be modified.
	Event string
	Args  []any
}

// watcher is one function registered with Watch.
type watcher struct{ fn func(Change) }

// Watch registers fn to be told of every change of the server's sockets
// (all namespaces), rooms and Engine.IO connections from now on, until
// stop is called. For any one socket the changes come in the order they
// happened. fn is called synchronously where the change happens, with the
// server's room locks held for room changes: it must return quickly,
// never block and never call back into the server (queue the change and
// handle it on a goroutine of your own). Watching costs nothing until the
// first Watch; the delivery of events never calls it.
func (o Operator) Watch(fn func(Change)) (stop func()) {
	s := o.s
	s.watchOnce.Do(s.startWatching)
	w := &watcher{fn: fn}
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	var list []*watcher
	if p := s.watchers.Load(); p != nil {
		list = *p
	}
	list = append(slices.Clip(list), w)
	s.watchers.Store(&list)
	return func() {
		s.watchMu.Lock()
		defer s.watchMu.Unlock()
		p := s.watchers.Load()
		if p == nil {
			return
		}
		rest := slices.DeleteFunc(slices.Clone(*p), func(x *watcher) bool { return x == w })
		s.watchers.Store(&rest)
	}
}

// startWatching plugs the watchers into "/", its rooms and the engine.
func (s *Server) startWatching() {
	s.reg.watch(func(c *Conn, room string, joined bool) {
		s.roomChanged(RootNamespace, c.id, room, joined)
	})
	_ = s.io.Engine().On("connection", func(args ...any) {
		sock, ok := firstArg(args).(engine.Socket)
		if !ok || !s.watching() {
			return
		}
		id := sock.Id()
		tr := ""
		if t := sock.Transport(); t != nil {
			tr = t.Name()
		}
		s.notify(Change{Kind: ClientConnected, ClientID: id, Transport: tr})
		_ = sock.Once("close", func(args ...any) {
			reason, _ := firstArg(args).(string)
			s.notify(Change{Kind: ClientDisconnected, ClientID: id, Reason: reason})
		})
	})
}

// watching reports whether anyone watches.
func (s *Server) watching() bool {
	p := s.watchers.Load()
	return p != nil && len(*p) > 0
}

// notify tells every watcher of ch.
func (s *Server) notify(ch Change) {
	p := s.watchers.Load()
	if p == nil || len(*p) == 0 {
		return
	}
	ch.Time = time.Now()
	for _, w := range *p {
		func() {
			defer func() {
				if r := recover(); r != nil {
					s.log.Error("server: watcher panicked", "change", ch.Kind.String(), "panic", r)
				}
			}()
			w.fn(ch)
		}()
	}
}

// socketConnected reports a socket of nsp that connected, and then its
// transport upgrade if one comes.
func (s *Server) socketConnected(nsp string, sock *socket.Socket, info func() SocketInfo) {
	if !s.watching() {
		return
	}
	id := string(sock.Id())
	upgraded := func() {
		s.notify(Change{Kind: TransportUpgraded, Namespace: nsp, SocketID: id, Transport: transportName(sock)})
	}
	if conn := sock.Conn(); conn != nil && transportName(sock) != transports.WEBSOCKET {
		_ = conn.Once("upgrade", func(...any) {
			if sock.Connected() {
				upgraded()
			}
		})
	}
	si := info()
	s.notify(Change{Kind: SocketConnected, Namespace: nsp, SocketID: id, Socket: &si})
	// An upgrade that completed while si was built may have been reported
	// before the connection: report it again, after.
	if si.Transport != transports.WEBSOCKET && transportName(sock) == transports.WEBSOCKET {
		upgraded()
	}
}

func (s *Server) socketDisconnected(nsp, id, reason string) {
	s.notify(Change{Kind: SocketDisconnected, Namespace: nsp, SocketID: id, Reason: reason})
}

func (s *Server) roomChanged(nsp, id, room string, joined bool) {
	k := RoomLeft
	if joined {
		k = RoomJoined
	}
	s.notify(Change{Kind: k, Namespace: nsp, SocketID: id, Room: room})
}

// userChanged reports c's new user (nil: a guest). c.mu is held.
func (s *Server) userChanged(c *Conn) {
	if !s.watching() {
		return
	}
	var u *User
	if c.user != nil {
		cp := *c.user
		u = &cp
	}
	s.notify(Change{Kind: UserChanged, Namespace: RootNamespace, SocketID: c.id, User: u})
}

// redacted replaces a token in the events watchers see.
const redacted = "[redacted]"

// eventReceived reports a client's event on socket id of nsp.
func (s *Server) eventReceived(nsp, id, event string, args []any) {
	if !s.watching() {
		return
	}
	if nsp == RootNamespace && event == EventAuth && len(args) > 0 {
		args = []any{redacted}
	}
	s.notify(Change{Kind: EventReceived, Namespace: nsp, SocketID: id, Event: event, Args: args})
}
