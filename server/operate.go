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
	return o.setRoom(nsp, filter, room, true)
}

// LeaveSockets makes the sockets of namespace nsp selected by filter leave
// room and returns how many were in it. In "/" the reserved rooms cannot
// be left (ErrReservedRoom).
func (o Operator) LeaveSockets(ctx context.Context, nsp, filter, room string) (int, error) {
	return o.setRoom(nsp, filter, room, false)
}

// setRoom makes the sockets of nsp selected by filter join room (or
// leave it) and returns how many changed.
func (o Operator) setRoom(nsp, filter, room string, join bool) (int, error) {
	reg, err := o.s.registryOf(nsp)
	if err != nil {
		return 0, err
	}
	if err := checkAppRoom(nsp, room); err != nil {
		return 0, err
	}
	return changeRooms(reg, selectConns(reg, filter), room, join), nil
}

// changeRooms makes each of conns that is not in room join it (or each
// that is, leave it), under the socket's lock, and returns how many did.
func changeRooms(reg *registry, conns []*Conn, room string, join bool) int {
	n := 0
	for _, c := range conns {
		c.mu.Lock()
		if !c.closed.Load() && reg.has(c, room) != join {
			if join {
				reg.join(c, room)
			} else {
				reg.leave(c, room)
			}
			n++
		}
		c.mu.Unlock()
	}
	return n
}

// DisconnectSockets disconnects the sockets of namespace nsp selected by
// filter and returns how many. With closeConn their connections close too
// (with the client's sockets in other namespaces); without, they only
// leave the namespace.
func (o Operator) DisconnectSockets(ctx context.Context, nsp, filter string, closeConn bool) (int, error) {
	reg, err := o.s.registryOf(nsp)
	if err != nil {
		return 0, err
	}
	conns := selectConns(reg, filter)
	for _, c := range conns {
		c.close(ReasonServerDisconnect)
		c.sock.Disconnect(closeConn)
	}
	return len(conns), nil
}

// EmitToSockets sends an event to the sockets of namespace nsp selected by
// filter. In "/" it reaches the cluster's sockets, as EmitTo does; in
// other namespaces this server's.
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
	return ns.emitTo(selectConns(ns.reg, filter), event, args)
}

func (s *Server) namespaceOf(name string) (*Namespace, error) {
	ns, ok := s.lookupNamespace(name)
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownNamespace, name)
	}
	return ns, nil
}

// registryOf returns the sockets and rooms of namespace nsp.
func (s *Server) registryOf(nsp string) (*registry, error) {
	if nsp == RootNamespace {
		return s.reg, nil
	}
	ns, err := s.namespaceOf(nsp)
	if err != nil {
		return nil, err
	}
	return ns.reg, nil
}

// selectConns returns the sockets of reg that filter selects: all of them
// (""), the socket with that id, or the members of that room.
func selectConns(reg *registry, filter string) []*Conn {
	if filter == "" {
		return reg.all()
	}
	if c := reg.conn(filter); c != nil {
		return []*Conn{c}
	}
	return reg.members(filter)
}

// connByID returns the socket of "/" with id, or nil.
func (s *Server) connByID(id string) *Conn { return s.reg.conn(id) }
