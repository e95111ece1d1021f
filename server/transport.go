package server

import (
	"errors"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	ws "github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// wsTransport is the server's own Engine.IO websocket transport, registered
// with the library in place of its own (Config transports, see New). It
// reads like the library's transport but writes differently: every
// outgoing frame, the library's packets and the server's pre-encoded
// broadcasts alike, goes through one connWriter, so writes are coalesced,
// bounded and under a deadline, and a broadcast frame is the same bytes
// for every connection.
//
// Reading stays with gorilla/websocket. gorilla writes on its own only to
// answer pings and close frames (handlers replaced here so those answers
// go through the writer too) and to fail the connection on a protocol
// error or an oversized message (through the writer too when the
// connection is an upgradedConn, as it is under a Server).
//
// The connection ends with the close handshake of RFC 6455 §7, as Node's
// ws ends it: a close frame from the client is answered with its status
// once the frames queued before it are written, then the server closes the
// connection; a close from the server (DoClose) writes the queued frames
// and a close frame, then waits up to closeReplyTimeout for the client's
// answer before closing the connection; a protocol error, an oversized
// message or a text message that is not UTF-8 is answered with a close
// frame carrying 1002, 1009 or 1007, then the connection closes.
type wsTransport struct {
	transports.Transport

	ws          *types.WebSocketConn
	idleTimeout time.Duration
	w           *connWriter
	// conn is the connection as hijacked, nil when it is not an
	// upgradedConn (the Engine.IO server's handler was not wrapped).
	conn *upgradedConn
	// failure is the reason the writer failed, "" while it has not.
	failure atomic.Pointer[string]
	// pingSent is when the last Send carrying a ping returned, in Unix
	// nanoseconds, or pingInFlight while it runs; pongHold how long a pong
	// is held back after it (see handlePong).
	pingSent atomic.Int64
	pongHold time.Duration

	// The close handshake (see closeWritten and endReading).
	closeMu sync.Mutex
	// closeSent: the writer has written its last frame, a close frame,
	// or has failed.
	closeSent bool
	// readDone: reading has ended, with the client's close frame or an
	// error.
	readDone bool
	// onClosed is DoClose's callback, run once the close frame is written.
	onClosed types.Callable
	// replyTimer closes the connection if the client does not answer the
	// server's close frame.
	replyTimer *time.Timer
}

// closeReplyTimeout is how long the server waits for the client to answer
// its close frame before it closes the connection anyway. Node's ws waits
// 30 s; clients answer within a round trip, and a server that is shutting
// down should not hold connections for long.
const closeReplyTimeout = time.Second

// errInvalidUTF8 is the read error of a text message that is not UTF-8.
var errInvalidUTF8 = errors.New("server: websocket text message is not valid UTF-8")

// wsConfig is what the websocket transports of one server share.
type wsConfig struct {
	maxPending   int
	writeTimeout time.Duration
	log          *slog.Logger
	stats        *counters
	upgrades     *upgradeGuard
	observer     Observer
	// flushers counts the writers' flush goroutines (see Server.Close).
	flushers *inflight
	// pingInterval and pingTimeout are Config.PingInterval and
	// Config.PingTimeout.
	pingInterval, pingTimeout time.Duration
}

// wsBuilder makes wsTransports; it replaces the library's WebSocketBuilder.
type wsBuilder struct {
	transports.WebSocketBuilder
	cfg *wsConfig
}

// New implements transports.TransportCtor.
func (b *wsBuilder) New(ctx *types.HttpContext) transports.Transport {
	t := &wsTransport{Transport: transports.MakeTransport()}
	t.Prototype(t)
	t.Transport.Construct(ctx)
	t.ws = ctx.Websocket
	t.idleTimeout = ctx.IdleTimeout
	conn := t.ws.NetConn()
	if uc, ok := conn.(*upgradedConn); ok {
		t.conn = uc
		conn = uc.Conn // the writer writes to the socket itself
	}
	t.w = newConnWriter(conn, b.cfg.maxPending, b.cfg.writeTimeout, func(reason string, err error) {
		t.onWriteFailure(b.cfg, reason, err)
	})
	t.w.observer = b.cfg.observer
	t.w.written = &b.cfg.stats.wsBytes
	t.pongHold = pongHold(b.cfg.pingInterval, b.cfg.pingTimeout)
	t.w.flushers = b.cfg.flushers
	if sid := ctx.Query().Peek("sid"); sid != "" && !b.cfg.upgrades.claim(sid, ctx, t) {
		// A second upgrade of the session: refused (see upgradeGuard)
		// with an empty close frame, as Node's engine.io refuses it.
		t.SetReadyState("closed")
		if b.cfg.writeTimeout > 0 {
			_ = conn.SetWriteDeadline(time.Now().Add(b.cfg.writeTimeout))
		}
		_, _ = conn.Write(wsFrame(wsClose))
		_ = t.ws.Close()
		return t
	}
	if t.conn != nil {
		t.conn.attach(t.w)
	}
	_ = t.ws.On("error", func(errs ...any) {
		err, _ := firstArg(errs).(error)
		t.OnError("websocket error", err)
	})
	_ = t.ws.Once("close", func(...any) { t.OnClose() })
	t.ws.SetPingHandler(func(data string) error {
		_ = t.w.enqueue(wsFrame(wsPong, []byte(data)))
		return nil
	})
	t.ws.SetCloseHandler(func(code int, text string) error {
		// The answer echoes the status and reason (RFC 6455 §5.5.1), as
		// Node's ws does; an empty close frame answers one without a
		// status (FormatCloseMessage of CloseNoStatusReceived is empty).
		// endReading closes the connection once it is written.
		_ = t.w.enqueue(wsFrame(wsClose, ws.FormatCloseMessage(code, text)))
		return nil
	})
	t.SetWritable(true)
	t.SetPerMessageDeflate(nil)
	transports.StartReader(t, ctx.TransportReadPermission(), t.read)
	return t
}

// onWriteFailure handles the writer's first failure: it is recorded for
// the disconnect reason, logged and counted, and the connection closes.
func (t *wsTransport) onWriteFailure(cfg *wsConfig, reason string, err error) {
	if t.ReadyState() == "closed" {
		return // the connection was closing anyway
	}
	t.failure.Store(&reason)
	switch reason {
	case ReasonSlowConsumer:
		cfg.stats.slowConsumers.Add(1)
		cfg.log.Warn("server: slow consumer disconnected", "sid", t.Sid(), "err", err)
	case ReasonWriteTimeout:
		cfg.stats.writeTimeouts.Add(1)
		cfg.log.Warn("server: write timeout, disconnected", "sid", t.Sid(), "err", err)
	default:
		cfg.log.Debug("server: write failed", "sid", t.Sid(), "err", err)
	}
	_ = t.ws.Close()
}

// failureReason returns why the writer failed, or "".
func (t *wsTransport) failureReason() string {
	if r := t.failure.Load(); r != nil {
		return *r
	}
	return ""
}

// Name implements transports.Transport.
func (t *wsTransport) Name() string { return transports.WEBSOCKET }

// HandlesUpgrades implements transports.Transport.
func (t *wsTransport) HandlesUpgrades() bool { return true }

// closeWritten runs once the writer has written its last frame (or has
// failed): DoClose's callback runs, and the connection closes if reading
// has ended, or else after the client's answer or closeReplyTimeout.
func (t *wsTransport) closeWritten() {
	t.closeMu.Lock()
	t.closeSent = true
	fn := t.onClosed
	t.onClosed = nil
	done := t.readDone
	if !done {
		t.replyTimer = time.AfterFunc(closeReplyTimeout, func() { _ = t.ws.Close() })
	}
	t.closeMu.Unlock()
	if fn != nil {
		fn()
	}
	if done {
		_ = t.ws.Close()
	}
}

// pingInFlight is pingSent while a Send carrying a ping runs.
const pingInFlight = -1

// handlePong hands a pong to the library once its pong timer is surely
// armed. The library sends a ping (Send), and only after Send has returned
// arms the timer that waits for the pong: a pong handled in between clears
// the old timer, and the new one closes the connection ("ping timeout")
// although the client answered — on loopback about one ping in twenty. A
// pong that comes while the ping's Send runs, or less than pongHold after
// it returned, waits for the rest of pongHold. The library starts the next
// ping interval when it handles the pong, so the hold, timed from the end
// of Send rather than from the ping, is also all the heartbeat drifts by.
func (t *wsTransport) handlePong(p *packet.Packet) {
	wait := t.pongHold
	if sent := t.pingSent.Load(); sent != pingInFlight {
		wait -= time.Duration(time.Now().UnixNano() - sent)
	}
	if wait > 0 {
		time.AfterFunc(wait, func() { t.handlePong(p) })
		return
	}
	t.OnPacket(p)
}

// pongHold is how long after a ping's Send a pong is held back (see
// handlePong): far more than the library needs between Send returning and
// arming its timer, and small against the heartbeat: at most 50 ms, a
// quarter of the ping timeout and a twentieth of the ping interval.
func pongHold(pingInterval, pingTimeout time.Duration) time.Duration {
	return min(50*time.Millisecond, pingTimeout/4, pingInterval/20)
}

// Send implements transports.Transport: the library's packets (open, ping,
// Socket.IO packets of one socket) are encoded and queued on the writer.
// The transport stays writable; "drain" means handed to the writer.
func (t *wsTransport) Send(packets []*packet.Packet) {
	ping := false
	for _, p := range packets {
		if p.Type == packet.PING {
			ping = true
			t.pingSent.Store(pingInFlight)
		}
		var data types.BufferInterface
		if p.Options != nil && p.Options.WsPreEncodedFrame != nil {
			data = p.Options.WsPreEncodedFrame
		} else {
			d, err := t.Parser().EncodePacket(p, t.SupportsBinary())
			if err != nil {
				t.OnError("encode", err)
				return
			}
			data = d
		}
		op := wsBinary
		if _, ok := data.(*types.StringBuffer); ok {
			op = wsText
		}
		if err := t.w.enqueue(wsFrame(op, data.Bytes())); err != nil {
			break // the writer has failed or is closing: nothing more goes out
		}
	}
	t.Emit("drain")
	if ping {
		t.pingSent.Store(time.Now().UnixNano())
	}
}

// writer returns the connection writer, for the server's own frames.
func (t *wsTransport) writer() *connWriter { return t.w }

// closeFrame is a websocket close frame with status 1000 (normal closure).
var closeFrame = []byte{0x80 | wsClose, 2, 0x03, 0xE8}

// DoClose implements transports.Transport: queued frames are written
// first (each write under the deadline), then a close frame, then fn runs;
// the connection closes once the client has answered, or after
// closeReplyTimeout (see closeWritten). If the connection was already
// closing, fn runs once what was queued is written.
func (t *wsTransport) DoClose(fn types.Callable) {
	_ = t.w.enqueue(closeFrame)
	t.closeMu.Lock()
	if t.closeSent {
		t.closeMu.Unlock()
		if fn != nil {
			fn()
		}
		return
	}
	t.onClosed = fn
	t.closeMu.Unlock()
	t.w.close(t.closeWritten)
}

// OnClose implements transports.Transport: the connection is gone.
func (t *wsTransport) OnClose() {
	t.w.close(nil)
	t.Transport.OnClose()
	_ = t.ws.Close()
}
