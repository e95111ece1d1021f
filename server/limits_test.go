package server_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// Frames whose payload sits on each websocket length boundary (125/126,
// 65,535/65,536 bytes) reach a real websocket client whole: broadcasts
// (the server's pre-encoded frames), one socket's events (Conn.Emit) and
// acknowledgements (the library's packets, which our transport frames).
func TestFramesAtLengthBoundariesReachTheClient(t *testing.T) {
	srv, url := startServer(t, server.Config{MaxPayload: 1 << 20})
	var conns = make(chan *server.Conn, 1)
	srv.OnConnect(func(_ context.Context, c *server.Conn) { conns <- c })
	if err := srv.On("echo", func(_ context.Context, _ *server.Conn, args []any) (any, error) {
		return args[0], nil
	}); err != nil {
		t.Fatal(err)
	}
	ctx := testkit.Context(t)
	got := make(chan string, 1024)
	c, err := sio.Dial(ctx, sio.Config{URL: url, OnEvent: func(name string, data []byte) {
		if name == server.EventConnected {
			return
		}
		var args []any
		if err := json.Unmarshal(data, &args); err != nil || len(args) != 2 {
			got <- "undecodable: " + string(data)
			return
		}
		s, _ := args[1].(string)
		got <- name + ":" + s
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	conn := <-conns

	// The frame's payload is the text plus a few bytes of packet around
	// it: sizes from 16 under each boundary to 2 over it cross it whatever
	// those few bytes are.
	var sizes []int
	for _, b := range []int{126, 65536} {
		for n := b - 16; n <= b+2; n++ {
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		text := strings.Repeat("x", n)
		if err := srv.EmitTo(ctx, entreactive.ToAll(), "big", text); err != nil {
			t.Fatal(err)
		}
		if err := conn.Emit("mine", text); err != nil {
			t.Fatal(err)
		}
		// The broadcast goes through the fan-out, the socket's event
		// straight to its writer: either may come first.
		want := map[string]bool{"big:" + text: true, "mine:" + text: true}
		for range 2 {
			select {
			case g := <-got:
				if !want[g] {
					t.Fatalf("text of %d bytes: got %.40q… (%d bytes)", n, g, len(g))
				}
				delete(want, g)
			case <-c.Done():
				t.Fatalf("text of %d bytes: the connection ended: %v", n, c.Err())
			case <-ctx.Done():
				t.Fatalf("text of %d bytes: nothing received", n)
			}
		}
		ack, err := c.EmitWithAck(ctx, "echo", text)
		if err != nil {
			t.Fatalf("ack of %d bytes: %v", n, err)
		}
		var back []string
		if err := json.Unmarshal(ack, &back); err != nil || len(back) != 1 || back[0] != text {
			t.Fatalf("ack of %d bytes: %.60q… %v", n, ack, err)
		}
	}
}
