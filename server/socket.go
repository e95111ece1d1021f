package server

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Socket is one socket connected to a Namespace other than "/" (sockets of
// "/" are Conns). It is safe for concurrent use.
type Socket struct {
	nsp       *Namespace
	sock      *socket.Socket
	id        string
	handshake Handshake
	// token is the handshake's auth.token, kept out of handshake (see
	// AuthToken).
	token any

	// ctx is cancelled when the socket disconnects or the server closes.
	ctx    context.Context
	cancel context.CancelFunc
	// markRecorded tells admit that the library has recorded the socket
	// (see Server.awaitRecorded); release frees the connection's claim on
	// the namespace (see Server.claimConnection).
	markRecorded func()
	release      func()

	// rooms are the socket's rooms, guarded by the namespace's mu.
	rooms map[string]struct{}

	closeOnce sync.Once
	closed    atomic.Bool

	dataMu sync.Mutex
	data   any
}

// ID returns the socket id.
func (s *Socket) ID() string { return s.id }

// Namespace returns the socket's namespace.
func (s *Socket) Namespace() *Namespace { return s.nsp }

// Handshake returns what the client sent when it connected.
func (s *Socket) Handshake() Handshake { return s.handshake }

// Context returns a context that is cancelled when the socket disconnects.
func (s *Socket) Context() context.Context { return s.ctx }

// AuthToken returns the "token" of the client's handshake auth, for a
// namespace middleware that authenticates its sockets (for instance with
// Server.VerifyToken). Handshake().Auth never holds it, so that tools that
// show handshakes (the Admin UI, Watch) never see a token.
func (s *Socket) AuthToken() (any, bool) {
	return s.token, s.token != nil
}

// SetData attaches an application value to the socket (Socket.IO's
// socket.data), e.g. from a middleware for the handlers.
func (s *Socket) SetData(v any) {
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	s.data = v
}

// Data returns the value attached with SetData, or nil.
func (s *Socket) Data() any {
	s.dataMu.Lock()
	defer s.dataMu.Unlock()
	return s.data
}

// Transport returns the name of the socket's current transport:
// "polling" or "websocket".
func (s *Socket) Transport() string { return transportName(s.sock) }

// Rooms returns the rooms the socket is in.
func (s *Socket) Rooms() []string {
	s.nsp.mu.RLock()
	defer s.nsp.mu.RUnlock()
	out := make([]string, 0, len(s.rooms))
	for room := range s.rooms {
		out = append(out, room)
	}
	return out
}

// Join adds the socket to rooms of its namespace.
func (s *Socket) Join(rooms ...string) { s.nsp.join(s, rooms...) }

// Leave removes the socket from rooms of its namespace.
func (s *Socket) Leave(rooms ...string) { s.nsp.leave(s, rooms...) }

// Emit sends an event to this socket only. Arguments are encoded by
// Socket.IO: JSON, with []byte sent as binary attachments. Once the socket
// has disconnected, events are dropped.
func (s *Socket) Emit(event string, args ...any) error {
	if s.closed.Load() {
		return nil
	}
	return s.sock.Emit(event, args...)
}

// Disconnect disconnects the socket from its namespace and closes the
// client's connection (with every other namespace it carries).
func (s *Socket) Disconnect() { s.disconnect(ReasonServerDisconnect, true) }

// disconnect forgets the socket, then disconnects it; closeConn also
// closes the underlying connection.
func (s *Socket) disconnect(reason string, closeConn bool) {
	s.close(reason)
	s.sock.Disconnect(closeConn)
}

// shutdown forgets the socket and closes the client's connection without a
// DISCONNECT, so that the client reconnects (see Conn.shutdown).
func (s *Socket) shutdown() {
	s.close(ReasonServerShutdown)
	closeEngineConn(s.sock)
}

// close forgets the socket once: it leaves every room and the disconnect
// hooks run.
func (s *Socket) close(reason string) {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		n := s.nsp
		if n.remove(s) {
			n.srv.log.Debug("server: socket disconnected", "namespace", n.name, "socket", s.id, "reason", reason)
			n.srv.socketDisconnected(n.name, s.id, reason)
			n.runDisconnectHooks(s, reason)
		}
		s.release()
		s.cancel()
	})
}

// info describes the socket for Operator.Sockets.
func (s *Socket) info() SocketInfo {
	return SocketInfo{
		Namespace: s.nsp.name,
		ID:        s.id,
		ClientID:  clientID(s.sock),
		Transport: s.Transport(),
		Handshake: s.handshake,
		Rooms:     s.Rooms(),
	}
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
