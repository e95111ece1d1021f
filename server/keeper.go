package server

import (
	"context"
	"encoding/json"
	"sync"
	"time"

	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/socket/v3"
)

// sessionKeeper keeps, under recovery with a SessionStore broker, the
// session of every live socket in the store ahead of time — at connect, after each change
// of its rooms or user, and again every half recovery window — so that a
// node that dies without closing its sockets (SIGKILL, a power cut) leaves
// them recoverable on the other nodes. A socket closed for a reason that
// is not recoverable (the client left, the server disconnected it) has its
// session dropped, so that nobody restores a socket the server kicked out.
//
// One goroutine, owned by the server, does the broker calls in the order
// they were asked for: a drop is never overtaken by an earlier persist.
type sessionKeeper struct {
	s        *Server
	interval time.Duration

	mu    sync.Mutex
	dirty map[*Conn]struct{}
	drops []string
	wake  chan struct{}
}

func newSessionKeeper(s *Server, window time.Duration) *sessionKeeper {
	return &sessionKeeper{
		s:        s,
		interval: window / 2,
		dirty:    make(map[*Conn]struct{}),
		wake:     make(chan struct{}, 1),
	}
}

// mark asks for c's session to be persisted. It never blocks (the
// registry calls it under its lock).
func (k *sessionKeeper) mark(c *Conn) {
	k.mu.Lock()
	k.dirty[c] = struct{}{}
	k.mu.Unlock()
	k.poke()
}

// drop asks for the session pid to be dropped.
func (k *sessionKeeper) drop(pid string) {
	k.mu.Lock()
	k.drops = append(k.drops, pid)
	k.mu.Unlock()
	k.poke()
}

func (k *sessionKeeper) poke() {
	select {
	case k.wake <- struct{}{}:
	default:
	}
}

// run persists and drops sessions until done is closed.
func (k *sessionKeeper) run(done <-chan struct{}) {
	t := time.NewTicker(k.interval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-k.wake:
		case <-t.C:
			for _, c := range k.s.reg.all() {
				k.mark(c)
			}
		}
		k.flush()
	}
}

// flush does what was asked since the last flush.
func (k *sessionKeeper) flush() {
	k.mu.Lock()
	dirty, drops := k.dirty, k.drops
	k.dirty, k.drops = make(map[*Conn]struct{}, len(dirty)), nil
	k.mu.Unlock()
	for c := range dirty {
		pid := c.privateID()
		if pid == "" || c.closed.Load() {
			continue
		}
		k.call(func(ctx context.Context) error { return k.s.store.PersistSession(ctx, c.session(pid)) }, "persist", c.id)
	}
	for _, pid := range drops {
		k.call(func(ctx context.Context) error { return k.s.store.DropSession(ctx, pid) }, "drop", "")
	}
}

func (k *sessionKeeper) call(f func(ctx context.Context) error, what, socketID string) {
	ctx, cancel := context.WithTimeout(k.s.ctx, 5*time.Second)
	defer cancel()
	if err := f(ctx); err != nil {
		k.s.log.Debug("server: keep session", "op", what, "socket", socketID, "err", err)
	}
}

// privateID returns the socket's private session id, once known.
func (c *Conn) privateID() string {
	if p := c.pid.Load(); p != nil {
		return *p
	}
	return ""
}

// capturePID learns the private session id the library sends the client
// in the socket's CONNECT reply (it keeps it to itself otherwise): the
// key of the socket's session.
func (c *Conn) capturePID() {
	conn := c.sock.Conn()
	if conn == nil {
		return
	}
	_ = conn.On("packetCreate", func(args ...any) {
		if c.pid.Load() != nil {
			return
		}
		p, _ := firstArg(args).(*packet.Packet)
		if p == nil || p.Type != packet.MESSAGE {
			return
		}
		b, ok := p.Data.(interface{ Bytes() []byte })
		if !ok {
			return
		}
		data := b.Bytes()
		if len(data) < 2 || data[0] != '0' || data[1] != '{' { // the CONNECT of "/"
			return
		}
		var reply struct {
			SID string `json:"sid"`
			PID string `json:"pid"`
		}
		if json.Unmarshal(data[1:], &reply) == nil && reply.SID == c.id && reply.PID != "" {
			c.pid.Store(&reply.PID)
			// Its session can be kept now: a restored socket's was taken
			// out of the broker by its restore, and a drop before the next
			// change of its rooms must find it again.
			if f := c.reg.onChange; f != nil {
				f(c)
			}
		}
	})
}

// recoverable reports whether the library keeps the session of a socket
// that closed for reason.
func recoverable(reason string) bool { return socket.RECOVERABLE_DISCONNECT_REASONS.Has(reason) }
