package server_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/server"
)

var testSecret = []byte("test-secret-of-at-least-32-bytes!!")

// wait is the generous bound of every wait in these tests.
const wait = 15 * time.Second

func waitCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// quietLogger discards logs unless -v is given, or appends them to the
// file named by $SERVER_TEST_LOG.
func quietLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(&testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if f := os.Getenv("SERVER_TEST_LOG"); f != "" {
		w, err := os.OpenFile(f, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err == nil {
			t.Cleanup(func() { w.Close() })
			return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
		}
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type testWriter struct{ t *testing.T }

func (w *testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// startServer starts a Server with cfg (JWT secret and a quiet logger filled
// in when unset), mounted on a net/http mux, and returns it with the base URL.
func startServer(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	if cfg.JWT.Secret == nil && cfg.JWT.KeyFunc == nil {
		cfg.JWT.Secret = testSecret
	}
	if cfg.Logger == nil {
		cfg.Logger = quietLogger(t)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		hs.Close()
	})
	return srv, hs.URL
}

// token signs HS256 claims with testSecret, with an "exp" an hour ahead
// unless claims have one (the server refuses tokens without exp).
func token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	return tokenExactly(t, expiring(claims))
}

// expiring returns claims with an "exp" an hour ahead unless they have one.
func expiring(claims jwt.MapClaims) jwt.MapClaims {
	out := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		out[k] = v
	}
	return out
}

// tokenExactly signs HS256 claims, as they are, with testSecret.
func tokenExactly(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// userToken is a valid token for user id, valid for an hour.
func userToken(t *testing.T, id any) string {
	return token(t, jwt.MapClaims{"id": id})
}

func dial(t *testing.T, url string, o sioclient.Options) *sioclient.Client {
	t.Helper()
	c, err := sioclient.Dial(waitCtx(t), url, o)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(c.Close)
	// The client sees the namespace connected slightly before the server
	// has put the socket in its rooms; "connected" comes after.
	if err := c.WaitCount(waitCtx(t), "connected", 1); err != nil {
		t.Fatal(err)
	}
	return c
}

// authAs authenticates c as user id and checks the ack.
func authAs(t *testing.T, c *sioclient.Client, id any) {
	t.Helper()
	ack, err := c.EmitAck(waitCtx(t), "auth", userToken(t, id))
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	if !ackSuccess(ack) {
		t.Fatalf("auth %v: ack %v", id, ack)
	}
}

func ackSuccess(ack []any) bool {
	if len(ack) != 1 {
		return false
	}
	m, _ := ack[0].(map[string]any)
	return m["success"] == true
}

func ackError(ack []any) string {
	if len(ack) != 1 {
		return ""
	}
	m, _ := ack[0].(map[string]any)
	if m["success"] != false {
		return ""
	}
	s, _ := m["error"].(string)
	return s
}

// eventually polls cond until it holds or the wait bound passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// marker emits a "reactive" event to room and waits until c receives it:
// once it arrives, every event emitted before it has been delivered too
// (delivery keeps order), so a test can then assert absences.
func marker(t *testing.T, srv *server.Server, cs []*sioclient.Client, id int) {
	t.Helper()
	ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Marker", ID: id, Data: map[string]any{"id": id}, Timestamp: time.Now()}
	if err := srv.Emit(context.Background(), entreactive.ToAll(), ev); err != nil {
		t.Fatalf("marker: %v", err)
	}
	for _, c := range cs {
		for {
			args, err := c.Next(waitCtx(t), "reactive")
			if err != nil {
				t.Fatalf("marker %d: %v", id, err)
			}
			m := args[0].(map[string]any)
			if m["model"] == "Marker" && m["id"] == float64(id) {
				break
			}
		}
	}
}

// transportsUnderTest are the Go client's transports the protocol tests
// run over (the Node client covers both too, see TestNodeClient).
var transportsUnderTest = []sioclient.Transport{sioclient.WebSocketOnly, sioclient.Upgrade}
