package server

import (
	"context"
	"log/slog"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Conn is one connected socket, of "/" (the reactive protocol's
// namespace) or of a namespace made with Server.Namespace: a client has
// one per namespace it connects to, all over one connection. Hooks,
// middlewares and event handlers receive it; it is safe for concurrent
// use. Only sockets of "/" have a user and a device id.
type Conn struct {
	sock      *socket.Socket
	id        string
	deviceID  string
	handshake Handshake
	// nsp is the socket's namespace, nil for "/". token is the
	// handshake's auth.token, kept out of handshake (see AuthToken).
	nsp   *Namespace
	token any
	// release frees the connection's claim on the namespace (see
	// Server.claimConnection).
	release func()

	dataMu sync.Mutex
	data   any

	// ctx is cancelled when the socket disconnects or the server closes.
	ctx    context.Context
	cancel context.CancelFunc
	// markRecorded tells admit that the library has recorded the socket
	// on its connection (see Server.awaitRecorded).
	markRecorded func()

	// mu serialises the socket's state changes (auth, deauth, join, expiry,
	// close); it is taken before the registry's lock, never after.
	mu     sync.Mutex
	user   *User
	gen    uint64
	expiry *time.Timer

	// closed is set once, under mu, by close; read without the lock by
	// delivery to skip sockets on their way out. leftRooms, set with it,
	// are the rooms the socket was in: its session keeps them once the
	// registry has let it go.
	closed    atomic.Bool
	leftRooms []string
	// closeReason is the reason close was first called with, under mu.
	closeReason string

	// What the socket needs from its server: its rooms, a logger, and the
	// hooks to run when it closes.
	reg      *registry
	log      *slog.Logger
	onClosed func(ctx context.Context, c *Conn, reason string)
	// observer is Config.Observer, or nil.
	observer Observer

	// shard is the delivery shard of the socket (set by registry.add).
	shard int
	// direct is the websocket writer of the socket, once its frames can be
	// queued there directly (see deliver); nil before.
	direct atomic.Pointer[connWriter]
	// sendMu serialises the switch to direct delivery.
	sendMu sync.Mutex

	// maxPending is Config.MaxPendingBytes; polled counts the bytes the
	// library keeps for a polling client; slow is set once it is closed
	// for keeping too many (see countPolled).
	maxPending int
	stats      *counters
	polled     atomic.Int64
	slow       atomic.Bool

	// Connection state recovery (see Server.restore): while restoring,
	// deliveries are held, to go out after what the history gives; then
	// frames with an offset up to skipTo (set before restoring is cleared,
	// read-only after) are skipped. restored is what the library restored,
	// from admit to onConnection.
	restoring atomic.Bool
	// stopped is set when the server closes the socket for its client to
	// recover an event it could not queue (see Server.enqueue): nothing
	// more is sent to it, so that the client's last offset stays before
	// that event.
	stopped atomic.Bool
	// pid is the private session id (see capturePID), nil until known.
	pid      atomic.Pointer[string]
	heldMu   sync.Mutex
	held     []*frame
	skipTo   offset
	restored *restoreState
}

// Handshake is what a client sent when it connected.
type Handshake struct {
	// Address is the client's remote address.
	Address string
	// Headers are the HTTP headers of the first request.
	Headers http.Header
	// Query is the query string of the first request.
	Query url.Values
	// Auth is the client's auth payload, with "token" removed.
	Auth map[string]any
	// Time is when the socket was created.
	Time time.Time
	// URL is the URL of the first request.
	URL string
	// Secure reports whether the connection came over TLS.
	Secure bool
	// CrossDomain reports whether the first request came from another
	// origin (it carried an Origin header).
	CrossDomain bool
}

// ID returns the socket id.
func (c *Conn) ID() string { return c.id }

// DeviceID returns the device id announced at handshake, or "" (always ""
// outside "/").
func (c *Conn) DeviceID() string { return c.deviceID }

// Handshake returns what the client sent when it connected.
func (c *Conn) Handshake() Handshake { return c.handshake }

// User returns the socket's user, if it is authenticated (only sockets of
// "/" are).
func (c *Conn) User() (User, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.user == nil {
		return User{}, false
	}
	return *c.user, true
}

// Context returns a context that is cancelled when the socket disconnects
// and that carries the socket's user (see UserFromContext) if it has one.
func (c *Conn) Context() context.Context {
	if u, ok := c.User(); ok {
		return WithUser(c.ctx, u)
	}
	return c.ctx
}

// Transport returns the name of the socket's current transport:
// "polling" or "websocket".
func (c *Conn) Transport() string { return transportName(c.sock) }

// Rooms returns the rooms the socket is in (its private socket-id room
// excluded).
func (c *Conn) Rooms() []string { return c.reg.roomsOf(c) }

// Emit sends an event to this socket only. Args are encoded with
// encoding/json; binary data ([]byte) is sent as binary attachments (see
// encodeFrame). It returns an error if they cannot be encoded.
func (c *Conn) Emit(event string, args ...any) error {
	f, err := encodeFrameIn(c.Namespace(), event, args...)
	if err != nil {
		c.stats.encodeErrors.Add(1)
		return err
	}
	c.deliver(f, true)
	return nil
}

// deliver queues f for this socket without blocking and reports whether it
// was queued (not when the socket is closed or its writer has failed).
// now lets the frame be written at once when the connection is idle (see
// connWriter.send).
//
// On websocket the frame's bytes go straight to the connection's writer.
// Before that is possible — on polling, and for the first frame after the
// transport became our websocket — the frame goes through the library,
// which writes whatever it has buffered for the socket first; once that
// one is through, nothing of the library's is left ahead of it and the
// socket switches to direct delivery, keeping the order of its frames.
func (c *Conn) deliver(f *frame, now bool) bool {
	if c.closed.Load() {
		return false
	}
	if c.restoring.Load() && c.hold(f) {
		return true
	}
	if !c.skipTo.none() && !f.off.none() && !f.off.after(c.skipTo) {
		return true // already sent from the history when the socket was restored
	}
	return c.send(f, now)
}

// hold keeps f while the socket is being restored and reports whether it
// did (false once the restore has finished).
func (c *Conn) hold(f *frame) bool {
	c.heldMu.Lock()
	defer c.heldMu.Unlock()
	if !c.restoring.Load() {
		return false
	}
	c.held = append(c.held, f)
	return true
}

// finishRestore sends what arrived live while the socket was restored,
// skipping what the history already gave it (offsets up to last), then
// lets deliveries through.
func (c *Conn) finishRestore(last offset) {
	c.skipTo = last
	for {
		c.heldMu.Lock()
		held := c.held
		c.held = nil
		if len(held) == 0 {
			c.restoring.Store(false)
			c.heldMu.Unlock()
			return
		}
		c.heldMu.Unlock()
		for _, f := range held {
			if f.off.none() || f.off.after(c.skipTo) {
				c.send(f, false)
			}
		}
	}
}

// send queues f for this socket; see deliver.
func (c *Conn) send(f *frame, now bool) bool {
	if c.closed.Load() || c.stopped.Load() {
		return false
	}
	if w := c.direct.Load(); w != nil {
		return w.sendEvent(f.ws, f.committed, now) == nil
	}
	c.sendMu.Lock()
	defer c.sendMu.Unlock()
	if w := c.direct.Load(); w != nil {
		return w.sendEvent(f.ws, f.committed, now) == nil
	}
	cl := c.sock.Client()
	t, _ := cl.Conn().Transport().(*wsTransport)
	packets := []types.BufferInterface{types.NewStringBuffer(f.packet)}
	for _, a := range f.attachments {
		packets = append(packets, types.NewBytesBuffer(a))
	}
	cl.WriteToEngine(packets, preEncoded)
	if c.observer != nil && f.committed != 0 {
		c.observer.EventDelivered(sinceCommit(time.Now().UnixNano(), f.committed))
	}
	if t != nil {
		c.direct.Store(t.writer())
		return true
	}
	c.countPolled(len(f.ws))
	return true
}

// countPolled counts n bytes handed to the library for a polling client
// (the engine keeps them until the client's next GET). A client that
// stops polling while more than Config.MaxPendingBytes wait for it is
// closed as a slow consumer, as a websocket one is.
func (c *Conn) countPolled(n int) {
	if c.maxPending <= 0 {
		return
	}
	if c.polled.Add(int64(n)) <= int64(c.maxPending) || !c.slow.CompareAndSwap(false, true) {
		return
	}
	c.stats.slowConsumers.Add(1)
	c.log.Warn("server: slow consumer disconnected (polling)", "socket", c.id, "pending_bytes", c.polled.Load())
	if conn := c.sock.Conn(); conn != nil {
		conn.Close(true)
	}
}

// watchPolling resets the count of countPolled whenever the engine has
// flushed what it kept to the client.
func (c *Conn) watchPolling() {
	if conn := c.sock.Conn(); conn != nil {
		_ = conn.On("drain", func(...any) { c.polled.Store(0) })
	}
}

// preEncoded tells the library that a packet is an encoded Socket.IO
// packet.
var preEncoded = &socket.WriteOptions{PreEncoded: true}

// Disconnect disconnects the socket and closes its client's connection
// (with the client's sockets in every other namespace).
func (c *Conn) Disconnect() { c.disconnect(ReasonServerDisconnect) }

// emit sends a protocol event to this socket, logging encoding errors
// (which only a bug can cause).
func (c *Conn) emit(event string, payload any) {
	if err := c.Emit(event, payload); err != nil {
		c.log.Error("server: emit", "event", event, "socket", c.id, "err", err)
	}
}

// stopSending makes send refuse every frame from now on: the socket is
// about to be closed for its client to recover what it missed. It reports
// whether this call stopped it (false when it was stopped already).
func (c *Conn) stopSending() bool { return c.stopped.CompareAndSwap(false, true) }

// shutdown forgets the socket and closes its Engine.IO connection without
// a Socket.IO DISCONNECT, as Node's io.close() does: the client sees its
// transport close, as after a network failure, and reconnects by itself —
// to this address once a server is back on it, or to another node. A
// DISCONNECT would tell it the server let it go on purpose ("io server
// disconnect"), which socket.io-client never retries.
func (c *Conn) shutdown() {
	c.close(ReasonServerShutdown)
	closeEngineConn(c.sock)
}

// disconnect forgets the socket, then sends it a DISCONNECT and closes its
// transport: the client does not reconnect by itself.
func (c *Conn) disconnect(reason string) {
	c.close(reason)
	c.sock.Disconnect(true)
}

// close forgets the socket: it leaves every room, its timer stops and the
// disconnect hooks run. It runs once per socket however many times it is
// called: the library can fire "disconnect" twice for one socket (two
// concurrent closes both pass its connected check), and the server closes
// sockets itself too.
func (c *Conn) close(reason string) {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	c.closed.Store(true)
	c.closeReason = reason
	c.leftRooms = c.reg.roomsOf(c)
	c.gen++
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	ctx := c.contextLocked()
	c.mu.Unlock()

	if c.reg.remove(c) {
		if c.stats != nil && c.nsp == nil {
			c.stats.disconnects[reasonIndex(reason)].Add(1)
		}
		c.log.Debug("server: socket disconnected", "namespace", c.Namespace(), "socket", c.id, "reason", reason)
		if c.onClosed != nil {
			c.onClosed(ctx, c, reason)
		}
	}
	if c.release != nil {
		c.release()
	}
	c.cancel()
}

// mayRecover reports whether the socket's session may be kept for its
// client to recover: it is open, or it closed for a reason its client
// recovers from. A socket the server disconnected is not, even when the
// library, closing its transport at the same moment (the client hung up on
// the DISCONNECT), asks for it to be kept as after a transport close.
func (c *Conn) mayRecover() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return !c.closed.Load() || recoverable(c.closeReason)
}

func (c *Conn) contextLocked() context.Context {
	if c.user != nil {
		return WithUser(c.ctx, *c.user)
	}
	return c.ctx
}
