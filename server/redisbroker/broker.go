package redisbroker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

var (
	_ server.Broker         = (*Broker)(nil)
	_ server.BatchBroker    = (*Broker)(nil)
	_ server.Requester      = (*Broker)(nil)
	_ server.SessionStore   = (*Broker)(nil)
	_ server.Closer         = (*Broker)(nil)
	_ server.Pinger         = (*Broker)(nil)
	_ server.BrokerReporter = (*Broker)(nil)
)

// Broker is the Redis broker of a server.Server (Config.Broker): it makes
// the server one node of a cluster of Go and Node socket.io servers that
// share a Redis through @socket.io/redis-streams-adapter's wire format. The
// cluster spans the namespace "/"; messages of other namespaces are ignored.
//
// A Broker serves one server: New, then server.New calls Start, and the
// server's Close calls Close. Its methods are safe for concurrent use.
type Broker struct {
	rdb redis.UniversalClient // the caller's; used for commands and pub/sub
	cfg Config
	uid string
	// echoUID is the id of the broadcasts the server wants back
	// (server.Broadcast.Echo): the reader skips uid, not echoUID.
	echoUID string
	pub     publisher
	ss      sessions

	// ctx ends at Close: it bounds the answers to other nodes' requests and
	// the requests waiting for answers.
	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	started  bool
	closed   bool
	node     server.Node
	sub      *subscriber
	readers  []*streamReader
	requests map[string]chan wire.Payload
	answers  sync.WaitGroup // goroutines answering other nodes' requests

	// publishErrors counts the messages that could not be sent to Redis
	// (see BrokerStats); publishFailing is set from a failed publish to
	// the next that succeeds, which tells the readers to read at once.
	publishErrors  atomic.Uint64
	publishFailing atomic.Bool
}

// published notes the outcome of a publish: the first success after a
// failure wakes the stream readers out of their backoff.
func (b *Broker) published(err error) {
	if err != nil {
		b.publishErrors.Add(1)
		b.publishFailing.Store(true)
		return
	}
	if b.publishFailing.Load() && b.publishFailing.Swap(false) {
		for _, r := range b.streamReaders() {
			r.retryNow()
		}
	}
}

// New returns a broker on rdb, which must be a *redis.Client (a single
// Redis, or Sentinel's failover client): Redis Cluster and Ring are not
// spoken yet. rdb stays the caller's; the broker opens its own connection
// for each stream it reads and one for its subscription, all closed by
// Close.
func New(rdb redis.UniversalClient, cfg Config) (*Broker, error) {
	if _, ok := rdb.(*redis.Client); !ok {
		return nil, fmt.Errorf("redisbroker: %T is not supported, only *redis.Client", rdb)
	}
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Broker{
		rdb:      rdb,
		cfg:      cfg,
		uid:      wire.NewID(),
		echoUID:  wire.NewID(),
		pub:      publisher{rdb: rdb, cfg: cfg},
		ss:       sessions{rdb: rdb, cfg: cfg},
		ctx:      ctx,
		cancel:   cancel,
		requests: make(map[string]chan wire.Payload),
	}, nil
}

// UID returns the id this node has in the cluster (the adapter uid of its
// namespace "/"): its private channel is named after it.
func (b *Broker) UID() string { return b.uid }

// Start implements server.Broker: it subscribes to the public channel of
// "/" and to this node's private channel, and starts reading the stream of
// "/" from its current end. It returns once both are in place.
func (b *Broker) Start(ctx context.Context, node server.Node) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.closed:
		return ErrClosed
	case b.started:
		return errors.New("redisbroker: broker already started")
	case node == nil:
		return errors.New("redisbroker: Start without a node")
	}
	b.node = node
	channels := []string{
		wire.PublicChannel(b.cfg.ChannelPrefix, nsp),
		wire.PrivateChannel(b.cfg.ChannelPrefix, nsp, b.uid),
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	sub, err := startSubscriber(ctx, b.rdb, channels, b.cfg, b.onPubSub)
	if err != nil {
		return err
	}
	r, err := startStreamReader(ctx, b.readerClient(), b.cfg.streamKey(nsp), b.cfg, b.onEntry)
	if err != nil {
		_ = sub.close(context.Background())
		return err
	}
	b.sub, b.readers, b.started = sub, []*streamReader{r}, true
	return nil
}

// readerClient returns a client of its own for a stream reader, whose
// blocking XREAD holds a connection: the caller's options, a dial bounded by
// RequestTimeout, a small pool.
func (b *Broker) readerClient() *redis.Client {
	o := *b.rdb.(*redis.Client).Options()
	if o.DialTimeout <= 0 || o.DialTimeout > b.cfg.RequestTimeout {
		o.DialTimeout = b.cfg.RequestTimeout
	}
	o.PoolSize = 2
	o.MinIdleConns = 0
	return redis.NewClient(&o)
}

// bound returns ctx ending after RequestTimeout at the latest, so that no
// Redis call (go-redis's retries included) waits longer.
func (b *Broker) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, b.cfg.RequestTimeout)
}

// Publish implements server.Broker: a broadcast is XADDed as a type 3 entry
// and its entry id returned as its offset ("" for a volatile one, which
// clients do not keep); an operation is XADDed as a type 4, 5 or 6 entry.
// A broadcast with Once set is XADDed by a script, and only when no
// broadcast with the same Once was within Config.OnceWindow, from any node
// or Emitter of the cluster; a repeat returns "" and no error (and, with
// Echo, does not come back).
func (b *Broker) Publish(ctx context.Context, m server.ClusterMessage) (string, error) {
	msg, err := b.toWire(m)
	if err != nil {
		return "", err
	}
	ctx, cancel := b.bound(ctx)
	defer cancel()
	var id string
	if m.Broadcast != nil && m.Broadcast.Once != "" {
		id, err = b.pub.publishOnce(ctx, msg, m.Broadcast.Once)
	} else {
		id, err = b.pub.publish(ctx, msg)
	}
	b.published(err)
	if err != nil {
		return "", err
	}
	if m.Broadcast != nil && m.Broadcast.Volatile {
		return "", nil
	}
	return id, nil
}

// batchScriptEntries bounds the entries of one script call of
// PublishBatch: Redis runs nothing else meanwhile.
const batchScriptEntries = 100

// PublishBatch implements server.BatchBroker: the broadcasts with Once set
// go to the stream as Publish sends them, up to 100 in one script call
// (one round trip), in order; other messages are published one by one.
func (b *Broker) PublishBatch(ctx context.Context, msgs []server.ClusterMessage) (int, error) {
	done := 0
	for done < len(msgs) {
		m := msgs[done]
		if m.Broadcast == nil || m.Broadcast.Once == "" || m.Broadcast.Volatile {
			if _, err := b.Publish(ctx, m); err != nil {
				return done, err
			}
			done++
			continue
		}
		var run []wire.Message
		var onces []string
		for _, m := range msgs[done:] {
			if m.Broadcast == nil || m.Broadcast.Once == "" || m.Broadcast.Volatile || len(run) == batchScriptEntries {
				break
			}
			w, err := b.toWire(m)
			if err != nil {
				if len(run) == 0 {
					return done, err
				}
				break
			}
			run, onces = append(run, w), append(onces, m.Broadcast.Once)
		}
		bctx, cancel := b.bound(ctx)
		ids, err := b.pub.publishOnceBatch(bctx, run, onces)
		n := len(ids)
		cancel()
		done += n
		b.published(err)
		if err != nil {
			return done, err
		}
		if n == batchScriptEntries {
			b.paceBacklog(ctx, run[0].Nsp, ids)
		}
	}
	return done, nil
}

// streamReaders returns the broker's stream readers.
func (b *Broker) streamReaders() []*streamReader {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.readers
}

// backlogWait bounds how long paceBacklog waits for this node's reader.
const backlogWait = time.Second

// paceBacklog waits, after a full script call of PublishBatch (a backlog
// draining: an outbox's relay after a Redis outage), until this node's
// reader of the stream has read the last entry the call added, or for at
// most backlogWait. A backlog published faster than the nodes read would
// otherwise be trimmed by MaxLen before they read it: events lost.
func (b *Broker) paceBacklog(ctx context.Context, nsp string, ids []string) {
	last := ""
	for _, id := range ids {
		if id != "" {
			last = id
		}
	}
	if last == "" {
		return
	}
	key := b.cfg.streamKey(nsp)
	for _, r := range b.streamReaders() {
		if r.stream == key {
			r.readPast(ctx, last, backlogWait)
		}
	}
}

// toWire returns the stream or pub/sub message of m, under this node's
// uid, or its second one for a broadcast with Echo: its reader does not
// skip those, and the broadcast comes back to it in stream order.
func (b *Broker) toWire(m server.ClusterMessage) (wire.Message, error) {
	var p wire.Payload
	switch {
	case m.Broadcast != nil:
		wb, err := toWireBroadcast(m.Broadcast)
		if err != nil {
			return wire.Message{}, err
		}
		p = wb
	case m.Operation != nil:
		op, err := toWireOperation(m.Operation)
		if err != nil {
			return wire.Message{}, err
		}
		p = op
	default:
		return wire.Message{}, errors.New("redisbroker: publish an empty cluster message")
	}
	uid := b.uid
	if m.Broadcast != nil && m.Broadcast.Echo {
		uid = b.echoUID
	}
	return wire.Message{UID: uid, Nsp: nsp, Data: p}, nil
}

// onEntry handles a stream entry (broadcasts and operations).
func (b *Broker) onEntry(id string, m wire.Message) { b.dispatch(m, id) }

// onPubSub handles a message of the public or private channel (requests
// and answers).
func (b *Broker) onPubSub(m wire.Message) { b.dispatch(m, "") }

// dispatch hands a message of another node to this one: it runs on the
// reader's or the subscriber's goroutine, so deliveries keep the order they
// came in; requests are answered on goroutines of their own.
func (b *Broker) dispatch(m wire.Message, offset string) {
	if m.UID == b.uid || m.Nsp != nsp {
		return
	}
	own := m.UID == b.echoUID
	if own && offset == "" {
		return // only stream entries come back
	}
	node := b.node // set before the reader and subscriber start
	switch d := m.Data.(type) {
	case *wire.Broadcast:
		sb, err := fromWireBroadcast(d)
		if err != nil {
			b.cfg.Logger.Warn("redisbroker: dropping a broadcast", "from", m.UID, "err", err)
			return
		}
		if d.RequestID == "" {
			node.Deliver(server.ClusterMessage{Broadcast: sb, Own: own}, offset)
			return
		}
		// A Node broadcast waiting for acknowledgements: delivered without
		// an ack id, so this node's clients cannot answer; it answers that
		// it has none to wait for.
		node.Deliver(server.ClusterMessage{Broadcast: sb}, "")
		b.answer(m.UID, func(context.Context) (wire.Payload, bool) {
			return &wire.BroadcastClientCount{RequestID: d.RequestID, ClientCount: 0}, true
		})
	case *wire.SocketsJoin, *wire.SocketsLeave, *wire.DisconnectSockets:
		op, _ := fromWireOperation(d)
		node.Deliver(server.ClusterMessage{Operation: op}, "")
	case *wire.FetchSockets:
		b.answer(m.UID, func(context.Context) (wire.Payload, bool) {
			socks := node.Sockets(selector(d.Opts))
			out := &wire.FetchSocketsResponse{RequestID: d.RequestID, Sockets: make([]wire.SocketInfo, 0, len(socks))}
			for _, s := range socks {
				out.Sockets = append(out.Sockets, toSocketInfo(s))
			}
			return out, true
		})
	case *wire.ServerSideEmit:
		event, ok := firstString(d.Packet)
		if !ok {
			return
		}
		b.answer(m.UID, func(context.Context) (wire.Payload, bool) {
			reply, ok := node.ServerEvent(event, d.Packet[1:])
			if !ok || d.RequestID == "" {
				return nil, false
			}
			if raw, isRaw := reply.(json.RawMessage); isRaw {
				var v any
				if err := json.Unmarshal(raw, &v); err == nil {
					reply = v
				}
			}
			return &wire.ServerSideEmitResponse{RequestID: d.RequestID, Packet: reply}, true
		})
	case *wire.FetchSocketsResponse:
		b.resolve(d.RequestID, d)
	case *wire.ServerSideEmitResponse:
		b.resolve(d.RequestID, d)
	case *wire.BroadcastClientCount, *wire.BroadcastAck:
		// This node never broadcasts with acknowledgements.
	}
}

func firstString(data []any) (string, bool) {
	if len(data) == 0 {
		return "", false
	}
	s, ok := data[0].(string)
	return s, ok
}

// Close implements server.Closer: it stops the stream reader and the
// subscription (closing their connections), ends the requests still
// waiting, and waits for the answers being sent, or for ctx. rdb is left
// open. It is safe to call more than once.
func (b *Broker) Close(ctx context.Context) error {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return nil
	}
	b.closed = true
	sub, readers := b.sub, b.readers
	b.mu.Unlock()
	b.cancel()

	var errs []error
	if sub != nil {
		errs = append(errs, sub.close(ctx))
	}
	for _, r := range readers {
		errs = append(errs, r.close(ctx))
	}
	done := make(chan struct{})
	go func() { b.answers.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("redisbroker: close: answers still running: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}
