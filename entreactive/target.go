package entreactive

// Target says who receives an event. It is what a target function returns.
//
// The zero Target sends nothing, and so does one with Skip set. Rooms and
// Users add up: a socket that is in several of them receives the event once.
type Target struct {
	// Rooms are room names, e.g. "all", "users", "conversation_7".
	Rooms []string
	// Users are user ids; each one is the room of that user's sockets.
	// Integers, strings and other values whose fmt form is the id work.
	Users []any
	// Skip sends nothing, whatever else is set.
	Skip bool
	// Instance, when not nil, is sent as the event's Data instead of the row.
	Instance any
}

// Empty reports whether the target reaches nobody: it is skipped or names
// no room and no user.
func (t Target) Empty() bool {
	return t.Skip || (len(t.Rooms) == 0 && len(t.Users) == 0)
}

// Well-known rooms every server maintains.
const (
	// RoomAll holds every connected socket.
	RoomAll = "all"
	// RoomUsers holds every authenticated socket.
	RoomUsers = "users"
	// RoomGuests holds every socket that is not authenticated.
	RoomGuests = "guests"
)

// ToAll targets every connected socket, guests included.
func ToAll() Target { return Target{Rooms: []string{RoomAll}} }

// ToUsers targets every authenticated socket (the "users" room).
func ToUsers() Target { return Target{Rooms: []string{RoomUsers}} }

// ToGuests targets every socket that is not authenticated.
func ToGuests() Target { return Target{Rooms: []string{RoomGuests}} }

// ToRooms targets the given rooms.
func ToRooms(rooms ...string) Target { return Target{Rooms: rooms} }

// ToUserIDs targets the sockets of the given users.
func ToUserIDs[ID any](ids ...ID) Target {
	users := make([]any, len(ids))
	for i, id := range ids {
		users[i] = id
	}
	return Target{Users: users}
}

// Skip sends nothing.
func Skip() Target { return Target{Skip: true} }
