package redisbroker

// The request/reply side of the broker (server.Requester): FetchSockets and
// ServerSideEmit ask every other node and wait for their answers.

import (
	"context"
	"fmt"
	"time"

	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/redisbroker/internal/wire"
)

// answer runs f on a goroutine owned by the broker and publishes what it
// returns to the private channel of requester; nothing once Close began.
func (b *Broker) answer(requester string, f func(ctx context.Context) (wire.Payload, bool)) {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.answers.Add(1)
	b.mu.Unlock()
	go func() {
		defer b.answers.Done()
		ctx, cancel := context.WithTimeout(b.ctx, b.cfg.RequestTimeout)
		defer cancel()
		p, ok := f(ctx)
		if !ok {
			return
		}
		if err := b.pub.publishResponse(ctx, requester, wire.Message{UID: b.uid, Nsp: nsp, Data: p}); err != nil {
			b.publishErrors.Add(1)
			b.cfg.Logger.Error("redisbroker: answering a request failed", "type", p.Type(), "to", requester, "err", err)
		}
	}()
}

// resolve hands an answer to the request waiting for it, if any.
func (b *Broker) resolve(requestID string, p wire.Payload) {
	b.mu.Lock()
	ch := b.requests[requestID]
	b.mu.Unlock()
	if ch == nil {
		return // late, or for another process
	}
	select {
	case ch <- p:
	default: // more answers than servers counted: the extra is dropped
	}
}

// request publishes the request build makes and collects one answer per
// other node (PUBSUB NUMSUB of the public channel, minus this one). It
// fails when they have not all answered after RequestTimeout, or when ctx
// ends first.
func (b *Broker) request(ctx context.Context, what string, build func(requestID string) wire.Payload) ([]wire.Payload, error) {
	b.mu.Lock()
	started, closed := b.started, b.closed
	b.mu.Unlock()
	if closed {
		return nil, ErrClosed
	}
	if !started {
		return nil, fmt.Errorf("redisbroker: %s: %w", what, ErrNotStarted)
	}
	deadline := time.Now().Add(b.cfg.RequestTimeout)
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	n, err := b.pub.serverCount(ctx, nsp)
	if err != nil {
		return nil, fmt.Errorf("redisbroker: %s: %w", what, err)
	}
	expected := int(n) - 1
	if expected <= 0 {
		return nil, nil
	}
	id := wire.NewID()
	ch := make(chan wire.Payload, expected)
	b.mu.Lock()
	b.requests[id] = ch
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.requests, id)
		b.mu.Unlock()
	}()
	if _, err := b.pub.publish(ctx, wire.Message{UID: b.uid, Nsp: nsp, Data: build(id)}); err != nil {
		b.publishErrors.Add(1)
		return nil, fmt.Errorf("redisbroker: %s: %w", what, err)
	}
	out := make([]wire.Payload, 0, expected)
	for len(out) < expected {
		select {
		case p := <-ch:
			out = append(out, p)
		case <-ctx.Done():
			if !time.Now().Before(deadline) {
				return nil, fmt.Errorf("redisbroker: %s: %w: only %d responses received out of %d", what, ErrRequestTimeout, len(out), expected)
			}
			return nil, fmt.Errorf("redisbroker: %s: %d responses received out of %d: %w", what, len(out), expected, ctx.Err())
		case <-b.ctx.Done():
			return nil, fmt.Errorf("redisbroker: %s: %w", what, ErrClosed)
		}
	}
	return out, nil
}

// FetchSockets implements server.Requester: a FETCH_SOCKETS request (type 7)
// answered by every other node (type 8). With no other node it returns at
// once.
func (b *Broker) FetchSockets(ctx context.Context, sel server.Selector) ([]server.RemoteSocket, error) {
	answers, err := b.request(ctx, "fetch sockets", func(id string) wire.Payload {
		return &wire.FetchSockets{Opts: wire.Opts{Rooms: sel.Rooms, Except: sel.Except}, RequestID: id}
	})
	if err != nil {
		return nil, err
	}
	var out []server.RemoteSocket
	for _, a := range answers {
		for _, s := range a.(*wire.FetchSocketsResponse).Sockets {
			out = append(out, fromSocketInfo(s))
		}
	}
	return out, nil
}

// ServerSideEmit implements server.Requester: a SERVER_SIDE_EMIT (type 9) on
// the public channel; with ack, one answer (type 10) per other node is
// awaited. A node without a handler for event does not answer, and the
// request then fails at RequestTimeout.
func (b *Broker) ServerSideEmit(ctx context.Context, event string, args []any, ack bool) ([]any, error) {
	packet := append([]any{event}, args...)
	if !ack {
		ctx, cancel := b.bound(ctx)
		defer cancel()
		_, err := b.pub.publish(ctx, wire.Message{UID: b.uid, Nsp: nsp, Data: &wire.ServerSideEmit{Packet: packet}})
		if err != nil {
			b.publishErrors.Add(1)
		}
		return nil, err
	}
	answers, err := b.request(ctx, "server-side emit "+event, func(id string) wire.Payload {
		return &wire.ServerSideEmit{RequestID: id, Packet: packet}
	})
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(answers))
	for _, a := range answers {
		out = append(out, a.(*wire.ServerSideEmitResponse).Packet)
	}
	return out, nil
}
