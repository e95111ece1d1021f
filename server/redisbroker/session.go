package redisbroker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// sessions persists and restores the sessions of dropped sockets for
// connection state recovery, in the adapter's keys and encoding, so a
// client recovers on a Go node or a Node node alike. It owns nothing.
type sessions struct {
	rdb redis.Cmdable
	cfg Config
}

// restored is a session brought back with what its socket missed.
type restored struct {
	wire.Session
	// Missed are the broadcasts to replay, in stream order, with their
	// entry ids; JSON packets keep their data as text.
	Missed []missedEntry
	// LastID is the last stream entry the walk read (the client's offset
	// when it read none). Live entries up to it are already in Missed.
	LastID string
}

// missedEntry is one broadcast a restored session missed.
type missedEntry struct {
	ID        string
	Broadcast *wire.Broadcast
}

// persist stores s for cfg.SessionTTL (persistSession: SET key
// base64(msgpack(s)) PX ttl).
func (ss sessions) persist(ctx context.Context, s wire.Session) error {
	v, err := wire.EncodeSession(s)
	if err != nil {
		return err
	}
	key := wire.SessionKey(ss.cfg.SessionKeyPrefix, s.PID)
	if err := ss.rdb.Set(ctx, key, v, ss.cfg.SessionTTL).Err(); err != nil {
		return fmt.Errorf("redisbroker: persist session: %w", err)
	}
	return nil
}

// drop deletes the session pid, if it is kept.
func (ss sessions) drop(ctx context.Context, pid string) error {
	if err := ss.rdb.Del(ctx, wire.SessionKey(ss.cfg.SessionKeyPrefix, pid)).Err(); err != nil {
		return fmt.Errorf("redisbroker: drop session: %w", err)
	}
	return nil
}

// restore takes back the session pid of namespace nsp and the broadcasts it
// missed after offset (restoreSession). The session is consumed (GET and DEL
// in one MULTI) unless offset is malformed; it fails when the session is
// gone, when offset is no longer in the stream, or when the walk cannot
// reach the end of the stream, so that a client either gets everything it
// missed or a fresh connection, never a silent gap.
func (ss sessions) restore(ctx context.Context, nsp, pid, offset string) (restored, error) {
	from, err := wire.ParseOffset(offset)
	if err != nil {
		return restored{}, err
	}
	key := wire.SessionKey(ss.cfg.SessionKeyPrefix, pid)
	var get *redis.StringCmd
	if _, err := ss.rdb.TxPipelined(ctx, func(pipe redis.Pipeliner) error {
		get = pipe.Get(ctx, key)
		pipe.Del(ctx, key)
		return nil
	}); err != nil && !errors.Is(err, redis.Nil) {
		return restored{}, fmt.Errorf("redisbroker: restore session: %w", err)
	}
	raw, err := get.Result()
	if errors.Is(err, redis.Nil) {
		return restored{}, ErrSessionNotFound
	}
	if err != nil {
		return restored{}, fmt.Errorf("redisbroker: restore session: %w", err)
	}
	session, err := wire.DecodeSession(raw)
	if err != nil {
		return restored{}, err
	}

	stream := ss.cfg.streamKey(nsp)
	at, err := ss.rdb.XRangeN(ctx, stream, offset, offset, 1).Result()
	if err != nil {
		return restored{}, fmt.Errorf("redisbroker: restore session: %w", err)
	}
	if len(at) == 0 {
		return restored{}, fmt.Errorf("%w: %s in %s", ErrOffsetNotFound, offset, stream)
	}

	r := restored{Session: session, Missed: []missedEntry{}, LastID: offset}
	next, read := from.Next(), 0
	for {
		entries, err := ss.rdb.XRangeN(ctx, stream, next.String(), "+", restoreBatch).Result()
		if err != nil {
			return restored{}, fmt.Errorf("redisbroker: restore walk: %w", err)
		}
		for _, e := range entries {
			r.LastID = e.ID
			m, err := wire.DecodeEntryRaw(e.Values)
			if err != nil {
				continue // not a message this node would have delivered either
			}
			if b, ok := wire.MissedBroadcast(session.Rooms, nsp, m); ok {
				r.Missed = append(r.Missed, missedEntry{ID: e.ID, Broadcast: b})
			}
		}
		if len(entries) < restoreBatch {
			return r, nil
		}
		if read += len(entries); read > ss.cfg.restoreLimit() {
			return restored{}, fmt.Errorf("%w: more than %d entries after %s", ErrHistoryTooLong, read, offset)
		}
		if next, err = wire.ParseOffset(r.LastID); err != nil {
			return restored{}, fmt.Errorf("redisbroker: restore walk: %w", err)
		}
		next = next.Next()
	}
}
