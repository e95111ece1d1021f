package server

import (
	"context"
	"fmt"
	"strings"
)

// FetchSockets returns the sockets of every node that sel selects, this
// node's first. With a broker it fails when a node does not answer in
// time, and with ErrNoRequester when the broker is no Requester.
func (s *Server) FetchSockets(ctx context.Context, sel Selector) ([]RemoteSocket, error) {
	out := clusterNode{s}.Sockets(sel)
	if s.cluster == nil {
		return out, nil
	}
	remote, err := s.cluster.fetch(ctx, sel)
	if err != nil {
		return nil, err
	}
	return append(out, remote...), nil
}

// roomsWithPrefix returns, of a fetched socket's rooms, those that start
// with prefix, prefix removed.
func roomsWithPrefix(rooms []string, prefix string) []string {
	var out []string
	for _, r := range rooms {
		if rest, ok := strings.CutPrefix(r, prefix); ok {
			out = append(out, rest)
		}
	}
	return out
}

// ServerEventHandler handles an event another node sent with
// ServerSideEmit; what it returns answers the sender's acknowledgement.
type ServerEventHandler func(ctx context.Context, args []any) any

// OnServerEvent registers the handler of an event the other nodes send
// with ServerSideEmit (io.serverSideEmit in Node), replacing any previous
// one.
func (s *Server) OnServerEvent(event string, h ServerEventHandler) {
	s.serverEventsMu.Lock()
	defer s.serverEventsMu.Unlock()
	s.serverEvents[event] = h
}

// ServerSideEmit sends an event to the servers of the other nodes (their
// OnServerEvent handlers, or io.on(event) on a Node server). Without a
// broker there are none and it does nothing; with a broker that is no
// Requester it fails with ErrNoRequester.
func (s *Server) ServerSideEmit(ctx context.Context, event string, args ...any) error {
	if s.cluster == nil {
		return nil
	}
	if _, err := s.cluster.serverSideEmit(ctx, event, args, false); err != nil {
		return fmt.Errorf("server: server-side emit %q: %w", event, err)
	}
	return nil
}

// ServerSideEmitWithAck sends an event to the servers of the other nodes
// and returns one answer per node. It fails when a node does not answer
// in time (a Node server without a listener never answers), and with
// ErrNoRequester when the broker is no Requester. Without a broker there
// are no other nodes and it returns no answer.
func (s *Server) ServerSideEmitWithAck(ctx context.Context, event string, args ...any) ([]any, error) {
	if s.cluster == nil {
		return nil, nil
	}
	replies, err := s.cluster.serverSideEmit(ctx, event, args, true)
	if err != nil {
		return nil, fmt.Errorf("server: server-side emit %q: %w", event, err)
	}
	return replies, nil
}
