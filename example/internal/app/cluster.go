package app

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server/redisbroker"
)

// redisBroker connects to the Redis at url and returns the broker that
// makes the app a node of the cluster on it, with the client it uses.
func redisBroker(ctx context.Context, url string, cfg redisbroker.Config, log *slog.Logger) (*redisbroker.Broker, *redis.Client, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, nil, fmt.Errorf("app: redis URL: %w", err)
	}
	rdb := redis.NewClient(opts)
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pingCtx).Err(); err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("app: redis at %s: %w", opts.Addr, err)
	}
	if cfg.Logger == nil {
		cfg.Logger = log.With("component", "redis")
	}
	b, err := redisbroker.New(rdb, cfg)
	if err != nil {
		_ = rdb.Close()
		return nil, nil, fmt.Errorf("app: %w", err)
	}
	return b, rdb, nil
}

// closeRedis closes the cluster's Redis client, if there is one.
func (a *App) closeRedis() error {
	if a.redis == nil {
		return nil
	}
	if err := a.redis.Close(); err != nil {
		return fmt.Errorf("app: close redis: %w", err)
	}
	return nil
}
