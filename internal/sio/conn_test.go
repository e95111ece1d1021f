package sio

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// fakeServer is a scripted Engine.IO endpoint: each accepted websocket is
// handed to script on its own goroutine, which the test server owns.
type fakeServer struct {
	*httptest.Server
	mu    sync.Mutex
	query string
}

func newFakeServer(t *testing.T, script func(t *testing.T, ws *websocket.Conn)) *fakeServer {
	t.Helper()
	fs := &fakeServer{}
	up := websocket.Upgrader{}
	fs.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/socket.io/" {
			http.NotFound(w, r)
			return
		}
		fs.mu.Lock()
		fs.query = r.URL.RawQuery
		fs.mu.Unlock()
		ws, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer ws.Close()
		script(t, ws)
	}))
	t.Cleanup(fs.Close)
	return fs
}

func send(t *testing.T, ws *websocket.Conn, frame string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(frame)); err != nil {
		t.Errorf("server write %q: %v", frame, err)
	}
}

func recv(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return string(b)
}

const openFrame = `0{"sid":"eio1","upgrades":[],"pingInterval":25000,"pingTimeout":20000,"maxPayload":1000000}`

// accept performs the server side of the handshake and returns the
// client's connect packet.
func accept(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	send(t, ws, openFrame)
	connect := recv(t, ws)
	send(t, ws, `40{"sid":"sock1"}`)
	return connect
}

func dial(t *testing.T, fs *fakeServer, cfg Config) *Conn {
	t.Helper()
	cfg.URL = fs.URL
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := Dial(ctx, cfg)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func TestDialHandshakeAndEvents(t *testing.T) {
	connects := make(chan string, 1)
	fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
		connects <- accept(t, ws)
		send(t, ws, `42["connected",{"socketId":"sock1"}]`)
		send(t, ws, `42/other,["ignored"]`)
		send(t, ws, `6`)
		send(t, ws, `42["reactive",{"action":"create","id":1}]`)
		recv(t, ws) // wait for the client to go
	})
	type ev struct{ name, data string }
	events := make(chan ev, 10)
	c := dial(t, fs, Config{
		Auth:    map[string]string{"token": "T"},
		OnEvent: func(name string, data []byte) { events <- ev{name, string(data)} },
	})
	if got := <-connects; got != `40{"token":"T"}` {
		t.Errorf("connect packet = %q, want 40 with the auth payload", got)
	}
	if c.EngineSID != "eio1" || c.SID != "sock1" {
		t.Errorf("sids = %q, %q", c.EngineSID, c.SID)
	}
	fs.mu.Lock()
	if fs.query != "EIO=4&transport=websocket" {
		t.Errorf("query = %q", fs.query)
	}
	fs.mu.Unlock()
	want := []ev{
		{"connected", `["connected",{"socketId":"sock1"}]`},
		{"reactive", `["reactive",{"action":"create","id":1}]`},
	}
	for _, w := range want {
		select {
		case got := <-events:
			if got != w {
				t.Errorf("event = %+v, want %+v", got, w)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("no event %q", w.name)
		}
	}
	if err := c.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := c.Err(); err != nil {
		t.Errorf("Err after Close = %v, want nil", err)
	}
	if err := c.Emit("x"); !errors.Is(err, ErrClosed) {
		t.Errorf("Emit after Close = %v, want ErrClosed", err)
	}
}

func TestConnectWithoutAuth(t *testing.T) {
	connects := make(chan string, 2)
	fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
		send(t, ws, openFrame)
		send(t, ws, "2") // a ping before the connect reply is answered
		connects <- recv(t, ws)
		connects <- recv(t, ws)
		send(t, ws, `40{"sid":"s"}`)
		recv(t, ws)
	})
	c := dial(t, fs, Config{})
	got := []string{<-connects, <-connects}
	if got[0] != "40" && got[1] != "40" {
		t.Errorf("client sent %q, want a bare 40", got)
	}
	if got[0] != "3" && got[1] != "3" {
		t.Errorf("client sent %q, want a pong", got)
	}
	c.Close()
}

func TestAckRoundTrip(t *testing.T) {
	fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
		accept(t, ws)
		for i := 0; i < 2; i++ {
			p := recv(t, ws)
			switch {
			case strings.HasPrefix(p, `420["auth",`):
				send(t, ws, `430[{"success":true}]`)
			case strings.HasPrefix(p, `421["auth",`):
				send(t, ws, `431[{"success":false,"error":"Invalid token"}]`)
			default:
				t.Errorf("unexpected %q", p)
			}
		}
		recv(t, ws)
	})
	c := dial(t, fs, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := c.EmitWithAck(ctx, "auth", "good")
	if err != nil || string(got) != `[{"success":true}]` {
		t.Fatalf("first ack = %q, %v", got, err)
	}
	got, err = c.EmitWithAck(ctx, "auth", "bad")
	if err != nil {
		t.Fatal(err)
	}
	args, err := Args(got)
	if err != nil || len(args) != 1 {
		t.Fatalf("Args(%q) = %v, %v", got, args, err)
	}
	var reply struct {
		Success bool   `json:"success"`
		Error   string `json:"error"`
	}
	if err := json.Unmarshal(args[0], &reply); err != nil || reply.Success || reply.Error != "Invalid token" {
		t.Errorf("second ack = %+v, %v", reply, err)
	}
}

func TestAckTimeoutAndServerAckRequest(t *testing.T) {
	fromClient := make(chan string, 4)
	fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
		accept(t, ws)
		fromClient <- recv(t, ws) // the emit that is never acked
		send(t, ws, `425["question"]`)
		fromClient <- recv(t, ws) // the client's empty ack
		send(t, ws, "2")
		fromClient <- recv(t, ws) // pong
		recv(t, ws)
	})
	c := dial(t, fs, Config{})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := c.EmitWithAck(ctx, "never"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("EmitWithAck err = %v, want deadline exceeded", err)
	}
	for _, want := range []string{`420["never"]`, `435[]`, `3`} {
		select {
		case got := <-fromClient:
			if got != want {
				t.Errorf("client sent %q, want %q", got, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("client did not send %q", want)
		}
	}
	c.amu.Lock()
	pending := len(c.acks)
	c.amu.Unlock()
	if pending != 0 {
		t.Errorf("%d acks still pending after timeout", pending)
	}
}

func TestConnectRefused(t *testing.T) {
	fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
		send(t, ws, openFrame)
		recv(t, ws)
		send(t, ws, `44{"message":"Invalid token"}`)
		recv(t, ws)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := Dial(ctx, Config{URL: fs.URL})
	var ce *ConnectError
	if !errors.As(err, &ce) || ce.Message != "Invalid token" {
		t.Fatalf("Dial err = %v, want ConnectError Invalid token", err)
	}
}

func TestBadOpenPacket(t *testing.T) {
	fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
		send(t, ws, `42["too early"]`)
		recv(t, ws)
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := Dial(ctx, Config{URL: fs.URL}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Dial err = %v, want ErrMalformed", err)
	}
}

func TestServerDisconnect(t *testing.T) {
	for _, frame := range []string{"41", "1"} {
		fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
			accept(t, ws)
			send(t, ws, frame)
			recv(t, ws)
		})
		c := dial(t, fs, Config{})
		select {
		case <-c.Done():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: connection still open", frame)
		}
		if err := c.Err(); !errors.Is(err, ErrServerDisconnect) {
			t.Errorf("%s: Err = %v, want ErrServerDisconnect", frame, err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		if _, err := c.EmitWithAck(ctx, "x"); !errors.Is(err, ErrClosed) {
			t.Errorf("%s: EmitWithAck after disconnect = %v, want ErrClosed", frame, err)
		}
		cancel()
	}
}

func TestMalformedFrameEndsConnection(t *testing.T) {
	fs := newFakeServer(t, func(t *testing.T, ws *websocket.Conn) {
		accept(t, ws)
		send(t, ws, `42{"not":"an array"}`)
		recv(t, ws)
	})
	c := dial(t, fs, Config{OnEvent: func(string, []byte) {}})
	select {
	case <-c.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("connection still open")
	}
	if err := c.Err(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Err = %v, want ErrMalformed", err)
	}
}

func TestSocketURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":      "ws://127.0.0.1:8080/socket.io/?EIO=4&transport=websocket",
		"https://localhost":          "wss://localhost/socket.io/?EIO=4&transport=websocket",
		"ws://127.0.0.1:1/ignored?x": "ws://127.0.0.1:1/socket.io/?EIO=4&transport=websocket",
	} {
		got, err := socketURL(in, "")
		if err != nil || got != want {
			t.Errorf("socketURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if got, _ := socketURL("http://h", "/rt"); got != "ws://h/rt/?EIO=4&transport=websocket" {
		t.Errorf("custom path: %q", got)
	}
	if _, err := socketURL("ftp://h", ""); err == nil {
		t.Error("ftp scheme accepted")
	}
}
