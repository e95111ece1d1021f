package admin

import (
	"context"
	"errors"

	"github.com/entreactive/reactive/server"
)

// errReadOnly answers actions of a read-only admin.
var errReadOnly = errors.New("read-only")

// errArguments answers actions with arguments of the wrong types.
var errArguments = errors.New("invalid arguments")

// action wraps the handler of a UI action: refused when read-only, and
// logged. The UI asks for no ack and shows no error (@socket.io/admin-ui
// 0.5 emits actions without a callback and listens for no error event):
// a refused action, such as joining a room the server manages, is logged
// at warn level and counted in Stats.ActionsRefused. A client that asks
// for an ack gets {success:true, count:n} or {success:false, error:...}.
func (a *Admin) action(name string, h server.EventHandler) server.EventHandler {
	return func(ctx context.Context, s *server.Conn, args []any) (any, error) {
		if a.cfg.ReadOnly {
			a.counts.actionsRefused.Add(1)
			a.log.Warn("admin: action refused, read-only", "action", name, "socket", s.ID())
			return nil, errReadOnly
		}
		v, err := h(ctx, s, args)
		if err != nil {
			a.counts.actionsRefused.Add(1)
			a.log.Warn("admin: action refused", "action", name, "args", args, "err", err)
			return nil, err
		}
		a.log.Info("admin: action", "action", name, "args", args, "result", v)
		return v, nil
	}
}

// disconnect is "_disconnect"(nsp, close, filter?).
func (a *Admin) disconnect(ctx context.Context, _ *server.Conn, args []any) (any, error) {
	nsp, ok1 := arg[string](args, 0)
	closeConn, ok2 := arg[bool](args, 1)
	filter, ok3 := optionalArg(args, 2)
	if !ok1 || !ok2 || !ok3 {
		return nil, errArguments
	}
	n, err := a.srv.Operator().DisconnectSockets(ctx, nsp, filter, closeConn)
	return done(n, err)
}

// join is "join"(nsp, room, filter?).
func (a *Admin) join(ctx context.Context, _ *server.Conn, args []any) (any, error) {
	nsp, room, filter, ok := roomArgs(args)
	if !ok {
		return nil, errArguments
	}
	n, err := a.srv.Operator().JoinSockets(ctx, nsp, filter, room)
	return done(n, err)
}

// leave is "leave"(nsp, room, filter?).
func (a *Admin) leave(ctx context.Context, _ *server.Conn, args []any) (any, error) {
	nsp, room, filter, ok := roomArgs(args)
	if !ok {
		return nil, errArguments
	}
	n, err := a.srv.Operator().LeaveSockets(ctx, nsp, filter, room)
	return done(n, err)
}

// emit is "emit"(nsp, filter?, event, ...args).
func (a *Admin) emit(ctx context.Context, _ *server.Conn, args []any) (any, error) {
	nsp, ok1 := arg[string](args, 0)
	filter, ok2 := optionalArg(args, 1)
	event, ok3 := arg[string](args, 2)
	if !ok1 || !ok2 || !ok3 || event == "" {
		return nil, errArguments
	}
	if err := a.srv.Operator().EmitToSockets(ctx, nsp, filter, event, args[3:]...); err != nil {
		return nil, err
	}
	return map[string]any{"success": true}, nil
}

func roomArgs(args []any) (nsp, room, filter string, ok bool) {
	nsp, ok1 := arg[string](args, 0)
	room, ok2 := arg[string](args, 1)
	filter, ok3 := optionalArg(args, 2)
	return nsp, room, filter, ok1 && ok2 && ok3
}

// arg returns args[i] as a T.
func arg[T any](args []any, i int) (T, bool) {
	var zero T
	if i >= len(args) {
		return zero, false
	}
	v, ok := args[i].(T)
	return v, ok
}

// optionalArg returns args[i] as a string; missing or null is "".
func optionalArg(args []any, i int) (string, bool) {
	if i >= len(args) || args[i] == nil {
		return "", true
	}
	v, ok := args[i].(string)
	return v, ok
}

func done(n int, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	return map[string]any{"success": true, "count": n}, nil
}
