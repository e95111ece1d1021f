package server

import "context"

func (s *Server) handleJoin(c *Conn, arg any, reply func(any)) {
	room, ok := arg.(string)
	if !ok || !validRoom(room) {
		reply(ackFail(errInvalidRoom))
		return
	}
	if reservedRoom(room) || s.cfg.Authorize == nil {
		s.stats.joinsRefused.Add(1)
		reply(ackFail(errForbidden))
		return
	}
	c.mu.Lock()
	gen := c.gen
	ctx := c.contextLocked()
	req := JoinRequest{Room: room, SocketID: c.id, DeviceID: c.deviceID}
	if c.user != nil {
		u := *c.user
		req.User = &u
	}
	c.mu.Unlock()

	if !s.authorize(ctx, req) {
		s.stats.joinsRefused.Add(1)
		reply(ackFail(errForbidden))
		return
	}
	c.mu.Lock()
	// The identity may have changed (expiry) while the authorizer ran.
	if c.closed.Load() || c.gen != gen {
		c.mu.Unlock()
		s.stats.joinsRefused.Add(1)
		reply(ackFail(errForbidden))
		return
	}
	s.reg.join(c, room)
	c.mu.Unlock()
	reply(ackOK())
}

// handleLeave leaves a room that is not reserved. Leaving needs no
// authorization: it cannot reveal anything.
func (s *Server) handleLeave(c *Conn, arg any, reply func(any)) {
	room, ok := arg.(string)
	if !ok || !validRoom(room) {
		reply(ackFail(errInvalidRoom))
		return
	}
	if reservedRoom(room) {
		reply(ackFail(errForbidden))
		return
	}
	c.mu.Lock()
	if !c.closed.Load() {
		s.reg.leave(c, room)
	}
	c.mu.Unlock()
	reply(ackOK())
}

// authorize runs the join authorizer, turning errors and panics into a
// logged refusal.
func (s *Server) authorize(ctx context.Context, req JoinRequest) (ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: join authorizer panicked", "room", req.Room, "socket", req.SocketID, "panic", r)
			ok = false
		}
	}()
	allowed, err := s.cfg.Authorize(ctx, req)
	if err != nil {
		s.log.Warn("server: join authorizer failed", "room", req.Room, "socket", req.SocketID, "err", err)
		return false
	}
	return allowed
}
