package server

import (
	"errors"
	"io"
	"net"
	"time"
	"unicode/utf8"

	ws "github.com/gorilla/websocket"
	"github.com/zishang520/socket.io/parsers/engine/v3/packet"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// read reads messages until the connection ends.
func (t *wsTransport) read() {
	for {
		if t.idleTimeout > 0 {
			_ = t.ws.SetReadDeadline(time.Now().Add(t.idleTimeout))
		}
		mt, r, err := t.ws.NextReader()
		if err != nil {
			t.readFailed(err)
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
			t.readFailed(err)
			return
		}
		if mt == ws.TextMessage && !utf8.Valid(buf.Bytes()) {
			// RFC 6455 §8.1: fail the connection with 1007, as Node's ws
			// does (gorilla leaves text validation to the application).
			_ = t.w.enqueue(wsFrame(wsClose, ws.FormatCloseMessage(ws.CloseInvalidFramePayloadData, "")))
			t.endReading(true)
			t.OnError("websocket read", errInvalidUTF8)
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

// readFailed ends reading after err.
func (t *wsTransport) readFailed(err error) {
	var ce *ws.CloseError
	switch {
	case errors.As(err, &ce) && ce.Code != ws.CloseAbnormalClosure:
		// The client's close frame: the close handler has queued the
		// answer (or the server's own close frame went first).
		t.endReading(true)
	case errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF):
		t.endReading(false) // closed here, or by the client without a close frame
	case connectionFailed(err):
		t.endReading(false)
		t.OnError("websocket read", err)
	default:
		// A protocol error or an oversized message: gorilla has queued a
		// close frame with 1002 or 1009, which goes out before the
		// connection closes.
		t.endReading(true)
		t.OnError("websocket read", err)
	}
}

// connectionFailed reports whether err is the connection's own failure
// (a network error, a timeout, the stream cut short) rather than
// something the client sent.
func connectionFailed(err error) bool {
	var ce *ws.CloseError
	if errors.As(err, &ce) {
		return ce.Code == ws.CloseAbnormalClosure // the stream ended mid-frame
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// endReading records that reading has ended. With answer set, what the
// writer holds (the answer to the client's close frame, or the close frame
// failing the connection) is written first, and the connection closes
// after it; otherwise it closes now.
func (t *wsTransport) endReading(answer bool) {
	t.closeMu.Lock()
	t.readDone = true
	sent := t.closeSent
	if t.replyTimer != nil {
		t.replyTimer.Stop()
	}
	t.closeMu.Unlock()
	if sent || !answer {
		_ = t.ws.Close()
		return
	}
	// When DoClose has closed the writer already, its closeWritten comes
	// and closes the connection, seeing readDone.
	t.w.close(t.closeWritten)
}
