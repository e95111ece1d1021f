package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Recovery configures connection state recovery (Socket.IO's
// connectionStateRecovery; socket.recovered in the npm client): a client
// that drops and reconnects within MaxDisconnection gets back its socket id,
// rooms and authentication, and receives the events it missed, in order,
// each once. Every broadcast then carries its offset as the last event
// argument (the client sends back the last one it saw); events for one
// socket (Conn.Emit) are not kept. Past the window, or when the history no
// longer holds the client's offset, the client gets a fresh connection
// (socket.recovered false) and should resync.
//
// Without a Broker the history and the sessions are kept in memory: at most
// HistorySize broadcasts of at most HistoryBytes in all, and one session
// per dropped socket for MaxDisconnection. With a Broker they are the broker's (see
// redisbroker), and a client recovers on any node: each live socket's
// session is kept in the broker ahead of time (at connect, after each
// change of its rooms or user, and every MaxDisconnection/2), so the
// clients of a node that dies without closing recover too; a socket the
// server disconnected, or whose client left, has its session dropped.
type Recovery struct {
	// MaxDisconnection is how long a dropped socket can come back.
	// Default 2 minutes.
	MaxDisconnection time.Duration
	// HistorySize bounds the broadcasts kept in memory. Default 10,000.
	HistorySize int
	// HistoryBytes bounds the bytes of the broadcasts kept in memory (their
	// encoded frames, binary attachments included): the oldest go first
	// when a new one would pass it, the newest always stays. Default 8 MiB.
	// Of HistorySize and HistoryBytes the tighter bound holds: with events
	// of a few hundred bytes the count does, with large ones the bytes do,
	// so that the history's memory stays bounded whatever the events carry.
	HistoryBytes int
}

// Defaults of Recovery.
const (
	DefaultMaxDisconnection = 2 * time.Minute
	DefaultHistorySize      = 10_000
	DefaultHistoryBytes     = 8 << 20
)

func (r *Recovery) setDefaults() {
	if r.MaxDisconnection <= 0 {
		r.MaxDisconnection = DefaultMaxDisconnection
	}
	if r.HistorySize <= 0 {
		r.HistorySize = DefaultHistorySize
	}
	if r.HistoryBytes <= 0 {
		r.HistoryBytes = DefaultHistoryBytes
	}
}

// offset is a position in a history: a Redis stream entry id
// "<ms>-<seq>", which the in-memory history imitates so that offsets
// compare the same way everywhere. The zero offset is "none".
type offset struct{ ms, seq uint64 }

// parseOffset parses "<ms>-<seq>".
func parseOffset(s string) (offset, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return offset{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return offset{}, false
	}
	return offset{ms, seq}, true
}

func (o offset) none() bool { return o == offset{} }

// after reports whether o comes after p.
func (o offset) after(p offset) bool {
	return o.ms > p.ms || (o.ms == p.ms && o.seq > p.seq)
}

func (o offset) String() string {
	return strconv.FormatUint(o.ms, 10) + "-" + strconv.FormatUint(o.seq, 10)
}

// record is one broadcast of the history.
type record struct {
	rooms  []string
	except []string
	frame  *frame // with its offset
}

// history is the server's recent broadcasts with their offsets, in order:
// the whole recovery history without a broker; with one, the tail that
// covers the moment between the broker's history walk and a restored
// socket's return to its rooms. It is a ring of at most size records of at
// most maxBytes in all (the newest record is kept whatever its size).
type history struct {
	mu       sync.Mutex
	ring     []record
	start    int // index of the oldest record
	n        int
	last     offset
	bytes    int // the records' frames' sizes, summed
	maxBytes int
}

func newHistory(size, maxBytes int) *history {
	return &history{ring: make([]record, size), maxBytes: maxBytes}
}

// next returns the offset of a new broadcast at time now (without a
// broker): the stream id scheme, strictly increasing.
func (h *history) next(now time.Time) offset {
	ms := uint64(now.UnixMilli())
	if ms <= h.last.ms {
		return offset{h.last.ms, h.last.seq + 1}
	}
	return offset{ms, 0}
}

// add appends a broadcast whose frame carries its offset, dropping the
// oldest records when the ring is full or the bytes would pass maxBytes.
// h.mu must be held.
func (h *history) addLocked(r record) {
	if h.n == len(h.ring) {
		h.dropOldestLocked()
	}
	size := r.frame.size()
	for h.n > 0 && h.bytes+size > h.maxBytes {
		h.dropOldestLocked()
	}
	h.ring[(h.start+h.n)%len(h.ring)] = r
	h.n++
	h.bytes += size
	if r.frame.off.after(h.last) {
		h.last = r.frame.off
	}
}

// dropOldestLocked drops the oldest record, letting go of its frame.
func (h *history) dropOldestLocked() {
	h.bytes -= h.ring[h.start].frame.size()
	h.ring[h.start] = record{}
	h.start = (h.start + 1) % len(h.ring)
	h.n--
}

// holds reports whether from is in the history (or is its start: nothing
// was missed). h.mu must be held.
func (h *history) holdsLocked(from offset) bool {
	if h.n == 0 {
		return false
	}
	oldest := h.ring[h.start].frame.off
	return from == h.last || !from.after(h.last) && !oldest.after(from)
}

// sinceLocked returns the records after from whose rooms reach a socket in
// rooms (and not in except), in order. h.mu must be held.
func (h *history) sinceLocked(from offset, in func(r *record) bool) []*frame {
	var out []*frame
	for k := range h.n {
		r := &h.ring[(h.start+k)%len(h.ring)]
		if r.frame.off.after(from) && in(r) {
			out = append(out, r.frame)
		}
	}
	return out
}

// sessionStore keeps the sessions of dropped sockets in memory for the
// recovery window (without a broker).
type sessionStore struct {
	mu    sync.Mutex
	ttl   time.Duration
	byPID map[string]storedSession
	order []string // pids in the order persisted: expiry order
}

type storedSession struct {
	s       Session
	expires time.Time
}

func newSessionStore(ttl time.Duration) *sessionStore {
	return &sessionStore{ttl: ttl, byPID: make(map[string]storedSession)}
}

func (st *sessionStore) persist(s Session, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expireLocked(now)
	st.byPID[s.PID] = storedSession{s: s, expires: now.Add(st.ttl)}
	st.order = append(st.order, s.PID)
}

// take removes and returns the session pid, if it has not expired.
func (st *sessionStore) take(pid string, now time.Time) (Session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expireLocked(now)
	ss, ok := st.byPID[pid]
	if !ok {
		return Session{}, false
	}
	delete(st.byPID, pid)
	return ss.s, true
}

func (st *sessionStore) expireLocked(now time.Time) {
	i := 0
	for ; i < len(st.order); i++ {
		pid := st.order[i]
		ss, ok := st.byPID[pid]
		if ok && now.Before(ss.expires) {
			break
		}
		if ok {
			delete(st.byPID, pid)
		}
	}
	st.order = st.order[i:]
}

// recoveryAdapters builds the library adapter of each namespace when
// recovery is on: the library asks it to persist a dropped socket and to
// restore one that comes back; everything else is the library's in-memory
// adapter.
type recoveryAdapters struct{ s *Server }

// New implements socket.AdapterConstructor.
func (b recoveryAdapters) New(nsp socket.Namespace) socket.Adapter {
	a := &recoveryAdapter{Adapter: socket.MakeAdapter(), s: b.s, root: nsp.Name() == RootNamespace}
	a.Prototype(a)
	a.Construct(nsp)
	return a
}

type recoveryAdapter struct {
	socket.Adapter
	s    *Server
	root bool
}

// restoreState is what admit finds in the data of a socket the library
// restored: the session and what the socket missed.
type restoreState struct {
	session Session
	missed  []*frame
	// last is the offset the missed frames go up to.
	last offset
}

// PersistSession implements socket.Adapter: the library calls it when a
// socket of a namespace drops for a recoverable reason.
func (a *recoveryAdapter) PersistSession(sp *socket.SessionToPersist) {
	if !a.root || sp == nil {
		return
	}
	switch d := sp.Data.(type) {
	case *Conn:
		a.s.persistSession(d.session(string(sp.Pid)))
	case *restoreState:
		// Dropped again before its handshake took it up: the session
		// as it was restored.
		a.s.persistSession(d.session)
	}
}

// RestoreSession implements socket.Adapter: the library calls it when a
// client connects with a pid and an offset. An error gives the client a
// fresh socket.
func (a *recoveryAdapter) RestoreSession(pid socket.PrivateSessionId, off string) (*socket.Session, error) {
	if !a.root {
		return nil, ErrNotRecoverable
	}
	st, err := a.s.restoreSession(string(pid), off)
	if err != nil {
		a.s.log.Debug("server: session not restored", "err", err)
		return nil, err
	}
	return &socket.Session{
		SessionToPersist: &socket.SessionToPersist{
			Sid:   socket.SocketId(st.session.SID),
			Pid:   pid,
			Rooms: types.NewSet[socket.Room](),
			Data:  st,
		},
	}, nil
}

// session is the state of c to keep when it drops.
func (c *Conn) session(pid string) Session {
	c.mu.Lock()
	defer c.mu.Unlock()
	rooms, in := c.reg.roomsIfIn(c)
	switch {
	case in:
	case c.closed.Load():
		// Closed: the rooms it left, not none.
		rooms = slices.Clone(c.leftRooms)
	case c.restored != nil:
		// Restored and not registered yet: the rooms it is restored to.
		rooms = slices.DeleteFunc(slices.Clone(c.restored.session.Rooms), func(r string) bool { return r == c.id })
	}
	data := map[string]any{}
	if c.deviceID != "" {
		data["device_id"] = c.deviceID
	}
	if u := c.user; u != nil {
		var exp int64 // 0: the token has no expiry
		if !u.ExpiresAt.IsZero() {
			exp = u.ExpiresAt.UnixMilli()
		}
		data["user_id"] = u.ID
		data["user"] = map[string]any{"id": u.ID, "raw": u.raw, "claims": u.Claims, "exp": exp}
	}
	return Session{SID: c.id, PID: pid, Rooms: append(rooms, c.id), Data: data}
}

// persistSession keeps s for the recovery window.
func (s *Server) persistSession(ses Session) {
	if s.cluster == nil {
		s.sessions.persist(ses, time.Now())
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if err := s.cluster.broker.PersistSession(ctx, ses); err != nil {
		s.log.Warn("server: persist session for recovery", "socket", ses.SID, "err", err)
	}
}

// restoreSession takes back session pid and what it missed after off.
func (s *Server) restoreSession(pid, off string) (*restoreState, error) {
	from, ok := parseOffset(off)
	if !ok {
		return nil, fmt.Errorf("%w: offset %q", ErrNotRecoverable, off)
	}
	if s.cluster != nil {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		defer cancel()
		r, err := s.cluster.broker.RestoreSession(ctx, pid, off)
		if err != nil {
			return nil, err
		}
		st := &restoreState{session: r.Session, last: from}
		if l, ok := parseOffset(r.LastOffset); ok && l.after(from) {
			st.last = l
		}
		for _, m := range r.Missed {
			o, ok := parseOffset(m.Offset)
			if !ok {
				continue
			}
			b := m.Broadcast
			st.missed = append(st.missed, frameWithOffset(b.Event, b.Packet, b.Attachments, o))
		}
		return st, nil
	}
	s.hist.mu.Lock()
	held := s.hist.holdsLocked(from)
	s.hist.mu.Unlock()
	if !held {
		return nil, fmt.Errorf("%w: offset %s is not in the history", ErrNotRecoverable, off)
	}
	ses, ok := s.sessions.take(pid, time.Now())
	if !ok {
		return nil, fmt.Errorf("%w: no session %q (expired or restored)", ErrNotRecoverable, pid)
	}
	// The missed frames are read when the socket is back in its rooms
	// (see restore), so that none falls between.
	return &restoreState{session: ses, last: from}, nil
}

// restoredUser returns the user of a restored session, if its
// authentication is still valid.
func restoredUser(ses Session) (*User, bool) {
	data, _ := ses.Data.(map[string]any)
	u, _ := data["user"].(map[string]any)
	if u == nil {
		return nil, false
	}
	id, _ := u["id"].(string)
	if id == "" {
		return nil, false
	}
	user := &User{ID: id, raw: u["raw"]}
	user.Claims, _ = u["claims"].(map[string]any)
	if exp := toInt64(u["exp"]); exp > 0 {
		user.ExpiresAt = time.UnixMilli(exp)
		if !time.Now().Before(user.ExpiresAt) {
			return nil, false
		}
	}
	if user.raw == nil {
		user.raw = id
	}
	return user, true
}

func toInt64(v any) int64 {
	switch x := v.(type) {
	case int64:
		return x
	case int:
		return int64(x)
	case uint64:
		return int64(x)
	case int32:
		return int64(x)
	case uint32:
		return int64(x)
	case float64:
		return int64(x)
	case int8:
		return int64(x)
	case int16:
		return int64(x)
	case uint8:
		return int64(x)
	case uint16:
		return int64(x)
	}
	return 0
}

// restoreRooms are the rooms of a session a restored socket joins again:
// the server's own rooms follow the socket's authentication and device,
// and its id is no room of the registry.
func restoreRooms(ses Session) []string {
	var out []string
	for _, r := range ses.Rooms {
		if r == ses.SID || reservedRoom(r) || !validRoom(r) {
			continue
		}
		out = append(out, r)
	}
	return out
}

// restore brings a restored socket back: c is registered and in its rooms
// (joined by join, under the history's lock, so that no broadcast falls
// between the history and the live path), then gets what it missed, then
// what arrived live meanwhile, each frame once and in offset order.
func (s *Server) restore(c *Conn, st *restoreState, join func()) {
	c.restoring.Store(true)
	s.hist.mu.Lock()
	join()
	mine := make(map[string]struct{})
	for _, r := range c.reg.roomsOf(c) {
		mine[r] = struct{}{}
	}
	mine[c.id] = struct{}{}
	reaches := func(r *record) bool {
		for _, x := range r.except {
			if _, in := mine[x]; in {
				return false
			}
		}
		for _, x := range r.rooms {
			if _, in := mine[x]; in {
				return true
			}
		}
		return false
	}
	missed := st.missed
	last := st.last
	if n := len(missed); n > 0 && missed[n-1].off.after(last) {
		last = missed[n-1].off
	}
	missed = append(missed, s.hist.sinceLocked(last, reaches)...)
	if s.hist.last.after(last) {
		last = s.hist.last
	}
	s.hist.mu.Unlock()

	sent := offset{}
	for _, f := range missed {
		if f.off.after(sent) {
			c.send(f, false)
			sent = f.off
		}
	}
	c.finishRestore(last)
}

// enqueue queues a broadcast for this node's sockets. Under recovery the
// broadcast first gets its offset (without a broker) and goes into the
// history, in the order of the queue; when the queue is full it is not
// lost: the sockets it is for are closed, as a slow consumer is, and get
// it from the history when they come back.
func (s *Server) enqueue(ctx context.Context, j job, ev *entreactive.Event) error {
	if s.hist == nil || j.volatile {
		return s.del.enqueue(ctx, j, ev)
	}
	h := s.hist
	h.mu.Lock()
	if j.frame.off.none() && s.cluster == nil {
		j.frame = j.frame.withOffset(h.next(time.Now()))
	}
	if j.frame.off.none() {
		h.mu.Unlock()
		return s.del.enqueue(ctx, j, ev)
	}
	h.addLocked(record{rooms: j.rooms, except: j.except, frame: j.frame})
	if s.del.offer(j) {
		h.mu.Unlock()
		return nil
	}
	// Nothing more goes to these sockets from now on, before any later
	// broadcast can be queued (under h.mu): a later one reaching a socket
	// before it is closed would move its client's last offset past this
	// one, which recovery would then never give it.
	var conns []*Conn
	for _, c := range s.selectLocal(Selector{Rooms: j.rooms, Except: j.except}) {
		if c.stopSending() { // once per socket: a later event finds it stopped
			conns = append(conns, c)
		}
	}
	h.mu.Unlock()
	if len(conns) == 0 {
		return nil
	}
	s.stats.recoveryCloses.Add(uint64(len(conns)))
	s.log.LogAttrs(ctx, slog.LevelWarn, "server: delivery queue full, closing the sockets of the event to recover it from the history",
		slog.String("event", j.frame.event), slog.Int("sockets", len(conns)), slog.String("offset", j.frame.off.String()))
	if s.enter() {
		go func() {
			defer s.exit()
			for _, c := range conns {
				c.closeToRecover()
			}
		}()
	}
	return nil
}

// closeToRecover closes the socket's connection the way a network failure
// would ("forced close"), so that its session is kept for recovery.
func (c *Conn) closeToRecover() { closeEngineConn(c.sock) }

// closeEngineConn closes the Engine.IO connection under sock at once, the
// way a network failure would: the client sees "transport close" and
// reconnects by itself.
func closeEngineConn(sock *socket.Socket) {
	if conn := sock.Conn(); conn != nil {
		conn.Close(true)
	}
}
