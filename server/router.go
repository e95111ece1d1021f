package server

import (
	"bytes"

	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// handleDisconnect handles the library's "disconnect" event. The library
// emits it to the same listeners as client events; its decoder refuses
// client events with reserved names today, but a "disconnect" that arrives
// while the socket is still connected is not a disconnection and is
// ignored all the same.
func (s *Server) handleDisconnect(c *Conn, args []any) {
	if c.sock.Connected() {
		return
	}
	reason, _ := firstArg(args).(string)
	if s.keeper != nil && !recoverable(reason) {
		if pid := c.privateID(); pid != "" {
			s.keeper.drop(pid)
		}
	}
	if c.slow.Load() {
		reason = ReasonSlowConsumer
	}
	if t, ok := c.sock.Client().Conn().Transport().(*wsTransport); ok {
		if r := t.failureReason(); r != "" {
			reason = r // the writer closed the connection: say why
		}
	}
	c.close(reason)
}

// route handles every event a client sends, in order, on the socket's own
// goroutine.
func (s *Server) route(c *Conn, args []any) {
	if len(args) == 0 {
		return
	}
	name, _ := args[0].(string)
	rest := args[1:]
	var ack socket.Ack
	if n := len(rest); n > 0 {
		if a, ok := rest[n-1].(socket.Ack); ok {
			ack = a
			rest = rest[:n-1]
		}
	}
	reply := func(v any) {
		if ack != nil {
			ack(ackArgs(v), nil)
		}
	}
	if !s.work.enter() {
		return
	}
	defer s.work.done()
	s.stats.received.Add(1)
	s.eventReceived(RootNamespace, c.id, name, rest)

	switch name {
	case EventAuth:
		s.handleAuth(c, firstArg(rest), reply)
	case EventDeauth:
		s.handleDeauth(c, reply)
	case EventJoin:
		s.handleJoin(c, firstArg(rest), reply)
	case EventLeave:
		s.handleLeave(c, firstArg(rest), reply)
	default:
		h := s.handler(name)
		if h == nil {
			s.stats.unknown.Add(1)
			reply(ackFail(errUnknownEvent))
			return
		}
		v, err := s.runHandler(h, c, binaryAsBytes(rest).([]any))
		if err != nil {
			reply(ackFail(err.Error()))
			return
		}
		reply(v)
	}
}

func firstArg(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
}

func (s *Server) middlewareList() []Middleware {
	s.hooksMu.RLock()
	defer s.hooksMu.RUnlock()
	return s.middlewares
}

func (s *Server) handler(name string) EventHandler {
	s.hooksMu.RLock()
	defer s.hooksMu.RUnlock()
	return s.handlers[name]
}

// binaryAsBytes returns v with the library's buffers (binary attachments
// of a client's event) replaced by []byte, in nested []any and
// map[string]any too, so that handlers see plain Go values and can send
// them back as they are.
func binaryAsBytes(v any) any {
	switch x := v.(type) {
	case types.BufferInterface:
		return bytes.Clone(x.Bytes())
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = binaryAsBytes(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = binaryAsBytes(e)
		}
		return out
	}
	return v
}
