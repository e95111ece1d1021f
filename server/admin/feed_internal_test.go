package admin

import (
	"testing"

	"github.com/entreactive/reactive/server"
)

// Past maxPending waiting changes, the feed drops them and asks for a
// resync, then sends what came after, in order.
func TestFeedOverflowResyncs(t *testing.T) {
	var sent []string
	f := newFeed(func(ch server.Change) { sent = append(sent, ch.SocketID) })
	for range maxPending {
		f.push(server.Change{Kind: server.RoomJoined, SocketID: "old"})
	}
	f.push(server.Change{Kind: server.RoomJoined, SocketID: "a"})
	f.push(server.Change{Kind: server.RoomJoined, SocketID: "b"})
	resyncs := 0
	f.drain(func() { resyncs++ })
	if resyncs != 1 || len(sent) != 2 || sent[0] != "a" || sent[1] != "b" {
		t.Fatalf("resyncs %d, sent %v; want 1 and [a b]", resyncs, sent)
	}
	sent = nil
	f.push(server.Change{Kind: server.RoomLeft, SocketID: "c"})
	f.drain(func() { resyncs++ })
	if resyncs != 1 || len(sent) != 1 {
		t.Fatalf("after a normal push: resyncs %d, sent %v", resyncs, sent)
	}
}
