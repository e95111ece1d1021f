package server

import (
	"context"
)

// Broker makes one Server a node of a cluster: it carries the node's
// broadcasts and socket operations to the other nodes and brings theirs
// back. Set Config.Broker to use one; without, a Server is a cluster of one
// and everything stays in process. Package redisbroker has the Redis
// broker, which speaks the wire format of Node's
// @socket.io/redis-streams-adapter and implements every optional interface
// below.
//
// Broker is the one required job, publish/subscribe. A broker adds the
// rest by implementing optional interfaces, which the server detects when
// New starts it:
//
//   - Requester: FetchSockets, the cluster-wide queries built on it
//     (IsUserOnline, RoomSize, ...) and ServerSideEmit ask the other
//     nodes. Without it they fail with ErrNoRequester rather than answer
//     for this node alone.
//   - SessionStore: connection state recovery (Config.Recovery) across
//     nodes. Without it recovery works per node, as without a Broker: a
//     client recovers when it comes back to the node it left (sticky
//     sessions), and elsewhere gets a fresh connection.
//   - Closer: Server.Close closes the broker. Without it the broker's
//     owner stops it, after Server.Close.
//   - BatchBroker, Pinger, BrokerReporter: PublishBatch in one round
//     trip, the readiness check, Server.BrokerStats.
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
	// on the broker hands node what other nodes publish (and, for a
	// Requester, answers their requests with node's sockets). It returns
	// once the node receives everything published after it returns.
	Start(ctx context.Context, node Node) error
	// Publish sends m to the other nodes, the sockets of this node aside
	// (the server delivers to them itself), except that a broadcast with
	// Echo comes back to this node too (see Broadcast.Echo). For a
	// broadcast it returns the offset the broker gave it in the cluster's
	// history ("" when the broker keeps none): clients that recover send
	// it back. A broadcast whose Once the broker published before, within
	// its window, is dropped: no offset, no error (see Broadcast.Once),
	// which makes trying again after an error safe (an error after the
	// message reached the broker, a timeout, cannot say whether it was
	// published).
	Publish(ctx context.Context, m ClusterMessage) (offset string, err error)
}

// Requester is the request/reply side of a Broker: a server whose Broker
// implements it asks the other nodes for their sockets and sends events to
// their servers. Without it, FetchSockets, IsUserOnline, IsDeviceOnline,
// RoomSize, ConnectionCount, UserCount, UserDevices, ServerSideEmit and
// ServerSideEmitWithAck fail with ErrNoRequester: an answer for this node
// alone would be wrong without saying so.
type Requester interface {
	// FetchSockets returns the sockets of the other nodes that sel
	// selects. It fails when a node does not answer before ctx is done or
	// the broker's own timeout.
	FetchSockets(ctx context.Context, sel Selector) ([]RemoteSocket, error)
	// ServerSideEmit sends an event to the other nodes' servers (not to
	// sockets). With ack it waits for one answer per node and returns
	// them, failing when a node does not answer in time.
	ServerSideEmit(ctx context.Context, event string, args []any, ack bool) ([]any, error)
}

// SessionStore is the cluster's store of recovery sessions: under
// Config.Recovery, a server whose Broker implements it keeps its sockets'
// sessions there and restores them from it, with what they missed from the
// broker's history, so that a client recovers on any node. The broker must
// then keep a history: Publish returns each broadcast's offset and
// Node.Deliver hands it on.
//
// Without it, a server under recovery keeps the history and the sessions
// in its own memory, as without a Broker, and gives broadcasts offsets of
// its own: a client recovers only on the node it left.
type SessionStore interface {
	// PersistSession keeps the state of a socket, for the recovery
	// window, so that it can be restored on any node.
	PersistSession(ctx context.Context, s Session) error
	// DropSession forgets the session pid, if it is kept: its socket left
	// for good (the client disconnected, the server disconnected it).
	DropSession(ctx context.Context, pid string) error
	// RestoreSession takes back the session pid (it can be restored once)
	// with every broadcast its rooms received after offset, in order. It
	// fails (ErrNotRecoverable, wrapped) when the session is gone or the
	// history no longer holds offset: the client gets a fresh connection.
	RestoreSession(ctx context.Context, pid, offset string) (*RestoredSession, error)
}

// Closer is a Broker the server stops: Server.Close calls Close after the
// last Publish. A Broker without it is stopped by its owner.
type Closer interface {
	// Close stops the broker.
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
