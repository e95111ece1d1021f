package server

import (
	"errors"
	"fmt"

	"github.com/zishang520/socket.io/servers/socket/v3"
)

// Errors returned by the server's API. Every error the package returns
// either is one of these (test with errors.Is) or wraps one, or is a
// configuration error from New.
var (
	// ErrClosed is returned by emits after Close.
	ErrClosed = errors.New("server: closed")
	// ErrQueueFull is returned by Emit and the EmitTo* methods when the
	// delivery queue is full. The event is dropped (logged at warn level and
	// counted in Stats.Dropped); nothing blocks.
	ErrQueueFull = errors.New("server: delivery queue full, event dropped")
	// ErrReservedRoom is returned when the utility API is asked to make
	// sockets join or leave a room the server manages itself.
	ErrReservedRoom = errors.New("server: reserved room")
	// ErrInvalidID is returned for a user or device id that cannot name a
	// room (see FormatID).
	ErrInvalidID = errors.New("server: invalid id")
	// ErrInvalidNamespace is returned by Server.Namespace for a name that
	// cannot be a namespace, and for "/".
	ErrInvalidNamespace = errors.New("server: invalid namespace")
	// ErrInvalidRoom is returned for a room name that cannot be a room
	// (empty, longer than 256 bytes, or with control characters).
	ErrInvalidRoom = errors.New("server: invalid room")
	// ErrNotRecoverable is returned (wrapped) by SessionStore.RestoreSession
	// when a session cannot be restored: it expired or was restored
	// already, or the history no longer holds the client's offset.
	ErrNotRecoverable = errors.New("server: session not recoverable")
	// ErrUnknownNamespace is returned for a namespace that does not exist.
	ErrUnknownNamespace = errors.New("server: unknown namespace")
	// ErrReservedEvent is returned by On for the protocol's own events.
	ErrReservedEvent = errors.New("server: reserved event name")
	// ErrInvalidToken is returned for every token that does not verify: bad
	// signature, unaccepted algorithm, expired, not yet valid, no usable user
	// id, not a string, too long. The reason is wrapped for logs; clients
	// only ever see "Invalid token".
	ErrInvalidToken = errors.New("server: invalid token")
	// ErrNoEventID is returned by Publish (Server.Publish, and
	// redisbroker's Emitter.Publish) for an event without an EventID:
	// only an event that names itself can be published once.
	ErrNoEventID = errors.New("server: publish of an event without an EventID")
	// ErrNoRequester is returned (wrapped) by FetchSockets, the
	// cluster-wide queries and ServerSideEmit when the server has a
	// Broker that is no Requester: it cannot ask the other nodes. It
	// wraps errors.ErrUnsupported.
	ErrNoRequester = fmt.Errorf("server: the broker cannot ask the other nodes (it is no Requester): %w", errors.ErrUnsupported)
)

// Error strings clients see in acks and connect errors.
const (
	errInvalidToken = "Invalid token"
	errForbidden    = "forbidden"
	errInvalidRoom  = "invalid room"
	errUnknownEvent = "unknown event"
	errInternal     = "internal error"
	errServerClosed = "server closed"
	// errAlreadyConnected refuses a second CONNECT on one connection.
	errAlreadyConnected = "already connected"
)

func ackOK() map[string]any { return map[string]any{"success": true} }

func ackFail(msg string) map[string]any { return map[string]any{"success": false, "error": msg} }

// connectError is the connect_error sent to a refused client: its message
// is msg and its data the same object as a failed ack. (Data must not be
// null: the zishang520 Go client cannot parse a null data.)
func connectError(msg string) *socket.ExtendedError {
	return socket.NewExtendedError(msg, ackFail(msg))
}
