package entreactive

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
)

// Target says who receives an event. It is what a target function returns.
//
// The zero Target sends nothing, and so does one with Skip set. Rooms and
// Users add up: a socket that is in several of them receives the event once.
type Target struct {
	// Rooms are room names, e.g. "all", "users", "conversation_7".
	Rooms []string
	// Users are user ids; each one is the room of that user's sockets.
	// An id is an integer, a non-empty string, a UUID-like fmt.Stringer
	// (such as github.com/google/uuid.UUID; its String must have no spaces
	// or control characters), or a pointer to one of them, which is
	// followed: a nil id or nil pointer targets nobody, so the *int of an
	// optional Nillable field can be passed as it is. Any other id is left
	// out and reported as a Failure; the event still reaches the others.
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

// ToUserIDs targets the sockets of the given users. The ids may be
// pointers, such as the *int ent generates for an optional Nillable field:
// a nil one reaches nobody. See Target.Users for the ids that work.
func ToUserIDs[ID any](ids ...ID) Target {
	users := make([]any, len(ids))
	for i, id := range ids {
		users[i] = id
	}
	return Target{Users: users}
}

// Skip sends nothing.
func Skip() Target { return Target{Skip: true} }

// withUserIDs returns t with its user ids resolved: pointers followed, nil
// ids left out, and UUID-like fmt.Stringers turned into their string. Ids
// that cannot name a user are left out and returned as an error. Plain
// integers and strings, the usual case, cost nothing.
func (t Target) withUserIDs() (Target, error) {
	for i, u := range t.Users {
		if plainUserID(u) {
			continue
		}
		users := make([]any, i, len(t.Users))
		copy(users, t.Users[:i])
		var errs []error
		for _, u := range t.Users[i:] {
			id, err := userID(u)
			switch {
			case err != nil:
				errs = append(errs, err)
			case id != nil:
				users = append(users, id)
			}
		}
		t.Users = users
		return t, errors.Join(errs...)
	}
	return t, nil
}

// plainUserID reports whether u is an id that needs no resolving.
func plainUserID(u any) bool {
	switch u := u.(type) {
	case int, int64, int32, uint, uint64, uint32:
		return true
	case string:
		return u != ""
	}
	return false
}

// UserID resolves one user id as targets do: it returns the id to target
// (an integer, a string, or a UUID-like fmt.Stringer's string), nil for
// nobody (a nil id or nil pointer), or an error when u cannot name a user.
// Pointers are followed. Emitters that take user ids outside a Target use
// it to agree with the hook.
func UserID(u any) (any, error) { return userID(u) }

// userID resolves one user id (see UserID). Types beyond the built-in ones
// (named integers, pointers, UUIDs) are told apart with reflect: a target
// function may return any type, and only the value tells what it holds.
func userID(u any) (any, error) {
	if u == nil {
		return nil, nil
	}
	if plainUserID(u) {
		return u, nil
	}
	v := reflect.ValueOf(u)
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return nil, nil
		}
		return userID(v.Elem().Interface())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return v.Int(), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return v.Uint(), nil
	case reflect.String:
		if v.String() == "" {
			return nil, errors.New("entreactive: user id is an empty string")
		}
		return v.String(), nil
	}
	if s, ok := u.(fmt.Stringer); ok {
		id := s.String()
		if id == "" || strings.ContainsFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return nil, fmt.Errorf("entreactive: user id %q (%T) is not an id", id, u)
		}
		return id, nil
	}
	return nil, fmt.Errorf("entreactive: user id %v (%T) is not an integer, a string or a UUID-like fmt.Stringer", u, u)
}
