package redisbroker

import (
	"context"
	"fmt"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// publisher sends this node's cluster messages: through the stream, or by
// pub/sub for ephemeral ones, as the Node adapter's doPublish does. It owns
// nothing; rdb is shared.
type publisher struct {
	rdb redis.Cmdable
	cfg Config
}

// publish sends m and returns its stream entry id, the offset clients get
// for a recoverable broadcast; ephemeral messages have none ("").
func (p publisher) publish(ctx context.Context, m wire.Message) (string, error) {
	if m.Ephemeral() {
		payload, err := wire.EncodePubSub(m)
		if err != nil {
			return "", err
		}
		if err := p.rdb.Publish(ctx, wire.PublicChannel(p.cfg.ChannelPrefix, m.Nsp), payload).Err(); err != nil {
			return "", fmt.Errorf("redisbroker: publish type %d: %w", m.Type(), err)
		}
		return "", nil
	}
	fields, err := wire.EntryFields(m)
	if err != nil {
		return "", err
	}
	id, err := p.rdb.XAdd(ctx, &redis.XAddArgs{
		Stream: p.cfg.streamKey(m.Nsp),
		MaxLen: p.cfg.MaxLen,
		Approx: true,
		ID:     "*",
		Values: fields,
	}).Result()
	if err != nil {
		return "", fmt.Errorf("redisbroker: xadd type %d: %w", m.Type(), err)
	}
	return id, nil
}

// publishResponse sends a response (types 8, 10, 11, 12) to the private
// channel of the server whose uid is requester.
func (p publisher) publishResponse(ctx context.Context, requester string, m wire.Message) error {
	payload, err := wire.EncodePubSub(m)
	if err != nil {
		return err
	}
	channel := wire.PrivateChannel(p.cfg.ChannelPrefix, m.Nsp, requester)
	if err := p.rdb.Publish(ctx, channel, payload).Err(); err != nil {
		return fmt.Errorf("redisbroker: publish response type %d: %w", m.Type(), err)
	}
	return nil
}

// serverCount returns how many servers listen on namespace nsp (PUBSUB
// NUMSUB of its public channel), this one included: the number of answers a
// request waits for, plus one.
func (p publisher) serverCount(ctx context.Context, nsp string) (int64, error) {
	channel := wire.PublicChannel(p.cfg.ChannelPrefix, nsp)
	counts, err := p.rdb.PubSubNumSub(ctx, channel).Result()
	if err != nil {
		return 0, fmt.Errorf("redisbroker: pubsub numsub: %w", err)
	}
	return counts[channel], nil
}
