package server

import (
	"context"
	"fmt"
	"slices"
	"time"
)

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
	if s.store == nil {
		s.sessions.persist(ses, time.Now())
		return
	}
	ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
	defer cancel()
	if err := s.store.PersistSession(ctx, ses); err != nil {
		s.log.Warn("server: persist session for recovery", "socket", ses.SID, "err", err)
	}
}

// restoreSession takes back session pid and what it missed after off.
func (s *Server) restoreSession(pid, off string) (*restoreState, error) {
	from, ok := parseOffset(off)
	if !ok {
		return nil, fmt.Errorf("%w: offset %q", ErrNotRecoverable, off)
	}
	if s.store != nil {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		defer cancel()
		r, err := s.store.RestoreSession(ctx, pid, off)
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
