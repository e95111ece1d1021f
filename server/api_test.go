package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

func TestUtilityAPI(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	ctx := testkit.Context(t)
	ws := sioclient.Options{Transport: sioclient.WebSocketOnly}
	phone := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly, Auth: map[string]any{"device_id": "phone", "token": testkit.Token(t, 1)}})
	laptop := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly, Auth: map[string]any{"device_id": "laptop", "token": testkit.Token(t, 1)}})
	bob := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly, Auth: map[string]any{"token": testkit.Token(t, 2)}})
	guest := testkit.Dial(t, url, ws)
	everyone := []*sioclient.Client{phone, laptop, bob, guest}

	if n := testkit.Connections(t, srv); n != 4 {
		t.Fatalf("ConnectionCount = %d: %v", n, srv.Stats().Rooms)
	}
	if n := testkit.Users(t, srv); n != 2 {
		t.Fatalf("UserCount = %d", n)
	}
	if !testkit.Online(t, srv, 1) || !testkit.Online(t, srv, "2") || testkit.Online(t, srv, 3) {
		t.Fatal("IsUserOnline")
	}
	if !testkit.DeviceOnline(t, srv, "phone") || testkit.DeviceOnline(t, srv, "tablet") {
		t.Fatal("IsDeviceOnline")
	}
	devices, err := srv.UserDevices(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(devices)
	if !slices.Equal(devices, []string{"laptop", "phone"}) {
		t.Fatalf("UserDevices = %v", devices)
	}
	if testkit.RoomSize(t, srv, "user_1") != 2 || testkit.RoomSize(t, srv, "users") != 3 || testkit.RoomSize(t, srv, "guests") != 1 {
		t.Fatalf("rooms %v", srv.Stats().Rooms)
	}

	// Emits: each one tagged, then a marker, then check who got what.
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	notes := func(c *sioclient.Client) []string {
		var out []string
		for _, a := range c.Events("note") {
			out = append(out, a[0].(string))
		}
		return out
	}
	must(srv.EmitTo(ctx, entreactive.ToAll(), "note", "all"))
	must(srv.EmitTo(ctx, entreactive.ToUsers(), "note", "users"))
	must(srv.EmitTo(ctx, entreactive.ToGuests(), "note", "guests"))
	must(srv.EmitTo(ctx, entreactive.ToUserIDs(1), "note", "user1"))
	must(srv.EmitTo(ctx, entreactive.ToUserIDs[any](1, 2, "2"), "note", "users12"))
	must(srv.EmitTo(ctx, entreactive.ToRooms(server.DeviceRoom("laptop")), "note", "laptop"))
	must(srv.EmitTo(ctx, entreactive.ToRooms(server.UserDeviceRoom(1, "phone")), "note", "user1phone"))
	must(srv.EmitTo(ctx, entreactive.ToRooms("user_2", "guests", "nobody"), "note", "rooms"))
	// A nil user id reaches nobody, as in a target function; ids that
	// cannot name a user or a room are errors, and send nothing.
	var nobody *int
	must(srv.EmitTo(ctx, entreactive.ToUserIDs(nobody), "note", "nil user"))
	must(srv.EmitTo(ctx, entreactive.Skip(), "note", "skip"))
	for _, to := range []entreactive.Target{
		entreactive.ToRooms(server.DeviceRoom("bad device")),
		entreactive.ToUserIDs[any](1, "bad id"),
		entreactive.ToUserIDs(1.5),
	} {
		if err := srv.EmitTo(ctx, to, "note", "invalid"); !errors.Is(err, server.ErrInvalidID) {
			t.Errorf("EmitTo(%+v) = %v, want ErrInvalidID", to, err)
		}
	}
	marker(t, srv, everyone, 1)

	want := map[*sioclient.Client][]string{
		phone:  {"all", "users", "user1", "users12", "user1phone"},
		laptop: {"all", "users", "user1", "users12", "laptop"},
		bob:    {"all", "users", "users12", "rooms"},
		guest:  {"all", "guests", "rooms"},
	}
	for c, w := range want {
		if got := notes(c); !slices.Equal(got, w) {
			t.Errorf("%s got %v, want %v", c.ID(), got, w)
		}
	}

	// Rooms are resolved when the event leaves the queue: the marker
	// separates the join, the emit and the leave.
	if err := srv.JoinUser(ctx, 2, "team"); err != nil || testkit.RoomSize(t, srv, "team") != 1 {
		t.Fatalf("JoinUser: %v, team has %d", err, testkit.RoomSize(t, srv, "team"))
	}
	must(srv.EmitTo(ctx, entreactive.ToRooms("team"), "note", "team"))
	marker(t, srv, everyone, 2)
	if err := srv.LeaveUser(ctx, 2, "team"); err != nil {
		t.Fatalf("LeaveUser: %v", err)
	}
	must(srv.EmitTo(ctx, entreactive.ToRooms("team"), "note", "team-after-leave"))
	marker(t, srv, everyone, 3)
	if got := notes(bob); !slices.Equal(got[len(got)-1:], []string{"team"}) {
		t.Fatalf("bob got %v", got)
	}
	if testkit.RoomSize(t, srv, "team") != 0 {
		t.Fatal("team not empty")
	}

	for _, room := range []string{"users", "user_3", "device_x", "all"} {
		if err := srv.JoinUser(ctx, 2, room); !errors.Is(err, server.ErrReservedRoom) {
			t.Fatalf("JoinUser(%s) = %v", room, err)
		}
	}

	// Disconnects.
	must(srv.DisconnectDevice(ctx, "laptop"))
	if _, err := laptop.WaitDisconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if testkit.DeviceOnline(t, srv, "laptop") || !testkit.Online(t, srv, 1) {
		t.Fatal("after DisconnectDevice")
	}
	must(srv.DisconnectUser(ctx, 1))
	if _, err := phone.WaitDisconnect(ctx); err != nil {
		t.Fatal(err)
	}
	if testkit.Online(t, srv, 1) || testkit.Connections(t, srv) != 2 {
		t.Fatalf("after DisconnectUser: %v", srv.Stats().Rooms)
	}
}

func TestCustomEventsAndMiddleware(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	var connects, disconnects atomic.Int32
	srv.OnConnect(func(ctx context.Context, c *server.Conn) { connects.Add(1) })
	srv.OnDisconnect(func(ctx context.Context, c *server.Conn, reason string) { disconnects.Add(1) })
	srv.Use(func(ctx context.Context, c *server.Conn) error {
		if c.Handshake().Auth["app"] == "blocked" {
			return errors.New("go away")
		}
		if _, ok := c.Handshake().Auth["token"]; ok {
			return errors.New("token leaked into Handshake.Auth")
		}
		return nil
	})
	if err := srv.On("echo", func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		u, _ := server.UserFromContext(ctx)
		return map[string]any{"args": args, "user": u.ID, "socket": c.ID()}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.On("pair", func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		return server.AckValues{"one", 2, map[string]any{"three": true}}, nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.On("fail", func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		return nil, errors.New("nope")
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.On("boom", func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		panic("boom")
	}); err != nil {
		t.Fatal(err)
	}
	if err := srv.On("self", func(ctx context.Context, c *server.Conn, args []any) (any, error) {
		return nil, c.Emit("to-self", c.Rooms())
	}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"auth", "join", "disconnect", ""} {
		if err := srv.On(name, func(context.Context, *server.Conn, []any) (any, error) { return nil, nil }); !errors.Is(err, server.ErrReservedEvent) {
			t.Fatalf("On(%q) = %v", name, err)
		}
	}

	_, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{Auth: map[string]any{"app": "blocked"}})
	if err == nil || !strings.Contains(err.Error(), "go away") {
		t.Fatalf("blocked dial: %v", err)
	}
	c := testkit.Dial(t, url, sioclient.Options{Auth: map[string]any{"token": testkit.Token(t, 9)}})
	ctx := testkit.Context(t)
	ack, err := c.EmitAck(ctx, "echo", "a", 2.0)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(ack)
	if want := `[{"args":["a",2],"socket":"` + c.ID() + `","user":"9"}]`; string(b) != want {
		t.Fatalf("echo ack %s, want %s", b, want)
	}
	if ack, err := c.EmitAck(ctx, "pair"); err != nil || len(ack) != 3 || ack[0] != "one" || ack[1] != 2.0 {
		t.Fatalf("multi-value ack %v, %v", ack, err)
	}
	if ack, _ := c.EmitAck(ctx, "fail"); ackError(ack) != "nope" {
		t.Fatalf("fail ack %v", ack)
	}
	if ack, _ := c.EmitAck(ctx, "boom"); ackError(ack) != "internal error" {
		t.Fatalf("boom ack %v", ack)
	}
	if _, err := c.EmitAck(ctx, "self"); err != nil {
		t.Fatal(err)
	}
	args, err := c.Next(ctx, "to-self")
	if err != nil {
		t.Fatal(err)
	}
	if rooms := args[0].([]any); len(rooms) != 3 { // all, users, user_9
		t.Fatalf("rooms %v", rooms)
	}
	c.Close()
	testkit.Eventually(t, "disconnect hook", func() bool { return disconnects.Load() == 1 })
	if connects.Load() != 1 {
		t.Fatalf("connect hooks %d", connects.Load())
	}
}

func TestStatsHandler(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	testkit.Dial(t, url, sioclient.Options{Auth: map[string]any{"token": testkit.Token(t, 4)}})
	rec := httptest.NewRecorder()
	srv.StatsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/stats", nil))
	if rec.Code != http.StatusOK || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %v", rec.Code, rec.Header())
	}
	var st server.Stats
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil {
		t.Fatal(err)
	}
	if st.Connections != 1 || st.Users != 1 || st.Rooms["user_4"] != 1 || st.QueueCapacity != server.DefaultQueueSize {
		t.Fatalf("stats %+v", st)
	}
	for _, k := range []string{`"connections"`, `"users"`, `"rooms"`, `"events_sent"`, `"queue_depth"`, `"dropped"`} {
		if !strings.Contains(rec.Body.String(), k) {
			t.Fatalf("missing %s in %s", k, rec.Body)
		}
	}
	rec = httptest.NewRecorder()
	srv.StatsHandler().ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/stats", nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST: %d", rec.Code)
	}
}

func TestClientBundleAndPaths(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "socket.io.min.js"), []byte("/* bundle */"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secret.txt"), []byte("no"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, url := startServer(t, server.Config{ClientDir: dir})
	get := func(path string) (int, string) {
		resp, err := http.Get(url + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/socket.io/socket.io.min.js"); code != 200 || body != "/* bundle */" {
		t.Fatalf("bundle: %d %q", code, body)
	}
	for _, p := range []string{"/socket.io/secret.txt", "/socket.io/socket.io.js", "/socket.io/../secret.txt", "/socket.io/x/socket.io.min.js"} {
		if code, _ := get(p); code != http.StatusNotFound {
			t.Fatalf("%s: %d", p, code)
		}
	}
}

func TestCORS(t *testing.T) {
	_, url := startServer(t, server.Config{CORS: &server.CORS{AllowedOrigins: []string{"https://app.example"}}})
	req, _ := http.NewRequest(http.MethodGet, url+"/socket.io/?EIO=4&transport=polling", nil)
	req.Header.Set("Origin", "https://app.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got != "https://app.example" {
		t.Fatalf("allowed origin header %q", got)
	}
	req.Header.Set("Origin", "https://evil.example")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if got := resp.Header.Get("Access-Control-Allow-Origin"); got == "https://evil.example" || got == "*" {
		t.Fatalf("evil origin allowed: %q", got)
	}
}
