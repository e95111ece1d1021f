package testkit

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entreactive/reactive/server"
)

// Served is a server.Server mounted at its Path on Mux, which a loopback
// HTTP server serves at URL. Tests may add routes to Mux.
type Served struct {
	Server *server.Server
	Mux    *http.ServeMux
	URL    string
}

// Serve starts a server.Server made of cfg, with Secret as its JWT secret
// and Logger(t) as its logger unless cfg sets them, and serves it on a
// loopback port. When the test ends it closes the server, failing the test
// if Close fails, then the HTTP server; cleanups registered after Serve run
// before that (an Admin's Close, say).
func Serve(t testing.TB, cfg server.Config) *Served {
	t.Helper()
	if cfg.JWT.Secret == nil && cfg.JWT.KeyFunc == nil {
		cfg.JWT.Secret = []byte(Secret)
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("testkit: server.New: %v", err)
	}
	path := cfg.Path
	if path == "" {
		path = server.DefaultPath
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	mux := http.NewServeMux()
	mux.Handle(path, srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("testkit: server Close: %v", err)
		}
		hs.Close()
	})
	return &Served{Server: srv, Mux: mux, URL: hs.URL}
}

// RoomSize returns srv.RoomSize(room), failing the test on an error.
func RoomSize(t testing.TB, srv *server.Server, room string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	n, err := srv.RoomSize(ctx, room)
	if err != nil {
		t.Fatalf("RoomSize(%q): %v", room, err)
	}
	return n
}

// Connections returns srv.ConnectionCount(), failing the test on an error.
func Connections(t testing.TB, srv *server.Server) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	n, err := srv.ConnectionCount(ctx)
	if err != nil {
		t.Fatalf("ConnectionCount: %v", err)
	}
	return n
}

// Users returns srv.UserCount(), failing the test on an error.
func Users(t testing.TB, srv *server.Server) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	n, err := srv.UserCount(ctx)
	if err != nil {
		t.Fatalf("UserCount: %v", err)
	}
	return n
}

// Online returns srv.IsUserOnline(userID), failing the test on an error.
func Online(t testing.TB, srv *server.Server, userID any) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	ok, err := srv.IsUserOnline(ctx, userID)
	if err != nil {
		t.Fatalf("IsUserOnline(%v): %v", userID, err)
	}
	return ok
}

// DeviceOnline returns srv.IsDeviceOnline(deviceID), failing the test on an
// error.
func DeviceOnline(t testing.TB, srv *server.Server, deviceID string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Wait)
	defer cancel()
	ok, err := srv.IsDeviceOnline(ctx, deviceID)
	if err != nil {
		t.Fatalf("IsDeviceOnline(%q): %v", deviceID, err)
	}
	return ok
}

// PollingGuest connects a guest socket on the polling transport with plain
// HTTP requests (handshake, CONNECT, its reply) and returns a function that
// closes it. The socket then reads nothing: the server hands its events to
// the polling transport, which keeps them for the next poll.
func PollingGuest(t testing.TB, url string) (closeIt func()) {
	t.Helper()
	base := url + "/socket.io/?EIO=4&transport=polling"
	do := func(method, u, body string) string {
		t.Helper()
		req, err := http.NewRequestWithContext(Context(t), method, u, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, u, res.StatusCode, b)
		}
		return string(b)
	}
	open := do("GET", base, "")
	_, rest, ok := strings.Cut(open, `"sid":"`)
	sid, _, _ := strings.Cut(rest, `"`)
	if !ok || sid == "" {
		t.Fatalf("handshake: %q", open)
	}
	session := base + "&sid=" + sid
	do("POST", session, "40")
	if reply := do("GET", session, ""); !strings.HasPrefix(reply, "40{") {
		t.Fatalf("CONNECT reply: %q", reply)
	}
	return func() { do("POST", session, "1") } // Engine.IO CLOSE
}
