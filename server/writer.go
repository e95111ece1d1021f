package server

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// errWriterClosed is returned by connWriter.enqueue once the writer has
// stopped accepting frames.
var errWriterClosed = errors.New("server: connection writer closed")

// errSlowConsumer is returned by connWriter.enqueue when the frame would
// take the connection past its limit of pending bytes.
var errSlowConsumer = errors.New("server: slow consumer")

// connWriter is one connection's outgoing queue and writer. Frames are
// queued without blocking, up to a limit of pending (queued or being
// written) bytes; a goroutine started on demand, and gone once the queue is
// empty, writes everything queued in one go (writev through net.Buffers),
// each write bounded by a deadline. An idle connection costs no goroutine
// and no buffer.
//
// The first failure — the limit passed, a write that fails or times out —
// stops the writer for good: the queue is dropped, the connection closed,
// and fail called once with the reason (ReasonSlowConsumer,
// ReasonWriteTimeout or ReasonTransportClose).
type connWriter struct {
	conn    net.Conn
	limit   int
	timeout time.Duration
	fail    func(reason string, err error)

	mu          sync.Mutex
	queue       [][]byte
	spare       [][]byte // the previous batch's array, reused
	pending     int      // bytes queued or being written
	writing     bool     // a flush goroutine is running
	closing     bool     // no more frames accepted
	closeCalled bool
	failed      bool
	drained     func() // called once the queue is empty after closing
	// idle, when not nil, is closed the next time writing stops (see
	// whenIdle).
	idle chan struct{}

	// observer, when set, is told each reactive event's time from commit
	// to write; stamps then holds, for each frame of queue, its commit
	// time (0 for other frames), spareStamps the previous batch's.
	observer    Observer
	stamps      []int64
	spareStamps []int64

	// flushFn is w.runFlush, bound once: starting the writer then
	// allocates nothing. flushers, when set, counts the running flush
	// goroutines, for the server's Close to wait for.
	flushFn  func()
	flushers *inflight
	bufs     net.Buffers
	// written, when set, counts the bytes written (Stats.BytesWritten).
	written *atomic.Uint64

	// raw is the connection's socket for writes without blocking (nil when
	// the connection is not a socket); rawBuf, rawN, rawErr and rawFn are
	// tryWrite's arguments and results, fields so that it allocates
	// nothing. Only the goroutine that set writing touches them.
	raw    syscall.RawConn
	rawBuf []byte
	rawN   int
	rawErr error
	rawFn  func(fd uintptr) bool
}

func newConnWriter(conn net.Conn, limit int, timeout time.Duration, fail func(reason string, err error)) *connWriter {
	w := &connWriter{conn: conn, limit: limit, timeout: timeout, fail: fail}
	w.flushFn = w.runFlush
	if w.raw = rawConn(conn); w.raw != nil {
		w.rawFn = w.rawWrite
	}
	return w
}

// enqueue queues frame b (which is never modified and may be shared with
// other writers). It never blocks.
func (w *connWriter) enqueue(b []byte) error { return w.send(b, false) }

// send queues b like enqueue. With now set, when nothing is queued or
// being written and the connection is a socket, it first tries to write b
// at once on the calling goroutine, without blocking (see tryWrite); what
// the kernel does not take is queued. The delivery path sets now when it is
// not behind: a lone event then costs one write(2) and no goroutine, while
// under load frames queue up and go out coalesced.
func (w *connWriter) send(b []byte, now bool) error { return w.sendEvent(b, 0, now) }

// sendEvent is send for a frame that carries a reactive event committed at
// committed (Unix nanoseconds; 0 for none), for the observer.
func (w *connWriter) sendEvent(b []byte, committed int64, now bool) error {
	w.mu.Lock()
	if w.closing {
		w.mu.Unlock()
		return errWriterClosed
	}
	if w.pending+len(b) > w.limit {
		pending := w.pending
		w.mu.Unlock()
		w.abort(ReasonSlowConsumer, fmt.Errorf("%w: %d bytes pending, %d more would pass the limit of %d",
			errSlowConsumer, pending, len(b), w.limit))
		return errSlowConsumer
	}
	if now && !w.writing && w.raw != nil {
		w.writing = true
		w.pending += len(b)
		w.mu.Unlock()
		n, err := w.tryWrite(b)
		w.countWritten(n)
		w.mu.Lock()
		w.pending -= n
		if err != nil {
			w.stopWritingLocked()
			drained := w.takeDrainedLocked()
			w.mu.Unlock()
			w.abort(ReasonTransportClose, err)
			if drained != nil {
				drained()
			}
			return nil
		}
		if n < len(b) {
			// The remainder (still counted in pending) goes first, ahead of
			// anything queued meanwhile.
			w.queue = append(w.queue, nil)
			copy(w.queue[1:], w.queue)
			w.queue[0] = b[n:]
			if w.observer != nil {
				w.stamps = append(w.stamps, 0)
				copy(w.stamps[1:], w.stamps)
				w.stamps[0] = committed
			}
		} else if w.observer != nil && committed != 0 {
			w.observer.EventDelivered(sinceCommit(time.Now().UnixNano(), committed))
		}
		if len(w.queue) > 0 && !w.failed {
			w.startFlush()
			w.mu.Unlock()
			return nil
		}
		w.stopWritingLocked()
		drained := w.takeDrainedLocked()
		w.mu.Unlock()
		if drained != nil {
			drained()
		}
		return nil
	}
	w.queue = append(w.queue, b)
	if w.observer != nil {
		w.stamps = append(w.stamps, committed)
	}
	w.pending += len(b)
	if !w.writing {
		w.writing = true
		w.startFlush()
	}
	w.mu.Unlock()
	return nil
}

// startFlush starts the flush goroutine; w.mu is held and writing set.
func (w *connWriter) startFlush() {
	if w.flushers != nil {
		w.flushers.add()
	}
	go w.flushFn()
}

// runFlush is the flush goroutine.
func (w *connWriter) runFlush() {
	w.flush()
	if w.flushers != nil {
		w.flushers.done()
	}
}

// flush writes batches until the queue is empty. Whoever sets writing (a
// flush goroutine, or send writing at once) is the only one writing to
// conn.
func (w *connWriter) flush() {
	for {
		w.mu.Lock()
		if len(w.queue) == 0 || w.failed {
			w.stopWritingLocked()
			drained := w.takeDrainedLocked()
			w.mu.Unlock()
			if drained != nil {
				drained()
			}
			return
		}
		batch, stamps := w.queue, w.stamps
		w.queue, w.stamps = w.spare[:0], w.spareStamps[:0]
		w.spare, w.spareStamps = nil, nil
		w.mu.Unlock()

		n, err := w.write(batch)
		clear(batch) // drop the references to the frames
		if err == nil {
			w.countWritten(n)
			if w.observer != nil {
				w.observeWritten(stamps)
			}
		}
		w.mu.Lock()
		w.pending -= n
		w.spare, w.spareStamps = batch[:0], stamps[:0]
		w.mu.Unlock()
		if err != nil {
			reason := ReasonTransportClose
			if errors.Is(err, errDeadline) {
				reason = ReasonWriteTimeout
			}
			w.abort(reason, err)
		}
	}
}

var errDeadline = errors.New("server: write deadline exceeded")

// write writes batch with one deadline and returns the bytes it held.
func (w *connWriter) write(batch [][]byte) (int, error) {
	total := 0
	for _, b := range batch {
		total += len(b)
	}
	if w.timeout > 0 {
		_ = w.conn.SetWriteDeadline(time.Now().Add(w.timeout))
	}
	// w.bufs, not a local: WriteTo takes its address, and a local would
	// escape to the heap on every batch. Only the flushing goroutine
	// touches it.
	w.bufs = batch
	_, err := w.bufs.WriteTo(w.conn)
	w.bufs = nil
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			err = errors.Join(errDeadline, err)
		}
	}
	return total, err
}

// abort stops the writer after a failure: the queue is dropped, the
// connection closed (which ends a write in progress) and fail called, once.
// A flush in progress sees the failure and runs the close callback.
func (w *connWriter) abort(reason string, err error) {
	w.mu.Lock()
	if w.failed {
		w.mu.Unlock()
		return
	}
	w.failed = true
	w.closing = true
	clear(w.queue)
	w.queue, w.stamps = nil, nil
	w.spare, w.spareStamps = nil, nil
	w.mu.Unlock()
	// fail first: it must learn the reason before the closed connection
	// makes the reader report a plain transport close.
	if w.fail != nil {
		w.fail(reason, err)
	}
	_ = w.conn.Close()
}

// close stops accepting frames; once those queued are written (or the
// writer has failed) it calls then, on the writing goroutine or before it
// returns. Only the first call's then runs.
func (w *connWriter) close(then func()) {
	w.mu.Lock()
	if w.closeCalled {
		w.mu.Unlock()
		return
	}
	w.closeCalled = true
	w.closing = true
	if w.writing {
		w.drained = then
		w.mu.Unlock()
		return
	}
	w.mu.Unlock()
	if then != nil {
		then()
	}
}

// stopWritingLocked clears writing: the queue is empty (or the writer has
// failed) and no goroutine writes; w.mu is held.
func (w *connWriter) stopWritingLocked() {
	w.writing = false
	if w.idle != nil {
		close(w.idle)
		w.idle = nil
	}
}

// whenIdle returns a channel closed once everything queued so far has been
// written (or the writer has failed), or nil when nothing is being
// written.
func (w *connWriter) whenIdle() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if !w.writing {
		return nil
	}
	if w.idle == nil {
		w.idle = make(chan struct{})
	}
	return w.idle
}

func (w *connWriter) takeDrainedLocked() func() {
	d := w.drained
	w.drained = nil
	return d
}

// countWritten counts n bytes written to the connection.
func (w *connWriter) countWritten(n int) {
	if w.written != nil && n > 0 {
		w.written.Add(uint64(n))
	}
}

// observeWritten tells the observer the commit-to-write time of the
// reactive events of a batch just written.
func (w *connWriter) observeWritten(stamps []int64) {
	var now int64 // read once, and only for a batch with a reactive event
	for _, at := range stamps {
		if at == 0 {
			continue
		}
		if now == 0 {
			now = time.Now().UnixNano()
		}
		w.observer.EventDelivered(sinceCommit(now, at))
	}
}

// sinceCommit returns the time from committed to now (Unix nanoseconds),
// 0 when clocks disagree and it would be negative.
func sinceCommit(now, committed int64) time.Duration {
	return time.Duration(max(now-committed, 0))
}

// pendingBytes returns the bytes queued or being written.
func (w *connWriter) pendingBytes() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.pending
}
