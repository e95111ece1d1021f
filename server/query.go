package server

import (
	"context"
	"fmt"
	"strings"

	"github.com/entreactive/reactive/entreactive"
)

// IsUserOnline reports whether a user has a socket on any node.
func (s *Server) IsUserOnline(ctx context.Context, userID any) (bool, error) {
	room := UserRoom(userID)
	if room == "" {
		return false, fmt.Errorf("%w: user %v", ErrInvalidID, userID)
	}
	n, err := s.RoomSize(ctx, room)
	return n > 0, err
}

// IsDeviceOnline reports whether a socket on any node announced deviceID.
func (s *Server) IsDeviceOnline(ctx context.Context, deviceID string) (bool, error) {
	room := DeviceRoom(deviceID)
	if room == "" {
		return false, fmt.Errorf("%w: device %q", ErrInvalidID, deviceID)
	}
	n, err := s.RoomSize(ctx, room)
	return n > 0, err
}

// RoomSize returns the number of sockets in room, on every node.
func (s *Server) RoomSize(ctx context.Context, room string) (int, error) {
	if room == "" {
		return 0, nil
	}
	n := s.reg.size(room)
	if s.cluster == nil {
		return n, nil
	}
	remote, err := s.cluster.fetch(ctx, Selector{Rooms: []string{room}})
	return n + len(remote), err
}

// ConnectionCount returns the number of connected sockets, on every node.
func (s *Server) ConnectionCount(ctx context.Context) (int, error) {
	n := s.reg.count()
	if s.cluster == nil {
		return n, nil
	}
	remote, err := s.cluster.fetch(ctx, Selector{})
	return n + len(remote), err
}

// UserCount returns the number of distinct users with a socket on any
// node.
func (s *Server) UserCount(ctx context.Context) (int, error) {
	users := s.localUsers()
	if s.cluster != nil {
		remote, err := s.cluster.fetch(ctx, Selector{Rooms: []string{entreactive.RoomUsers}})
		if err != nil {
			return 0, err
		}
		for _, r := range remote {
			for _, id := range roomsWithPrefix(r.Rooms, userRoomPrefix) {
				if !strings.Contains(id, deviceInfix) {
					users[id] = struct{}{}
				}
			}
		}
	}
	return len(users), nil
}

// localUsers returns the ids of this node's authenticated users.
func (s *Server) localUsers() map[string]struct{} {
	users := make(map[string]struct{})
	for _, c := range s.reg.members(entreactive.RoomUsers) {
		if u, ok := c.User(); ok {
			users[u.ID] = struct{}{}
		}
	}
	return users
}

// UserDevices returns the distinct device ids of a user's sockets, on
// every node.
func (s *Server) UserDevices(ctx context.Context, userID any) ([]string, error) {
	room := UserRoom(userID)
	if room == "" {
		return nil, fmt.Errorf("%w: user %v", ErrInvalidID, userID)
	}
	seen := make(map[string]struct{})
	var out []string
	add := func(d string) {
		if _, dup := seen[d]; d != "" && !dup {
			seen[d] = struct{}{}
			out = append(out, d)
		}
	}
	for _, c := range s.reg.members(room) {
		add(c.deviceID)
	}
	if s.cluster != nil {
		remote, err := s.cluster.fetch(ctx, Selector{Rooms: []string{room}})
		if err != nil {
			return nil, err
		}
		for _, r := range remote {
			for _, d := range roomsWithPrefix(r.Rooms, deviceRoomPrefix) {
				add(d)
			}
		}
	}
	return out, nil
}
