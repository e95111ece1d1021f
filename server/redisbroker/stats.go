package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// BrokerStats implements server.BrokerReporter: the publish and read
// errors counted since New, and, asked of Redis in one round trip (within
// ctx and RequestTimeout), the nodes subscribed to the cluster's channel
// (PUBSUB NUMSUB, as FetchSockets counts them, Node servers included) and
// the read lag: the age, by Redis's clock, of the oldest stream entry
// this node has not read yet, 0 when it has read them all. Before Start
// and after Close, or when Redis does not answer, it returns the counters
// with an error.
func (b *Broker) BrokerStats(ctx context.Context) (server.BrokerStats, error) {
	b.mu.Lock()
	started, closed, readers := b.started, b.closed, b.readers
	b.mu.Unlock()
	st := server.BrokerStats{PublishErrors: b.publishErrors.Load()}
	for _, r := range readers {
		st.ReadErrors += r.readErrors.Load()
	}
	switch {
	case closed:
		return st, ErrClosed
	case !started:
		return st, fmt.Errorf("redisbroker: stats: %w", ErrNotStarted)
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	channel := wire.PublicChannel(b.cfg.ChannelPrefix, nsp)
	pipe := b.rdb.Pipeline()
	numSub := pipe.PubSubNumSub(ctx, channel)
	now := pipe.Time(ctx)
	unread := make([]*redis.XMessageSliceCmd, len(readers))
	for i, r := range readers {
		unread[i] = pipe.XRangeN(ctx, r.stream, nextID(*r.last.Load()), "+", 1)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return st, fmt.Errorf("redisbroker: stats: %w", err)
	}
	st.Nodes = int(numSub.Val()[channel])
	for _, cmd := range unread {
		if entries := cmd.Val(); len(entries) > 0 {
			if added, ok := entryTime(entries[0].ID); ok {
				st.ReadLag = max(st.ReadLag, now.Val().Sub(added))
			}
		}
	}
	return st, nil
}

// nextID returns the smallest stream entry id after id ("ms-seq"), the
// start of an XRANGE of the entries after it (Redis before 6.2 has no
// exclusive range).
func nextID(id string) string {
	ms, seq, ok := strings.Cut(id, "-")
	n, err := strconv.ParseUint(seq, 10, 64)
	if !ok || err != nil {
		return "0-0"
	}
	return ms + "-" + strconv.FormatUint(n+1, 10)
}

// entryTime returns when Redis added the entry of id: its milliseconds.
func entryTime(id string) (time.Time, bool) {
	ms, _, _ := strings.Cut(id, "-")
	n, err := strconv.ParseInt(ms, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(n), true
}

// Ping implements server.Pinger for the server's readiness check: it
// pings Redis (within RequestTimeout at most) and fails once the broker is
// closed.
func (b *Broker) Ping(ctx context.Context) error {
	b.mu.Lock()
	closed := b.closed
	b.mu.Unlock()
	if closed {
		return errors.New("redisbroker: closed")
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	if err := b.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redisbroker: ping: %w", err)
	}
	return nil
}
