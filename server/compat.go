package server

import (
	"sync"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Workarounds for defects of github.com/zishang520/socket.io v3.0.6, all in
// this file so that a library upgrade is one review. Each is pinned by a
// test in defects_internal_test.go that fails without it.

// claimConnection records that the Engine.IO connection cl is getting its
// socket. It reports false when cl already has one, admitted or being
// admitted; otherwise release forgets the claim (call it when admission
// fails) and gone is closed when the connection closes, which releases
// the claim too.
//
// It guards against a defect of the library: it accepts a second CONNECT
// for the namespace while the first is still being admitted, which would
// give one client two sockets.
func (s *Server) claimConnection(cl *socket.Client) (release func(), gone <-chan struct{}, ok bool) {
	if _, dup := s.engineConns.LoadOrStore(cl, struct{}{}); dup {
		return nil, nil, false
	}
	release = func() { s.engineConns.Delete(cl) }
	closed := make(chan struct{})
	onClose := sync.OnceFunc(func() {
		release()
		close(closed)
	})
	_ = cl.Conn().Once("close", func(...any) { onClose() })
	if cl.Conn().ReadyState() == "closed" {
		onClose()
	}
	return release, closed, true
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
