package server

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// TestHistoryIsBoundedInBytes: the oldest broadcasts go when the bytes
// would pass HistoryBytes, the newest always stays, and the bytes counted
// follow what is kept.
func TestHistoryIsBoundedInBytes(t *testing.T) {
	h := newHistory(100, 10_000)
	add := func(seq uint64, n int) *frame {
		f := newFrame("e", []byte(`["e","`+strings.Repeat("x", n)+`"]`)).withOffset(offset{1, seq})
		h.addLocked(record{rooms: []string{"r"}, frame: f})
		return f
	}
	var sizes int
	for seq := range uint64(4) {
		sizes += add(seq+1, 2_000).size()
	}
	if h.n != 4 || h.bytes != sizes || !h.holdsLocked(offset{1, 1}) {
		t.Fatalf("4 events of 2 KB under 10 KB: n %d, bytes %d (frames %d)", h.n, h.bytes, sizes)
	}
	add(5, 3_000) // 8 KB + 3 KB > 10 KB: the oldest goes
	if h.n != 4 || h.holdsLocked(offset{1, 0}) || !h.holdsLocked(offset{1, 2}) {
		t.Fatalf("after passing the bound: n %d, oldest %v", h.n, h.ring[h.start].frame.off)
	}
	if h.bytes > 10_000 {
		t.Fatalf("bytes %d over the bound", h.bytes)
	}
	big := add(6, 50_000) // larger than the bound alone: kept, alone
	if h.n != 1 || h.bytes != big.size() || !h.holdsLocked(offset{1, 6}) || h.holdsLocked(offset{1, 5}) {
		t.Fatalf("an event over the bound: n %d, bytes %d", h.n, h.bytes)
	}
	add(7, 10)
	if h.n != 1 || h.ring[h.start].frame.off != (offset{1, 7}) {
		t.Fatalf("after the big one: n %d, oldest %v", h.n, h.ring[h.start].frame.off)
	}
	for _, r := range h.ring {
		if r.frame != nil && r.frame.off != (offset{1, 7}) {
			t.Fatalf("a dropped record still holds its frame: %v", r.frame.off)
		}
	}
}

// TestHistoryIsBoundedInCount: with small events the count bounds it.
func TestHistoryIsBoundedInCount(t *testing.T) {
	h := newHistory(3, 1<<20)
	for seq := range uint64(5) {
		h.addLocked(record{frame: newFrame("e", []byte(`["e"]`)).withOffset(offset{1, seq + 1})})
	}
	if h.n != 3 || h.holdsLocked(offset{1, 2}) || !h.holdsLocked(offset{1, 3}) || h.bytes != 3*h.ring[h.start].frame.size() {
		t.Fatalf("n %d, bytes %d, oldest %v", h.n, h.bytes, h.ring[h.start].frame.off)
	}
}

// A session persisted while its socket is outside the registry keeps the
// socket's rooms: closed (the keeper or the library persisting after the
// registry let it go), or restored and not registered yet (dropped again
// right after its restore). With none, the next restore would bring the
// socket back outside its rooms for good.
func TestSessionOutsideTheRegistryKeepsItsRooms(t *testing.T) {
	s, _ := startInternal(t)
	ctx, cancel := context.WithCancel(s.ctx)
	c := &Conn{reg: s.reg, log: s.log, id: "s1", ctx: ctx, cancel: cancel}
	s.reg.add(c)
	s.reg.join(c, "all", "conversation_1", "user_2")
	c.close(ReasonTransportClose)
	if got := c.session("p1").Rooms; !sameRooms(got, "all", "conversation_1", "user_2", "s1") {
		t.Fatalf("the session of a closed socket has rooms %v", got)
	}

	restored := &Conn{reg: s.reg, log: s.log, id: "s2", restored: &restoreState{session: Session{SID: "s2", PID: "p2", Rooms: []string{"all", "conversation_1", "s2"}}}}
	if got := restored.session("p2").Rooms; !sameRooms(got, "all", "conversation_1", "s2") {
		t.Fatalf("the session of a socket restored and not registered yet has rooms %v", got)
	}
}

// sameRooms reports whether got holds exactly want, in any order.
func sameRooms(got []string, want ...string) bool {
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	return slices.Equal(g, w)
}

// A socket the server disconnected is not kept for recovery when the
// library asks for it as after a transport close: it does when the client
// hangs up on the DISCONNECT while the server is still closing the socket
// (two closes pass the library's connected check). Kept, the session
// brought the kicked socket back, user and rooms included. A socket whose
// transport closed first is kept.
func TestADisconnectedSocketIsNotKeptWhenItsTransportClosesToo(t *testing.T) {
	s, err := New(Config{JWT: JWT{Secret: []byte("internal-test-secret-32-bytes-long")}, Recovery: &Recovery{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	a := &recoveryAdapter{s: s, root: true}
	for _, c := range []struct {
		reason string
		kept   bool
	}{
		{reason: ReasonServerDisconnect, kept: false},
		{reason: ReasonTransportClose, kept: true},
		{reason: ReasonServerShutdown, kept: true},
	} {
		ctx, cancel := context.WithCancel(s.ctx)
		conn := &Conn{reg: s.reg, log: s.log, id: "s-" + c.reason, ctx: ctx, cancel: cancel}
		s.reg.add(conn)
		s.reg.join(conn, "user_9")
		conn.close(c.reason)
		pid := "p-" + c.reason
		a.PersistSession(&socket.SessionToPersist{Sid: socket.SocketId(conn.id), Pid: socket.PrivateSessionId(pid), Data: conn})
		if _, kept := s.sessions.take(pid, time.Now()); kept != c.kept {
			t.Errorf("closed for %q, then persisted as after a transport close: kept %v, want %v", c.reason, kept, c.kept)
		}
	}
}
