package wire

import (
	"encoding/base64"
	"fmt"
	"slices"
)

// DefaultSessionKeyPrefix is the adapter's sessionKeyPrefix.
const DefaultSessionKeyPrefix = "sio:session:"

// Session is what a server keeps of a socket that dropped for a recoverable
// reason (SessionToPersist in socket.io-adapter): its id, its private
// session id, its rooms (its own id included) and socket.data.
type Session struct {
	SID   string   `json:"sid"`
	PID   string   `json:"pid"`
	Rooms []string `json:"rooms"`
	Data  any      `json:"data"`
}

// SessionKey returns the Redis key of the session whose private id is pid.
func SessionKey(prefix, pid string) string {
	return prefix + pid
}

// EncodeSession returns the value the adapter stores under SessionKey:
// base64(msgpack({sid, pid, rooms, data})).
func EncodeSession(s Session) (string, error) {
	s.Rooms = nonNil(s.Rooms)
	b, err := marshalMsgpack(s)
	if err != nil {
		return "", fmt.Errorf("wire: encode session: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b), nil
}

// DecodeSession decodes a value stored under SessionKey.
func DecodeSession(v string) (Session, error) {
	b, err := base64.StdEncoding.DecodeString(v)
	if err != nil {
		return Session{}, fmt.Errorf("%w: session: %w", ErrMalformed, err)
	}
	var s Session
	if err := unmarshalMsgpack(b, &s); err != nil {
		return Session{}, fmt.Errorf("%w: session: %w", ErrMalformed, err)
	}
	s.Data = loosen(s.Data)
	if s.SID == "" || s.PID == "" {
		return Session{}, fmt.Errorf("%w: session without sid or pid", ErrMalformed)
	}
	return s, nil
}

// MissedPacket returns the event arguments to replay to a restored session
// for the stream entry (id, m), and whether m is one: a Recoverable
// broadcast of namespace nsp that targets one of the session's rooms
// (or every socket) and excludes none of them. The arguments end with id,
// as they did when delivered live.
//
// Node's restore walk replays volatile packets and packets that had an
// acknowledgement id; this one does not (see Recoverable).
func MissedPacket(rooms []string, nsp, id string, m Message) ([]any, bool) {
	b, ok := MissedBroadcast(rooms, nsp, m)
	if !ok {
		return nil, false
	}
	return WithOffset(b, id), true
}

// MissedBroadcast returns m's broadcast when a restored session in rooms
// missed it: MissedPacket without building the arguments.
func MissedBroadcast(rooms []string, nsp string, m Message) (*Broadcast, bool) {
	b, ok := m.Data.(*Broadcast)
	if !ok || m.Nsp != nsp || !Recoverable(b) || !Includes(rooms, b.Opts) {
		return nil, false
	}
	return b, true
}

// Includes reports whether a socket in rooms is a target of opts
// (shouldIncludePacket): opts.Rooms is empty or shares a room with rooms, and
// opts.Except shares none.
func Includes(rooms []string, opts Opts) bool {
	included := len(opts.Rooms) == 0
	for _, r := range rooms {
		if slices.Contains(opts.Except, r) {
			return false
		}
		if !included && slices.Contains(opts.Rooms, r) {
			included = true
		}
	}
	return included
}
