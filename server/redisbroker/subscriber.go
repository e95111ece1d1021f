package redisbroker

import (
	"context"
	"fmt"
	"sync"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// messageHandler receives the messages published on a node's channels, in
// the order Redis delivered them.
type messageHandler func(m wire.Message)

// subscriber listens on a namespace's public and private channels (the
// requests and responses that do not go through the stream). While it runs
// it counts as a server in PUBSUB NUMSUB, so every request of the cluster
// waits for its answer: a process that only publishes must not start one.
// go-redis resubscribes after a lost connection. It owns its PubSub (one
// connection of its own) and one goroutine; close ends both. The client it
// was started with stays the caller's.
type subscriber struct {
	ps        *redis.PubSub
	cfg       Config
	handle    messageHandler
	done      chan struct{}
	closeOnce sync.Once
}

// startSubscriber subscribes to channels and returns once Redis confirmed
// the subscription, so a request published after it returns reaches handle.
func startSubscriber(ctx context.Context, rdb redis.UniversalClient, channels []string, cfg Config, handle messageHandler) (*subscriber, error) {
	ps := rdb.Subscribe(ctx, channels...)
	for range channels {
		if _, err := ps.Receive(ctx); err != nil {
			_ = ps.Close()
			return nil, fmt.Errorf("redisbroker: subscribe %v: %w", channels, err)
		}
	}
	s := &subscriber{ps: ps, cfg: cfg, handle: handle, done: make(chan struct{})}
	go s.run(ps.Channel())
	return s, nil
}

func (s *subscriber) run(ch <-chan *redis.Message) {
	defer close(s.done)
	for msg := range ch { // closed by ps.Close
		m, err := wire.DecodePubSub([]byte(msg.Payload))
		if err != nil {
			s.cfg.Logger.Debug("redisbroker: skipping a pub/sub message",
				"channel", msg.Channel, "err", err)
			continue
		}
		s.handle(m)
	}
}

// close unsubscribes and waits for the goroutine to end, or for ctx. It is
// safe to call more than once.
func (s *subscriber) close(ctx context.Context) error {
	var err error
	s.closeOnce.Do(func() { err = s.ps.Close() })
	select {
	case <-s.done:
		if err != nil {
			return fmt.Errorf("redisbroker: close subscriber: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redisbroker: close subscriber: %w", ctx.Err())
	}
}
