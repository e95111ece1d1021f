package redisbroker

// The session store of the broker (server.SessionStore): the sessions of
// dropped sockets, kept in Redis for the recovery window.

import (
	"context"
	"errors"
	"fmt"

	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// PersistSession implements server.SessionStore: SET <prefix><pid>
// base64(msgpack({sid, pid, rooms, data})) PX SessionTTL, as Node does, so
// that a Node node can restore it too.
func (b *Broker) PersistSession(ctx context.Context, s server.Session) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ss.persist(ctx, wire.Session{SID: s.SID, PID: s.PID, Rooms: s.Rooms, Data: s.Data})
}

// DropSession implements server.SessionStore: it deletes the session's key.
func (b *Broker) DropSession(ctx context.Context, pid string) error {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	return b.ss.drop(ctx, pid)
}

// RestoreSession implements server.SessionStore. The missed broadcasts are those
// of the stream after offset that the session's rooms select and that were
// neither volatile nor waiting for acknowledgements, without their offset
// (the server appends it). Every failure meaning the session cannot be
// recovered (ErrSessionNotFound, ErrOffsetNotFound, ErrHistoryTooLong,
// ErrInvalidOffset, a malformed session) also matches
// server.ErrNotRecoverable.
func (b *Broker) RestoreSession(ctx context.Context, pid, offset string) (*server.RestoredSession, error) {
	ctx, cancel := b.bound(ctx)
	defer cancel()
	r, err := b.ss.restore(ctx, nsp, pid, offset)
	if err != nil {
		for _, e := range []error{ErrSessionNotFound, ErrOffsetNotFound, ErrHistoryTooLong, ErrInvalidOffset, wire.ErrMalformed} {
			if errors.Is(err, e) {
				return nil, fmt.Errorf("%w: %w", server.ErrNotRecoverable, err)
			}
		}
		return nil, err
	}
	out := &server.RestoredSession{
		Session:    server.Session{SID: r.SID, PID: r.PID, Rooms: r.Rooms, Data: r.Data},
		Missed:     make([]server.Missed, 0, len(r.Missed)),
		LastOffset: r.LastID,
	}
	for _, m := range r.Missed {
		sb, err := fromWireBroadcast(m.Broadcast)
		if err != nil {
			return nil, fmt.Errorf("%w: entry %s: %w", server.ErrNotRecoverable, m.ID, err)
		}
		out.Missed = append(out.Missed, server.Missed{Offset: m.ID, Broadcast: *sb})
	}
	return out, nil
}
