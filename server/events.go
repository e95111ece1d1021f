package server

import "context"

// Event names of the wire protocol (the protocol table of docs/protocol.md).
const (
	// EventConnected is sent to every socket once connected:
	// {socketId, deviceId|null, timestamp}.
	EventConnected = "connected"
	// EventAuth is sent by a client with a JWT string (+ optional ack).
	EventAuth = "auth"
	// EventAuthenticated is sent after a successful auth:
	// {userId, deviceId, socketId}.
	EventAuthenticated = "authenticated"
	// EventDeauth is sent by a client to drop its identity (+ optional ack).
	EventDeauth = "deauth"
	// EventDeauthenticated is sent after deauth or token expiry:
	// {socketId, reason: "deauth"|"expired"}.
	EventDeauthenticated = "deauthenticated"
	// EventJoin is sent by a client with a room name (+ optional ack).
	EventJoin = "join"
	// EventLeave is sent by a client with a room name (+ optional ack).
	EventLeave = "leave"
	// EventReactive carries committed ent changes (see entreactive.Event).
	EventReactive = "reactive"
)

// JoinRequest is a client's request to join a room.
type JoinRequest struct {
	// Room is the requested room; never a reserved one.
	Room string
	// SocketID and DeviceID identify the socket.
	SocketID string
	DeviceID string
	// User is the socket's user, nil for a guest. The context passed to the
	// authorizer carries it too (UserFromContext).
	User *User
}

// JoinAuthorizer decides whether a socket may join a room. It returns false
// to refuse; an error refuses too and is logged. It runs on the socket's
// own goroutine and may take time (e.g. a database query); ctx is cancelled
// if the socket disconnects.
//
//	func(ctx context.Context, r server.JoinRequest) (bool, error) {
//		var convID int
//		if _, err := fmt.Sscanf(r.Room, "conversation_%d", &convID); err != nil || r.User == nil {
//			return false, nil
//		}
//		return isMember(ctx, convID, r.User.ID)
//	}
type JoinAuthorizer func(ctx context.Context, req JoinRequest) (bool, error)

// EventHandler handles a custom client event registered with Server.On.
// args are the event's JSON-decoded arguments (numbers are float64; binary
// attachments are []byte). When the client asked for an ack, it receives
// the returned value (several values when it is an AckValues), or
// {success:false, error: err.Error()} when err is not nil.
type EventHandler func(ctx context.Context, c *Conn, args []any) (any, error)

// AckValues, returned by a handler, answers the client's acknowledgement
// with several arguments, as callback(a, b, c) does in Node: the client's
// ack function receives each element as its own argument. Any other
// returned value is the acknowledgement's one argument.
type AckValues []any

// ackArgs returns the arguments of an acknowledgement answering v.
func ackArgs(v any) []any {
	if vs, ok := v.(AckValues); ok {
		return []any(vs)
	}
	return []any{v}
}

// Middleware runs for every connecting socket, after its handshake token
// (if any) is verified and before it joins any room. An error refuses the
// connection: the client gets a connect_error with the error's text.
type Middleware func(ctx context.Context, c *Conn) error
