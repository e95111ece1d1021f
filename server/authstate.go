package server

import (
	"time"

	"github.com/entreactive/reactive/entreactive"
)

func (s *Server) handleAuth(c *Conn, token any, reply func(any)) {
	u, err := s.verifier.verify(token)
	if err != nil {
		s.stats.authFailures.Add(1)
		s.log.Debug("server: auth refused", "socket", c.id, "err", err)
		reply(ackFail(errInvalidToken))
		return
	}
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	s.authenticateLocked(c, u)
	c.mu.Unlock()
	reply(ackOK())
	c.emit(EventAuthenticated, s.authenticatedPayload(c, u))
}

// authenticateLocked makes c the socket of u. Re-authenticating as another
// user first leaves everything the previous user had joined; as the same
// user it only renews the expiry. c.mu must be held.
func (s *Server) authenticateLocked(c *Conn, u User) {
	if c.user != nil && c.user.ID != u.ID {
		s.resetLocked(c)
	}
	c.user = &u
	c.gen++
	s.reg.leave(c, entreactive.RoomGuests)
	rooms := []string{entreactive.RoomUsers, UserRoom(u.ID)}
	if c.deviceID != "" {
		rooms = append(rooms, UserDeviceRoom(u.ID, c.deviceID))
	}
	s.reg.join(c, rooms...)
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	if !u.ExpiresAt.IsZero() {
		gen := c.gen
		wait := time.Until(u.ExpiresAt) + s.cfg.JWT.Leeway
		c.expiry = time.AfterFunc(wait, func() { s.expire(c, gen) })
	}
	s.userChanged(c)
}

func (s *Server) authenticatedPayload(c *Conn, u User) map[string]any {
	var device any
	if c.deviceID != "" {
		device = c.deviceID
	}
	return map[string]any{"userId": u.raw, "deviceId": device, "socketId": c.id}
}

// resetLocked turns c back into a guest: it leaves every room but "all"
// and its device room, and joins "guests". c.mu must be held.
func (s *Server) resetLocked(c *Conn) {
	keep := []string{entreactive.RoomAll}
	if c.deviceID != "" {
		keep = append(keep, DeviceRoom(c.deviceID))
	}
	s.reg.leaveAllBut(c, keep...)
	s.reg.join(c, entreactive.RoomGuests)
	c.user = nil
	c.gen++
	if c.expiry != nil {
		c.expiry.Stop()
		c.expiry = nil
	}
	s.userChanged(c)
}

func (s *Server) handleDeauth(c *Conn, reply func(any)) {
	c.mu.Lock()
	if c.closed.Load() {
		c.mu.Unlock()
		return
	}
	s.resetLocked(c)
	c.mu.Unlock()
	reply(ackOK())
	c.emit(EventDeauthenticated, map[string]any{"socketId": c.id, "reason": "deauth"})
}

// expire deauthenticates c when the token of authentication gen expires.
func (s *Server) expire(c *Conn, gen uint64) {
	if !s.work.enter() {
		return
	}
	defer s.work.done()
	c.mu.Lock()
	if c.closed.Load() || c.gen != gen || c.user == nil {
		c.mu.Unlock()
		return
	}
	s.resetLocked(c)
	c.mu.Unlock()
	c.emit(EventDeauthenticated, map[string]any{"socketId": c.id, "reason": "expired"})
}
