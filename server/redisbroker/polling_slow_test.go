package redisbroker

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// A polling client that stops polling is closed as a slow consumer and
// keeps its session, as a websocket one does (TestSlowConsumerRecovers)
// and as docs/recovery.md promises: it recovers what it missed on another node.
// The polling path marks the socket slow itself (the library's reason is
// its own, recoverable one); the session must be kept by that reason, not
// dropped for ReasonSlowConsumer, which the library does not recover.
func TestPollingSlowConsumerRecovers(t *testing.T) {
	cfg := testConfig(t)
	ab, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	a := testkit.Serve(t, server.Config{Broker: ab, Recovery: &server.Recovery{}, MaxPendingBytes: 64 << 10})
	bb, err := New(newRedis(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	b := testkit.Serve(t, server.Config{Broker: bb, Recovery: &server.Recovery{}, MaxPendingBytes: 64 << 20})
	ctx := testkit.Context(t)
	reasons := make(chan string, 4)
	a.Server.OnDisconnect(func(_ context.Context, _ *server.Conn, reason string) { reasons <- reason })

	// A long-polling client, by hand: handshake, CONNECT with a token,
	// its reply.
	p := &poller{t: t, ctx: ctx}
	open := p.do(http.MethodGet, a.URL+"/socket.io/?EIO=4&transport=polling", "")
	_, rest, ok := strings.Cut(open, `"sid":"`)
	engineSID, _, _ := strings.Cut(rest, `"`)
	if !strings.HasPrefix(open, "0{") || !ok || engineSID == "" {
		t.Fatalf("handshake %q", open)
	}
	p.url = a.URL + "/socket.io/?EIO=4&transport=polling&sid=" + engineSID
	connect, err := json.Marshal(map[string]any{"token": testkit.Token(t, 7)})
	if err != nil {
		t.Fatal(err)
	}
	p.do(http.MethodPost, p.url, "40"+string(connect))
	var reply struct {
		SID string `json:"sid"`
		PID string `json:"pid"`
	}
	for _, pkt := range p.poll() {
		if data, ok := strings.CutPrefix(pkt, "0"); ok { // Socket.IO CONNECT
			if err := json.Unmarshal([]byte(data), &reply); err != nil {
				t.Fatalf("CONNECT reply %q: %v", pkt, err)
			}
		}
	}
	if reply.SID == "" || reply.PID == "" {
		t.Fatalf("no CONNECT reply with a sid and a pid (recovery on): %+v", reply)
	}
	testkit.Eventually(t, "user 7 online", func() bool { return testkit.Online(t, a.Server, 7) })

	// Note 0 is polled: its offset is where the client is.
	if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(7), "note", 0); err != nil {
		t.Fatal(err)
	}
	var from string
	for from == "" {
		for _, pkt := range p.poll() {
			data, ok := strings.CutPrefix(pkt, "2") // Socket.IO EVENT
			if !ok {
				continue
			}
			var args []any
			if err := json.Unmarshal([]byte(data), &args); err != nil {
				t.Fatalf("event %q: %v", pkt, err)
			}
			if len(args) == 0 || args[0] != "note" {
				continue // the server's own events ("connected")
			}
			if len(args) != 3 || args[1] != float64(0) {
				t.Fatalf("note 0 polled as %q: want [\"note\",0,offset]", pkt)
			}
			off, _ := args[2].(string)
			if !strings.Contains(off, "-") {
				t.Fatalf("note 0 has no stream offset: %q", pkt)
			}
			from = off
		}
	}

	// The client stops polling; big notes pile up for it until the node
	// closes it as a slow consumer.
	big := strings.Repeat("x", 8<<10)
	sent := 0
	for closed := false; !closed; {
		sent++
		if err := a.Server.EmitTo(ctx, entreactive.ToUserIDs(7), "note", sent, big); err != nil {
			t.Fatal(err)
		}
		select {
		case r := <-reasons:
			if r != server.ReasonSlowConsumer {
				t.Fatalf("disconnected as %q, want %q", r, server.ReasonSlowConsumer)
			}
			closed = true
		case <-time.After(5 * time.Millisecond):
		}
		if sent > 200 {
			t.Fatal("the polling client that stopped polling was never closed as a slow consumer")
		}
	}
	if n := a.Server.Stats().SlowConsumers; n != 1 {
		t.Fatalf("SlowConsumers = %d, want 1", n)
	}

	// It comes back over a websocket, on the other node, with its pid and
	// the offset of note 0: the same socket, with notes 1..sent in order.
	var mu sync.Mutex
	var got []int
	restore := func(name string, data []byte) {
		var args []any
		if name != "note" || json.Unmarshal(data, &args) != nil || len(args) < 3 {
			return
		}
		n, _ := args[1].(float64)
		mu.Lock()
		defer mu.Unlock()
		got = append(got, int(n))
	}
	c2, err := sio.Dial(ctx, sio.Config{URL: b.URL, Auth: map[string]any{"pid": reply.PID, "offset": from}, OnEvent: restore})
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if c2.SID != reply.SID {
		t.Fatalf("the polling slow consumer's session was not restored: socket %s, was %s", c2.SID, reply.SID)
	}
	testkit.Eventually(t, "every note it missed", func() bool { mu.Lock(); defer mu.Unlock(); return len(got) >= sent })
	time.Sleep(50 * time.Millisecond) // room for a note replayed twice
	mu.Lock()
	defer mu.Unlock()
	if len(got) != sent {
		t.Fatalf("after the restore, %d notes, want %d: %v", len(got), sent, got)
	}
	for i, n := range got {
		if n != i+1 {
			t.Fatalf("after the restore, note %d is %d: %v", i+1, n, got)
		}
	}
}

// poller is a bare Engine.IO long-polling client.
type poller struct {
	t   *testing.T
	ctx context.Context
	url string
}

// do sends one request and returns its body, failing the test unless it
// is 200 OK.
func (p *poller) do(method, url, body string) string {
	p.t.Helper()
	req, err := http.NewRequestWithContext(p.ctx, method, url, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	if method == http.MethodPost {
		req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		p.t.Fatalf("%s %s: %s %q", method, url, resp.Status, b)
	}
	return string(b)
}

// poll GETs once and returns the Socket.IO packets of the payload's
// Engine.IO messages ("4…", without that type), answering a ping with a
// pong.
func (p *poller) poll() []string {
	p.t.Helper()
	var out []string
	for _, pkt := range strings.Split(p.do(http.MethodGet, p.url, ""), "\x1e") {
		switch {
		case pkt == "2":
			p.do(http.MethodPost, p.url, "3")
		case strings.HasPrefix(pkt, "4"):
			out = append(out, pkt[1:])
		}
	}
	return out
}
