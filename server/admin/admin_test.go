package admin_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	ws "github.com/gorilla/websocket"
	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/admin"
)

const password = "correct horse"

// start serves a server with an Admin made of cfg (a bcrypt hash of
// password for user "admin" unless cfg sets its own auth) and returns them
// with the base URL.
func start(t *testing.T, cfg admin.Config) (*server.Server, *admin.Admin, string) {
	t.Helper()
	s := testkit.Serve(t, server.Config{
		Authorize: func(ctx context.Context, r server.JoinRequest) (bool, error) {
			return strings.HasPrefix(r.Room, "conversation_"), nil
		},
	})
	if cfg.Auth == nil && !cfg.NoAuth {
		hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Auth = &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)}
	}
	if cfg.Logger == nil {
		cfg.Logger = testkit.Logger(t)
	}
	a, err := admin.New(s.Server, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { // before the server's Close (cleanups run last first)
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("admin Close: %v", err)
		}
	})
	return s.Server, a, s.URL
}

func login(t *testing.T, url string, auth map[string]any) (*sioclient.Client, error) {
	t.Helper()
	c, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Namespace: "/admin", Auth: auth})
	if err == nil {
		t.Cleanup(c.Close)
	}
	return c, err
}

func mustLogin(t *testing.T, url string) *sioclient.Client {
	t.Helper()
	c, err := login(t, url, map[string]any{"username": "admin", "password": password})
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

// user connects a socket of "/" authenticated as user id.
func user(t *testing.T, url string, id int, o sioclient.Options) *sioclient.Client {
	t.Helper()
	if o.Auth == nil {
		o.Auth = map[string]any{}
	}
	o.Auth["token"] = testkit.Token(t, id)
	c, err := sioclient.Dial(testkit.Context(t), url, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if err := c.WaitCount(testkit.Context(t), "authenticated", 1); err != nil {
		t.Fatal(err)
	}
	return c
}

func next(t *testing.T, c *sioclient.Client, event string) []any {
	t.Helper()
	args, err := c.Next(testkit.Context(t), event)
	if err != nil {
		t.Fatal(err)
	}
	return args
}

// nextWhere waits for the next event whose arguments satisfy ok.
func nextWhere(t *testing.T, c *sioclient.Client, event string, ok func([]any) bool) []any {
	t.Helper()
	for {
		if args := next(t, c, event); ok(args) {
			return args
		}
	}
}

func socketsByID(t *testing.T, args []any) map[string]map[string]any {
	t.Helper()
	list, _ := args[0].([]any)
	out := map[string]map[string]any{}
	for _, v := range list {
		m := v.(map[string]any)
		out[m["id"].(string)] = m
	}
	return out
}

func strs(v any) []string {
	var out []string
	for _, x := range v.([]any) {
		out = append(out, x.(string))
	}
	return out
}

func TestLogin(t *testing.T) {
	_, _, url := start(t, admin.Config{})

	for name, auth := range map[string]map[string]any{
		"wrong password":  {"username": "admin", "password": "wrong"},
		"wrong username":  {"username": "root", "password": password},
		"no credentials":  nil,
		"password type":   {"username": "admin", "password": 42},
		"unknown session": {"sessionId": "0123456789abcdef"},
	} {
		if _, err := login(t, url, auth); !errors.Is(err, sioclient.ErrConnect) || !strings.Contains(err.Error(), "invalid credentials") {
			t.Errorf("%s: err = %v, want connect error invalid credentials", name, err)
		}
	}

	c := mustLogin(t, url)
	session := next(t, c, "session")[0].(string)
	if len(session) != 16 {
		t.Errorf("session id %q, want 16 hex digits", session)
	}
	config := next(t, c, "config")[0].(map[string]any)
	if got := strs(config["supportedFeatures"]); !slices.Contains(got, "DISCONNECT") || !slices.Contains(got, "ALL_EVENTS") {
		t.Errorf("supportedFeatures = %v", got)
	}
	// The UI reconnects with its session instead of the password.
	again, err := login(t, url, map[string]any{"sessionId": session})
	if err != nil {
		t.Fatalf("login with session: %v", err)
	}
	if err := again.WaitCount(testkit.Context(t), "all_sockets", 1); err != nil {
		t.Fatal(err)
	}
	if again.Count("session") != 0 {
		t.Errorf("a session login got a new session")
	}
}

func TestConfigRefused(t *testing.T) {
	srv := testkit.Serve(t, server.Config{}).Server
	for name, cfg := range map[string]admin.Config{
		"no auth":        {},
		"plain password": {Auth: &admin.BasicAuth{Username: "admin", PasswordHash: "secret"}},
		"no username":    {Auth: &admin.BasicAuth{PasswordHash: "$2a$04$abcdefghijklmnopqrstuuJ2R9u1xPkDiaJXCzRGn0A2tXGfJSVlC"}},
		"both":           {NoAuth: true, Auth: &admin.BasicAuth{Username: "a", PasswordHash: "x"}},
	} {
		if _, err := admin.New(srv, cfg); !errors.Is(err, admin.ErrConfig) {
			t.Errorf("%s: err = %v, want ErrConfig", name, err)
		}
	}
	if _, err := admin.New(srv, admin.Config{NoAuth: true, Namespace: "/"}); err == nil {
		t.Errorf("namespace / accepted")
	}
}

func TestSocketsStatsAndLiveUpdates(t *testing.T) {
	srv, _, url := start(t, admin.Config{ServerID: "node-1", StatsInterval: 50 * time.Millisecond})
	ws := user(t, url, 7, sioclient.Options{Auth: map[string]any{"device_id": "phone-1"}})
	pollingID := pollingSocket(t, url)

	ui := mustLogin(t, url)
	all := socketsByID(t, next(t, ui, "all_sockets"))
	s7 := all[ws.ID()]
	if s7 == nil {
		t.Fatalf("all_sockets has no %s: %v", ws.ID(), all)
	}
	if got := strs(s7["rooms"]); !slices.Equal(got, []string{ws.ID(), "all", "device_phone-1", "user_7", "user_7_device_phone-1", "users"}) {
		t.Errorf("rooms = %v", got)
	}
	data := s7["data"].(map[string]any)
	if s7["nsp"] != "/" || s7["transport"] != "websocket" || data["userId"] != "7" || data["deviceId"] != "phone-1" {
		t.Errorf("socket = %v", s7)
	}
	hs := s7["handshake"].(map[string]any)
	if hs["address"] == "" || hs["url"] == "" || hs["query"].(map[string]any)["EIO"] != "4" {
		t.Errorf("handshake = %v", hs)
	}
	if all[pollingID]["transport"] != "polling" {
		t.Errorf("polling socket = %v", all[pollingID])
	}
	// The admin's own socket is listed in its namespace, as in Node.
	if all[ui.ID()]["nsp"] != "/admin" {
		t.Errorf("admin socket = %v", all[ui.ID()])
	}

	stats := nextWhere(t, ui, "server_stats", func(a []any) bool {
		return a[0].(map[string]any)["clientsCount"] == float64(3)
	})[0].(map[string]any)
	if stats["serverId"] != "node-1" || stats["pollingClientsCount"] != float64(1) || stats["pid"] == nil {
		t.Errorf("server_stats = %v", stats)
	}
	var nsps []string
	for _, n := range stats["namespaces"].([]any) {
		m := n.(map[string]any)
		nsps = append(nsps, m["name"].(string)+":"+strings.TrimSpace(strings.Repeat("x", int(m["socketsCount"].(float64)))))
	}
	if !slices.Equal(nsps, []string{"/:xx", "/admin:x"}) {
		t.Errorf("namespaces = %v", nsps)
	}

	// Live: a guest connects, authenticates, joins a room, disconnects.
	guest, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{})
	if err != nil {
		t.Fatal(err)
	}
	gid := guest.ID()
	connected := nextWhere(t, ui, "socket_connected", func(a []any) bool { return a[0].(map[string]any)["id"] == gid })
	if got := strs(connected[0].(map[string]any)["rooms"]); !slices.Equal(got, []string{gid, "all", "guests"}) {
		t.Errorf("socket_connected rooms = %v", got)
	}
	if _, ok := connected[1].(string); !ok {
		t.Errorf("socket_connected timestamp = %v", connected[1])
	}
	if _, err := guest.EmitAck(testkit.Context(t), "auth", testkit.Token(t, 9)); err != nil {
		t.Fatal(err)
	}
	received := nextWhere(t, ui, "event_received", func(a []any) bool { return a[1] == gid })
	if a := received[2].([]any); received[0] != "/" || len(a) != 2 || a[0] != "auth" || a[1] != "[redacted]" {
		t.Errorf("event_received = %v, want the auth event without its token", received)
	}
	updated := nextWhere(t, ui, "socket_updated", func(a []any) bool { return a[0].(map[string]any)["id"] == gid })
	if updated[0].(map[string]any)["data"].(map[string]any)["userId"] != "9" {
		t.Errorf("socket_updated = %v", updated)
	}
	if _, err := guest.EmitAck(testkit.Context(t), "join", "conversation_3"); err != nil {
		t.Fatal(err)
	}
	nextWhere(t, ui, "room_joined", func(a []any) bool { return a[0] == "/" && a[1] == "conversation_3" && a[2] == gid })
	guest.Close()
	left := nextWhere(t, ui, "socket_disconnected", func(a []any) bool { return a[1] == gid })
	if left[0] != "/" || left[2] == "" {
		t.Errorf("socket_disconnected = %v", left)
	}
	nextWhere(t, ui, "room_left", func(a []any) bool { return a[1] == "conversation_3" && a[2] == gid })
	if testkit.Connections(t, srv) != 2 {
		t.Errorf("ConnectionCount = %d", testkit.Connections(t, srv))
	}

	// An upgrade from polling to websocket is reported: in socket_updated,
	// or in socket_connected when it was done by then.
	up := user(t, url, 10, sioclient.Options{Transport: sioclient.Upgrade})
	upID := up.ID()
	deadline := time.Now().Add(testkit.Wait)
	for !seenWebsocket(ui, upID) {
		if time.Now().After(deadline) {
			t.Fatalf("the UI never saw %s on websocket: connected %v, updated %v", upID, ui.Events("socket_connected"), ui.Events("socket_updated"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// seenWebsocket reports whether the UI was told that socket id is on
// websocket.
func seenWebsocket(ui *sioclient.Client, id string) bool {
	for _, event := range []string{"socket_connected", "socket_updated"} {
		for _, a := range ui.Events(event) {
			if m, _ := a[0].(map[string]any); m["id"] == id && m["transport"] == "websocket" {
				return true
			}
		}
	}
	return false
}

func TestActions(t *testing.T) {
	srv, _, url := start(t, admin.Config{})
	c7 := user(t, url, 7, sioclient.Options{})
	c8 := user(t, url, 8, sioclient.Options{})
	ui := mustLogin(t, url)

	ack := func(event string, args ...any) map[string]any {
		t.Helper()
		a, err := ui.EmitAck(testkit.Context(t), event, args...)
		if err != nil {
			t.Fatal(err)
		}
		return a[0].(map[string]any)
	}

	// join / leave one socket (the UI's filter is the socket id).
	if r := ack("join", "/", "ops", c7.ID()); r["success"] != true || r["count"] != float64(1) {
		t.Fatalf("join = %v", r)
	}
	if testkit.RoomSize(t, srv, "ops") != 1 || !slices.Contains(roomsOf(srv, c7.ID()), "ops") {
		t.Errorf("after join: ops has %d, c7 in %v", testkit.RoomSize(t, srv, "ops"), roomsOf(srv, c7.ID()))
	}
	nextWhere(t, ui, "room_joined", func(a []any) bool { return a[1] == "ops" && a[2] == c7.ID() })
	// Events sent to the room reach the socket the admin put there.
	if err := srv.EmitTo(context.Background(), entreactive.ToRooms("ops"), "news", 1); err != nil {
		t.Fatal(err)
	}
	if err := c7.WaitCount(testkit.Context(t), "news", 1); err != nil {
		t.Fatal(err)
	}
	// join every socket of a room (filter = room).
	if r := ack("join", "/", "everyone", "users"); r["count"] != float64(2) {
		t.Errorf("join by room = %v", r)
	}
	if r := ack("leave", "/", "ops", c7.ID()); r["success"] != true || r["count"] != float64(1) {
		t.Fatalf("leave = %v", r)
	}
	if testkit.RoomSize(t, srv, "ops") != 0 {
		t.Errorf("after leave: ops has %d", testkit.RoomSize(t, srv, "ops"))
	}
	// The rooms that follow authentication stay the server's.
	for _, room := range []string{"users", "user_8", "guests"} {
		if r := ack("join", "/", room, c7.ID()); r["success"] != false {
			t.Errorf("join %s = %v, want refused", room, r)
		}
		if r := ack("leave", "/", room, c8.ID()); r["success"] != false {
			t.Errorf("leave %s = %v, want refused", room, r)
		}
	}
	if testkit.RoomSize(t, srv, "user_8") != 1 || testkit.RoomSize(t, srv, "users") != 2 {
		t.Errorf("reserved rooms changed: user_8 %d, users %d", testkit.RoomSize(t, srv, "user_8"), testkit.RoomSize(t, srv, "users"))
	}
	// Bad arguments change nothing.
	for _, args := range [][]any{{}, {"/", 5, "x"}, {5, "room"}, {"/nope", "room"}} {
		if r := ack("join", args...); r["success"] != false {
			t.Errorf("join %v = %v, want refused", args, r)
		}
	}
	// emit to one socket.
	if r := ack("emit", "/", c8.ID(), "hello", "from admin"); r["success"] != true {
		t.Errorf("emit = %v", r)
	}
	if got := next(t, c8, "hello"); got[0] != "from admin" {
		t.Errorf("hello = %v", got)
	}

	// _disconnect one socket: it goes, the server and the UI see it go.
	id7 := c7.ID()
	if r := ack("_disconnect", "/", true, id7); r["count"] != float64(1) {
		t.Fatalf("_disconnect = %v", r)
	}
	if _, err := c7.WaitDisconnect(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	if testkit.Online(t, srv, 7) || !testkit.Online(t, srv, 8) {
		t.Errorf("online after _disconnect: 7 %v, 8 %v", testkit.Online(t, srv, 7), testkit.Online(t, srv, 8))
	}
	nextWhere(t, ui, "socket_disconnected", func(a []any) bool { return a[1] == id7 && a[2] == server.ReasonServerDisconnect })
	if !c8.Connected() {
		t.Errorf("c8 disconnected too")
	}
}

func TestReadOnly(t *testing.T) {
	srv, _, url := start(t, admin.Config{ReadOnly: true})
	c7 := user(t, url, 7, sioclient.Options{})
	ui := mustLogin(t, url)
	config := next(t, ui, "config")[0].(map[string]any)
	if got := strs(config["supportedFeatures"]); slices.Contains(got, "DISCONNECT") || slices.Contains(got, "JOIN") {
		t.Errorf("read-only supportedFeatures = %v", got)
	}
	for _, args := range [][]any{
		{"_disconnect", "/", true, c7.ID()},
		{"join", "/", "ops", c7.ID()},
		{"leave", "/", "all", c7.ID()},
		{"emit", "/", c7.ID(), "hello"},
	} {
		a, err := ui.EmitAck(testkit.Context(t), args[0].(string), args[1:]...)
		if err != nil {
			t.Fatal(err)
		}
		if r := a[0].(map[string]any); r["success"] != false || r["error"] != "read-only" {
			t.Errorf("%v = %v, want refused read-only", args, r)
		}
	}
	if !c7.Connected() || testkit.RoomSize(t, srv, "ops") != 0 || testkit.RoomSize(t, srv, "all") != 1 || c7.Count("hello") != 0 {
		t.Errorf("read-only changed something: connected %v, ops %d, all %d, hello %d",
			c7.Connected(), testkit.RoomSize(t, srv, "ops"), testkit.RoomSize(t, srv, "all"), c7.Count("hello"))
	}
}

// Actions reach the sockets of other namespaces too.
func TestActionsInOtherNamespace(t *testing.T) {
	srv, _, url := start(t, admin.Config{})
	chat, err := srv.Namespace("/chat")
	if err != nil {
		t.Fatal(err)
	}
	c, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Namespace: "/chat"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	ui := mustLogin(t, url)
	all := socketsByID(t, next(t, ui, "all_sockets"))
	if all[c.ID()]["nsp"] != "/chat" {
		t.Fatalf("chat socket = %v", all[c.ID()])
	}
	if a, err := ui.EmitAck(testkit.Context(t), "join", "/chat", "ops", c.ID()); err != nil || a[0].(map[string]any)["count"] != float64(1) {
		t.Fatalf("join = %v, %v", a, err)
	}
	if chat.RoomSize("ops") != 1 {
		t.Errorf("ops has %d", chat.RoomSize("ops"))
	}
	if a, err := ui.EmitAck(testkit.Context(t), "_disconnect", "/chat", false); err != nil || a[0].(map[string]any)["count"] != float64(1) {
		t.Fatalf("_disconnect = %v, %v", a, err)
	}
	if _, err := c.WaitDisconnect(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
}

func TestClose(t *testing.T) {
	_, a, url := start(t, admin.Config{})
	ui := mustLogin(t, url)
	if err := a.Close(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := ui.WaitDisconnect(testkit.Context(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := login(t, url, map[string]any{"username": "admin", "password": password}); err == nil {
		t.Errorf("login after Close succeeded")
	}
}

// pollingSocket connects a socket of "/" over HTTP long-polling, by hand
// (the Go client's polling transport is not dependable), and returns its
// id. The session lives until the test's server closes.
func pollingSocket(t *testing.T, url string) string {
	t.Helper()
	base := url + "/socket.io/?EIO=4&transport=polling"
	get := func(u string) string {
		t.Helper()
		res, err := http.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", u, res.StatusCode, b)
		}
		return string(b)
	}
	var open struct{ Sid string }
	if err := json.Unmarshal([]byte(strings.TrimPrefix(get(base), "0")), &open); err != nil || open.Sid == "" {
		t.Fatalf("open: %v", err)
	}
	session := base + "&sid=" + open.Sid
	res, err := http.Post(session, "text/plain;charset=UTF-8", strings.NewReader("40"))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	for range 10 {
		for _, pk := range strings.Split(get(session), "\x1e") {
			if rest, ok := strings.CutPrefix(pk, "40"); ok {
				var c struct{ Sid string }
				if err := json.Unmarshal([]byte(rest), &c); err != nil || c.Sid == "" {
					t.Fatalf("CONNECT reply %q: %v", pk, err)
				}
				return c.Sid
			}
		}
	}
	t.Fatal("no CONNECT reply")
	return ""
}

func roomsOf(srv *server.Server, id string) []string {
	for _, si := range srv.Operator().Sockets() {
		if si.ID == id {
			return si.Rooms
		}
	}
	return nil
}

// A hash made by Node's bcryptjs (what instrument() users have) logs in.
func TestNodeHash(t *testing.T) {
	const nodeHash = "$2a$04$Sy9mSQBJSjvWE875yZfuA.z75LadBhPkemTc/r4hHOMJ4kViDMuza" // bcryptjs.hashSync("node-made", 4)
	_, _, url := start(t, admin.Config{Auth: &admin.BasicAuth{Username: "ops", PasswordHash: nodeHash}})
	if _, err := login(t, url, map[string]any{"username": "ops", "password": "node-made"}); err != nil {
		t.Fatalf("login: %v", err)
	}
	if _, err := login(t, url, map[string]any{"username": "ops", "password": "node-made!"}); err == nil {
		t.Fatal("a wrong password logged in")
	}
}

// Off by default: a server without an Admin has no "/admin" namespace.
func TestOffByDefault(t *testing.T) {
	s := testkit.Serve(t, server.Config{})
	srv := s.Server
	if _, err := login(t, s.URL, map[string]any{"username": "admin", "password": password}); !errors.Is(err, sioclient.ErrConnect) {
		t.Errorf("login without an Admin: err = %v, want a connect error", err)
	}
	if ns := srv.Operator().Namespaces(); len(ns) != 1 || ns[0].Name != "/" {
		t.Errorf("Namespaces = %+v, want only /", ns)
	}
}

// 40 wrong passwords from one address: the first MaxLoginFailures are
// checked and refused, the rest refused unchecked with the UI's usual
// "invalid credentials" — and so is the right password, until the window
// passes. Logins without a password (an expired session) do not count.
func TestLoginFailuresAreRateLimited(t *testing.T) {
	_, a, url := start(t, admin.Config{})
	refused := func(auth map[string]any) bool {
		t.Helper()
		switch reply := rawLogin(t, url, auth); {
		case strings.HasPrefix(reply, "40/admin,"):
			return false
		case strings.HasPrefix(reply, "44/admin,") && strings.Contains(reply, "invalid credentials"):
			return true
		default:
			t.Fatalf("login answered %q, want a connect error invalid credentials", reply)
			return false
		}
	}
	for range 3 {
		if !refused(map[string]any{"sessionId": "0123456789abcdef"}) {
			t.Fatal("unknown session accepted")
		}
	}
	for i := range 40 {
		if !refused(map[string]any{"username": "admin", "password": fmt.Sprintf("guess %d", i)}) {
			t.Fatalf("wrong password %d accepted", i)
		}
	}
	if !refused(map[string]any{"username": "admin", "password": password}) {
		t.Fatal("the right password accepted right after 40 wrong ones from the same address")
	}
	want := admin.Stats{LoginFailures: admin.DefaultMaxLoginFailures, LoginsThrottled: 40 - admin.DefaultMaxLoginFailures + 1, SessionsRefused: 3}
	if got := a.Stats(); got != want {
		t.Fatalf("stats %+v, want %+v", got, want)
	}
}

// A login session expires: a UI still connected is disconnected, and its
// session no longer logs in.
func TestExpiredSessionIsRefused(t *testing.T) {
	_, a, url := start(t, admin.Config{SessionTTL: 300 * time.Millisecond, StatsInterval: 20 * time.Millisecond})
	c := mustLogin(t, url)
	session := next(t, c, "session")[0].(string)
	// (The client may see "transport close" rather than "io server
	// disconnect": the server closes the connection with the socket.)
	if _, err := c.WaitDisconnect(testkit.Context(t)); err != nil {
		t.Fatalf("the UI stayed connected past its session: %v", err)
	}
	if _, err := login(t, url, map[string]any{"sessionId": session}); !errors.Is(err, sioclient.ErrConnect) ||
		!strings.Contains(err.Error(), "invalid credentials") {
		t.Fatalf("login with the expired session: %v, want connect error invalid credentials", err)
	}
	if st := a.Stats(); st.SessionsExpired != 1 || st.SessionsRefused != 1 {
		t.Fatalf("stats %+v, want 1 session expired, 1 refused", st)
	}
	mustLogin(t, url) // the password still works
}

// The UI sends actions without an ack and shows no error: an action the
// server refuses (joining a room it manages) is logged and counted.
func TestRefusedActionsAreCounted(t *testing.T) {
	srv, a, url := start(t, admin.Config{})
	c7 := user(t, url, 7, sioclient.Options{})
	ui := mustLogin(t, url)
	next(t, ui, "all_sockets")
	for _, room := range []string{"users", "user_8", "all", "guests", "device_x"} {
		if err := ui.Emit("join", "/", room, c7.ID()); err != nil {
			t.Fatal(err)
		}
	}
	if err := ui.Emit("join", "/", "ops", c7.ID()); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the allowed join", func() bool { return testkit.RoomSize(t, srv, "ops") == 1 })
	if n := a.Stats().ActionsRefused; n != 5 {
		t.Fatalf("%d actions refused, want 5", n)
	}
	if testkit.RoomSize(t, srv, "user_8") != 0 || testkit.RoomSize(t, srv, "device_x") != 0 {
		t.Fatal("a reserved room joined")
	}
}

// rawLogin connects to the admin namespace over a raw websocket with auth
// and returns the server's answer to the CONNECT: "40/admin,{...}" or the
// connect error "44/admin,{...}". (The Go client can miss a connect error
// that comes back at once, and then waits for its open timeout.)
func rawLogin(t *testing.T, url string, auth map[string]any) string {
	t.Helper()
	conn, _, err := ws.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(testkit.Wait))
	if _, open, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open: %q %v", open, err)
	}
	payload, _ := json.Marshal(auth)
	if err := conn.WriteMessage(ws.TextMessage, append([]byte("40/admin,"), payload...)); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for the CONNECT answer: %v", err)
		}
		if reply := string(b); strings.HasPrefix(reply, "4") {
			return reply
		}
	}
}
