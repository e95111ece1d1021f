package server

import (
	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

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
		if !d.mayRecover() {
			return
		}
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
