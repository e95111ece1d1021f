package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/entreactive/reactive/entreactive"
)

var (
	_ entreactive.Emitter         = (*Server)(nil)
	_ entreactive.FailureReporter = (*Server)(nil)
)

// Emit implements entreactive.Emitter: it encodes ev once and queues it for
// the sockets in the target's rooms and users' rooms; a socket in several of
// them receives it once. It never blocks: when the queue is full the event
// is dropped and ErrQueueFull returned. User ids that cannot name a room
// are skipped and logged.
func (s *Server) Emit(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	if to.Empty() {
		return nil
	}
	if s.work.isClosed() {
		return ErrClosed
	}
	rooms, f, err := s.encodeEvent(ctx, to, &ev)
	if err != nil {
		return err
	}
	if err := s.broadcast(ctx, job{rooms: rooms, frame: f}, &ev); err != nil {
		return err
	}
	if o := s.cfg.Observer; o != nil {
		o.EventEmitted(ev.Model, ev.Action)
	}
	return nil
}

// encodeEvent encodes ev for the rooms of to, as Emit and Publish send it:
// user ids that cannot name a room are logged and skipped, an encoding
// error is counted.
func (s *Server) encodeEvent(ctx context.Context, to entreactive.Target, ev *entreactive.Event) ([]string, *frame, error) {
	rooms, f, err := reactiveFrame(to, ev, func(u any) {
		s.log.LogAttrs(ctx, slog.LevelWarn, "server: target user id cannot name a room, skipped",
			append(eventAttrs(ev), slog.Any("user", u))...)
	})
	if err != nil {
		s.stats.encodeErrors.Add(1)
	}
	return rooms, f, err
}

// reactiveFrame encodes ev for the rooms of to; skip is called for each
// user id that cannot name a room.
func reactiveFrame(to entreactive.Target, ev *entreactive.Event, skip func(user any)) ([]string, *frame, error) {
	rooms := make([]string, 0, len(to.Rooms)+len(to.Users))
	rooms = append(rooms, to.Rooms...)
	for _, u := range to.Users {
		room := UserRoom(u)
		if room == "" {
			skip(u)
			continue
		}
		rooms = append(rooms, room)
	}
	payload, err := ev.MarshalJSON()
	if err != nil {
		return nil, nil, fmt.Errorf("server: encode %s %s %v: %w", ev.Model, ev.Action, ev.ID, err)
	}
	body := make([]byte, 0, len(payload)+len(EventReactive)+5)
	body = append(body, `["`+EventReactive+`",`...)
	body = append(body, payload...)
	body = append(body, ']')
	f := newFrame(EventReactive, body)
	if !ev.Timestamp.IsZero() {
		f.committed = ev.Timestamp.UnixNano()
	}
	return rooms, f, nil
}

// ReactiveBroadcast encodes a reactive event for the sockets of to, as
// Server.Emit does, for a process that publishes to a cluster without
// serving sockets (see package redisbroker's Emitter). It fails when no
// user id of to can name a room and to has no room, or when ev cannot be
// encoded.
func ReactiveBroadcast(to entreactive.Target, ev entreactive.Event) (*Broadcast, error) {
	var bad []any
	rooms, f, err := reactiveFrame(to, &ev, func(u any) { bad = append(bad, u) })
	if err != nil {
		return nil, err
	}
	if len(bad) > 0 && len(rooms) == 0 {
		return nil, fmt.Errorf("%w: users %v", ErrInvalidID, bad)
	}
	return f.broadcast(rooms), nil
}

// NewBroadcast encodes an event for the sockets of to, as Server.EmitTo
// does (with the same errors for ids that cannot name a user or a room),
// for a process that publishes to a cluster without serving sockets.
func NewBroadcast(to entreactive.Target, event string, args ...any) (*Broadcast, error) {
	rooms, err := targetRooms(to)
	if err != nil {
		return nil, err
	}
	f, err := encodeFrame(event, args...)
	if err != nil {
		return nil, err
	}
	return f.broadcast(rooms), nil
}

// broadcast is the cluster message of f for rooms.
func (f *frame) broadcast(rooms []string) *Broadcast {
	return &Broadcast{
		Selector:    Selector{Rooms: rooms},
		Event:       f.event,
		Packet:      f.packet,
		Attachments: f.attachments,
	}
}

// eventAttrs identify a reactive event in logs.
func eventAttrs(ev *entreactive.Event) []slog.Attr {
	return []slog.Attr{
		slog.String("model", ev.Model),
		slog.String("action", string(ev.Action)),
		slog.Any("id", ev.ID),
	}
}

// ReportFailure implements entreactive.FailureReporter: events lost after a
// commit are logged with model, action and id, and counted in
// Stats.Failures. Drops for a full queue are already logged when they
// happen and are only counted.
func (s *Server) ReportFailure(ctx context.Context, f entreactive.Failure) {
	s.stats.failures.Add(1)
	if errors.Is(f.Err, ErrQueueFull) {
		return
	}
	s.log.LogAttrs(ctx, slog.LevelError, "server: reactive event lost",
		slog.String("model", f.Model), slog.String("action", string(f.Action)),
		slog.Any("id", f.ID), slog.Any("err", f.Err))
}

// EmitTo sends event, with args, to the sockets of to, on every node: the
// sockets in its rooms and every socket of its users, each socket once.
// Build to with entreactive's ToRooms, ToUserIDs, ToAll, ToUsers and
// ToGuests; a device's sockets are a room, ToRooms(DeviceRoom(id)), and so
// are one user's sockets on one device, ToRooms(UserDeviceRoom(user, id)).
//
//	err := srv.EmitTo(ctx, entreactive.ToUserIDs(userID), "typing", convID)
//
// Args are encoded with encoding/json, once. User ids are resolved as a
// target function's are (entreactive.UserID: pointers followed, a nil one
// reaching nobody); an id that cannot name a user and an empty room name
// (DeviceRoom's answer for an invalid id) fail with an error wrapping
// ErrInvalidID, and nothing is sent. A Skip or empty Target sends nothing.
// Target.Instance is for reactive events (Emit) and is ignored here.
func (s *Server) EmitTo(ctx context.Context, to entreactive.Target, event string, args ...any) error {
	if to.Empty() {
		return nil
	}
	rooms, err := targetRooms(to)
	if err != nil {
		return err
	}
	if s.work.isClosed() {
		return ErrClosed
	}
	f, err := encodeFrame(event, args...)
	if err != nil {
		s.stats.encodeErrors.Add(1)
		return err
	}
	return s.broadcast(ctx, job{rooms: rooms, frame: f}, nil)
}

// targetRooms returns the rooms of to: its rooms, then its users' rooms.
// An empty room name or a user id that cannot name a user is an error
// wrapping ErrInvalidID; a nil user id reaches nobody.
func targetRooms(to entreactive.Target) ([]string, error) {
	rooms := make([]string, 0, len(to.Rooms)+len(to.Users))
	for _, r := range to.Rooms {
		if r == "" {
			return nil, fmt.Errorf("%w: empty room name", ErrInvalidID)
		}
		rooms = append(rooms, r)
	}
	for _, u := range to.Users {
		id, err := entreactive.UserID(u)
		if err != nil {
			return nil, fmt.Errorf("%w: user %v: %w", ErrInvalidID, u, err)
		}
		if id == nil {
			continue
		}
		room := UserRoom(id)
		if room == "" {
			return nil, fmt.Errorf("%w: user %v", ErrInvalidID, u)
		}
		rooms = append(rooms, room)
	}
	return rooms, nil
}

// broadcast delivers j to this node's sockets and publishes it to the
// other nodes, if there are any. Under recovery with a SessionStore
// broker, this node's sockets get it when the broker hands it back, in the
// history's order (see Broadcast.Echo).
func (s *Server) broadcast(ctx context.Context, j job, ev *entreactive.Event) error {
	if len(j.rooms) == 0 {
		return nil
	}
	if s.cluster != nil {
		b := j.frame.broadcast(j.rooms)
		if s.store != nil && s.cluster.publishEcho(b, j) {
			return nil
		}
		s.cluster.publish(b)
	}
	if err := s.enqueue(ctx, j, ev); err != nil {
		return err
	}
	if n := s.cfg.EmitBacklog; n > 0 {
		s.del.waitBacklog(ctx, n, MaxEmitWait)
	}
	return nil
}

// MaxEmitWait bounds how long an emit waits for the fan-out
// (Config.EmitBacklog).
const MaxEmitWait = time.Second

// JoinUser makes every socket of a user, on every node, join room.
func (s *Server) JoinUser(ctx context.Context, userID any, room string) error {
	return s.userOperation(ctx, userID, &Operation{Kind: OperationJoin, Rooms: []string{room}})
}

// LeaveUser makes every socket of a user, on every node, leave room.
func (s *Server) LeaveUser(ctx context.Context, userID any, room string) error {
	return s.userOperation(ctx, userID, &Operation{Kind: OperationLeave, Rooms: []string{room}})
}

// DisconnectUser closes every socket of a user, on every node.
func (s *Server) DisconnectUser(ctx context.Context, userID any) error {
	return s.userOperation(ctx, userID, &Operation{Kind: OperationDisconnect, Close: true})
}

// DisconnectDevice closes every socket, on every node, that announced
// deviceID.
func (s *Server) DisconnectDevice(ctx context.Context, deviceID string) error {
	room := DeviceRoom(deviceID)
	if room == "" {
		return fmt.Errorf("%w: device %q", ErrInvalidID, deviceID)
	}
	return s.operate(ctx, &Operation{Kind: OperationDisconnect, Selector: Selector{Rooms: []string{room}}, Close: true})
}

// userOperation applies op to the sockets of a user.
func (s *Server) userOperation(ctx context.Context, userID any, op *Operation) error {
	for _, room := range op.Rooms {
		if reservedRoom(room) || !validRoom(room) {
			return fmt.Errorf("%w: %q", ErrReservedRoom, room)
		}
	}
	room := UserRoom(userID)
	if room == "" {
		return fmt.Errorf("%w: user %v", ErrInvalidID, userID)
	}
	op.Selector = Selector{Rooms: []string{room}}
	return s.operate(ctx, op)
}

// operate applies op here, then on the other nodes.
func (s *Server) operate(ctx context.Context, op *Operation) error {
	if s.work.isClosed() {
		return ErrClosed
	}
	s.applyLocal(op)
	if s.cluster == nil {
		return nil
	}
	return s.cluster.apply(ctx, op)
}
