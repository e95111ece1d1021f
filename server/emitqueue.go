package server

import (
	"context"
	"log/slog"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// enqueue queues a broadcast for this node's sockets. Under recovery the
// broadcast first gets its offset (unless a SessionStore broker gave it
// one) and goes into the history, in the order of the queue; when the
// queue is full it is not lost: the sockets it is for are closed, as a
// slow consumer is, and get it from the history when they come back.
func (s *Server) enqueue(ctx context.Context, j job, ev *entreactive.Event) error {
	if s.hist == nil || j.volatile {
		return s.del.enqueue(ctx, j, ev)
	}
	h := s.hist
	h.mu.Lock()
	if j.frame.off.none() && s.store == nil {
		j.frame = j.frame.withOffset(h.next(time.Now()))
	}
	if j.frame.off.none() {
		h.mu.Unlock()
		return s.del.enqueue(ctx, j, ev)
	}
	h.addLocked(record{rooms: j.rooms, except: j.except, frame: j.frame})
	if s.del.offer(j) {
		h.mu.Unlock()
		return nil
	}
	// Nothing more goes to these sockets from now on, before any later
	// broadcast can be queued (under h.mu): a later one reaching a socket
	// before it is closed would move its client's last offset past this
	// one, which recovery would then never give it.
	var conns []*Conn
	for _, c := range s.selectLocal(Selector{Rooms: j.rooms, Except: j.except}) {
		if c.stopSending() { // once per socket: a later event finds it stopped
			conns = append(conns, c)
		}
	}
	h.mu.Unlock()
	if len(conns) == 0 {
		return nil
	}
	s.stats.recoveryCloses.Add(uint64(len(conns)))
	s.log.LogAttrs(ctx, slog.LevelWarn, "server: delivery queue full, closing the sockets of the event to recover it from the history",
		slog.String("event", j.frame.event), slog.Int("sockets", len(conns)), slog.String("offset", j.frame.off.String()))
	if s.work.enter() {
		go func() {
			defer s.work.done()
			for _, c := range conns {
				c.closeToRecover()
			}
		}()
	}
	return nil
}

// closeToRecover closes the socket's connection the way a network failure
// would ("forced close"), so that its session is kept for recovery.
func (c *Conn) closeToRecover() { closeEngineConn(c.sock) }

// closeEngineConn closes the Engine.IO connection under sock at once, the
// way a network failure would: the client sees "transport close" and
// reconnects by itself.
func closeEngineConn(sock *socket.Socket) {
	if conn := sock.Conn(); conn != nil {
		conn.Close(true)
	}
}
