package server

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"sync"

	"github.com/entreactive/reactive/entreactive"
)

// Room naming lives in this file and nowhere else.
//
//	all, guests, users          the well-known rooms (see entreactive.RoomAll and friends)
//	user_{userID}               every socket of one user
//	device_{deviceID}           every socket that announced this device at handshake
//	user_{userID}_device_{id}   one user's sockets on one device
//
// User ids never contain an underscore (see validID), so user_{a}_device_{b}
// cannot be forged with a crafted user id.

const (
	userRoomPrefix   = "user_"
	deviceRoomPrefix = "device_"
	deviceInfix      = "_device_"

	// maxIDLen bounds user and device ids.
	maxIDLen = 128
	// maxRoomLen bounds room names a client may join.
	maxRoomLen = 256
)

// UserRoom returns the name of the room that holds every socket of userID.
// userID may be any integer, a string, a json.Number or any value whose fmt
// form is the id; integers print in plain decimal. It returns "" when the id
// cannot name a room (empty, too long, or with characters outside
// [A-Za-z0-9.:@+-]).
func UserRoom(userID any) string {
	id, ok := FormatID(userID)
	if !ok {
		return ""
	}
	return userRoomPrefix + id
}

// DeviceRoom returns the name of the room of every socket that announced
// deviceID at handshake, or "" when deviceID is not a valid id.
func DeviceRoom(deviceID string) string {
	if !validID(deviceID) {
		return ""
	}
	return deviceRoomPrefix + deviceID
}

// UserDeviceRoom returns the room of userID's sockets on deviceID, or "" when
// either id is not valid.
func UserDeviceRoom(userID any, deviceID string) string {
	id, ok := FormatID(userID)
	if !ok || !validID(deviceID) {
		return ""
	}
	return userRoomPrefix + id + deviceInfix + deviceID
}

// FormatID formats a user id the way room names use it: integers (of any
// size, including json.Number and integral floats) in plain decimal, strings
// as they are. It reports false for ids that cannot name a room.
func FormatID(v any) (string, bool) {
	var s string
	switch id := v.(type) {
	case nil:
		return "", false
	case string:
		s = id
	case int:
		s = strconv.FormatInt(int64(id), 10)
	case int8:
		s = strconv.FormatInt(int64(id), 10)
	case int16:
		s = strconv.FormatInt(int64(id), 10)
	case int32:
		s = strconv.FormatInt(int64(id), 10)
	case int64:
		s = strconv.FormatInt(id, 10)
	case uint:
		s = strconv.FormatUint(uint64(id), 10)
	case uint8:
		s = strconv.FormatUint(uint64(id), 10)
	case uint16:
		s = strconv.FormatUint(uint64(id), 10)
	case uint32:
		s = strconv.FormatUint(uint64(id), 10)
	case uint64:
		s = strconv.FormatUint(id, 10)
	case float32:
		return formatFloat(float64(id))
	case float64:
		return formatFloat(id)
	case json.Number:
		return formatNumber(id)
	case fmt.Stringer:
		s = id.String()
	default:
		s = fmt.Sprint(id)
	}
	if !validID(s) {
		return "", false
	}
	return s, true
}

// formatFloat accepts integral floats only, printed without exponent.
func formatFloat(f float64) (string, bool) {
	if math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) {
		return "", false
	}
	return strconv.FormatFloat(f, 'f', -1, 64), true
}

// formatNumber accepts integer JSON numbers of any size, in plain decimal.
func formatNumber(n json.Number) (string, bool) {
	s := string(n)
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || len(s) > maxIDLen {
		return "", false
	}
	for _, r := range digits {
		if r < '0' || r > '9' {
			return "", false
		}
	}
	return s, true
}

// validID reports whether s can be a user or device id: 1 to 128 characters
// from [A-Za-z0-9.:@+-]. The underscore is excluded so room names built
// from ids cannot collide.
func validID(s string) bool {
	if s == "" || len(s) > maxIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '.', c == ':', c == '@', c == '+', c == '-':
		default:
			return false
		}
	}
	return true
}

// reservedRoom reports whether room is managed by the server and never
// joinable or leavable by a client.
func reservedRoom(room string) bool {
	switch room {
	case entreactive.RoomAll, entreactive.RoomGuests, entreactive.RoomUsers:
		return true
	}
	return strings.HasPrefix(room, userRoomPrefix) || strings.HasPrefix(room, deviceRoomPrefix)
}

// validRoom reports whether a client-supplied room name is acceptable at
// all: non-empty, at most 256 bytes, printable.
func validRoom(room string) bool {
	if room == "" || len(room) > maxRoomLen {
		return false
	}
	for _, r := range room {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}

// registry is the server's own record of room membership. It replaces the
// library adapter's rooms: one mutex guards both directions, so a join that
// races a leave of the same room cannot lose the joiner (the library's
// adapter deletes a room that has just become empty while a concurrent join
// is adding to it), and a socket that is gone cannot be added back.
type registry struct {
	mu    sync.RWMutex
	rooms map[string]map[*Conn]struct{}
	conns map[*Conn]map[string]struct{}
}

func newRegistry() *registry {
	return &registry{
		rooms: make(map[string]map[*Conn]struct{}),
		conns: make(map[*Conn]map[string]struct{}),
	}
}

// add registers a connected socket with no rooms. It reports false if the
// socket is already registered.
func (r *registry) add(c *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; ok {
		return false
	}
	r.conns[c] = make(map[string]struct{})
	return true
}

// remove takes the socket out of every room and forgets it. It reports
// false if the socket was not registered (already removed).
func (r *registry) remove(c *Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	rooms, ok := r.conns[c]
	if !ok {
		return false
	}
	for room := range rooms {
		r.delLocked(c, room)
	}
	delete(r.conns, c)
	return true
}

// join adds c to rooms. A socket that is not registered joins nothing.
func (r *registry) join(c *Conn, rooms ...string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	mine, ok := r.conns[c]
	if !ok {
		return false
	}
	for _, room := range rooms {
		if room == "" {
			continue
		}
		members := r.rooms[room]
		if members == nil {
			members = make(map[*Conn]struct{})
			r.rooms[room] = members
		}
		members[c] = struct{}{}
		mine[room] = struct{}{}
	}
	return true
}

// leave removes c from rooms.
func (r *registry) leave(c *Conn, rooms ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.conns[c]; !ok {
		return
	}
	for _, room := range rooms {
		r.delLocked(c, room)
	}
}

// leaveAllBut removes c from every room except those in keep.
func (r *registry) leaveAllBut(c *Conn, keep ...string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	mine, ok := r.conns[c]
	if !ok {
		return
	}
next:
	for room := range mine {
		for _, k := range keep {
			if room == k {
				continue next
			}
		}
		r.delLocked(c, room)
	}
}

func (r *registry) delLocked(c *Conn, room string) {
	if mine, ok := r.conns[c]; ok {
		delete(mine, room)
	}
	members, ok := r.rooms[room]
	if !ok {
		return
	}
	delete(members, c)
	if len(members) == 0 {
		delete(r.rooms, room)
	}
}

// members returns the sockets in any of rooms, each once.
func (r *registry) members(rooms ...string) []*Conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	if len(rooms) == 1 {
		members := r.rooms[rooms[0]]
		out := make([]*Conn, 0, len(members))
		for c := range members {
			out = append(out, c)
		}
		return out
	}
	seen := make(map[*Conn]struct{})
	var out []*Conn
	for _, room := range rooms {
		for c := range r.rooms[room] {
			if _, dup := seen[c]; dup {
				continue
			}
			seen[c] = struct{}{}
			out = append(out, c)
		}
	}
	return out
}

// has reports whether c is in room.
func (r *registry) has(c *Conn, room string) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	_, ok := r.rooms[room][c]
	return ok
}

// roomsOf returns the rooms c is in.
func (r *registry) roomsOf(c *Conn) []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]string, 0, len(r.conns[c]))
	for room := range r.conns[c] {
		out = append(out, room)
	}
	return out
}

// size returns the number of sockets in room.
func (r *registry) size(room string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.rooms[room])
}

// count returns the number of registered sockets.
func (r *registry) count() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.conns)
}

// sizes returns every room with its size.
func (r *registry) sizes() map[string]int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make(map[string]int, len(r.rooms))
	for room, members := range r.rooms {
		out[room] = len(members)
	}
	return out
}

// all returns every registered socket.
func (r *registry) all() []*Conn {
	r.mu.RLock()
	defer r.mu.RUnlock()
	out := make([]*Conn, 0, len(r.conns))
	for c := range r.conns {
		out = append(out, c)
	}
	return out
}
