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
	if s.keeper != nil && c.nsp == nil && !recoverable(reason) {
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

// route handles every event a client sends on socket c, whose namespace's
// handlers are hs, in order, on the socket's own goroutine. In "/" the
// protocol's events (auth, deauth, join, leave) come first.
func (s *Server) route(hs *handlers, c *Conn, args []any) {
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
	s.eventReceived(hs.nsp, c.id, name, rest)

	if c.nsp == nil && s.protocolEvent(c, name, rest, reply) {
		return
	}
	v, err, found := hs.handle(c, name, binaryAsBytes(rest).([]any))
	switch {
	case !found:
		s.stats.unknown.Add(1)
		reply(ackFail(errUnknownEvent))
	case err != nil:
		reply(ackFail(err.Error()))
	default:
		reply(v)
	}
}

// protocolEvent handles an event of the reactive protocol on a socket of
// "/" and reports whether name is one.
func (s *Server) protocolEvent(c *Conn, name string, args []any, reply func(any)) bool {
	switch name {
	case EventAuth:
		s.handleAuth(c, firstArg(args), reply)
	case EventDeauth:
		s.handleDeauth(c, reply)
	case EventJoin:
		s.handleJoin(c, firstArg(args), reply)
	case EventLeave:
		s.handleLeave(c, firstArg(args), reply)
	default:
		return false
	}
	return true
}

func firstArg(args []any) any {
	if len(args) == 0 {
		return nil
	}
	return args[0]
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
