package redisbroker

import (
	"context"
	"errors"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

var _ entreactive.Publisher = (*Emitter)(nil)

// Emitter publishes broadcasts to a cluster from a process that serves no
// sockets (a worker, a cron job): each is XADDed to the stream of "/" as a
// cluster node's broadcast is, and every node delivers it to its sockets
// (with an offset, so recovering clients get it too). Publish publishes
// an event once per EventID, for the durable path.
//
// An Emitter never subscribes: a subscriber of the public channel is
// counted by PUBSUB NUMSUB as a node that answers requests, so every
// FetchSockets and ServerSideEmit with an acknowledgement of the cluster
// would wait for it and time out. It owns no connection and no goroutine;
// rdb stays the caller's.
type Emitter struct {
	pub publisher
	uid string
}

// NewEmitter returns an emitter publishing with rdb to the streams cfg
// names (the nodes' Config: StreamName, StreamCount and MaxLen matter).
func NewEmitter(rdb redis.UniversalClient, cfg Config) (*Emitter, error) {
	if rdb == nil {
		return nil, fmt.Errorf("redisbroker: NewEmitter without a Redis client")
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Emitter{pub: publisher{rdb: rdb, cfg: cfg}, uid: wire.NewID()}, nil
}

// Emit implements entreactive.Emitter: ev reaches the sockets of to's rooms
// and users on every node, encoded as server.Server.Emit encodes it. An
// empty target sends nothing.
func (e *Emitter) Emit(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	if to.Empty() {
		return nil
	}
	b, err := server.ReactiveBroadcast(to, ev)
	if err != nil {
		return err
	}
	return e.publish(ctx, b)
}

// EmitTo sends an event to the sockets of to, on every node, each socket
// once, as server.Server.EmitTo does: its rooms and its users' sockets
// (entreactive.ToRooms, ToUserIDs, ToAll, ...); args are encoded with
// encoding/json ([]byte values as binary attachments). A Skip or empty
// Target sends nothing; an id that cannot name a user or a room is an
// error wrapping server.ErrInvalidID.
func (e *Emitter) EmitTo(ctx context.Context, to entreactive.Target, event string, args ...any) error {
	if to.Empty() {
		return nil
	}
	b, err := server.NewBroadcast(to, event, args...)
	if err != nil {
		return err
	}
	return e.publish(ctx, b)
}

// Publish implements entreactive.Publisher, for the durable path (an
// outbox relay in a worker): ev reaches the sockets of to's rooms and
// users on every node, as with Emit, but once: it is XADDed by the script
// Broker.Publish runs for server.Broadcast.Once, with ev.EventID as the
// id, so that an event published before within Config.OnceWindow, by
// this emitter or by any node's server.Server.Publish, is dropped and
// Publish returns nil. It returns nil once the event is in the stream,
// an error otherwise: server.ErrNoEventID without an EventID, an encoding
// error, a Redis error (after a timeout the event may be in the stream:
// trying again is safe). Successive Publish calls reach every socket in
// that order, as do those of the nodes' servers.
func (e *Emitter) Publish(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	if ev.EventID == "" {
		return fmt.Errorf("redisbroker: %w (%s %s %v)", server.ErrNoEventID, ev.Model, ev.Action, ev.ID)
	}
	if to.Empty() {
		return nil
	}
	b, err := server.ReactiveBroadcast(to, ev)
	if errors.Is(err, server.ErrInvalidID) {
		// No room to send it to, now or on a retry: the relay must not
		// hold every later event behind it (Server.Publish does the same).
		e.pub.cfg.Logger.Warn("redisbroker: no target user id names a room; event not published",
			"model", ev.Model, "action", string(ev.Action), "id", ev.ID, "err", err)
		return nil
	}
	if err != nil {
		return err
	}
	b.Once = ev.EventID
	return e.publish(ctx, b)
}

// publish sends b to the stream of "/", once when b.Once is set.
func (e *Emitter) publish(ctx context.Context, b *server.Broadcast) error {
	if len(b.Selector.Rooms) == 0 {
		return nil // never every socket by accident
	}
	wb, err := toWireBroadcast(b)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, e.pub.cfg.RequestTimeout)
	defer cancel()
	m := wire.Message{UID: e.uid, Nsp: nsp, Data: wb}
	if b.Once != "" {
		if _, err := e.pub.publishOnce(ctx, m, b.Once); err != nil {
			return fmt.Errorf("redisbroker: publish %q once (%s): %w", b.Event, b.Once, err)
		}
		return nil
	}
	if _, err := e.pub.publish(ctx, m); err != nil {
		return fmt.Errorf("redisbroker: emit %q: %w", b.Event, err)
	}
	return nil
}

var _ entreactive.BatchPublisher = (*Emitter)(nil)

// PublishBatch implements entreactive.BatchPublisher: it publishes events
// as successive Publish calls would, in order, up to 100 in one script
// call, and returns how many, from the first, were published.
func (e *Emitter) PublishBatch(ctx context.Context, events []entreactive.Outgoing) (int, error) {
	done := 0
	for done < len(events) {
		var msgs []wire.Message
		var onces []string
		// ends[k] is how many events are published once msgs[:k+1] are.
		var ends []int
		next, stop := done, error(nil)
		for ; next < len(events) && len(msgs) < batchScriptEntries; next++ {
			to, ev := events[next].To, events[next].Event
			if ev.EventID == "" {
				stop = fmt.Errorf("redisbroker: %w (%s %s %v)", server.ErrNoEventID, ev.Model, ev.Action, ev.ID)
				break
			}
			if to.Empty() {
				continue
			}
			b, err := server.ReactiveBroadcast(to, ev)
			if errors.Is(err, server.ErrInvalidID) {
				e.pub.cfg.Logger.Warn("redisbroker: no target user id names a room; event not published",
					"model", ev.Model, "action", string(ev.Action), "id", ev.ID, "err", err)
				continue
			}
			if err == nil && len(b.Selector.Rooms) > 0 {
				var wb *wire.Broadcast
				if wb, err = toWireBroadcast(b); err == nil {
					msgs = append(msgs, wire.Message{UID: e.uid, Nsp: nsp, Data: wb})
					onces = append(onces, ev.EventID)
					ends = append(ends, next+1)
				}
			}
			if err != nil {
				stop = err
				break
			}
		}
		sent := 0
		var err error
		if len(msgs) > 0 {
			bctx, cancel := context.WithTimeout(ctx, e.pub.cfg.RequestTimeout)
			var ids []string
			ids, err = e.pub.publishOnceBatch(bctx, msgs, onces)
			cancel()
			sent = len(ids)
		}
		if err != nil {
			if sent > 0 {
				done = ends[sent-1]
			}
			return done, fmt.Errorf("redisbroker: publish %d events once: %w", len(msgs)-sent, err)
		}
		done = next
		if stop != nil {
			return done, stop
		}
	}
	return done, nil
}
