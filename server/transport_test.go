package server_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"net"

	"github.com/gorilla/websocket"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

func TestGarbagePostClosesThePollingSession(t *testing.T) {
	_, url := startServer(t, server.Config{})
	p := dialPolling(t, url)
	if status, body := p.post("abc"); status != http.StatusBadRequest {
		t.Fatalf("POST abc: %d %q, want 400", status, body)
	}
	requireSessionClosed(t, p.url, "after garbage")
}

// requireSessionClosed fails t unless the polling session at url is
// closed: a poll gets 400 "Session ID unknown", or, when it reaches the
// session while it is closing, the close packet (a noop may come first),
// and the next poll the 400.
func requireSessionClosed(t *testing.T, url, after string) {
	t.Helper()
	client := &http.Client{Timeout: wait}
	for i := 0; ; i++ {
		resp, err := client.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		answer, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusBadRequest && strings.Contains(string(answer), "Session ID unknown") {
			return
		}
		closing := resp.StatusCode == http.StatusOK && (string(answer) == "1" || strings.HasSuffix(string(answer), "\x1e1"))
		if i > 0 || !closing {
			t.Fatalf("poll %s: %s %q, want 400 (session closed)", after, resp.Status, answer)
		}
	}
}

// TestEmptyPostClosesThePollingSession: an empty payload is no packet;
// Engine.IO's decodePayload makes it an error packet and the session
// closes, as for any payload that does not decode.
func TestEmptyPostClosesThePollingSession(t *testing.T) {
	_, url := startServer(t, server.Config{})
	for _, body := range []string{"", "40\x1e", "6\x1e\x1e6"} {
		p := dialPolling(t, url)
		if status, answer := p.post(body); status != http.StatusBadRequest {
			t.Fatalf("POST %q: %d %q, want 400", body, status, answer)
		}
		requireSessionClosed(t, p.url, fmt.Sprintf("after POST %q", body))
	}
}

func TestValidPostsStillWork(t *testing.T) {
	_, url := startServer(t, server.Config{})
	p := dialPolling(t, url)
	// Two packets in one payload: a ping-less noop and a join with an ack.
	if status, body := p.post("6\x1e421[\"join\",\"room\"]"); status != http.StatusOK || body != "ok" {
		t.Fatalf("POST: %d %q", status, body)
	}
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		if got := httpDo(t, http.MethodGet, p.url, ""); strings.Contains(got, `431[{"error":"forbidden","success":false}]`) {
			return
		}
	}
	t.Fatal("no ack for the join")
}

// upgrade opens a websocket for the polling session sid and completes the
// upgrade (probe, then upgrade packet).
func upgrade(t *testing.T, baseURL, sid string) *websocket.Conn {
	t.Helper()
	ws := dialSid(t, baseURL, sid)
	if ws == nil {
		t.Fatal("upgrade refused")
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("2probe")); err != nil {
		t.Fatal(err)
	}
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, b, err := ws.ReadMessage(); err != nil || string(b) != "3probe" {
		t.Fatalf("probe answer %q %v", b, err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("5")); err != nil {
		t.Fatal(err)
	}
	return ws
}

func dialSid(t *testing.T, baseURL, sid string) *websocket.Conn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/socket.io/?EIO=4&transport=websocket&sid=" + sid
	ws, resp, err := websocket.DefaultDialer.Dial(u, nil)
	if err != nil {
		return nil
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	return ws
}

// refused reports whether the server closed ws without a message.
func refused(ws *websocket.Conn) bool {
	if ws == nil {
		return true
	}
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	_, _, err := ws.ReadMessage()
	return err != nil
}

func TestSecondUpgradeOfASessionIsRefused(t *testing.T) {
	_, url := startServer(t, server.Config{})
	for i := range 20 {
		p := dialPolling(t, url)
		sid := strings.TrimPrefix(p.url[strings.Index(p.url, "sid="):], "sid=")
		first := upgrade(t, url, sid)
		var second *websocket.Conn
		if i%2 == 0 {
			second = dialSid(t, url, sid) // right after the upgrade packet
		} else {
			time.Sleep(20 * time.Millisecond)
			second = dialSid(t, url, sid)
		}
		if !refused(second) {
			t.Fatalf("session %d: a second websocket upgrade was accepted", i)
		}
		// The first websocket carries the session on.
		if err := first.WriteMessage(websocket.TextMessage, []byte(`421["join","room"]`)); err != nil {
			t.Fatal(err)
		}
		_ = first.SetReadDeadline(time.Now().Add(wait))
		for {
			_, b, err := first.ReadMessage()
			if err != nil {
				t.Fatalf("session %d: first websocket: %v", i, err)
			}
			if strings.HasPrefix(string(b), "431") {
				break
			}
		}
	}
}

func TestBinaryArgumentsGoAsAttachments(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	srv.OnConnect(func(_ context.Context, c *server.Conn) {
		if err := c.Emit("blob", map[string]any{"data": []byte{1, 2, 3}}, "x", []any{[]byte{4}}); err != nil {
			t.Error(err)
		}
	})
	const packet = `452-["blob",{"data":{"_placeholder":true,"num":0}},"x",[{"_placeholder":true,"num":1}]]`

	t.Run("websocket", func(t *testing.T) {
		r := dialRaw(t, url)
		r.readUntil(`452-`) // read checks the text
		var got [][]byte
		for len(got) < 2 {
			mt, b, err := r.ws.ReadMessage()
			if err != nil {
				t.Fatal(err)
			}
			if mt != websocket.BinaryMessage {
				t.Fatalf("attachment %d: a text frame %q", len(got), b)
			}
			got = append(got, b)
		}
		if string(got[0]) != "\x01\x02\x03" || string(got[1]) != "\x04" {
			t.Fatalf("attachments %v", got)
		}
	})
	t.Run("websocket packet", func(t *testing.T) {
		r := dialRaw(t, url)
		if s := r.readUntil(`452-`); s != packet {
			t.Fatalf("packet %q, want %q", s, packet)
		}
	})
	t.Run("polling", func(t *testing.T) {
		open := httpDo(t, http.MethodGet, url+"/socket.io/?EIO=4&transport=polling", "")
		_, rest, _ := strings.Cut(open, `"sid":"`)
		sid, _, _ := strings.Cut(rest, `"`)
		p := &pollingConn{t: t, url: url + "/socket.io/?EIO=4&transport=polling&sid=" + sid}
		defer p.post("1")
		if status, _ := p.post("40"); status != http.StatusOK {
			t.Fatalf("connect: %d", status)
		}
		// Packets may come over several polls: join them as one payload.
		var body string
		for i := 0; i < 5 && !strings.Contains(body, "\x1ebBA=="); i++ {
			if body != "" {
				body += "\x1e"
			}
			body += httpDo(t, http.MethodGet, p.url, "")
		}
		if !strings.Contains(body, packet+"\x1ebAQID\x1ebBA==") {
			t.Fatalf("payload %q", body)
		}
	})
	if err := srv.EmitTo(context.Background(), entreactive.ToAll(), "blob", []byte("x")); err != nil {
		t.Fatalf("EmitTo(ToAll) with []byte: %v", err)
	}
}

// dialStalled connects a raw client with a small receive buffer, which
// keeps the kernel from absorbing megabytes on its behalf once the test
// stops reading from it.
func dialStalled(t *testing.T, url string) *rawConn {
	t.Helper()
	return dialRawWith(t, url, &websocket.Dialer{NetDial: func(network, addr string) (net.Conn, error) {
		c, err := net.Dial(network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4 << 10)
		}
		return c, err
	}})
}

func TestSlowConsumerIsDisconnectedAndOthersKeepUp(t *testing.T) {
	const limit = 256 << 10
	srv, url := startServer(t, server.Config{MaxPendingBytes: limit})
	reasons := make(chan string, 4)
	srv.OnDisconnect(func(_ context.Context, _ *server.Conn, reason string) { reasons <- reason })

	// Connected, then never reads again.
	stalled := dialStalled(t, url)
	healthy := dialRaw(t, url)
	testkit.Eventually(t, "two sockets", func() bool { return testkit.Connections(t, srv) == 2 })

	const events, size = 400, 16 << 10 // 6.4 MiB: past the kernel's send buffer (4 MiB) and the limit
	payload := strings.Repeat("x", size)
	got := make(chan int, 1)
	go func() {
		n := 0
		_ = healthy.ws.SetReadDeadline(time.Now().Add(wait))
		for n < events {
			_, b, err := healthy.ws.ReadMessage()
			if err != nil {
				t.Logf("healthy client: %v", err)
				break
			}
			if strings.HasPrefix(string(b), `42["big"`) {
				n++
			}
		}
		got <- n
	}()

	// A delivery path that waits for the stalled client fails here within
	// a second, not at the test binary's timeout.
	var progress atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range events {
			for {
				err := srv.EmitTo(context.Background(), entreactive.ToAll(), "big", payload)
				if err == nil {
					break
				}
				if !errors.Is(err, server.ErrQueueFull) {
					t.Error(err)
					return
				}
				time.Sleep(time.Millisecond) // let the queue drain
			}
			progress.Store(int64(i + 1))
			time.Sleep(2 * time.Millisecond) // paced: the healthy client keeps up
		}
	}()
	last, lastChange := int64(0), time.Now()
	for running := true; running; {
		select {
		case <-done:
			running = false
		case <-time.After(50 * time.Millisecond):
			if p := progress.Load(); p != last {
				last, lastChange = p, time.Now()
			} else if time.Since(lastChange) > time.Second {
				t.Fatalf("emits blocked for a second after %d events", p)
			}
		}
	}

	if n := <-got; n != events {
		t.Fatalf("the healthy client received %d of %d events", n, events)
	}
	select {
	case r := <-reasons:
		if r != server.ReasonSlowConsumer {
			t.Fatalf("disconnect reason %q, want %q", r, server.ReasonSlowConsumer)
		}
	case <-time.After(wait):
		t.Fatal("the stalled client was never disconnected")
	}
	if st := srv.Stats(); st.SlowConsumers != 1 || st.Connections != 1 {
		t.Fatalf("stats: slow consumers %d, connections %d", st.SlowConsumers, st.Connections)
	}
	_ = stalled
}

// A namespace's events go through the connection's writer too: a client
// that stops reading is closed as a slow consumer, and its socket of the
// namespace is told why.
func TestNamespaceSlowConsumerIsDisconnected(t *testing.T) {
	srv, url := startServer(t, server.Config{MaxPendingBytes: 256 << 10})
	feed, err := srv.Namespace("/feed")
	if err != nil {
		t.Fatal(err)
	}
	reasons := make(chan string, 4)
	feed.OnDisconnect(func(_ context.Context, _ *server.Conn, reason string) { reasons <- reason })
	stalled := dialStalled(t, url)
	stalled.write("40/feed,")
	if conn := stalled.readUntil("40/feed,"); !strings.HasPrefix(conn, "40/feed,{") {
		t.Fatalf("connect packet = %q", conn)
	}
	testkit.Eventually(t, "a socket in /feed", func() bool { return len(feed.Sockets()) == 1 })

	payload := strings.Repeat("x", 16<<10) // 400 of them: 6.4 MiB, past the kernel's buffers and the limit
	for i := 0; i < 400 && len(feed.Sockets()) == 1; i++ {
		if err := feed.Emit("big", payload); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case r := <-reasons:
		if r != server.ReasonSlowConsumer {
			t.Fatalf("disconnect reason %q, want %q", r, server.ReasonSlowConsumer)
		}
	case <-time.After(wait):
		t.Fatal("the stalled client was never disconnected")
	}
	if st := srv.Stats(); st.SlowConsumers != 1 {
		t.Fatalf("slow consumers %d, want 1", st.SlowConsumers)
	}
}

func TestBinaryFromClientsIsBytesAndEchoes(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	got := make(chan any, 1)
	if err := srv.On("echo", func(_ context.Context, c *server.Conn, args []any) (any, error) {
		got <- args[0]
		return nil, c.Emit("echo-back", args...)
	}); err != nil {
		t.Fatal(err)
	}
	r := dialRaw(t, url)
	r.write(`451-["echo",{"_placeholder":true,"num":0}]`)
	if err := r.ws.WriteMessage(websocket.BinaryMessage, []byte{7, 8}); err != nil {
		t.Fatal(err)
	}
	select {
	case v := <-got:
		if b, ok := v.([]byte); !ok || string(b) != "\x07\x08" {
			t.Fatalf("handler argument %T %v, want []byte{7, 8}", v, v)
		}
	case <-time.After(wait):
		t.Fatal("handler not called")
	}
	if s := r.readUntil(`451-`); s != `451-["echo-back",{"_placeholder":true,"num":0}]` {
		t.Fatalf("echo %q", s)
	}
	if mt, b, err := r.ws.ReadMessage(); err != nil || mt != websocket.BinaryMessage || string(b) != "\x07\x08" {
		t.Fatalf("attachment %v %q %v", mt, b, err)
	}
}

// A polling client that stops polling is a slow consumer too: once more
// than MaxPendingBytes wait for it, it is closed with that reason and
// counted, and the others go on.
func TestPollingSlowConsumerIsClosed(t *testing.T) {
	srv, url := startServer(t, server.Config{MaxPendingBytes: 64 << 10})
	reasons := make(chan string, 1)
	srv.OnDisconnect(func(ctx context.Context, c *server.Conn, reason string) { reasons <- reason })
	testkit.PollingGuest(t, url) // connects, then never polls again
	testkit.Eventually(t, "the guest connected", func() bool { return testkit.RoomSize(t, srv, "guests") == 1 })

	ctx := testkit.Context(t)
	big := strings.Repeat("x", 8<<10)
	for i := 0; i < 20 && testkit.Connections(t, srv) > 0; i++ {
		if err := srv.EmitTo(ctx, entreactive.ToGuests(), "big", big); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "delivered", func() bool { return srv.Stats().QueueDepth == 0 })
	}
	select {
	case r := <-reasons:
		if r != server.ReasonSlowConsumer {
			t.Fatalf("disconnect reason %q, want %q", r, server.ReasonSlowConsumer)
		}
	case <-ctx.Done():
		t.Fatal("the polling client that stopped polling was never closed")
	}
	if n := srv.Stats().SlowConsumers; n != 1 {
		t.Fatalf("SlowConsumers = %d", n)
	}
}

// The heartbeat keeps its rhythm: a client that answers at once gets a ping
// every PingInterval, not every PingInterval plus the time a pong is held
// back (see the test above). The official socket.io suite's heartbeat test
// needs three pings of a 300 ms interval within its 1 s connect timeout.
//
// The library starts the next interval when it handles the pong, so what a
// busy client adds before answering is not the server's: each interval is
// timed from the pong written to the next ping read, and the shortest of
// seven is taken, so that one round the scheduler left alone decides.
func TestPingsKeepTheirInterval(t *testing.T) {
	const interval = 300 * time.Millisecond
	_, url := startServer(t, server.Config{PingInterval: interval, PingTimeout: 200 * time.Millisecond})
	ws, _, err := websocket.DefaultDialer.DialContext(testkit.Context(t), "ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	var answered time.Time
	shortest := time.Duration(1<<63 - 1)
	for rounds := 0; rounds < 8; {
		_ = ws.SetReadDeadline(time.Now().Add(testkit.Wait))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("after %d pings: %v", rounds, err)
		}
		if string(msg) != "2" {
			continue
		}
		if rounds > 0 {
			shortest = min(shortest, time.Since(answered))
		}
		rounds++
		answered = time.Now()
		if err := ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
			t.Fatal(err)
		}
	}
	// A pong held 50 ms made every interval 350 ms.
	if shortest > interval*11/10 {
		t.Fatalf("the shortest of seven intervals from pong to ping was %v, want %v", shortest, interval)
	}
}

// A client that answers every ping at once is never dropped for a ping
// timeout. (The library sends a ping, then arms the pong timer; a pong
// handled in between used to leave the new timer armed, and the
// connection closed "ping timeout" a PingTimeout later — about one ping in
// twenty on a loopback client.)
func TestQuickPongsKeepTheConnection(t *testing.T) {
	// PingTimeout must stay below PingInterval: a later ping re-arms the
	// timer and would hide the bug. 70 ms leaves a busy client time to answer.
	srv, url := startServer(t, server.Config{PingInterval: 80 * time.Millisecond, PingTimeout: 70 * time.Millisecond})
	reasons := make(chan string, 1)
	srv.OnDisconnect(func(ctx context.Context, c *server.Conn, reason string) { reasons <- reason })
	ws, _, err := websocket.DefaultDialer.DialContext(testkit.Context(t), "ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if _, open, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open: %q, %v", open, err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	const pings = 80
	for n := 0; n < pings; {
		_ = ws.SetReadDeadline(time.Now().Add(testkit.Wait))
		_, msg, err := ws.ReadMessage()
		if err != nil {
			select {
			case r := <-reasons:
				t.Fatalf("dropped after %d answered pings: %s", n, r)
			default:
				t.Fatalf("after %d answered pings: %v", n, err)
			}
		}
		if string(msg) == "2" {
			if err := ws.WriteMessage(websocket.TextMessage, []byte("3")); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
}
