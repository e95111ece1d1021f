package redisbroker

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

var _ entreactive.Emitter = (*Emitter)(nil)

// Emitter publishes broadcasts to a cluster from a process that serves no
// sockets (a worker, a cron job): each is XADDed to the stream of "/" as a
// cluster node's broadcast is, and every node delivers it to its sockets
// (with an offset, so recovering clients get it too).
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

// EmitToRooms sends an event to the sockets in any of rooms, on every node,
// each socket once; args are encoded with encoding/json ([]byte values as
// binary attachments). No rooms sends nothing.
func (e *Emitter) EmitToRooms(ctx context.Context, rooms []string, event string, args ...any) error {
	if len(rooms) == 0 {
		return nil
	}
	b, err := server.NewBroadcast(rooms, event, args...)
	if err != nil {
		return err
	}
	return e.publish(ctx, b)
}

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
	if _, err := e.pub.publish(ctx, wire.Message{UID: e.uid, Nsp: nsp, Data: wb}); err != nil {
		return fmt.Errorf("redisbroker: emit %q: %w", b.Event, err)
	}
	return nil
}
