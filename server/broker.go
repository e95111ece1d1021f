package server

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entreactive/reactive/entreactive"
)

// Broker makes one Server a node of a cluster: it carries the node's
// broadcasts and socket operations to the other nodes, brings theirs back,
// and asks the other nodes for their sockets. Set Config.Broker to use one;
// without, a Server is a cluster of one and everything stays in process.
// Package redisbroker has the Redis broker, which speaks the wire format of
// Node's @socket.io/redis-streams-adapter.
//
// The cluster spans the root namespace "/": the reactive events, the Emit*
// methods and the utility API. Other namespaces (see Server.Namespace) stay
// local to their node.
//
// A server calls Publish from one goroutine at a time, in the order of its
// emits and operations; a broker keeps that order to every other node. The
// server never calls Publish for what it received from its broker.
type Broker interface {
	// Start is called once, by New, before the server serves: from then
	// on the broker hands node what other nodes publish and answers their
	// requests with node's sockets. It returns once the node receives
	// everything published after it returns.
	Start(ctx context.Context, node Node) error
	// Publish sends m to the other nodes, the sockets of this node aside
	// (the server delivers to them itself). For a broadcast it returns
	// the offset the broker gave it in the cluster's history ("" when the
	// broker keeps none): clients that recover send it back. A broadcast
	// whose Once the broker published before, within its window, is
	// dropped: no offset, no error (see Broadcast.Once), which makes
	// trying again after an error safe (an error after the message
	// reached the broker, a timeout, cannot say whether it was
	// published).
	Publish(ctx context.Context, m ClusterMessage) (offset string, err error)
	// FetchSockets returns the sockets of the other nodes that sel
	// selects. It fails when a node does not answer before ctx is done or
	// the broker's own timeout.
	FetchSockets(ctx context.Context, sel Selector) ([]RemoteSocket, error)
	// ServerSideEmit sends an event to the other nodes' servers (not to
	// sockets). With ack it waits for one answer per node and returns
	// them, failing when a node does not answer in time.
	ServerSideEmit(ctx context.Context, event string, args []any, ack bool) ([]any, error)
	// PersistSession keeps the state of a socket that dropped, for the
	// recovery window, so that it can be restored on any node.
	PersistSession(ctx context.Context, s Session) error
	// DropSession forgets the session pid, if it is kept: its socket left
	// for good (the client disconnected, the server disconnected it).
	DropSession(ctx context.Context, pid string) error
	// RestoreSession takes back the session pid (it can be restored once)
	// with every broadcast its rooms received after offset, in order. It
	// fails (ErrNotRecoverable, wrapped) when the session is gone or the
	// history no longer holds offset: the client gets a fresh connection.
	RestoreSession(ctx context.Context, pid, offset string) (*RestoredSession, error)
	// Close stops the broker. The server calls it from Close, after the
	// last Publish.
	Close(ctx context.Context) error
}

// BatchBroker is a Broker that can publish several messages in one round
// trip: Server.PublishBatch uses it when the Broker has it
// (redisbroker.Broker does), and calls Publish once per message otherwise.
type BatchBroker interface {
	Broker
	// PublishBatch publishes msgs as successive Publish calls would, in
	// order, and stops at the first that fails: it returns how many, from
	// the first, were published (a dropped repeat of a Once counts as
	// published) and the error of the next one. None after it is
	// published.
	PublishBatch(ctx context.Context, msgs []ClusterMessage) (int, error)
}

// Session is the state of a socket kept across a short disconnection.
type Session struct {
	// SID is the socket id, PID the private session id the client holds.
	SID, PID string
	// Rooms are the socket's rooms.
	Rooms []string
	// Data is the socket's data (see RemoteSocket.Data): for a socket of
	// an entreactive node, what restores its authentication.
	Data any
}

// RestoredSession is a session brought back with what its socket missed.
type RestoredSession struct {
	Session
	// Missed are the broadcasts the socket's rooms received after the
	// client's offset, in order, each with its own offset.
	Missed []Missed
	// LastOffset is the last offset the history walk read (the client's
	// offset when it read none): broadcasts up to it that reach the
	// socket live are already in Missed and are skipped.
	LastOffset string
}

// Missed is one broadcast a socket missed, with its offset.
type Missed struct {
	Offset    string
	Broadcast Broadcast
}

// Node is what a Broker reaches of its server: the server hands it to
// Broker.Start. Its methods never block on sockets and are safe for
// concurrent use.
type Node interface {
	// Deliver delivers a message another node published to this node's
	// sockets; offset is the broadcast's offset in the cluster's history,
	// or "".
	Deliver(m ClusterMessage, offset string)
	// ServerEvent runs this server's handler of an event another node sent
	// with ServerSideEmit; ok is false when there is none (then the node
	// does not answer, as a Node server without a listener).
	ServerEvent(event string, args []any) (reply any, ok bool)
	// Sockets returns this node's sockets that sel selects, for another
	// node's FetchSockets.
	Sockets(sel Selector) []RemoteSocket
}

// ClusterMessage is one broadcast or socket operation travelling between
// nodes. Exactly one of Broadcast and Operation is set.
type ClusterMessage struct {
	Broadcast *Broadcast
	Operation *Operation
	// Own is set by the broker on a broadcast this node published with
	// Echo, handed back in the history's order.
	Own bool
}

// Broadcast is an event for the sockets a selector selects, encoded once
// on the node that emitted it.
type Broadcast struct {
	// Selector selects the target sockets.
	Selector Selector
	// Event is the event name (for logs).
	Event string
	// Packet is the Socket.IO packet: `2["event",...args]`, or for binary
	// data the BINARY_EVENT `5<n>-["event",...placeholders]` followed by
	// its n Attachments.
	Packet      []byte
	Attachments [][]byte
	// Volatile marks an event that may be lost.
	Volatile bool
	// Echo asks the broker to hand the broadcast back to this node too
	// (Node.Deliver, with ClusterMessage.Own), in the history's order
	// among the other nodes' broadcasts, instead of the server delivering
	// it to its own sockets at once. A server under recovery asks for it:
	// its sockets must see offsets in the order of the history, or a
	// client that resumes from the last offset it saw skips or repeats
	// events. Server.Publish always asks for it: its sockets must see its
	// events in the stream's order, as every other node's do.
	Echo bool
	// Once, when not empty, identifies the broadcast for good (the
	// EventID of an event Server.Publish publishes): a broker that keeps a
	// history publishes a Broadcast with the same Once at most once within
	// its window (minutes; redisbroker: Config.OnceWindow), and a repeat
	// is dropped, Publish returning no offset and no error (and, with
	// Echo, nothing coming back). It is not part of the wire format: the
	// nodes that receive the broadcast never see it.
	Once string
}

// Operation is an action on the sockets a selector selects, wherever they
// are.
type Operation struct {
	// Kind is what to do.
	Kind OperationKind
	// Selector selects the sockets.
	Selector Selector
	// Rooms are the rooms to join or leave (Join, Leave).
	Rooms []string
	// Close also closes the sockets' connections (Disconnect).
	Close bool
}

// OperationKind is what an Operation does.
type OperationKind int

// The operations on remote sockets (socketsJoin, socketsLeave and
// disconnectSockets in Socket.IO's adapters).
const (
	OperationJoin OperationKind = iota + 1
	OperationLeave
	OperationDisconnect
)

// Selector selects sockets as Socket.IO's broadcast options do: those in
// any of Rooms (every socket when Rooms is empty) and in none of Except. A
// socket's id selects it as a room of its own.
type Selector struct {
	Rooms  []string
	Except []string
}

// RemoteSocket describes a socket of any node, as fetchSockets returns it.
type RemoteSocket struct {
	// ID is the socket id.
	ID string
	// Rooms are the socket's rooms, its own id included (as Socket.IO
	// lists them).
	Rooms []string
	// Handshake is what the client sent when it connected.
	Handshake Handshake
	// Data is the socket's data: for a socket of an entreactive node, a
	// map with "user_id" (absent for a guest) and "device_id" (when one
	// was announced); for a Node socket, its socket.data.
	Data any
}

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
	queue  chan publication
	log    *slog.Logger
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
	if err := cl.broker.Start(ctx, clusterNode{s}); err != nil {
		return nil, fmt.Errorf("server: start broker: %w", err)
	}
	return cl, nil
}

// run publishes the queued messages in order until done is closed, then
// publishes what is left (for a few seconds at most) and closes the broker.
func (cl *cluster) run(done <-chan struct{}) {
	for {
		select {
		case <-done:
			cl.stopMu.Lock()
			cl.stopped = true
			cl.stopMu.Unlock()
			cl.flush()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if err := cl.broker.Close(ctx); err != nil {
				cl.log.Error("server: close broker", "err", err)
			}
			cancel()
			return
		case p := <-cl.queue:
			cl.handle(context.Background(), p)
		}
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

// fetch returns the other nodes' sockets that sel selects.
func (cl *cluster) fetch(ctx context.Context, sel Selector) ([]RemoteSocket, error) {
	socks, err := cl.broker.FetchSockets(ctx, sel)
	if err != nil {
		return nil, fmt.Errorf("server: fetch sockets from the cluster: %w", err)
	}
	return socks, nil
}

// clusterNode is the Node of a server.
type clusterNode struct{ s *Server }

// Deliver implements Node.
func (n clusterNode) Deliver(m ClusterMessage, offset string) {
	s := n.s
	switch {
	case m.Broadcast != nil:
		b := m.Broadcast
		var f *frame
		if o, ok := parseOffset(offset); ok && s.hist != nil && !b.Volatile {
			f = frameWithOffset(b.Event, b.Packet, b.Attachments, o)
		} else {
			f = frameFromWire(b.Event, b.Packet, b.Attachments)
		}
		rooms := b.Selector.Rooms
		if len(rooms) == 0 {
			rooms = []string{entreactive.RoomAll} // every socket is in it
		}
		j := job{rooms: rooms, except: b.Selector.Except, frame: f, volatile: b.Volatile}
		for _, id := range b.Selector.Rooms {
			if c := s.reg.conn(id); c != nil {
				j.direct = append(j.direct, c)
			}
		}
		_ = s.enqueue(s.ctx, j, nil)
	case m.Operation != nil:
		s.applyLocal(m.Operation)
	}
}

// Sockets implements Node.
func (n clusterNode) Sockets(sel Selector) []RemoteSocket {
	conns := n.s.selectLocal(sel)
	out := make([]RemoteSocket, 0, len(conns))
	for _, c := range conns {
		out = append(out, c.remote())
	}
	return out
}

// selectLocal returns this node's sockets that sel selects.
func (s *Server) selectLocal(sel Selector) []*Conn {
	var conns []*Conn
	if len(sel.Rooms) == 0 {
		conns = s.reg.all()
	} else {
		conns = s.reg.members(sel.Rooms...)
		for _, id := range sel.Rooms {
			if c := s.reg.conn(id); c != nil && !slices.Contains(conns, c) {
				conns = append(conns, c)
			}
		}
	}
	if len(sel.Except) == 0 {
		return conns
	}
	return slices.DeleteFunc(conns, func(c *Conn) bool { return s.reg.inAny(c, sel.Except) })
}

// applyLocal applies an operation to this node's sockets.
func (s *Server) applyLocal(op *Operation) {
	conns := s.selectLocal(op.Selector)
	switch op.Kind {
	case OperationJoin:
		rooms := slices.DeleteFunc(slices.Clone(op.Rooms), func(r string) bool { return reservedRoom(r) || !validRoom(r) })
		for _, c := range conns {
			c.mu.Lock()
			if !c.closed.Load() {
				s.reg.join(c, rooms...)
			}
			c.mu.Unlock()
		}
	case OperationLeave:
		for _, room := range op.Rooms {
			if reservedRoom(room) {
				continue
			}
			s.leaveConns(conns, room)
		}
	case OperationDisconnect:
		for _, c := range conns {
			c.disconnect(ReasonServerDisconnect)
		}
	}
}

// remote describes c for fetchSockets.
func (c *Conn) remote() RemoteSocket {
	rooms := append(c.Rooms(), c.id)
	slices.Sort(rooms)
	data := map[string]any{}
	if u, ok := c.User(); ok {
		data["user_id"] = u.ID
	}
	if c.deviceID != "" {
		data["device_id"] = c.deviceID
	}
	return RemoteSocket{ID: c.id, Rooms: rooms, Handshake: c.handshake, Data: data}
}

// FetchSockets returns the sockets of every node that sel selects, this
// node's first. With a broker it fails when a node does not answer in
// time.
func (s *Server) FetchSockets(ctx context.Context, sel Selector) ([]RemoteSocket, error) {
	out := clusterNode{s}.Sockets(sel)
	if s.cluster == nil {
		return out, nil
	}
	remote, err := s.cluster.fetch(ctx, sel)
	if err != nil {
		return nil, err
	}
	return append(out, remote...), nil
}

// roomsWithPrefix returns, of a fetched socket's rooms, those that start
// with prefix, prefix removed.
func roomsWithPrefix(rooms []string, prefix string) []string {
	var out []string
	for _, r := range rooms {
		if rest, ok := strings.CutPrefix(r, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// ServerEvent implements Node.
func (n clusterNode) ServerEvent(event string, args []any) (any, bool) {
	s := n.s
	s.hooksMu.RLock()
	h := s.serverEvents[event]
	s.hooksMu.RUnlock()
	if h == nil {
		return nil, false
	}
	if !s.enter() {
		return nil, false
	}
	defer s.exit()
	return runServerEvent(s, h, event, args)
}

// runServerEvent runs h, turning a panic into a logged nil answer.
func runServerEvent(s *Server, h ServerEventHandler, event string, args []any) (reply any, ok bool) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: server event handler panicked", "event", event, "panic", r)
			reply, ok = nil, true
		}
	}()
	return h(s.ctx, args), true
}

// ServerEventHandler handles an event another node sent with
// ServerSideEmit; what it returns answers the sender's acknowledgement.
type ServerEventHandler func(ctx context.Context, args []any) any

// OnServerEvent registers the handler of an event the other nodes send
// with ServerSideEmit (io.serverSideEmit in Node), replacing any previous
// one.
func (s *Server) OnServerEvent(event string, h ServerEventHandler) {
	s.hooksMu.Lock()
	defer s.hooksMu.Unlock()
	s.serverEvents[event] = h
}

// ServerSideEmit sends an event to the servers of the other nodes (their
// OnServerEvent handlers, or io.on(event) on a Node server). Without a
// broker there are none and it does nothing.
func (s *Server) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	if s.cluster == nil {
		return nil
	}
	if _, err := s.cluster.broker.ServerSideEmit(ctx, event, args, false); err != nil {
		return fmt.Errorf("server: server-side emit %q: %w", event, err)
	}
	return nil
}

// ServerSideEmitWithAck sends an event to the servers of the other nodes
// and returns one answer per node. It fails when a node does not answer
// in time (a Node server without a listener never answers).
func (s *Server) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	if s.cluster == nil {
		return nil, nil
	}
	replies, err := s.cluster.broker.ServerSideEmit(ctx, event, args, true)
	if err != nil {
		return nil, fmt.Errorf("server: server-side emit %q: %w", event, err)
	}
	return replies, nil
}
