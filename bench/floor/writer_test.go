package floor

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A websocket client reads the frames textFrame encodes, at every length
// encoding (7-bit, 16-bit and 64-bit).
func TestTextFrameReadByClient(t *testing.T) {
	sizes := []int{0, 1, 125, 126, 65535, 65536, 200_000}
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		for _, n := range sizes {
			if _, err := ws.NetConn().Write(textFrame(bytes.Repeat([]byte{'x'}, n))); err != nil {
				return
			}
		}
		_, _, _ = ws.ReadMessage() // until the client goes
	}))
	defer srv.Close()
	c, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(srv.URL, "http"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, n := range sizes {
		typ, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("frame of %d bytes: %v", n, err)
		}
		if typ != websocket.TextMessage || len(msg) != n || bytes.Count(msg, []byte{'x'}) != n {
			t.Fatalf("frame of %d bytes: type %d, %d bytes", n, typ, len(msg))
		}
	}
}

// startWriter runs a writer on one end of a pipe (unbuffered: a write
// blocks until the other end reads) and returns the other end and a
// channel closed when run returns.
func startWriter(t *testing.T, limit int, timeout time.Duration) (*writer, net.Conn, <-chan struct{}) {
	t.Helper()
	server, client := net.Pipe()
	w := newWriter(server, limit, timeout)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run()
	}()
	t.Cleanup(func() {
		w.close()
		server.Close()
		client.Close()
		<-done
	})
	return w, client, done
}

func frames(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = textFrame([]byte(strings.Repeat(string(rune('a'+i%26)), 10+i)))
	}
	return out
}

// Frames queued while a write is blocked go out together in the next one,
// in order.
func TestWriterCoalescesQueuedFrames(t *testing.T) {
	w, peer, done := startWriter(t, 1<<20, 5*time.Second)
	fs := frames(100)
	for _, f := range fs {
		if err := w.enqueue(f); err != nil {
			t.Fatal(err)
		}
	}
	want := bytes.Join(fs, nil)
	got := make([]byte, len(want))
	if _, err := io.ReadFull(peer, got); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("frames arrived altered or out of order")
	}
	w.close()
	<-done
	// The first frame may go alone (the writer woke before the others
	// were queued); the rest share one write.
	if n := w.writes.Load(); n > 2 {
		t.Errorf("100 queued frames took %d writes, want at most 2", n)
	}
}

// A peer that does not read is dropped when its queue passes the limit:
// the connection is closed and later frames are refused.
func TestWriterDropsPeerOverLimit(t *testing.T) {
	w, peer, done := startWriter(t, 1000, 5*time.Second)
	f := textFrame(bytes.Repeat([]byte{'y'}, 98)) // 100 bytes
	// The first frame alone: once the peer has read its first byte, the
	// writer is blocked in its write (net.Pipe has no buffer), and what is
	// enqueued next waits for it.
	if err := w.enqueue(f); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(peer, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	var err error
	sent := 1
	for ; sent < 100 && err == nil; sent++ {
		err = w.enqueue(f)
	}
	if !errors.Is(err, errOverLimit) {
		t.Fatalf("after %d frames: %v, want errOverLimit", sent, err)
	}
	// One frame is in the blocked write, ten more fill the limit.
	if sent > 12 {
		t.Errorf("the limit of 1000 bytes let %d frames of 100 bytes through", sent-1)
	}
	if err := w.enqueue(f); !errors.Is(err, errOverLimit) {
		t.Errorf("enqueue after the drop: %v", err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer goroutine did not return after the drop")
	}
	// The peer sees the connection end, after at most the rest of the
	// frame that was being written.
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := io.Copy(io.Discard, peer); err != nil || n > int64(len(f)-1) {
		t.Errorf("peer read %d more bytes, then %v; want at most the rest of one frame, then EOF", n, err)
	}
}

// A write that does not finish within the timeout ends the connection.
func TestWriterWriteDeadline(t *testing.T) {
	w, peer, done := startWriter(t, 1<<20, 50*time.Millisecond)
	if err := w.enqueue(textFrame([]byte("never read"))); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("a write to a peer that never reads outlived its deadline")
	}
	if err := w.enqueue(textFrame([]byte("x"))); err == nil {
		t.Error("enqueue after a failed write succeeded")
	}
	_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.Copy(io.Discard, peer); err != nil {
		t.Errorf("peer: %v, want EOF", err)
	}
}

// Closing the connection while a write is blocked ends the writer.
func TestWriterCloseDuringWrite(t *testing.T) {
	server, peer := net.Pipe()
	defer peer.Close()
	w := newWriter(server, 1<<20, time.Minute)
	done := make(chan struct{})
	go func() {
		defer close(done)
		w.run()
	}()
	if err := w.enqueue(textFrame([]byte("blocked"))); err != nil {
		t.Fatal(err)
	}
	time.Sleep(20 * time.Millisecond) // let the write block
	w.close()
	server.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("the writer goroutine did not return after close")
	}
	if err := w.enqueue(textFrame([]byte("x"))); !errors.Is(err, errWriterClosed) {
		t.Errorf("enqueue after close: %v, want errWriterClosed", err)
	}
}
