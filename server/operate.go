package server

import (
	"github.com/entreactive/reactive/entreactive"

	"context"
	"fmt"
)

// JoinSockets makes the sockets of namespace nsp selected by filter join
// room and returns how many joined. In "/" the reserved rooms (all,
// guests, users, user_*, device_*) cannot be joined: they follow the
// sockets' authentication (ErrReservedRoom).
func (o Operator) JoinSockets(ctx context.Context, nsp, filter, room string) (int, error) {
	s := o.s
	if !validRoom(room) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidRoom, room)
	}
	if nsp == RootNamespace {
		if reservedRoom(room) {
			return 0, fmt.Errorf("%w: %q", ErrReservedRoom, room)
		}
		n := 0
		for _, c := range s.selectConns(filter) {
			c.mu.Lock()
			if !c.closed.Load() && !s.reg.has(c, room) {
				s.reg.join(c, room)
				n++
			}
			c.mu.Unlock()
		}
		return n, nil
	}
	ns, err := s.namespaceOf(nsp)
	if err != nil {
		return 0, err
	}
	sockets := ns.selectSockets(filter)
	for _, sk := range sockets {
		sk.Join(room)
	}
	return len(sockets), nil
}

// LeaveSockets makes the sockets of namespace nsp selected by filter leave
// room and returns how many were in it. In "/" the reserved rooms cannot
// be left (ErrReservedRoom).
func (o Operator) LeaveSockets(ctx context.Context, nsp, filter, room string) (int, error) {
	s := o.s
	if !validRoom(room) {
		return 0, fmt.Errorf("%w: %q", ErrInvalidRoom, room)
	}
	if nsp == RootNamespace {
		if reservedRoom(room) {
			return 0, fmt.Errorf("%w: %q", ErrReservedRoom, room)
		}
		return s.leaveConns(s.selectConns(filter), room), nil
	}
	ns, err := s.namespaceOf(nsp)
	if err != nil {
		return 0, err
	}
	n := 0
	for _, sk := range ns.selectSockets(filter) {
		if ns.has(sk, room) {
			sk.Leave(room)
			n++
		}
	}
	return n, nil
}

// DisconnectSockets disconnects the sockets of namespace nsp selected by
// filter and returns how many. With closeConn their connections close too
// (with the client's sockets in other namespaces); without, they only
// leave the namespace.
func (o Operator) DisconnectSockets(ctx context.Context, nsp, filter string, closeConn bool) (int, error) {
	s := o.s
	if nsp == RootNamespace {
		conns := s.selectConns(filter)
		for _, c := range conns {
			c.close(ReasonServerDisconnect)
			c.sock.Disconnect(closeConn)
		}
		return len(conns), nil
	}
	ns, err := s.namespaceOf(nsp)
	if err != nil {
		return 0, err
	}
	sockets := ns.selectSockets(filter)
	for _, sk := range sockets {
		sk.disconnect(ReasonServerDisconnect, closeConn)
	}
	return len(sockets), nil
}

// EmitToSockets sends an event to the sockets of namespace nsp selected by
// filter.
func (o Operator) EmitToSockets(ctx context.Context, nsp, filter, event string, args ...any) error {
	s := o.s
	if nsp == RootNamespace {
		if filter == "" {
			return s.EmitTo(ctx, entreactive.ToAll(), event, args...)
		}
		if c := s.connByID(filter); c != nil {
			return c.Emit(event, args...)
		}
		return s.EmitTo(ctx, entreactive.ToRooms(filter), event, args...)
	}
	ns, err := s.namespaceOf(nsp)
	if err != nil {
		return err
	}
	return ns.emitTo(ns.selectSockets(filter), event, args)
}

func (s *Server) namespaceOf(name string) (*Namespace, error) {
	ns, ok := s.lookupNamespace(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNamespace, name)
	}
	return ns, nil
}

// selectConns returns the sockets of "/" that filter selects.
func (s *Server) selectConns(filter string) []*Conn {
	if filter == "" {
		return s.reg.all()
	}
	if c := s.connByID(filter); c != nil {
		return []*Conn{c}
	}
	return s.reg.members(filter)
}

// connByID returns the socket of "/" with id, or nil.
func (s *Server) connByID(id string) *Conn { return s.reg.conn(id) }

// selectSockets returns the namespace's sockets that filter selects.
func (n *Namespace) selectSockets(filter string) []*Socket {
	if filter == "" {
		return n.Sockets()
	}
	if sk, ok := n.Socket(filter); ok {
		return []*Socket{sk}
	}
	return n.members(filter)
}

// has reports whether sk is in room.
func (n *Namespace) has(sk *Socket, room string) bool {
	n.mu.RLock()
	defer n.mu.RUnlock()
	_, ok := n.rooms[room][sk]
	return ok
}
