package server

import (
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
	connected := make(chan struct{})
	c := srv.newConn(sock, n, release, connected)
	if err := n.hooks.admit(c); err != nil {
		c.cancel()
		release()
		next(connectError(err.Error()))
		return
	}
	sock.SetData(c)
	next(nil)
	srv.awaitRecorded(c.id, connected, gone)
}

// onConnection sets up a socket the library has connected.
func (n *Namespace) onConnection(args ...any) {
	c := n.srv.connected(args, n.hooks)
	if c == nil {
		return
	}
	defer n.srv.work.done()

	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	n.reg.add(c)
	c.mu.Unlock()
	if !c.sock.Connected() {
		c.close(ReasonTransportClose)
		return
	}
	n.srv.socketConnected(n.name, c.sock, c.info)
	n.hooks.connected(c)
}
