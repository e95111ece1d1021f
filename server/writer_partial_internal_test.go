//go:build unix

package server

import (
	"bytes"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"
)

// hookedSocketConn is a net.Conn the writer takes for a socket: its
// SyscallConn hands tryWrite a real non-blocking socket (one end of a
// socketpair nobody reads until the end, so the kernel takes only part of
// a large frame), after calling inRaw — the moment the immediate write is
// in progress, with w.mu not held. What the flush goroutine writes through
// Write is recorded.
type hookedSocketConn struct {
	net.Conn // nil: only the methods below are used
	fd       int
	inRaw    func()

	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (c *hookedSocketConn) Write(b []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.writes++
	return c.buf.Write(b)
}

func (c *hookedSocketConn) SetWriteDeadline(time.Time) error { return nil }
func (c *hookedSocketConn) Close() error                     { return nil }

func (c *hookedSocketConn) flushed() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return bytes.Clone(c.buf.Bytes())
}

func (c *hookedSocketConn) SyscallConn() (syscall.RawConn, error) { return hookedRaw{c}, nil }

type hookedRaw struct{ c *hookedSocketConn }

func (r hookedRaw) Control(f func(fd uintptr)) error { f(uintptr(r.c.fd)); return nil }

func (r hookedRaw) Read(f func(fd uintptr) bool) error {
	for !f(uintptr(r.c.fd)) {
	}
	return nil
}

func (r hookedRaw) Write(f func(fd uintptr) bool) error {
	if r.c.inRaw != nil {
		r.c.inRaw()
	}
	for !f(uintptr(r.c.fd)) {
	}
	return nil
}

// socketPair returns a non-blocking end with a small send buffer, for the
// writer, and the other end, blocking, for the test to read.
func socketPair(t *testing.T) (wfd, rfd int) {
	t.Helper()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.SetNonblock(fds[0], true); err != nil {
		t.Fatal(err)
	}
	_ = syscall.SetsockoptInt(fds[0], syscall.SOL_SOCKET, syscall.SO_SNDBUF, 4096)
	return fds[0], fds[1]
}

// readAll closes wfd and reads what the socket carried from rfd, to the
// end.
func readAll(t *testing.T, wfd, rfd int) []byte {
	t.Helper()
	if err := syscall.Close(wfd); err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(rfd)
	var out []byte
	buf := make([]byte, 64<<10)
	for {
		n, err := syscall.Read(rfd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			return out
		}
		out = append(out, buf[:n]...)
	}
}

func waitWriterIdle(t *testing.T, w *connWriter) {
	t.Helper()
	if idle := w.whenIdle(); idle != nil {
		select {
		case <-idle:
		case <-time.After(10 * time.Second):
			t.Fatal("the writer never became idle")
		}
	}
}

// TestWriterPartialImmediateWriteKeepsTheRemainderFirst: when the
// immediate write takes only part of a frame, the rest goes out before a
// frame queued while that write was in progress — the wire carries frame
// one then frame two, intact, not frame two inside frame one.
func TestWriterPartialImmediateWriteKeepsTheRemainderFirst(t *testing.T) {
	wfd, rfd := socketPair(t)
	first := make([]byte, 1<<20) // far more than the socket takes at once
	for i := range first {
		first[i] = 'a' + byte(i%26)
	}
	second := []byte("<SECOND FRAME>")
	var failures []string
	var mu sync.Mutex
	c := &hookedSocketConn{fd: wfd}
	w := newConnWriter(c, 4<<20, 5*time.Second, func(reason string, err error) {
		mu.Lock()
		defer mu.Unlock()
		failures = append(failures, reason+": "+err.Error())
	})
	if w.raw == nil {
		t.Fatal("the writer did not take hookedSocketConn for a socket")
	}
	queued := 0
	c.inRaw = func() { // the immediate write is in progress: queue frame two
		queued++
		if err := w.enqueue(second); err != nil {
			t.Errorf("enqueue during the immediate write: %v", err)
		}
	}
	if err := w.send(first, true); err != nil {
		t.Fatal(err)
	}
	if queued != 1 {
		t.Fatalf("the immediate write ran %d times, want 1", queued)
	}
	waitWriterIdle(t, w)
	sock := readAll(t, wfd, rfd)
	flushed := c.flushed()
	if len(sock) == 0 || len(sock) >= len(first) {
		t.Fatalf("the immediate write took %d of %d bytes: the test needs a partial write", len(sock), len(first))
	}
	got := append(sock, flushed...)
	want := append(bytes.Clone(first), second...)
	if !bytes.Equal(got, want) {
		at := bytes.Index(got, second)
		t.Fatalf("wire carries %d bytes with frame two at offset %d, want frame one (%d bytes) then frame two intact: %d bytes taken at once, %d flushed",
			len(got), at, len(first), len(sock), len(flushed))
	}
	if n := w.pendingBytes(); n != 0 {
		t.Fatalf("pending %d after the writes", n)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(failures) != 0 {
		t.Fatalf("the writer failed: %v", failures)
	}
}

// TestWriterCloseWaitsForTheImmediateWrite: close called while a frame is
// being written at once on the sender's goroutine, with nothing queued,
// runs its callback only after that write has returned with the whole
// frame written, not while it is in progress.
func TestWriterCloseWaitsForTheImmediateWrite(t *testing.T) {
	wfd, rfd := socketPair(t)
	frame := []byte("written at once")
	c := &hookedSocketConn{fd: wfd}
	w := newConnWriter(c, 1<<20, 5*time.Second, nil)
	if w.raw == nil {
		t.Fatal("the writer did not take hookedSocketConn for a socket")
	}
	inRaw, release := make(chan struct{}), make(chan struct{})
	c.inRaw = func() {
		close(inRaw)
		<-release
	}
	sent := make(chan error, 1)
	go func() { sent <- w.send(frame, true) }()
	<-inRaw                  // the immediate write holds writing; nothing is queued
	ran := make(chan int, 2) // the bytes pending when the callback runs
	within(t, time.Second, "close during the immediate write", func() {
		w.close(func() { ran <- w.pendingBytes() })
	})
	select {
	case p := <-ran:
		t.Fatalf("close callback ran while the immediate write was in progress (%d bytes pending)", p)
	default:
	}
	close(release)
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("send never returned")
	}
	select {
	case p := <-ran:
		if p != 0 {
			t.Fatalf("close callback ran with %d bytes pending", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("close callback never ran after the immediate write returned")
	}
	if got := readAll(t, wfd, rfd); !bytes.Equal(got, frame) || len(c.flushed()) != 0 {
		t.Fatalf("socket got %q, flushed %q; want the frame written at once", got, c.flushed())
	}
}
