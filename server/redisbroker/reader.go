package redisbroker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// entryHandler receives the messages of a stream in stream order (a JSON
// broadcast's data kept as text, wire.DecodeEntryRaw), with
// their entry ids, this node's own included (the handler skips its own uid,
// as ClusterAdapter.onMessage does). It runs on the reader's goroutine: a
// slow handler slows the reading, never reorders it.
type entryHandler func(id string, m wire.Message)

// Backoff between failed reads: doubled from the first to the last.
const (
	readRetryFirst = 100 * time.Millisecond
	readRetryLast  = 5 * time.Second
)

// streamReader follows one stream (startPolling in the Node adapter): XREAD
// BLOCK from where the stream ended at start, then from the last entry read,
// so a failed read or a Redis restart loses nothing still in the stream.
// Errors are logged and retried with backoff. It owns its Redis client (a
// blocking XREAD holds a connection) and one goroutine; close ends both.
type streamReader struct {
	rdb    redis.UniversalClient
	stream string
	cfg    Config
	handle entryHandler

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
	// now cuts a backoff short (retryNow): Redis answers again.
	now chan struct{}

	// last is the id of the last entry handed to handle (where the stream
	// ended at start, before any); readErrors counts the failed reads.
	last       atomic.Pointer[string]
	readErrors atomic.Uint64
	// read is closed, and replaced, each time last moves (readPast).
	mu   sync.Mutex
	read chan struct{}
}

// startStreamReader starts reading stream with rdb, which it then owns.
// Every entry added after it returns reaches handle. It fails, closing rdb,
// when Redis cannot tell where the stream ends.
func startStreamReader(ctx context.Context, rdb redis.UniversalClient, stream string, cfg Config, handle entryHandler) (*streamReader, error) {
	// "$" would be resolved at the first XREAD, after start returns; an
	// entry added in between would be lost. Resolve it now.
	last, err := rdb.XRevRangeN(ctx, stream, "+", "-", 1).Result()
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redisbroker: read %s: %w", stream, err)
	}
	from := "0-0"
	if len(last) > 0 {
		from = last[0].ID
	}
	r := &streamReader{
		rdb:    rdb,
		stream: stream,
		cfg:    cfg,
		handle: handle,
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		now:    make(chan struct{}, 1),
		read:   make(chan struct{}),
	}
	r.last.Store(&from)
	go r.run(from)
	return r, nil
}

// retryNow makes a reader that waits to read again after an error read at
// once: the broker has just published after failing, so Redis is back,
// and without it the reader could wait up to readRetryLast more.
func (r *streamReader) retryNow() {
	select {
	case r.now <- struct{}{}:
	default:
	}
}

func (r *streamReader) run(from string) {
	defer close(r.done)
	// close interrupts a blocked XREAD by closing the client; the context
	// is not what ends it (go-redis does not abort a read on cancel).
	ctx := context.Background()

	retry := readRetryFirst
	for {
		streams, err := r.rdb.XRead(ctx, &redis.XReadArgs{
			Streams: []string{r.stream, from},
			Count:   r.cfg.ReadCount,
			Block:   r.cfg.BlockTime,
		}).Result()
		if r.stopped() {
			return
		}
		if errors.Is(err, redis.Nil) { // BLOCK timed out, nothing new
			retry = readRetryFirst
			continue
		}
		if err != nil {
			r.readErrors.Add(1)
			r.cfg.Logger.Error("redisbroker: reading the stream failed; retrying",
				"stream", r.stream, "after", from, "retry_in", retry, "err", err)
			select {
			case <-r.stop:
				return
			case <-time.After(retry):
				retry = min(2*retry, readRetryLast)
			case <-r.now:
				// The backoff starts over: the client's pool may still
				// refuse to dial for a moment after Redis is back.
				retry = readRetryFirst
			}
			continue
		}
		retry = readRetryFirst
		for _, s := range streams {
			for _, e := range s.Messages {
				from = e.ID
				m, err := wire.DecodeEntryRaw(e.Values)
				if err != nil {
					r.cfg.Logger.Debug("redisbroker: skipping a stream entry",
						"stream", r.stream, "id", e.ID, "err", err)
					r.last.Store(&e.ID)
					continue
				}
				r.handle(e.ID, m)
				r.last.Store(&e.ID)
			}
		}
		r.moved()
	}
}

// moved wakes the callers of readPast: last moved.
func (r *streamReader) moved() {
	r.mu.Lock()
	close(r.read)
	r.read = make(chan struct{})
	r.mu.Unlock()
}

// readPast waits until the reader has read the entry id, or for ctx or
// wait, whichever comes first.
func (r *streamReader) readPast(ctx context.Context, id string, wait time.Duration) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		r.mu.Lock()
		read := r.read
		r.mu.Unlock()
		if !idBefore(*r.last.Load(), id) {
			return
		}
		select {
		case <-read:
		case <-ctx.Done():
			return
		case <-timer.C:
			return
		case <-r.done:
			return
		}
	}
}

// idBefore reports whether the stream entry id a ("<ms>-<seq>") comes
// before b.
func idBefore(a, b string) bool {
	am, as, _ := strings.Cut(a, "-")
	bm, bs, _ := strings.Cut(b, "-")
	if len(am) != len(bm) {
		return len(am) < len(bm)
	}
	if am != bm {
		return am < bm
	}
	if len(as) != len(bs) {
		return len(as) < len(bs)
	}
	return as < bs
}

func (r *streamReader) stopped() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// close stops the reader, interrupting a blocked XREAD, and waits for its
// goroutine to end, or for ctx. It is safe to call more than once.
func (r *streamReader) close(ctx context.Context) error {
	r.closeOnce.Do(func() {
		close(r.stop)
		_ = r.rdb.Close()
	})
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("redisbroker: close reader of %s: %w", r.stream, ctx.Err())
	}
}
