package server

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// gatedConn is a net.Conn that records what is written and how many
// deadlines were set (one per batch), and holds its first write until
// release is closed.
type gatedConn struct {
	net.Conn // nil: only the methods below are used
	release  chan struct{}
	first    sync.Once
	started  chan struct{}

	mu        sync.Mutex
	buf       bytes.Buffer
	deadlines int
	closed    bool
}

func newGatedConn() *gatedConn {
	return &gatedConn{release: make(chan struct{}), started: make(chan struct{})}
}

func (g *gatedConn) Write(b []byte) (int, error) {
	g.first.Do(func() {
		close(g.started)
		<-g.release
	})
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return 0, net.ErrClosed
	}
	return g.buf.Write(b)
}

func (g *gatedConn) SetWriteDeadline(time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.deadlines++
	return nil
}

func (g *gatedConn) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.closed = true
	return nil
}

func (g *gatedConn) written() (string, int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.buf.String(), g.deadlines
}

// within fails the test if f has not returned after d: a writer or queue
// that blocks fails in about a second instead of at the test timeout.
func within(t *testing.T, d time.Duration, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("%s: still blocked after %v", what, d)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}

func TestWriterCoalescesQueuedFrames(t *testing.T) {
	g := newGatedConn()
	w := newConnWriter(g, 1<<20, time.Second, nil)
	if err := w.enqueue([]byte("a")); err != nil {
		t.Fatal(err)
	}
	<-g.started // the first batch is being written and held
	var want bytes.Buffer
	want.WriteString("a")
	within(t, time.Second, "enqueue while a write is in progress", func() {
		for i := range 100 {
			b := []byte{byte('0' + i%10)}
			want.Write(b)
			if err := w.enqueue(b); err != nil {
				t.Error(err)
			}
		}
	})
	close(g.release)
	waitFor(t, "every frame written", func() bool { s, _ := g.written(); return len(s) == want.Len() })
	got, batches := g.written()
	if got != want.String() {
		t.Fatalf("written %q, want %q", got, want.String())
	}
	if batches != 2 {
		t.Fatalf("%d batches (deadlines) for 101 frames, want 2: the first, then the 100 queued behind it", batches)
	}
	if n := w.pendingBytes(); n != 0 {
		t.Fatalf("pending %d after the writes", n)
	}
}

func TestWriterLimitClosesTheSlowConsumer(t *testing.T) {
	g := newGatedConn()
	var reasons []string
	var mu sync.Mutex
	w := newConnWriter(g, 100, time.Second, func(reason string, err error) {
		mu.Lock()
		defer mu.Unlock()
		reasons = append(reasons, reason)
		if !errors.Is(err, errSlowConsumer) {
			t.Errorf("err %v", err)
		}
	})
	frame := make([]byte, 30)
	var err error
	within(t, time.Second, "enqueue to a stalled connection", func() {
		for range 10 {
			if err = w.enqueue(frame); err != nil {
				break
			}
		}
	})
	if !errors.Is(err, errSlowConsumer) {
		t.Fatalf("enqueue past the limit = %v", err)
	}
	if err := w.enqueue(frame); !errors.Is(err, errWriterClosed) {
		t.Fatalf("enqueue after the failure = %v", err)
	}
	close(g.release)
	g.mu.Lock()
	closed := g.closed
	g.mu.Unlock()
	mu.Lock()
	defer mu.Unlock()
	if !closed || len(reasons) != 1 || reasons[0] != ReasonSlowConsumer {
		t.Fatalf("closed %v, reasons %v", closed, reasons)
	}
}

func TestWriterDeadlineClosesTheConnection(t *testing.T) {
	server, client := net.Pipe() // nobody reads client: writes block
	defer client.Close()
	failed := make(chan string, 2)
	w := newConnWriter(server, 1<<20, 50*time.Millisecond, func(reason string, err error) { failed <- reason })
	start := time.Now()
	if err := w.enqueue([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	select {
	case reason := <-failed:
		if reason != ReasonWriteTimeout {
			t.Fatalf("reason %q", reason)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a write to a client that never reads did not time out")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Fatalf("failed after %v, before the deadline", d)
	}
	// fail is called before the connection is closed (it must learn the
	// reason first), so the close may follow a moment later.
	deadline := time.Now().Add(2 * time.Second)
	for {
		_ = server.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
		_, err := server.Write([]byte("x"))
		if errors.Is(err, io.ErrClosedPipe) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection still open: %v", err)
		}
	}
}

func TestWriterCloseWaitsForQueuedFrames(t *testing.T) {
	g := newGatedConn()
	w := newConnWriter(g, 1<<20, time.Second, nil)
	_ = w.enqueue([]byte("first "))
	<-g.started
	_ = w.enqueue([]byte("second"))
	var ran atomic.Int32
	within(t, time.Second, "close during a write", func() {
		w.close(func() { ran.Add(1) })
		w.close(func() { ran.Add(10) }) // only the first close's callback runs
	})
	if ran.Load() != 0 {
		t.Fatal("close callback ran before the queued frames were written")
	}
	if err := w.enqueue([]byte("late")); !errors.Is(err, errWriterClosed) {
		t.Fatalf("enqueue after close = %v", err)
	}
	close(g.release)
	waitFor(t, "the close callback", func() bool { return ran.Load() != 0 })
	if got, _ := g.written(); got != "first second" || ran.Load() != 1 {
		t.Fatalf("written %q, callback runs %d", got, ran.Load())
	}
}

func TestWriterCloseDuringAStalledWriteEndsAtTheDeadline(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	w := newConnWriter(server, 1<<20, 50*time.Millisecond, nil)
	_ = w.enqueue([]byte("never read"))
	done := make(chan struct{})
	w.close(func() { close(done) })
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("close waits forever for a client that never reads")
	}
}

func TestWriterWritesAtOnceAfterAnOldDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	var failures atomic.Int32
	w := newConnWriter(server, 1<<20, 20*time.Millisecond, func(string, error) { failures.Add(1) })
	if w.raw == nil {
		t.Skip("no raw socket writes on this platform")
	}
	_ = w.send([]byte("queued "), false) // written by the goroutine, under a deadline
	waitFor(t, "the queued write", func() bool { return w.pendingBytes() == 0 })
	time.Sleep(50 * time.Millisecond) // that deadline is now in the past
	if err := w.send([]byte("at once"), true); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 14)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "queued at once" {
		t.Fatalf("read %q %v", buf, err)
	}
	if failures.Load() != 0 {
		t.Fatal("the writer failed")
	}
}

// TestWriterCloseWaitsForTheLastBatch: close called while the flush
// goroutine writes the last batch, with nothing else queued, must not run
// its callback (which closes the connection) until that write has
// returned with the whole frame written.
func TestWriterCloseWaitsForTheLastBatch(t *testing.T) {
	g := newGatedConn()
	w := newConnWriter(g, 1<<20, time.Second, nil)
	if err := w.enqueue([]byte("the last frame")); err != nil {
		t.Fatal(err)
	}
	<-g.started // the flush goroutine took the batch: nothing else is queued
	type seen struct {
		written string
		pending int
	}
	ran := make(chan seen, 2)
	within(t, time.Second, "close during the last write", func() {
		w.close(func() {
			s, _ := g.written()
			ran <- seen{s, w.pendingBytes()}
		})
	})
	select {
	case s := <-ran:
		t.Fatalf("close callback ran while the last batch was being written (written %q, %d bytes pending)", s.written, s.pending)
	default:
	}
	close(g.release)
	select {
	case s := <-ran:
		if s.written != "the last frame" || s.pending != 0 {
			t.Fatalf("close callback ran with %q written and %d bytes pending, want the whole frame and 0", s.written, s.pending)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close callback never ran after the last write returned")
	}
	if len(ran) != 0 {
		t.Fatal("close callback ran twice")
	}
}
