package server

import (
	"context"
	"errors"
	"log/slog"
)

func (s *Server) runHandler(h EventHandler, c *Conn, args []any) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: event handler panicked", "socket", c.id, "panic", r)
			v, err = nil, errors.New(errInternal)
		}
	}()
	return h(c.Context(), c, args)
}

func (s *Server) runMiddleware(mw Middleware, c *Conn) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("server: middleware panicked", "socket", c.id, "panic", r)
			err = errors.New(errInternal)
		}
	}()
	return mw(c.Context(), c)
}

func (s *Server) runConnectHooks(c *Conn) {
	s.hooksMu.RLock()
	hooks := s.onConnect
	s.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer s.recoverHook("connect", c)
			h(c.Context(), c)
		}()
	}
}

func (s *Server) runDisconnectHooks(ctx context.Context, c *Conn, reason string) {
	s.hooksMu.RLock()
	hooks := s.onDisconnect
	s.hooksMu.RUnlock()
	for _, h := range hooks {
		func() {
			defer s.recoverHook("disconnect", c)
			h(ctx, c, reason)
		}()
	}
}

func (s *Server) recoverHook(kind string, c *Conn) {
	if r := recover(); r != nil {
		s.log.LogAttrs(s.ctx, slog.LevelError, "server: hook panicked",
			slog.String("hook", kind), slog.String("socket", c.id), slog.Any("panic", r))
	}
}
