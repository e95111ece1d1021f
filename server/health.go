package server

import (
	"context"
	"fmt"
	"net/http"
	"time"
)

// Pinger is implemented by a Broker that can tell whether it reaches the
// rest of the cluster (redisbroker's pings Redis). The readiness check
// calls it; a Broker without it is taken to be reachable.
type Pinger interface {
	// Ping returns an error when the broker cannot reach the cluster now.
	Ping(ctx context.Context) error
}

// readyTimeout bounds the broker's ping in a readiness check, so that a
// probe with a short timeout gets an answer rather than none.
const readyTimeout = time.Second

// LivenessHandler returns an http.Handler for a liveness probe
// (Kubernetes' livenessProbe, /healthz): 200 "ok" while the server serves,
// including while it drains; 503 once it is closed. It never asks the
// broker: a broker outage makes the node unready, not dead, and restarting
// the process would not bring Redis back.
func (s *Server) LivenessHandler() http.Handler {
	return probeHandler(func(context.Context) error {
		if s.work.isClosed() {
			return errClosedForProbe
		}
		return nil
	})
}

// ReadinessHandler returns an http.Handler for a readiness probe
// (Kubernetes' readinessProbe, /readyz): 200 "ok" while the server accepts
// new sockets and, with a Broker that implements Pinger, reaches the
// cluster; otherwise 503 with the reason ("draining", "closed", "broker:
// …"). Shutdown makes it answer 503 at once, so that a load balancer stops
// sending new sockets before the connections are closed.
func (s *Server) ReadinessHandler() http.Handler {
	return probeHandler(s.ready)
}

// ready returns why the server cannot take new sockets, or nil.
func (s *Server) ready(ctx context.Context) error {
	switch {
	case s.work.isClosed():
		return errClosedForProbe
	case s.draining.Load():
		return errDrainingForProbe
	}
	if s.cluster == nil {
		return nil
	}
	p, ok := s.cluster.broker.(Pinger)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	if err := p.Ping(ctx); err != nil {
		return fmt.Errorf("broker: %w", err)
	}
	return nil
}

// probeError is a reason a probe fails, as its body says it.
type probeError string

func (e probeError) Error() string { return string(e) }

const (
	errClosedForProbe   probeError = "closed"
	errDrainingForProbe probeError = "draining"
)

// probeHandler answers GET and HEAD with 200 "ok" when check returns nil,
// 503 and the error otherwise; never cached.
func probeHandler(check func(context.Context) error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !readOnly(w, r) {
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		if err := check(r.Context()); err != nil {
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
}

// Shutdown takes the server out of service gracefully, for a deploy: it
// drains it (see Drain), then closes it (see Close): the clients still
// connected see their transport close and reconnect, through the load
// balancer, to a node that is ready. Like Close it is safe to call more
// than once, and returns ctx.Err() when ctx ends before the server has
// closed; an ended ctx also cuts the drain short.
func (s *Server) Shutdown(ctx context.Context) error {
	s.Drain(ctx)
	return s.Close(ctx)
}

// Drain begins to take the server out of service and waits for the drain
// period, without closing the server:
//
//   - at once, ReadinessHandler answers 503 and new clients are refused
//     (503 on their first request; they retry, through the load balancer,
//     on another node), while connected clients go on being served:
//     events, acks, polling requests;
//   - it returns when Config.DrainPeriod has passed since the first call,
//     so that the load balancer has seen the failing probe and stopped
//     sending new clients here, or when ctx is done.
//
// Shutdown is Drain, then Close; call Drain yourself when the app has
// work of its own between the two (finishing its requests, say). There
// is no way back from draining but a new Server.
func (s *Server) Drain(ctx context.Context) {
	s.drainOnce.Do(func() {
		s.drainEnd = time.Now().Add(s.cfg.DrainPeriod)
		s.draining.Store(true)
		if !s.work.isClosed() {
			s.log.Info("server: draining: unready, refusing new clients", "period", s.cfg.DrainPeriod)
		}
	})
	if wait := time.Until(s.drainEnd); wait > 0 && !s.work.isClosed() {
		t := time.NewTimer(wait)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}
