package server

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultPublishQueue is the capacity of the queue between the server and
// its broker's Publish.
const DefaultPublishQueue = 8192

// publication is one message on its way to the broker; done, when set,
// receives Publish's result.
type publication struct {
	msg ClusterMessage
	// batch, when set instead of msg, is published in order up to the
	// first failure; sent is then set to how many were, before done is.
	batch []ClusterMessage
	sent  *int
	done  chan error
	// local, set for a broadcast published with Echo, is what this node's
	// sockets get should the broker fail to publish it (and so never hand
	// it back).
	local *job
	// ctx, when set, is the context of the caller waiting on done
	// (publishWait): the broker's Publish runs under it, and not at all
	// once it is done (the caller was told the message was not
	// published).
	ctx context.Context
}

// cluster is the server's side of its broker: the publishing goroutine and
// the Node the broker delivers to.
type cluster struct {
	srv    *Server
	broker Broker
	// requester is the broker's Requester side, nil when it has none.
	requester Requester
	queue     chan publication
	log       *slog.Logger
	// degraded is set while publishing fails (Redis down): local
	// deliveries then stop waiting for the broker's offsets.
	degraded atomic.Bool
	// lastLog and suppressed rate-limit the logs of failed publishes
	// (run's goroutine only).
	lastLog    time.Time
	suppressed int
	// stopMu guards stopped, set by run once the server closes and before
	// it flushes the queue: publishWait queues nothing after that, so that
	// every publication it queued is answered.
	stopMu  sync.RWMutex
	stopped bool
}

// startCluster starts cfg.Broker for s; it returns nil when there is none.
func startCluster(ctx context.Context, s *Server) (*cluster, error) {
	if s.cfg.Broker == nil {
		return nil, nil
	}
	cl := &cluster{
		srv:    s,
		broker: s.cfg.Broker,
		queue:  make(chan publication, DefaultPublishQueue),
		log:    s.log,
	}
	cl.requester, _ = s.cfg.Broker.(Requester)
	if err := cl.broker.Start(ctx, clusterNode{s}); err != nil {
		return nil, fmt.Errorf("server: start broker: %w", err)
	}
	return cl, nil
}

// run publishes the queued messages in order until done is closed, then
// publishes what is left (for a few seconds at most) and closes the broker
// when it is a Closer.
func (cl *cluster) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			cl.stopMu.Lock()
			cl.stopped = true
			cl.stopMu.Unlock()
			cl.flush()
			cl.closeBroker()
			return
		case p := <-cl.queue:
			cl.handle(context.Background(), p)
		}
	}
}

// closeBroker closes the broker, for 5 s at most, when it is a Closer.
func (cl *cluster) closeBroker() {
	c, ok := cl.broker.(Closer)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		cl.log.Error("server: close broker", "err", err)
	}
}

// handle publishes p and delivers its local part.
func (cl *cluster) handle(ctx context.Context, p publication) {
	if p.ctx != nil {
		if err := p.ctx.Err(); err != nil {
			p.done <- err // its caller has gone: not published
			return
		}
		pctx, cancel := context.WithCancel(p.ctx)
		defer cancel()
		defer context.AfterFunc(ctx, cancel)()
		ctx = pctx
	}
	var err error
	if p.batch != nil {
		*p.sent, err = cl.publishBatch(ctx, p.batch)
	} else {
		_, err = cl.broker.Publish(ctx, p.msg)
	}
	cl.degraded.Store(err != nil)
	if p.local != nil && err != nil {
		// Not in the history: the broker will not hand it back. This
		// node's sockets get it without an offset.
		_ = cl.srv.enqueue(cl.srv.ctx, *p.local, nil)
	}
	if p.done != nil {
		p.done <- err
		return
	}
	if err != nil {
		cl.srv.stats.publishErrors.Add(1)
		cl.logFailure(eventName(p.msg), err)
	}
}

// logFailure logs a failed publish: the first at once, then at most one
// line a second with the number of failures in between, so that an
// unreachable Redis does not flood the logs.
func (cl *cluster) logFailure(event string, err error) {
	now := time.Now()
	if now.Sub(cl.lastLog) < time.Second {
		cl.suppressed++
		return
	}
	cl.log.Error("server: publish to the cluster", "event", event, "err", err, "failures_not_logged", cl.suppressed)
	cl.lastLog, cl.suppressed = now, 0
}

// flush publishes what was queued before Close, for 5 s at most; what is
// left then is counted as not published, and waiters are answered
// ErrClosed.
func (cl *cluster) flush() {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for {
		select {
		case p := <-cl.queue:
			if ctx.Err() == nil {
				cl.handle(ctx, p)
				continue
			}
			if p.done != nil {
				p.done <- ErrClosed
			} else {
				cl.srv.stats.publishErrors.Add(1)
			}
		default:
			return
		}
	}
}

func eventName(m ClusterMessage) string {
	if m.Broadcast != nil {
		return m.Broadcast.Event
	}
	return ""
}

// publish queues a broadcast for the other nodes without blocking; a full
// queue drops it (logged, counted).
func (cl *cluster) publish(b *Broadcast) {
	select {
	case cl.queue <- publication{msg: ClusterMessage{Broadcast: b}}:
	default:
		cl.srv.stats.publishErrors.Add(1)
		cl.log.Warn("server: cluster publish queue full, event not sent to other nodes",
			"event", b.Event, "queue_capacity", cap(cl.queue))
	}
}

// publishEcho queues a broadcast for every node, this one included: the
// broker hands it back in the history's order (Broadcast.Echo). It reports
// false when publishing fails lately (Redis down) or the queue is full:
// the caller then delivers at once and publishes as without recovery.
func (cl *cluster) publishEcho(b *Broadcast, j job) bool {
	if cl.degraded.Load() {
		return false
	}
	b.Echo = true
	select {
	case cl.queue <- publication{msg: ClusterMessage{Broadcast: b}, local: &j}:
		return true
	default:
		b.Echo = false
		return false
	}
}

// publishWait publishes a broadcast after every message queued before it
// and returns the broker's answer. It fails, without publishing, when ctx
// is done before the broker's Publish starts, or when the server closes
// first; a ctx done while the broker publishes may leave the broadcast
// published (b.Once makes trying again safe).
func (cl *cluster) publishWait(ctx context.Context, b *Broadcast) error {
	p := publication{msg: ClusterMessage{Broadcast: b}, done: make(chan error, 1), ctx: ctx}
	cl.stopMu.RLock()
	if cl.stopped {
		cl.stopMu.RUnlock()
		return ErrClosed
	}
	select {
	case cl.queue <- p:
		cl.stopMu.RUnlock()
	case <-ctx.Done():
		cl.stopMu.RUnlock()
		return ctx.Err()
	case <-cl.srv.done:
		cl.stopMu.RUnlock()
		return ErrClosed
	}
	select {
	case err := <-p.done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// publishWaitBatch is publishWait for several broadcasts, published in
// order up to the first that fails: it returns how many were.
func (cl *cluster) publishWaitBatch(ctx context.Context, msgs []ClusterMessage) (int, error) {
	sent := 0
	p := publication{batch: msgs, sent: &sent, done: make(chan error, 1), ctx: ctx}
	cl.stopMu.RLock()
	if cl.stopped {
		cl.stopMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case cl.queue <- p:
		cl.stopMu.RUnlock()
	case <-ctx.Done():
		cl.stopMu.RUnlock()
		return 0, ctx.Err()
	case <-cl.srv.done:
		cl.stopMu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case err := <-p.done:
		return sent, err
	case <-ctx.Done():
		// The run goroutine may still write sent: report none.
		return 0, ctx.Err()
	}
}

// publishBatch publishes msgs in order, in one call when the broker is a
// BatchBroker, up to the first failure; it returns how many it published.
func (cl *cluster) publishBatch(ctx context.Context, msgs []ClusterMessage) (int, error) {
	if bb, ok := cl.broker.(BatchBroker); ok {
		return bb.PublishBatch(ctx, msgs)
	}
	for i, m := range msgs {
		if _, err := cl.broker.Publish(ctx, m); err != nil {
			return i, err
		}
	}
	return len(msgs), nil
}

// apply publishes an operation, after every message queued before it, and
// waits for it to be sent.
func (cl *cluster) apply(ctx context.Context, op *Operation) error {
	p := publication{msg: ClusterMessage{Operation: op}, done: make(chan error, 1)}
	select {
	case cl.queue <- p:
	case <-ctx.Done():
		return fmt.Errorf("server: cluster operation: %w", ctx.Err())
	}
	select {
	case err := <-p.done:
		if err != nil {
			return fmt.Errorf("server: cluster operation: %w", err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("server: cluster operation: %w", ctx.Err())
	}
}

// fetch returns the other nodes' sockets that sel selects; it fails with
// ErrNoRequester when the broker cannot ask them.
func (cl *cluster) fetch(ctx context.Context, sel Selector) ([]RemoteSocket, error) {
	if cl.requester == nil {
		return nil, fmt.Errorf("server: fetch sockets from the cluster: %w", ErrNoRequester)
	}
	socks, err := cl.requester.FetchSockets(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("server: fetch sockets from the cluster: %w", err)
	}
	return socks, nil
}

// serverSideEmit sends an event to the other nodes' servers; it fails with
// ErrNoRequester when the broker cannot.
func (cl *cluster) serverSideEmit(ctx context.Context, event string, args []any, ack bool) ([]any, error) {
	if cl.requester == nil {
		return nil, ErrNoRequester
	}
	return cl.requester.ServerSideEmit(ctx, event, args, ack)
}
