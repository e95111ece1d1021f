package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// RootNamespace is the namespace of the reactive protocol: every Conn is a
// socket of it. Other namespaces are created with Server.Namespace.
const RootNamespace = "/"

// maxNamespaceLen bounds namespace names.
const maxNamespaceLen = 128

// Namespace is a Socket.IO namespace other than "/", with its own
// connection middlewares, event handlers, connect and disconnect hooks,
// rooms and emits. Sockets connect to it with the namespace in their URL
// (io("https://host/admin") in socket.io-client); a client may be connected
// to "/" and to any number of namespaces over one connection. Its sockets
// are Conns, as those of "/" are, and its events reach them the same way:
// encoded once, then queued on each client's connection.
//
// Nothing of the reactive protocol runs in a namespace: no JWT, no
// reserved rooms, no "reactive" events. Its rooms are its own: a room
// "ops" in "/admin" is not the room "ops" of "/".
//
// Create it with Server.Namespace before clients connect to it; a client
// that connects to a namespace that does not exist is refused with
// connect_error "Invalid namespace", as Socket.IO does.
type Namespace struct {
	name string
	srv  *Server
	nsp  socket.Namespace

	// hooks are the namespace's middlewares, handlers and hooks; reg
	// holds its sockets and rooms.
	hooks *handlers
	reg   *registry
}

// Namespace returns the namespace called name (such as "/admin"),
// creating it on first use; later calls return the same *Namespace. The
// name must start with "/", be at most 128 bytes of printable characters
// without "," or "?", and not be "/" (the reactive namespace).
func (s *Server) Namespace(name string) (*Namespace, error) {
	if err := validNamespace(name); err != nil {
		return nil, err
	}
	if s.work.isClosed() {
		return nil, ErrClosed
	}
	s.nspMu.Lock()
	defer s.nspMu.Unlock()
	if n, ok := s.namespaces[name]; ok {
		return n, nil
	}
	n := &Namespace{
		name:  name,
		srv:   s,
		hooks: newHandlers(name, s.log),
		reg:   newRegistry(1),
	}
	n.reg.watch(func(c *Conn, room string, joined bool) { s.roomChanged(name, c.id, room, joined) })
	n.nsp = s.io.Of(name, nil)
	n.nsp.Use(n.admit)
	if err := n.nsp.On("connection", n.onConnection); err != nil {
		return nil, fmt.Errorf("server: namespace %s: register connection handler: %w", name, err)
	}
	s.namespaces[name] = n
	return n, nil
}

// namespaceList returns the namespaces other than "/", in no order.
func (s *Server) namespaceList() []*Namespace {
	s.nspMu.Lock()
	defer s.nspMu.Unlock()
	out := make([]*Namespace, 0, len(s.namespaces))
	for _, n := range s.namespaces {
		out = append(out, n)
	}
	return out
}

// lookupNamespace returns the namespace called name (not "/"), if any.
func (s *Server) lookupNamespace(name string) (*Namespace, bool) {
	s.nspMu.Lock()
	defer s.nspMu.Unlock()
	n, ok := s.namespaces[name]
	return n, ok
}

func validNamespace(name string) error {
	switch {
	case name == RootNamespace:
		return fmt.Errorf("%w: %q is the reactive namespace", ErrInvalidNamespace, name)
	case !strings.HasPrefix(name, "/"), len(name) > maxNamespaceLen, strings.ContainsAny(name, ",?"):
		return fmt.Errorf("%w: %q", ErrInvalidNamespace, name)
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %q", ErrInvalidNamespace, name)
		}
	}
	return nil
}

// Name returns the namespace's name, e.g. "/admin".
func (n *Namespace) Name() string { return n.name }

// Use adds a connection middleware. Middlewares run in the order added.
func (n *Namespace) Use(mw Middleware) { n.hooks.use(mw) }

// On registers the handler of a client event, replacing any previous one.
// Socket.IO's reserved names cannot be registered. A client that asks for
// an ack of an event without a handler gets {success:false, error:
// "unknown event"}.
func (n *Namespace) On(event string, h EventHandler) error { return n.hooks.on(event, h) }

// OnConnect adds a hook run once a socket is connected.
func (n *Namespace) OnConnect(h func(ctx context.Context, c *Conn)) { n.hooks.addConnect(h) }

// OnDisconnect adds a hook run exactly once per socket, after it has left
// every room.
func (n *Namespace) OnDisconnect(h func(ctx context.Context, c *Conn, reason string)) {
	n.hooks.addDisconnect(h)
}

// Emit sends an event to every socket of the namespace. Args are encoded
// as Conn.Emit encodes them, once for all the sockets.
func (n *Namespace) Emit(event string, args ...any) error {
	return n.emitTo(n.reg.all(), event, args)
}

// EmitToRooms sends an event to the namespace's sockets in any of rooms,
// each once.
func (n *Namespace) EmitToRooms(rooms []string, event string, args ...any) error {
	return n.emitTo(n.reg.members(rooms...), event, args)
}

// emitTo encodes the event once and queues it on each socket of to.
func (n *Namespace) emitTo(to []*Conn, event string, args []any) error {
	if n.srv.work.isClosed() {
		return ErrClosed
	}
	f, err := encodeFrameIn(n.name, event, args...)
	if err != nil {
		n.srv.stats.encodeErrors.Add(1)
		return err
	}
	for _, c := range to {
		c.deliver(f, true)
	}
	return nil
}

// Sockets returns the namespace's connected sockets.
func (n *Namespace) Sockets() []*Conn { return n.reg.all() }

// Socket returns the namespace's socket with id, if it is connected.
func (n *Namespace) Socket(id string) (*Conn, bool) {
	c := n.reg.conn(id)
	return c, c != nil
}

// RoomSize returns the number of the namespace's sockets in room.
func (n *Namespace) RoomSize(room string) int { return n.reg.size(room) }
