package server

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// releasingWriter is the ResponseWriter handed to the library for a
// websocket upgrade. The library keeps the first request of every session
// for the session's life, ResponseWriter included, and net/http's
// ResponseWriter holds the connection's 4 KiB read and write buffers, which
// a hijacked connection no longer uses (gorilla/websocket has buffers of
// its own). Once hijacked, releasingWriter lets go of the ResponseWriter,
// so those buffers are freed: about 8 KiB per websocket connection.
type releasingWriter struct {
	mu     sync.Mutex
	w      http.ResponseWriter
	header http.Header
}

func newReleasingWriter(w http.ResponseWriter) *releasingWriter {
	return &releasingWriter{w: w}
}

func (r *releasingWriter) inner() http.ResponseWriter {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.w
}

// Header implements http.ResponseWriter.
func (r *releasingWriter) Header() http.Header {
	if w := r.inner(); w != nil {
		return w.Header()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.header == nil {
		r.header = http.Header{}
	}
	return r.header
}

// Write implements http.ResponseWriter.
func (r *releasingWriter) Write(b []byte) (int, error) {
	if w := r.inner(); w != nil {
		return w.Write(b)
	}
	return 0, http.ErrHijacked
}

// WriteHeader implements http.ResponseWriter.
func (r *releasingWriter) WriteHeader(code int) {
	if w := r.inner(); w != nil {
		w.WriteHeader(code)
	}
}

// Flush implements http.Flusher.
func (r *releasingWriter) Flush() {
	if f, ok := r.inner().(http.Flusher); ok {
		f.Flush()
	}
}

// Hijack implements http.Hijacker and releases the ResponseWriter. The
// connection it returns is an upgradedConn.
func (r *releasingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := r.inner().(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("server: the ResponseWriter cannot be hijacked")
	}
	conn, rw, err := h.Hijack()
	if err != nil {
		return nil, nil, err
	}
	r.mu.Lock()
	r.w = nil
	r.mu.Unlock()
	return newUpgradedConn(conn), rw, nil
}

// Unwrap lets http.ResponseController reach the ResponseWriter.
func (r *releasingWriter) Unwrap() http.ResponseWriter { return r.inner() }

// upgradedConn is the hijacked connection of a websocket upgrade, as
// gorilla/websocket reads it. It does two things for the websocket
// transport:
//
//   - It knows when the transport's reader has read everything the peer
//     has sent so far and waits for more, and the answers are written
//     (settle). The polling requests of a session that is upgrading wait
//     for that (see upgradeGuard.settle), so that they are ordered after
//     the websocket's packets that arrived before them, as a
//     single-threaded server orders them.
//   - Once the transport's writer is attached, the frames gorilla writes
//     on its own (the close frame that fails the connection on a protocol
//     error or an oversized message) go through the writer, behind the
//     frames already queued, instead of racing it on the connection.
//
// Reads are tracked only on a socket (see rawConn); elsewhere (TLS, or not
// unix) settle does not wait.
type upgradedConn struct {
	net.Conn
	raw syscall.RawConn // the socket, nil when reads are not tracked

	mu      sync.Mutex
	parked  bool          // a Read waits for data that has not arrived
	ended   bool          // a Read failed: nothing more will be read
	settled chan struct{} // closed at the next park or end; nil when no one waits

	// readFn is c.readSocket, bound once; readBuf, readN and readErr are
	// its argument and results, fields so that a Read allocates nothing.
	// Only the goroutine in Read touches them (gorilla reads from one).
	readFn  func(fd uintptr) bool
	readBuf []byte
	readN   int
	readErr error

	w atomic.Pointer[connWriter]
}

func newUpgradedConn(conn net.Conn) *upgradedConn {
	c := &upgradedConn{Conn: conn, raw: rawConn(conn)}
	c.readFn = c.readSocket
	return c
}

// Read implements net.Conn. On a socket it reads without blocking, under
// mu, and records whether it parks: settle, holding mu, then sees the
// reader either parked with nothing left to read, or not.
func (c *upgradedConn) Read(p []byte) (int, error) {
	if c.raw == nil || len(p) == 0 {
		return c.Conn.Read(p)
	}
	c.readBuf, c.readN, c.readErr = p, 0, nil
	err := c.raw.Read(c.readFn)
	n := c.readN
	if err == nil && c.readErr != nil {
		err = &net.OpError{Op: "read", Net: "tcp", Source: c.LocalAddr(), Addr: c.RemoteAddr(), Err: c.readErr}
	}
	c.readBuf, c.readErr = nil, nil
	if err == nil && n == 0 {
		err = io.EOF
	}
	if err != nil {
		c.mu.Lock()
		c.ended = true
		c.wakeLocked()
		c.mu.Unlock()
		return n, err
	}
	return n, nil
}

// readSocket is the body of Read, run by syscall.RawConn.Read with the
// socket's descriptor; returning false tells it to wait until the socket
// is readable and call again.
func (c *upgradedConn) readSocket(fd uintptr) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, wouldBlock, err := readNow(fd, c.readBuf)
	if wouldBlock {
		c.parked = true
		c.wakeLocked()
		return false
	}
	c.parked = false
	c.readN, c.readErr = n, err
	return true
}

func (c *upgradedConn) wakeLocked() {
	if c.settled != nil {
		close(c.settled)
		c.settled = nil
	}
}

// settle returns true once every byte received so far on the connection
// has been read by its reader, which waits for more (or has stopped
// reading), and what the server queued meanwhile (the answers to those
// messages) has been written: all the complete messages among those bytes
// have been handled, since the reader reads only when it needs more bytes
// to complete a message. It returns false after timeout.
func (c *upgradedConn) settle(timeout time.Duration) bool {
	if c.raw == nil {
		return true
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		c.mu.Lock()
		if c.ended || c.parked && !c.receivedLocked() {
			c.mu.Unlock()
			break
		}
		if c.settled == nil {
			c.settled = make(chan struct{})
		}
		ch := c.settled
		c.mu.Unlock()
		select {
		case <-ch:
		case <-t.C:
			return false
		}
	}
	if w := c.w.Load(); w != nil {
		if idle := w.whenIdle(); idle != nil {
			select {
			case <-idle:
			case <-t.C:
				return false
			}
		}
	}
	return true
}

// receivedLocked reports whether the socket holds bytes (or an end of
// stream, or an error) its reader has not read yet.
func (c *upgradedConn) receivedLocked() bool {
	pending := true
	if err := c.raw.Control(func(fd uintptr) { pending = readable(fd) }); err != nil {
		return false // closed: the reader stops too
	}
	return pending
}

// attach sends gorilla's own writes through w from now on.
func (c *upgradedConn) attach(w *connWriter) { c.w.Store(w) }

// Write implements net.Conn: through the attached writer, if any. It
// returns once the frame is queued.
func (c *upgradedConn) Write(b []byte) (int, error) {
	if w := c.w.Load(); w != nil {
		if err := w.enqueue(bytes.Clone(b)); err != nil {
			return 0, err
		}
		return len(b), nil
	}
	return c.Conn.Write(b)
}

// SetDeadline implements net.Conn; once a writer is attached, it owns the
// write deadline and only the read deadline is set.
func (c *upgradedConn) SetDeadline(t time.Time) error {
	if c.w.Load() != nil {
		return c.Conn.SetReadDeadline(t)
	}
	return c.Conn.SetDeadline(t)
}

// SetWriteDeadline implements net.Conn; once a writer is attached, it owns
// the write deadline and this does nothing.
func (c *upgradedConn) SetWriteDeadline(t time.Time) error {
	if c.w.Load() != nil {
		return nil
	}
	return c.Conn.SetWriteDeadline(t)
}
