package server

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/entreactive/reactive/entreactive"
)

var _ entreactive.Publisher = (*Server)(nil)

// Publish implements entreactive.Publisher, for the durable path (an
// outbox relay): it sends ev to the sockets of to's rooms and users, as
// Emit does, but once, and it returns only when the event is safe.
//
// ev.EventID must be set (ErrNoEventID otherwise). An event whose EventID
// was published before, within the window, is dropped and Publish returns
// nil.
//
// Without a Broker, the server remembers the EventIDs it published for
// Config.PublishWindow (at most Config.PublishMemory of them), and Publish
// returns once the event is queued for this node's sockets, with its
// offset in the history under recovery. It fails with ErrQueueFull when
// the delivery queue is full (outside recovery; under recovery the event
// is in the history) and with ErrClosed after Close.
//
// With a Broker, nothing is delivered to this node's sockets at once: the
// event is published to the cluster with Broadcast.Once set to its
// EventID, so that the broker drops the repeats of every node, and with
// Broadcast.Echo, so that this node's sockets get it when the broker
// hands it back, in the cluster's order as every other node's sockets do.
// Publish waits for the broker: it returns nil once the event is in the
// cluster's stream (or was dropped as a repeat), and an error when the
// broker could not publish it, or ctx ended first, or the server closed;
// then no socket gets it, on any node, unless the broker published it
// before failing to say so (a timeout), which the EventID makes harmless
// when the caller tries again.
//
// Successive Publish calls (each made after the previous one returned,
// on this node or on any node of the cluster) reach every socket in that
// order. Events published with Emit are not ordered with them.
func (s *Server) Publish(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	if ev.EventID == "" {
		return fmt.Errorf("%w (%s %s %v)", ErrNoEventID, ev.Model, ev.Action, ev.ID)
	}
	if s.work.isClosed() {
		return ErrClosed
	}
	if to.Empty() {
		return nil
	}
	rooms, f, err := s.encodeEvent(ctx, to, &ev)
	if err != nil {
		return err
	}
	if len(rooms) == 0 {
		return nil
	}
	if s.cluster != nil {
		b := f.broadcast(rooms)
		b.Echo, b.Once = true, ev.EventID
		if err := s.cluster.publishWait(ctx, b); err != nil {
			return fmt.Errorf("server: publish %s %s %v (event %s): %w", ev.Model, ev.Action, ev.ID, ev.EventID, err)
		}
	} else {
		published, err := s.publishLocal(ctx, job{rooms: rooms, frame: f}, &ev)
		if err != nil || !published {
			return err
		}
		if n := s.cfg.EmitBacklog; n > 0 {
			s.del.waitBacklog(ctx, n, MaxEmitWait)
		}
	}
	if o := s.cfg.Observer; o != nil {
		o.EventEmitted(ev.Model, ev.Action)
	}
	return nil
}

// publishLocal queues j for this node's sockets unless ev's EventID was
// published within the window; it reports whether it queued it. The
// check, the queueing and the noting happen under one lock: concurrent
// repeats queue one event, and successive calls queue in call order.
func (s *Server) publishLocal(ctx context.Context, j job, ev *entreactive.Event) (bool, error) {
	s.once.mu.Lock()
	defer s.once.mu.Unlock()
	now := time.Now()
	if s.once.seen(ev.EventID, now) {
		return false, nil
	}
	if err := s.enqueue(ctx, j, ev); err != nil {
		return false, err
	}
	s.once.add(ev.EventID, now)
	return true, nil
}

// onceSet remembers the EventIDs published within a window, at most max
// of them (the oldest forgotten first). Its methods are called under mu.
type onceSet struct {
	mu     sync.Mutex
	window time.Duration
	max    int
	// at maps each id to when it was noted; order lists the notes
	// oldest first, from head on (an id noted again has two, the older
	// one stale: its at differs).
	at    map[string]time.Time
	order []onceNote
	head  int
}

// onceNote is one noted id, in onceSet.order.
type onceNote struct {
	id string
	at time.Time
}

func newOnceSet(window time.Duration, max int) *onceSet {
	return &onceSet{window: window, max: max, at: make(map[string]time.Time)}
}

// seen reports whether id was noted less than the window before now.
func (o *onceSet) seen(id string, now time.Time) bool {
	at, ok := o.at[id]
	return ok && now.Sub(at) < o.window
}

// add notes id at now, and forgets the notes past the window and the
// oldest beyond max.
func (o *onceSet) add(id string, now time.Time) {
	o.at[id] = now
	o.order = append(o.order, onceNote{id: id, at: now})
	for o.head < len(o.order) {
		n := o.order[o.head]
		if now.Sub(n.at) < o.window && len(o.at) <= o.max {
			break
		}
		if o.at[n.id] == n.at {
			delete(o.at, n.id)
		}
		o.order[o.head] = onceNote{}
		o.head++
	}
	if o.head > len(o.order)/2 && o.head > 64 {
		o.order = append(o.order[:0:0], o.order[o.head:]...)
		o.head = 0
	}
}

// len returns the number of ids remembered.
func (o *onceSet) len() int { return len(o.at) }

var _ entreactive.BatchPublisher = (*Server)(nil)

// PublishBatch implements entreactive.BatchPublisher: it publishes events
// as successive Publish calls would, in order, and returns how many, from
// the first, were published. With a Broker that is a BatchBroker
// (redisbroker.Broker) they go to the cluster in one round trip, where
// Publish waits for one per event.
func (s *Server) PublishBatch(ctx context.Context, events []entreactive.Outgoing) (int, error) {
	if s.cluster == nil {
		for i, e := range events {
			if err := s.Publish(ctx, e.To, e.Event); err != nil {
				return i, err
			}
		}
		return len(events), nil
	}
	if s.work.isClosed() {
		return 0, ErrClosed
	}
	// need[i] is how many of msgs must be published for events[i] to be:
	// an event with no socket to reach needs none of its own.
	msgs := make([]ClusterMessage, 0, len(events))
	need := make([]int, 0, len(events))
	var stop error
	for i := range events {
		ev := events[i].Event
		if ev.EventID == "" {
			stop = fmt.Errorf("%w (%s %s %v)", ErrNoEventID, ev.Model, ev.Action, ev.ID)
			break
		}
		if !events[i].To.Empty() {
			rooms, f, err := s.encodeEvent(ctx, events[i].To, &ev)
			if err != nil {
				stop = err
				break
			}
			if len(rooms) > 0 {
				b := f.broadcast(rooms)
				b.Echo, b.Once = true, ev.EventID
				msgs = append(msgs, ClusterMessage{Broadcast: b})
			}
		}
		need = append(need, len(msgs))
	}
	sent := 0
	var err error
	if len(msgs) > 0 {
		sent, err = s.cluster.publishWaitBatch(ctx, msgs)
	}
	n := 0
	for n < len(need) && need[n] <= sent {
		n++
	}
	if o := s.cfg.Observer; o != nil {
		prev := 0
		for i, k := range need[:n] {
			if k > prev { // the event had a message of its own
				o.EventEmitted(events[i].Event.Model, events[i].Event.Action)
			}
			prev = k
		}
	}
	if err != nil && n < len(need) {
		ev := events[n].Event
		return n, fmt.Errorf("server: publish %s %s %v (event %s): %w", ev.Model, ev.Action, ev.ID, ev.EventID, err)
	}
	if err != nil {
		return n, fmt.Errorf("server: publish: %w", err)
	}
	return n, stop
}
