package server

import (
	"slices"

	"github.com/entreactive/reactive/entreactive"
)

// clusterNode is the Node of a server.
type clusterNode struct{ s *Server }

// Deliver implements Node.
func (n clusterNode) Deliver(m ClusterMessage, offset string) {
	s := n.s
	switch {
	case m.Broadcast != nil:
		b := m.Broadcast
		var f *frame
		if o, ok := parseOffset(offset); ok && s.store != nil && !b.Volatile {
			f = frameWithOffset(b.Event, b.Packet, b.Attachments, o)
		} else {
			f = frameFromWire(b.Event, b.Packet, b.Attachments)
		}
		rooms := b.Selector.Rooms
		if len(rooms) == 0 {
			rooms = []string{entreactive.RoomAll} // every socket is in it
		}
		j := job{rooms: rooms, except: b.Selector.Except, frame: f, volatile: b.Volatile}
		for _, id := range b.Selector.Rooms {
			if c := s.reg.conn(id); c != nil {
				j.direct = append(j.direct, c)
			}
		}
		_ = s.enqueue(s.ctx, j, nil)
	case m.Operation != nil:
		s.applyLocal(m.Operation)
	}
}

// Sockets implements Node.
func (n clusterNode) Sockets(sel Selector) []RemoteSocket {
	conns := n.s.selectLocal(sel)
	out := make([]RemoteSocket, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.remote())
	}
	return out
}

// selectLocal returns this node's sockets that sel selects.
func (s *Server) selectLocal(sel Selector) []*Conn {
	var conns []*Conn
	if len(sel.Rooms) == 0 {
		conns = s.reg.all()
	} else {
		conns = s.reg.members(sel.Rooms...)
		for _, id := range sel.Rooms {
			if c := s.reg.conn(id); c != nil && !slices.Contains(conns, c) {
				conns = append(conns, c)
			}
		}
	}
	if len(sel.Except) == 0 {
		return conns
	}
	return slices.DeleteFunc(conns, func(c *Conn) bool { return s.reg.inAny(c, sel.Except) })
}

// applyLocal applies an operation to this node's sockets.
func (s *Server) applyLocal(op *Operation) {
	conns := s.selectLocal(op.Selector)
	switch op.Kind {
	case OperationJoin:
		rooms := slices.DeleteFunc(slices.Clone(op.Rooms), func(r string) bool { return reservedRoom(r) || !validRoom(r) })
		for _, c := range conns {
			c.mu.Lock()
			if !c.closed.Load() {
				s.reg.join(c, rooms...)
			}
			c.mu.Unlock()
		}
	case OperationLeave:
		for _, room := range op.Rooms {
			if reservedRoom(room) {
				continue
			}
			changeRooms(s.reg, conns, room, false)
		}
	case OperationDisconnect:
		for _, c := range conns {
			c.disconnect(ReasonServerDisconnect)
		}
	}
}

// remote describes c for fetchSockets.
func (c *Conn) remote() RemoteSocket {
	rooms := append(c.Rooms(), c.id)
	slices.Sort(rooms)
	data := map[string]any{}
	if u, ok := c.User(); ok {
		data["user_id"] = u.ID
	}
	if c.deviceID != "" {
		data["device_id"] = c.deviceID
	}
	return RemoteSocket{ID: c.id, Rooms: rooms, Handshake: c.handshake, Data: data}
}

// ServerEvent implements Node.
func (n clusterNode) ServerEvent(event string, args []any) (any, bool) {
	s := n.s
	s.serverEventsMu.RLock()
	h := s.serverEvents[event]
	s.serverEventsMu.RUnlock()
	if h == nil {
		return nil, false
	}
	if !s.work.enter() {
		return nil, false
	}
	defer s.work.done()
	return runServerEvent(s, h, event, args)
}

// runServerEvent runs h, turning a panic into a logged nil answer.
func runServerEvent(s *Server, h ServerEventHandler, event string, args []any) (reply any, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: server event handler panicked", "event", event, "panic", r)
			reply, ok = nil, true
		}
	}()
	return h(s.ctx, args), true
}
