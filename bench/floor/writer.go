package floor

import (
	"encoding/binary"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// errOverLimit is why a writer refuses a frame: its peer does not read and
// the frames queued for it passed the limit.
var errOverLimit = errors.New("floor: pending bytes over the limit")

// errWriterClosed is returned by enqueue after close.
var errWriterClosed = errors.New("floor: writer closed")

// textFrame returns payload as one unmasked websocket text frame (FIN set,
// opcode 1), as a server sends it: encoded once, written to every
// connection as it is.
func textFrame(payload []byte) []byte {
	n := len(payload)
	b := make([]byte, 0, n+10)
	b = append(b, 0x81)
	switch {
	case n < 126:
		b = append(b, byte(n))
	case n <= 0xffff:
		b = append(b, 126)
		b = binary.BigEndian.AppendUint16(b, uint16(n))
	default:
		b = append(b, 127)
		b = binary.BigEndian.AppendUint64(b, uint64(n))
	}
	return append(b, payload...)
}

// writer is one connection's outgoing queue, drained by its own goroutine
// (run) in as few writes as possible: every frame queued while a write was
// in flight goes out in the next one, as a single writev (net.Buffers).
// Frames are shared between connections and never modified.
type writer struct {
	nc      net.Conn
	limit   int           // most pending bytes before the peer is dropped
	timeout time.Duration // per write
	wake    chan struct{} // capacity 1: "the queue is not empty"
	done    chan struct{} // closed by close

	mu      sync.Mutex
	pending [][]byte
	bytes   int
	err     error // set once: closed or over the limit

	writes atomic.Int64 // writev calls, for tests
}

func newWriter(nc net.Conn, limit int, timeout time.Duration) *writer {
	return &writer{nc: nc, limit: limit, timeout: timeout, wake: make(chan struct{}, 1), done: make(chan struct{})}
}

// enqueue queues frame. It never blocks: past the limit the connection is
// closed (its reader then cleans up) and errOverLimit returned.
func (w *writer) enqueue(frame []byte) error {
	w.mu.Lock()
	if w.err != nil {
		err := w.err
		w.mu.Unlock()
		return err
	}
	if w.bytes+len(frame) > w.limit {
		w.shutLocked(errOverLimit)
		w.mu.Unlock()
		w.nc.Close()
		return errOverLimit
	}
	w.pending = append(w.pending, frame)
	w.bytes += len(frame)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default: // already signalled
	}
	return nil
}

// run writes queued frames until close or a write fails (then it closes
// the connection). Its caller owns the goroutine.
func (w *writer) run() {
	var spare [][]byte
	for {
		select {
		case <-w.done:
			return
		case <-w.wake:
		}
		for {
			w.mu.Lock()
			batch := w.pending
			w.pending, w.bytes = spare[:0], 0
			w.mu.Unlock()
			if len(batch) == 0 {
				spare = batch
				break
			}
			_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
			bufs := net.Buffers(batch)
			_, err := bufs.WriteTo(w.nc) // consumes bufs, not the frames
			w.writes.Add(1)
			clear(batch)
			spare = batch[:0]
			if err != nil {
				w.close()
				w.nc.Close()
				return
			}
		}
	}
}

// close stops run and refuses later frames. Safe to call more than once.
func (w *writer) close() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.shutLocked(errWriterClosed)
}

// shutLocked records why the writer stopped (the first reason wins),
// drops what is queued and stops run.
func (w *writer) shutLocked(why error) {
	if w.err != nil {
		return
	}
	w.err = why
	w.pending, w.bytes = nil, 0
	close(w.done)
}
