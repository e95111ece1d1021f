package server

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"

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
// as they are, UUID-like fmt.Stringers as their string; pointers are
// followed (see entreactive.UserID). It reports false for ids that cannot
// name a room: nil, a nil pointer, any other type.
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
	default:
		// Pointers, named integer and string types, UUID-like
		// fmt.Stringers: resolved as the hook resolves a Target's users,
		// so a *int names its user and never a room after its address.
		resolved, err := entreactive.UserID(id)
		if err != nil || resolved == nil {
			return "", false
		}
		return FormatID(resolved)
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
