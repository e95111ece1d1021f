package server

import (
	"context"
	"log/slog"
	"sync"

	"github.com/entreactive/reactive/entreactive"
)

// The data path, top to bottom:
//
//	Emit / EmitTo*   → newFrame / encodeFrame: the event encoded once, with
//	                   its websocket frame (frame.go)
//	                 → delivery.enqueue: the bounded queue; never blocks
//	                   (full → drop, log, count, ErrQueueFull)
//	                 → delivery.dispatch: one goroutine hands every job, in
//	                   order, to every shard
//	                 → shard.run: one goroutine per shard (GOMAXPROCS of
//	                   them); each socket belongs to one shard, so a socket
//	                   receives events in commit order
//	                 → registry.snapshot: the room's members of this shard,
//	                   an immutable slice shared by every broadcast until the
//	                   room changes (nothing copied per broadcast)
//	                 → Conn.deliver: the frame's bytes to the socket's
//	                   connWriter (websocket), or handed to the library
//	                   (polling); never blocks
//	                 → connWriter.send: when the shard is not behind and
//	                   the connection idle, one write(2) that cannot block,
//	                   right here; otherwise queued, and connWriter.flush
//	                   writes everything queued for the connection in one
//	                   writev under a deadline (writer.go)
//
// Events for one socket (connected, authenticated, Conn.Emit...) skip the
// queue and go straight to Conn.deliver.

// job is one queued broadcast: for the sockets in any of rooms, and the
// sockets in direct (named by id by another node), but none in except.
type job struct {
	rooms  []string
	except []string
	direct []*Conn
	frame  *frame
	// volatile jobs get no offset and stay out of the history.
	volatile bool
}

// delivery owns the bounded queue, the dispatcher and the shards.
type delivery struct {
	queue  chan job
	shards []*shard
	reg    *registry
	log    *slog.Logger
	stats  *counters
}

// shard delivers jobs to the sockets of one shard.
type shard struct {
	id   int
	jobs chan job
	// seen and conns are scratch space for jobs with several rooms,
	// reused from one job to the next.
	seen  map[*Conn]struct{}
	conns []*Conn
}

// shardQueue is the capacity of a shard's job queue. The dispatcher waits
// when a shard is this far behind, so that the main queue fills and new
// events are dropped rather than memory growing.
const shardQueue = 256

func newDelivery(reg *registry, size int, log *slog.Logger, stats *counters) *delivery {
	d := &delivery{queue: make(chan job, size), reg: reg, log: log, stats: stats}
	for i := range reg.shards {
		d.shards = append(d.shards, &shard{id: i, jobs: make(chan job, shardQueue), seen: make(map[*Conn]struct{})})
	}
	return d
}

// enqueue queues a broadcast without ever blocking. When the queue is full
// the job is dropped: logged at warn level (with ev's model, action and id
// when it carries a reactive event; ev is nil otherwise), counted, and
// ErrQueueFull is returned. Dropping the newest event keeps the order of
// those delivered.
func (d *delivery) enqueue(ctx context.Context, j job, ev *entreactive.Event) error {
	if len(j.rooms) == 0 && len(j.direct) == 0 {
		return nil
	}
	select {
	case d.queue <- j:
		d.stats.queued.Add(1)
		return nil
	default:
		d.stats.dropped.Add(1)
		attrs := []slog.Attr{
			slog.String("event", j.frame.event),
			slog.Int("rooms", len(j.rooms)),
			slog.Int("queue_capacity", cap(d.queue)),
		}
		if ev != nil {
			attrs = append(attrs, eventAttrs(ev)...)
		}
		d.log.LogAttrs(ctx, slog.LevelWarn, "server: delivery queue full, event dropped", attrs...)
		return ErrQueueFull
	}
}

// run runs the dispatcher and the shards until done is closed, and returns
// once they have all stopped. Events still queued at that point are
// discarded: their sockets are being closed.
func (d *delivery) run(done <-chan struct{}) {
	var wg sync.WaitGroup
	for _, sh := range d.shards {
		wg.Go(func() { sh.run(d, done) })
	}
	d.dispatch(done)
	wg.Wait()
}

// dispatch hands every job, in order, to every shard.
func (d *delivery) dispatch(done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case j := <-d.queue:
			for _, sh := range d.shards {
				select {
				case sh.jobs <- j:
				case <-done:
					return
				}
			}
		}
	}
}

// offer queues a broadcast without blocking and without logging; it
// reports false when the queue is full.
func (d *delivery) offer(j job) bool {
	select {
	case d.queue <- j:
		d.stats.queued.Add(1)
		return true
	default:
		return false
	}
}

// depth returns the number of queued broadcasts.
func (d *delivery) depth() int { return len(d.queue) }

// run delivers the shard's jobs in order.
func (sh *shard) run(d *delivery, done <-chan struct{}) {
	for {
		select {
		case <-done:
			return
		case j := <-sh.jobs:
			// Not behind: write at once to idle connections. Behind: let
			// frames queue up and go out coalesced.
			now := len(sh.jobs) == 0 && len(d.queue) == 0
			n := 0
			for _, c := range sh.members(d.reg, &j) {
				if c.deliver(j.frame, now) {
					n++
				}
			}
			d.stats.sent.Add(uint64(n))
		}
	}
}

// members returns the shard's sockets in any of rooms, each once. For one
// room it is the room's snapshot, shared; for several, the shard's scratch
// slice, valid until the next call.
func (sh *shard) members(reg *registry, j *job) []*Conn {
	if len(j.rooms) == 1 && len(j.direct) == 0 && len(j.except) == 0 {
		return reg.snapshot(j.rooms[0], sh.id)
	}
	clear(sh.seen)
	clear(sh.conns)
	sh.conns = sh.conns[:0]
	add := func(c *Conn) {
		if _, dup := sh.seen[c]; dup {
			return
		}
		sh.seen[c] = struct{}{}
		if len(j.except) > 0 && reg.inAny(c, j.except) {
			return
		}
		sh.conns = append(sh.conns, c)
	}
	for _, room := range j.rooms {
		for _, c := range reg.snapshot(room, sh.id) {
			add(c)
		}
	}
	for _, c := range j.direct {
		if c.shard == sh.id {
			add(c)
		}
	}
	return sh.conns
}
