package server

import (
	"errors"
	"io"
	"log/slog"
	"net"
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
// go through the writer too) and on a read protocol error, just before
// the connection dies.
type wsTransport struct {
	transports.Transport

	ws          *types.WebSocketConn
	idleTimeout time.Duration
	w           *connWriter
	// failure is the reason the writer failed, "" while it has not.
	failure atomic.Pointer[string]
	// pingSent is when the last Send carrying a ping returned, in Unix
	// nanoseconds, or pingInFlight while it runs; pongHold how long a pong
	// is held back after it (see handlePong).
	pingSent atomic.Int64
	pongHold time.Duration
}

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
	t.w = newConnWriter(t.ws.NetConn(), b.cfg.maxPending, b.cfg.writeTimeout, func(reason string, err error) {
		t.onWriteFailure(b.cfg, reason, err)
	})
	t.w.observer = b.cfg.observer
	t.w.written = &b.cfg.stats.wsBytes
	t.pongHold = pongHold(b.cfg.pingInterval, b.cfg.pingTimeout)
	t.w.flushers = b.cfg.flushers
	if sid := ctx.Query().Peek("sid"); sid != "" && !b.cfg.upgrades.claim(sid, t) {
		// A second upgrade of the session: refused (see upgradeGuard).
		t.SetReadyState("closed")
		_ = t.ws.Close()
		return t
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
	t.ws.SetCloseHandler(func(code int, _ string) error {
		_ = t.w.enqueue(wsFrame(wsClose, ws.FormatCloseMessage(code, "")))
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

// read reads messages until the connection ends.
func (t *wsTransport) read() {
	defer func() { _ = t.ws.Close() }()
	for {
		if t.idleTimeout > 0 {
			_ = t.ws.SetReadDeadline(time.Now().Add(t.idleTimeout))
		}
		mt, r, err := t.ws.NextReader()
		if err != nil {
			var ce *ws.CloseError
			if !errors.As(err, &ce) && !errors.Is(err, net.ErrClosed) && !errors.Is(err, io.EOF) {
				t.OnError("websocket read", err)
			}
			return
		}
		var buf types.BufferInterface
		switch mt {
		case ws.BinaryMessage:
			buf = types.NewBytesBuffer(nil)
		case ws.TextMessage:
			buf = types.NewStringBuffer(nil)
		default:
			continue
		}
		if _, err := buf.ReadFrom(r); err != nil {
			t.OnError("websocket read", err)
			return
		}
		p, _ := t.Parser().DecodePacket(buf)
		if p != nil && p.Type == packet.PONG {
			t.handlePong(p)
			continue
		}
		t.OnPacket(p)
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
// first (each write under the deadline), then a close frame, then the
// connection closes.
func (t *wsTransport) DoClose(fn types.Callable) {
	_ = t.w.enqueue(closeFrame)
	t.w.close(func() {
		if fn != nil {
			fn()
		}
		_ = t.ws.Close()
	})
}

// OnClose implements transports.Transport: the connection is gone.
func (t *wsTransport) OnClose() {
	t.w.close(nil)
	t.Transport.OnClose()
	_ = t.ws.Close()
}
