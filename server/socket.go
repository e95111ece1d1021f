package server

import (
	"fmt"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Socket is the former name of a socket of a namespace other than "/".
// Every namespace's sockets are Conns now.
//
// Deprecated: use Conn. Socket goes in a later minor version.
type Socket = Conn

// SocketMiddleware is the former name of a namespace's middleware type.
//
// Deprecated: use Middleware. SocketMiddleware goes in a later minor
// version.
type SocketMiddleware = Middleware

// SocketHandler is the former name of a namespace's event handler type.
//
// Deprecated: use EventHandler. SocketHandler goes in a later minor
// version.
type SocketHandler = EventHandler

// Namespace returns the name of the socket's namespace: "/" (the reactive
// protocol's) or one made with Server.Namespace.
func (c *Conn) Namespace() string {
	if c.nsp == nil {
		return RootNamespace
	}
	return c.nsp.name
}

// AuthToken returns the "token" of the client's handshake auth, for a
// middleware that authenticates sockets of a namespace other than "/"
// (for instance with Server.VerifyToken). Handshake().Auth never holds it,
// so that tools that show handshakes (the Admin UI, Watch) never see a
// token.
func (c *Conn) AuthToken() (any, bool) {
	return c.token, c.token != nil
}

// SetData attaches an application value to the socket (Socket.IO's
// socket.data), e.g. from a middleware for the handlers.
func (c *Conn) SetData(v any) {
	c.dataMu.Lock()
	defer c.dataMu.Unlock()
	c.data = v
}

// Data returns the value attached with SetData, or nil.
func (c *Conn) Data() any {
	c.dataMu.Lock()
	defer c.dataMu.Unlock()
	return c.data
}

// Join adds the socket to rooms of its namespace; a socket that has
// disconnected joins nothing. In "/" the reserved rooms (all, guests,
// users, user_*, device_*) follow the socket's authentication and cannot
// be joined (ErrReservedRoom); a name that cannot be a room is
// ErrInvalidRoom. Either error joins no room.
func (c *Conn) Join(rooms ...string) error {
	if err := c.checkRooms(rooms); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed.Load() {
		c.reg.join(c, rooms...)
	}
	return nil
}

// Leave removes the socket from rooms of its namespace, with the errors of
// Join.
func (c *Conn) Leave(rooms ...string) error {
	if err := c.checkRooms(rooms); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reg.leave(c, rooms...)
	return nil
}

// checkRooms returns the error of the first room of rooms the application
// may not join or leave.
func (c *Conn) checkRooms(rooms []string) error {
	for _, room := range rooms {
		if err := checkAppRoom(c.Namespace(), room); err != nil {
			return err
		}
	}
	return nil
}

// checkAppRoom returns why the application may not make sockets of nsp
// join or leave room, or nil: a name that cannot be a room, or in "/" a
// reserved room, which follows authentication.
func checkAppRoom(nsp, room string) error {
	if !validRoom(room) {
		return fmt.Errorf("%w: %q", ErrInvalidRoom, room)
	}
	if nsp == RootNamespace && reservedRoom(room) {
		return fmt.Errorf("%w: %q", ErrReservedRoom, room)
	}
	return nil
}

// transportName returns the name of sock's current transport.
func transportName(sock *socket.Socket) string {
	if t := sock.Conn().Transport(); t != nil {
		return t.Name()
	}
	return ""
}

// clientID returns the Engine.IO session id of sock's connection.
func clientID(sock *socket.Socket) string { return string(sock.Conn().Id()) }
