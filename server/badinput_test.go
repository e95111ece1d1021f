package server_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

func TestJoinRefusals(t *testing.T) {
	allowAll := func(context.Context, server.JoinRequest) (bool, error) { return true, nil }
	srv, url := startServer(t, server.Config{Authorize: func(ctx context.Context, r server.JoinRequest) (bool, error) {
		if r.Room == "fails" {
			return false, fmt.Errorf("database down")
		}
		if r.Room == "panics" {
			panic("boom")
		}
		return allowAll(ctx, r)
	}})
	c := testkit.Dial(t, url, sioclient.Options{Auth: map[string]any{"device_id": "d1"}})
	authAs(t, c, 7)
	other := testkit.Dial(t, url, sioclient.Options{})
	authAs(t, other, 8)

	cases := []struct {
		room any
		want string
	}{
		{"users", "forbidden"},
		{"guests", "forbidden"},
		{"all", "forbidden"},
		{"user_7", "forbidden"},
		{"user_8", "forbidden"},
		{"user_8_device_d1", "forbidden"},
		{"device_x", "forbidden"},
		{"fails", "forbidden"},
		{"panics", "forbidden"},
		{"", "invalid room"},
		{strings.Repeat("r", 300), "invalid room"},
		{"bad\nroom", "invalid room"},
		{42, "invalid room"},
		{map[string]any{"room": "x"}, "invalid room"},
		{nil, "invalid room"},
	}
	for _, tc := range cases {
		t.Run(fmt.Sprint(tc.room), func(t *testing.T) {
			before := srv.Stats().Rooms
			ack, err := c.EmitAck(testkit.Context(t), "join", tc.room)
			if err != nil {
				t.Fatal(err)
			}
			if got := ackError(ack); got != tc.want {
				t.Fatalf("ack = %v, want error %q", ack, tc.want)
			}
			if after := srv.Stats().Rooms; !maps.Equal(before, after) {
				t.Fatalf("rooms changed: %v → %v", before, after)
			}
		})
	}
	// Reserved rooms cannot be left either.
	for _, room := range []string{"users", "all", "user_7", "device_d1"} {
		before := srv.Stats().Rooms
		ack, _ := c.EmitAck(testkit.Context(t), "leave", room)
		if ackError(ack) != "forbidden" {
			t.Fatalf("leave %s: ack %v", room, ack)
		}
		if after := srv.Stats().Rooms; !maps.Equal(before, after) {
			t.Fatalf("leave %s changed rooms: %v → %v", room, before, after)
		}
	}
}

func TestJoinDeniedWithoutAuthorizer(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{})
	authAs(t, c, 1)
	ack, _ := c.EmitAck(testkit.Context(t), "join", "conversation_1")
	if ackError(ack) != "forbidden" || testkit.RoomSize(t, srv, "conversation_1") != 0 {
		t.Fatalf("ack = %v", ack)
	}
}

func TestUnknownEvents(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{})
	authAs(t, c, 1)
	before := srv.Stats().Rooms
	for _, ev := range []string{"hello", "reactive", "connected", "authenticated", "__proto__", "error"} {
		ack, err := c.EmitAck(testkit.Context(t), ev, "x", 1)
		if err != nil {
			t.Fatal(err)
		}
		if ackError(ack) != "unknown event" {
			t.Fatalf("%s: ack = %v", ev, ack)
		}
		if err := c.Emit(ev, "no ack"); err != nil {
			t.Fatal(err)
		}
	}
	if after := srv.Stats().Rooms; !maps.Equal(before, after) {
		t.Fatalf("rooms changed: %v → %v", before, after)
	}
	authAs(t, c, 1) // still served
	if srv.Stats().UnknownEvents < 12 {
		t.Fatalf("UnknownEvents = %d", srv.Stats().UnknownEvents)
	}
}

func TestPayloadOverMax(t *testing.T) {
	t.Run("websocket closes the connection", func(t *testing.T) {
		srv, url := startServer(t, server.Config{MaxPayload: 64 << 10, Authorize: allowConversations})
		c := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly})
		authAs(t, c, 1)
		before := srv.Stats().Rooms
		_ = c.Emit("join", "conversation_"+strings.Repeat("9", 100<<10))
		if _, err := c.WaitDisconnect(testkit.Context(t)); err != nil {
			t.Fatal(err)
		}
		testkit.Eventually(t, "connection gone", func() bool { return testkit.Connections(t, srv) == 0 })
		if len(before) == 0 || len(srv.Stats().Rooms) != 0 {
			t.Fatalf("rooms: %v → %v", before, srv.Stats().Rooms)
		}
		testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly}) // others still welcome
	})
	t.Run("polling answers 413", func(t *testing.T) {
		srv, url := startServer(t, server.Config{MaxPayload: 64 << 10, Authorize: allowConversations})
		p := dialPolling(t, url)
		// The socket joins its rooms after the CONNECT post has returned.
		testkit.Eventually(t, "polling socket in its rooms", func() bool { return srv.Stats().Rooms["guests"] == 1 })
		before := srv.Stats().Rooms
		status, _ := p.post(`42["join","conversation_` + strings.Repeat("9", 100<<10) + `"]`)
		if status != http.StatusRequestEntityTooLarge {
			t.Fatalf("status %d", status)
		}
		if after := srv.Stats().Rooms; !maps.Equal(before, after) || testkit.Connections(t, srv) != 1 {
			t.Fatalf("rooms changed: %v → %v", before, after)
		}
	})
}

// pollingConn is a bare long-polling client.
type pollingConn struct {
	t   *testing.T
	url string
}

func dialPolling(t *testing.T, baseURL string) *pollingConn {
	t.Helper()
	body := httpDo(t, http.MethodGet, baseURL+"/socket.io/?EIO=4&transport=polling", "")
	_, rest, ok := strings.Cut(body, `"sid":"`)
	if !ok {
		t.Fatalf("handshake %q", body)
	}
	sid, _, _ := strings.Cut(rest, `"`)
	p := &pollingConn{t: t, url: baseURL + "/socket.io/?EIO=4&transport=polling&sid=" + sid}
	if status, _ := p.post("40"); status != http.StatusOK {
		t.Fatalf("connect: %d", status)
	}
	if got := httpDo(t, http.MethodGet, p.url, ""); !strings.HasPrefix(got, "40{") {
		t.Fatalf("connect reply %q", got)
	}
	t.Cleanup(func() { p.post("1") }) // Engine.IO close
	return p
}

func (p *pollingConn) post(body string) (int, string) {
	req, err := http.NewRequest(http.MethodPost, p.url, strings.NewReader(body))
	if err != nil {
		p.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func httpDo(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %s %s", method, url, resp.Status, b)
	}
	return string(b)
}

// rawConn is a bare Engine.IO/Socket.IO websocket client for packets the
// regular clients refuse to send.
type rawConn struct {
	t  *testing.T
	ws *websocket.Conn
}

func dialRaw(t *testing.T, baseURL string) *rawConn {
	t.Helper()
	return dialRawWith(t, baseURL, websocket.DefaultDialer)
}

func dialRawWith(t *testing.T, baseURL string, d *websocket.Dialer) *rawConn {
	t.Helper()
	u := "ws" + strings.TrimPrefix(baseURL, "http") + "/socket.io/?EIO=4&transport=websocket"
	ws, resp, err := d.Dial(u, http.Header{})
	if err != nil {
		t.Fatalf("raw dial: %v", err)
	}
	resp.Body.Close()
	t.Cleanup(func() { ws.Close() })
	r := &rawConn{t: t, ws: ws}
	if open := r.read(); !strings.HasPrefix(open, "0{") {
		t.Fatalf("open packet = %q", open)
	}
	r.write("40")
	if conn := r.read(); !strings.HasPrefix(conn, "40{") {
		t.Fatalf("connect packet = %q", conn)
	}
	return r
}

func (r *rawConn) write(s string) {
	r.t.Helper()
	if err := r.ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		r.t.Fatalf("raw write: %v", err)
	}
}

func (r *rawConn) read() string {
	r.t.Helper()
	_ = r.ws.SetReadDeadline(time.Now().Add(wait))
	for {
		_, b, err := r.ws.ReadMessage()
		if err != nil {
			r.t.Fatalf("raw read: %v", err)
		}
		if s := string(b); s != "2" { // answer pings, skip them
			return s
		} else {
			r.write("3")
		}
	}
}

// readUntil reads packets until one starts with prefix.
func (r *rawConn) readUntil(prefix string) string {
	r.t.Helper()
	for {
		if s := r.read(); strings.HasPrefix(s, prefix) {
			return s
		}
	}
}

func TestReservedEventNamesCloseTheConnection(t *testing.T) {
	// Socket.IO clients refuse to emit reserved names; a raw client can.
	// The library's decoder treats such a packet as a protocol violation
	// and closes the connection; the server forgets the socket once.
	for _, name := range []string{"disconnect", "disconnecting", "connect", "connect_error", "newListener"} {
		t.Run(name, func(t *testing.T) {
			var disconnects atomic.Int32
			srv, url := startServer(t, server.Config{})
			srv.OnDisconnect(func(context.Context, *server.Conn, string) { disconnects.Add(1) })
			r := dialRaw(t, url)
			r.readUntil(`42["connected"`)
			r.write(`421["auth","` + testkit.Token(t, 3) + `"]`)
			if ack := r.readUntil("431"); !strings.Contains(ack, `"success":true`) {
				t.Fatalf("auth ack %q", ack)
			}
			r.write(`42["` + name + `","forged"]`)
			testkit.Eventually(t, "socket forgotten", func() bool { return testkit.Connections(t, srv) == 0 })
			if len(srv.Stats().Rooms) != 0 || disconnects.Load() != 1 {
				t.Fatalf("rooms %v, disconnect hooks %d", srv.Stats().Rooms, disconnects.Load())
			}
		})
	}
}

func TestMalformedPackets(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	for _, pkt := range []string{
		`42`,                    // no data
		`42{"a":1}`,             // not an array
		`42[1,2]`,               // event name not a string
		`42[]`,                  // empty
		`42["auth"`,             // truncated JSON
		`4x`,                    // unknown type
		`421["auth",{"$ne":1}]`, // object token
	} {
		t.Run(pkt, func(t *testing.T) {
			r := dialRaw(t, url)
			r.readUntil(`42["connected"`)
			before := srv.Stats().Rooms
			r.write(pkt)
			// Either the packet is refused and the connection closed, or it
			// is ignored: in both cases no room changes.
			testkit.Eventually(t, "stable state", func() bool {
				after := srv.Stats().Rooms
				return after["users"] == 0 && after["guests"] <= before["guests"]
			})
			if srv.Stats().Rooms["users"] != 0 {
				t.Fatalf("rooms %v", srv.Stats().Rooms)
			}
		})
	}
	testkit.Eventually(t, "raw sockets closed", func() bool { return true })
}

func TestSecondConnectOnOneConnectionIsRefused(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	for range 10 {
		u := "ws" + strings.TrimPrefix(url, "http") + "/socket.io/?EIO=4&transport=websocket"
		ws, resp, err := websocket.DefaultDialer.Dial(u, http.Header{})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, _, err := ws.ReadMessage(); err != nil { // open packet
			t.Fatal(err)
		}
		// Two CONNECTs back to back: the second arrives while the first is
		// being admitted. The library would make two sockets of them; the
		// server reads it once the first socket is connected, and the
		// library then closes the connection.
		_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
		_ = ws.WriteMessage(websocket.TextMessage, []byte("40"))
		connects := 0
		_ = ws.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		for {
			_, b, err := ws.ReadMessage()
			if err != nil {
				break
			}
			if strings.HasPrefix(string(b), "40{") {
				connects++
			}
		}
		if connects > 1 || testkit.Connections(t, srv) > 1 {
			t.Fatalf("%d CONNECT replies, %d sockets for one connection", connects, testkit.Connections(t, srv))
		}
		ws.Close()
		testkit.Eventually(t, "socket gone", func() bool { return testkit.Connections(t, srv) == 0 })
	}
}
