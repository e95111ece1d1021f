package server

import (
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"
)

// The writer refuses a frame that would take the connection past its
// limit counting the frame itself: a connection never holds more than
// MaxPendingBytes, to the byte.
func TestWriterLimitCountsTheFrameBeingQueued(t *testing.T) {
	for _, c := range []struct {
		name   string
		frames []int
		fails  int // index of the frame refused; -1: none
	}{
		{"up to the limit exactly", []int{60, 40}, -1},
		{"one byte over", []int{60, 41}, 1},
		{"a first frame larger than the limit", []int{101}, 0},
		{"full, then one byte", []int{100, 1}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := newGatedConn() // the first write stalls: everything stays pending
			defer close(g.release)
			w := newConnWriter(g, 100, time.Second, func(string, error) {})
			refused := -1
			for i, n := range c.frames {
				if err := w.enqueue(make([]byte, n)); err != nil {
					if !errors.Is(err, errSlowConsumer) {
						t.Fatalf("frame %d: %v", i, err)
					}
					refused = i
					break
				}
			}
			if refused != c.fails {
				t.Fatalf("frames %v against a limit of 100: refused frame %d, want %d", c.frames, refused, c.fails)
			}
		})
	}
}

// The websocket header carries the payload length in the shortest of its
// three forms (RFC 6455 §5.2): 7 bits up to 125, 16 bits up to 65,535, 64
// bits above; a frame read back with an independent parser gives the
// length it was built with.
func TestWebsocketHeaderLengthBoundaries(t *testing.T) {
	for _, c := range []struct{ n, header int }{
		{0, 2}, {1, 2}, {125, 2}, {126, 4}, {127, 4}, {65535, 4}, {65536, 10}, {1 << 20, 10},
	} {
		f := wsFrame(wsText, make([]byte, c.n))
		if len(f) != c.header+c.n {
			t.Errorf("payload %d: frame of %d bytes, want a %d-byte header", c.n, len(f), c.header)
			continue
		}
		if f[0] != 0x80|wsText {
			t.Errorf("payload %d: first byte %#x", c.n, f[0])
		}
		if f[1]&0x80 != 0 {
			t.Errorf("payload %d: a server frame is masked", c.n)
		}
		var got uint64
		switch l := f[1] & 0x7f; l {
		case 126:
			got = uint64(binary.BigEndian.Uint16(f[2:4]))
			if got < 126 {
				t.Errorf("payload %d: 16-bit length for a length under 126", c.n)
			}
		case 127:
			got = binary.BigEndian.Uint64(f[2:10])
			if got <= 0xFFFF {
				t.Errorf("payload %d: 64-bit length for a length under 65,536", c.n)
			}
		default:
			got = uint64(l)
		}
		if got != uint64(c.n) {
			t.Errorf("payload %d: the header says %d", c.n, got)
		}
	}
}

// A broadcast dropped because the queue is full does not stay counted in
// the backlog EmitBacklog waits on: otherwise every later emit would wait
// MaxEmitWait for a broadcast that will never be delivered.
func TestDroppedBroadcastLeavesTheBacklog(t *testing.T) {
	d := newDelivery(newRegistry(2), 1, slog.New(slog.DiscardHandler), &counters{})
	j := job{rooms: []string{"r"}, frame: newFrame("e", []byte(`["e"]`))}
	ctx := context.Background()
	if err := d.enqueue(ctx, j, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.enqueue(ctx, j, nil); !errors.Is(err, ErrQueueFull) {
		t.Fatalf("enqueue into a full queue: %v", err)
	}
	if d.offer(j) {
		t.Fatal("offer into a full queue succeeded")
	}
	if got := d.backlog(); got != 1 {
		t.Fatalf("backlog %d after one queued and two dropped broadcasts, want 1", got)
	}
	// Nothing runs the shards: a limit of 1 is met at once, not after
	// MaxEmitWait.
	done := make(chan struct{})
	go func() { d.waitBacklog(ctx, 1, time.Minute); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("waitBacklog waits for a dropped broadcast")
	}
}

// An expiry timer that fired just as the socket re-authenticated (Stop
// came too late) finds a newer authentication and leaves it alone: the
// socket stays its user's until the new token expires.
func TestLateExpiryOfAnEarlierTokenKeepsTheNewOne(t *testing.T) {
	s, _ := startInternal(t)
	ctx, cancel := context.WithCancel(s.ctx)
	defer cancel()
	c := &Conn{reg: s.reg, log: s.log, onClosed: s.closedIn(s.hooks), id: "late", ctx: ctx, cancel: cancel}
	s.reg.add(c)
	defer c.close(ReasonServerShutdown)
	c.stopSending() // no transport: what the socket would be sent is dropped

	c.mu.Lock()
	s.authenticateLocked(c, User{ID: "1", ExpiresAt: time.Now().Add(time.Hour), raw: "1"})
	first := c.gen
	s.authenticateLocked(c, User{ID: "1", ExpiresAt: time.Now().Add(2 * time.Hour), raw: "1"})
	c.mu.Unlock()

	s.expire(c, first) // the first token's timer, fired before Stop
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.user == nil {
		t.Fatal("a stale expiry timer deauthenticated the re-authenticated socket")
	}
	if !s.reg.has(c, UserRoom("1")) {
		t.Fatal("the socket left its user's room")
	}
}

// What reaches a socket while it is being restored waits until what it
// missed has gone out: then a frame with an offset the history already
// gave is skipped, and the others go, those without an offset (an emit to
// the socket, a volatile broadcast) included.
func TestFramesHeldDuringARestoreGoOutAfterIt(t *testing.T) {
	server, client := net.Pipe()
	defer client.Close()
	w := newConnWriter(server, 1<<20, time.Second, func(string, error) {})
	defer w.close(nil)
	c := &Conn{id: "restoring", log: slog.New(slog.DiscardHandler)}
	c.direct.Store(w)
	c.restoring.Store(true)

	given := offset{ms: 10, seq: 1} // the last the history gave
	for _, f := range []*frame{
		newFrame("plain", []byte(`["plain"]`)),
		newFrame("given", []byte(`["given"]`)).withOffset(given),
		newFrame("new", []byte(`["new"]`)).withOffset(offset{ms: 10, seq: 2}),
	} {
		if !c.deliver(f, false) {
			t.Fatalf("%s was refused while the socket was restored", f.event)
		}
	}
	got := make(chan string, 1)
	go func() {
		var all []byte
		buf := make([]byte, 256)
		_ = client.SetReadDeadline(time.Now().Add(2 * time.Second))
		for {
			n, err := client.Read(buf)
			all = append(all, buf[:n]...)
			if err != nil || strings.Contains(string(all), `"new"`) {
				got <- string(all)
				return
			}
		}
	}()
	c.finishRestore(given)
	out := <-got
	if !strings.Contains(out, `["plain"]`) {
		t.Errorf("the frame without an offset held during the restore was dropped: %q", out)
	}
	if strings.Contains(out, `"given"`) {
		t.Errorf("a frame the history already gave went out again: %q", out)
	}
	if !strings.Contains(out, `"new"`) {
		t.Errorf("a frame after the history's last was dropped: %q", out)
	}
}
