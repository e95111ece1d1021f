package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// chatNamespace makes "/chat" on srv: its middleware refuses the name
// "eve" and keeps the others, "echo" acks its argument, "join" joins the
// room it names, "blob" sends the socket binary data, "size" acks the
// length of the binary data it gets, and disconnections are sent on the
// returned channel.
func chatNamespace(t *testing.T, srv *server.Server) (*server.Namespace, <-chan string) {
	t.Helper()
	chat, err := srv.Namespace("/chat")
	if err != nil {
		t.Fatal(err)
	}
	chat.Use(func(ctx context.Context, s *server.Conn) error {
		if s.Handshake().Auth["name"] == "eve" {
			return errors.New("not you")
		}
		return nil
	})
	if err := chat.On("echo", func(ctx context.Context, s *server.Conn, args []any) (any, error) {
		return args[0], nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := chat.On("join", func(ctx context.Context, s *server.Conn, args []any) (any, error) {
		room, _ := args[0].(string)
		s.Join(room)
		return "ok", nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := chat.On("blob", func(ctx context.Context, s *server.Conn, args []any) (any, error) {
		return "sent", s.Emit("blob", []byte{1, 2, 255})
	}); err != nil {
		t.Fatal(err)
	}
	if err := chat.On("size", func(ctx context.Context, s *server.Conn, args []any) (any, error) {
		b, ok := args[0].([]byte)
		if !ok {
			return nil, fmt.Errorf("got %T, want []byte", args[0])
		}
		return len(b), nil
	}); err != nil {
		t.Fatal(err)
	}
	gone := make(chan string, 16)
	chat.OnDisconnect(func(ctx context.Context, s *server.Conn, reason string) { gone <- s.ID() })
	chat.OnConnect(func(ctx context.Context, s *server.Conn) {
		_ = s.Emit("welcome", s.ID())
	})
	return chat, gone
}

func dialNamespace(t *testing.T, url, nsp string, auth map[string]any) *sioclient.Client {
	t.Helper()
	c, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Namespace: nsp, Auth: auth})
	if err != nil {
		t.Fatalf("dial %s: %v", nsp, err)
	}
	t.Cleanup(c.Close)
	return c
}

func TestNamespaceConnectEventsRoomsDisconnect(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	chat, gone := chatNamespace(t, srv)

	a := dialNamespace(t, url, "/chat", map[string]any{"name": "ada"})
	b := dialNamespace(t, url, "/chat", map[string]any{"name": "bob"})
	// A socket is in its namespace once its OnConnect hooks have run
	// (welcome): its client may have read the CONNECT reply before.
	for _, c := range []*sioclient.Client{a, b} {
		if err := c.WaitCount(testkit.Context(t), "welcome", 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := a.Events("welcome")[0][0]; got != a.ID() {
		t.Errorf("welcome = %v, want the socket's id %s", got, a.ID())
	}
	ack, err := a.EmitAck(testkit.Context(t), "echo", "hello")
	if err != nil || len(ack) != 1 || ack[0] != "hello" {
		t.Fatalf("echo ack = %v, %v", ack, err)
	}
	// A client's binary data reaches a namespace's handler as []byte, as
	// it reaches one of "/".
	ack, err = a.EmitAck(testkit.Context(t), "size", []byte{1, 2, 3})
	if err != nil || jsonOf(t, ack) != `[3]` {
		t.Fatalf("size ack = %v, %v, want [3]", ack, err)
	}
	ack, err = a.EmitAck(testkit.Context(t), "nothing")
	if err != nil || !strings.Contains(jsonOf(t, ack), "unknown event") {
		t.Fatalf("unknown event ack = %v, %v", ack, err)
	}
	if _, err := a.EmitAck(testkit.Context(t), "join", "ops"); err != nil {
		t.Fatal(err)
	}
	if got := chat.RoomSize("ops"); got != 1 {
		t.Fatalf("RoomSize(ops) = %d, want 1", got)
	}
	// The namespace's rooms are its own: "/" has no "ops".
	if got := testkit.RoomSize(t, srv, "ops"); got != 0 {
		t.Errorf("root RoomSize(ops) = %d, want 0", got)
	}
	if err := chat.EmitToRooms([]string{"ops"}, "news", 1); err != nil {
		t.Fatal(err)
	}
	if err := chat.Emit("all", 2); err != nil {
		t.Fatal(err)
	}
	if err := b.WaitCount(testkit.Context(t), "all", 1); err != nil {
		t.Fatal(err)
	}
	if err := a.WaitCount(testkit.Context(t), "all", 1); err != nil {
		t.Fatal(err)
	}
	if a.Count("news") != 1 || b.Count("news") != 0 {
		t.Errorf("news reached a %d and b %d times, want 1 and 0", a.Count("news"), b.Count("news"))
	}
	// Namespaces' sockets are not Conns: the reactive namespace is untouched.
	if n := testkit.Connections(t, srv); n != 0 {
		t.Errorf("ConnectionCount = %d, want 0", n)
	}
	if ns := srv.Operator().Namespaces(); len(ns) != 2 || ns[0] != (server.NamespaceInfo{Name: "/", Sockets: 0}) ||
		ns[1] != (server.NamespaceInfo{Name: "/chat", Sockets: 2}) {
		t.Errorf("Namespaces = %+v", ns)
	}

	aID := a.ID()
	sk, ok := chat.Socket(aID)
	if !ok {
		t.Fatalf("Socket(%s) not found", aID)
	}
	sk.Disconnect()
	if _, err := a.WaitDisconnect(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case id := <-gone:
		if id != aID {
			t.Errorf("disconnect hook for %s, want %s", id, aID)
		}
	case <-time.After(wait):
		t.Fatal("no disconnect hook")
	}
	if got := chat.RoomSize("ops"); got != 0 {
		t.Errorf("RoomSize(ops) after disconnect = %d, want 0", got)
	}
}

func TestNamespaceRefusals(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	chatNamespace(t, srv)

	// The Go client cannot read a CONNECT_ERROR without "data" (which is
	// what Socket.IO sends here); it is refused all the same. The wire
	// form is checked on a raw websocket below, and the npm client reads
	// the message (TestNamespaceNodeClient).
	if _, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Namespace: "/nope"}); !errors.Is(err, sioclient.ErrConnect) {
		t.Errorf("unknown namespace: err = %v, want a connect error", err)
	}
	if got := rawConnect(t, url, "/nope"); got != `44/nope,{"message":"Invalid namespace"}` {
		t.Errorf("unknown namespace: server sent %q", got)
	}
	_, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Namespace: "/chat", Auth: map[string]any{"name": "eve"}})
	if !errors.Is(err, sioclient.ErrConnect) || !strings.Contains(err.Error(), "not you") {
		t.Errorf("middleware: err = %v, want connect error 'not you'", err)
	}
	for _, name := range []string{"/", "", "chat", "/a,b", "/a?b", "/a\nb", "/" + strings.Repeat("x", 200)} {
		if _, err := srv.Namespace(name); !errors.Is(err, server.ErrInvalidNamespace) {
			t.Errorf("Namespace(%q) err = %v, want ErrInvalidNamespace", name, err)
		}
	}
	again, err := srv.Namespace("/chat")
	if err != nil || again.Name() != "/chat" {
		t.Errorf("Namespace(/chat) again = %v, %v", again, err)
	}
}

// The npm client multiplexes "/" and "/chat" over one connection, and is
// refused "/nope" with "Invalid namespace".
func TestNamespaceNodeClient(t *testing.T) {
	node, script := nodeHarness(t)
	script = filepath.Join(filepath.Dir(script), "namespace.mjs")
	for _, transports := range nodeTransports {
		t.Run(transports, func(t *testing.T) {
			srv, url := startServer(t, server.Config{})
			chatNamespace(t, srv)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script, url, transports)
			stdout, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			var stderr strings.Builder
			cmd.Stderr = &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			steps := map[string]string{}
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var st nodeStep
				if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
					t.Fatalf("harness printed %q", sc.Text())
				}
				steps[st.Step] = string(st.Data)
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("harness: %v (steps %v, stderr %s)", err, steps, stderr.String())
			}
			if !strings.Contains(steps["connected"], `"same":true`) {
				t.Errorf("connected = %s, want both namespaces on one manager", steps["connected"])
			}
			if steps["echo"] != `"hi"` {
				t.Errorf("echo = %s", steps["echo"])
			}
			if steps["nope"] != `"Invalid namespace"` {
				t.Errorf("nope = %s, want \"Invalid namespace\"", steps["nope"])
			}
			if steps["blob"] != `[1,2,255]` {
				t.Errorf("blob = %s, want [1,2,255]", steps["blob"])
			}
			// "/" disconnected and connected again over the connection
			// "/chat" kept open: the server let its first socket go.
			if steps["rejoined"] != `{"same":true,"chat":true,"echo":"again"}` {
				t.Errorf("rejoined = %s", steps["rejoined"])
			}
		})
	}
}

// Watch reports, in order for each socket, its connection in its rooms,
// the rooms it joins and leaves and its disconnection, in "/" and in
// other namespaces.
func TestWatch(t *testing.T) {
	srv, url := startServer(t, server.Config{Authorize: allowConversations})
	chatNamespace(t, srv)
	var mu sync.Mutex
	var got []server.Change
	stop := srv.Operator().Watch(func(ch server.Change) {
		mu.Lock()
		got = append(got, ch)
		mu.Unlock()
	})
	defer stop()
	changesOf := func(id string) []string {
		mu.Lock()
		defer mu.Unlock()
		var out []string
		for _, ch := range got {
			if ch.SocketID == id && ch.Kind != server.EventReceived {
				out = append(out, ch.Kind.String()+" "+ch.Room)
			}
		}
		return out
	}

	c := testkit.Dial(t, url, sioclient.Options{})
	authAs(t, c, 7)
	if ack, err := c.EmitAck(testkit.Context(t), "join", "conversation_1"); err != nil || !testkit.AckSuccess(ack) {
		t.Fatalf("join: %v %v", ack, err)
	}
	cID := c.ID()
	c.Close()
	chat := dialNamespace(t, url, "/chat", nil)
	if _, err := chat.EmitAck(testkit.Context(t), "join", "ops"); err != nil {
		t.Fatal(err)
	}
	chatID := chat.ID()
	chat.Close()

	want := map[string][]string{
		cID: {"room joined all", "room joined guests", "socket connected ", "room left guests",
			"room joined users", "room joined user_7", "user changed ", "room joined conversation_1"},
		chatID: {"socket connected ", "room joined ops", "room left ops", "socket disconnected "},
	}
	deadline := time.Now().Add(wait)
	for id, w := range want {
		for {
			have := changesOf(id)
			if len(have) >= len(w) && slices.Equal(have[:len(w)], w) && (id != cID || len(have) == len(w)+5) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("changes of %s = %q, want %q then leaving and disconnection", id, have, w)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// The root socket's last changes: it leaves its four rooms (in no
	// particular order) and then disconnects.
	have := changesOf(cID)
	if last := have[len(have)-1]; last != "socket disconnected " {
		t.Errorf("last change of %s = %q, want socket disconnected", cID, last)
	}
	mu.Lock()
	var received []string
	for _, ch := range got {
		if ch.Kind == server.SocketConnected && (ch.Socket == nil || ch.Socket.ID != ch.SocketID) {
			t.Errorf("SocketConnected without its SocketInfo: %+v", ch)
		}
		if ch.Kind == server.EventReceived {
			received = append(received, fmt.Sprint(ch.Namespace, " ", ch.Event, " ", ch.Args))
		}
	}
	mu.Unlock()
	// Client events are reported, a token never.
	if want := []string{"/ auth [[redacted]]", "/ join [conversation_1]", "/chat join [ops]"}; !slices.Equal(received, want) {
		t.Errorf("events received = %q, want %q", received, want)
	}
}

// rawConnect opens an Engine.IO websocket session, sends a Socket.IO
// CONNECT for nsp and returns the server's answer.
func rawConnect(t *testing.T, url, nsp string) string {
	t.Helper()
	ws, _, err := websocket.DefaultDialer.DialContext(testkit.Context(t), "ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	if _, open, err := ws.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open: %q, %v", open, err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, []byte("40"+nsp+",")); err != nil {
		t.Fatal(err)
	}
	for {
		_, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(string(msg), "2") { // skip pings
			return string(msg)
		}
	}
}

func jsonOf(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// A namespace middleware authenticates its sockets with the handshake's
// token (AuthToken), which the handshake itself never shows.
func TestNamespaceAuthToken(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	secure, err := srv.Namespace("/secure")
	if err != nil {
		t.Fatal(err)
	}
	users := make(chan string, 1)
	secure.Use(func(ctx context.Context, s *server.Conn) error {
		tok, _ := s.AuthToken()
		raw, _ := tok.(string)
		u, err := srv.VerifyToken(raw)
		if err != nil {
			return errors.New("unauthorized")
		}
		if _, leaked := s.Handshake().Auth["token"]; leaked {
			return errors.New("the token is in the handshake")
		}
		users <- u.ID
		return nil
	})
	if _, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Namespace: "/secure"}); !errors.Is(err, sioclient.ErrConnect) {
		t.Fatalf("no token: %v, want refused", err)
	}
	c, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Namespace: "/secure", Auth: map[string]any{"token": testkit.Token(t, 12)}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id := <-users; id != "12" {
		t.Fatalf("user %q", id)
	}
}

// Conn.Join and Leave work the same in "/" and in other namespaces, except
// that the reserved rooms of "/" follow authentication.
func TestConnJoinLeave(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	chat, _ := chatNamespace(t, srv)
	enter := func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		room, _ := args[0].(string)
		if err := c.Join(room); err != nil {
			return nil, err
		}
		return c.Rooms(), nil
	}
	exit := func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		room, _ := args[0].(string)
		return nil, c.Leave(room)
	}
	for _, on := range []func(string, server.EventHandler) error{srv.On, chat.On} {
		if err := on("enter", enter); err != nil {
			t.Fatal(err)
		}
		if err := on("exit", exit); err != nil {
			t.Fatal(err)
		}
	}
	root := dialNamespace(t, url, "/", nil)
	sub := dialNamespace(t, url, "/chat", map[string]any{"name": "ada"})
	ctx := testkit.Context(t)

	for _, c := range []*sioclient.Client{root, sub} {
		ack, err := c.EmitAck(ctx, "enter", "ops")
		if err != nil || !strings.Contains(jsonOf(t, ack), `"ops"`) {
			t.Fatalf("enter ops = %v, %v", ack, err)
		}
		ack, err = c.EmitAck(ctx, "enter", "")
		if err != nil || !strings.Contains(jsonOf(t, ack), "invalid room") {
			t.Errorf("enter \"\" = %v, %v, want an invalid room error", ack, err)
		}
	}
	// A reserved room of "/" is refused there, and is an ordinary room
	// name elsewhere.
	ack, err := root.EmitAck(ctx, "enter", "users")
	if err != nil || !strings.Contains(jsonOf(t, ack), "reserved") {
		t.Errorf("enter users in / = %v, %v, want a reserved room error", ack, err)
	}
	if testkit.RoomSize(t, srv, "users") != 0 {
		t.Error("a guest of / joined users")
	}
	if ack, err := sub.EmitAck(ctx, "enter", "users"); err != nil || !strings.Contains(jsonOf(t, ack), `"users"`) {
		t.Errorf("enter users in /chat = %v, %v", ack, err)
	}

	if err := srv.EmitTo(ctx, entreactive.ToRooms("ops"), "news", 1); err != nil {
		t.Fatal(err)
	}
	if err := chat.EmitToRooms([]string{"ops"}, "news", 2); err != nil {
		t.Fatal(err)
	}
	if err := root.WaitCount(ctx, "news", 1); err != nil {
		t.Fatal(err)
	}
	if err := sub.WaitCount(ctx, "news", 1); err != nil {
		t.Fatal(err)
	}
	if got := root.Events("news")[0][0]; got != 1.0 {
		t.Errorf("/ got news %v, want 1", got)
	}
	if got := sub.Events("news")[0][0]; got != 2.0 {
		t.Errorf("/chat got news %v, want 2", got)
	}
	for _, c := range []*sioclient.Client{root, sub} {
		if _, err := c.EmitAck(ctx, "exit", "ops"); err != nil {
			t.Fatal(err)
		}
	}
	if testkit.RoomSize(t, srv, "ops") != 0 || chat.RoomSize("ops") != 0 {
		t.Errorf("ops after leaving: / %d, /chat %d", testkit.RoomSize(t, srv, "ops"), chat.RoomSize("ops"))
	}
}
