package server_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// mountProbes mounts the liveness and readiness handlers as the example
// app does.
func mountProbes(mux *http.ServeMux, srv *server.Server) {
	mux.Handle("/healthz", srv.LivenessHandler())
	mux.Handle("/readyz", srv.ReadinessHandler())
}

// probe GETs url and returns the status and body.
func probe(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, strings.TrimSpace(string(b))
}

func TestProbes(t *testing.T) {
	n := startNodeOn(t, "127.0.0.1:0", server.Config{}, mountProbes)
	for _, path := range []string{"/healthz", "/readyz"} {
		if code, body := probe(t, n.url()+path); code != http.StatusOK || body != "ok" {
			t.Errorf("%s: %d %q, want 200 ok", path, code, body)
		}
		res, err := http.Post(n.url()+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d, want 405", path, res.StatusCode)
		}
	}
	n.stop(t)
	// The HTTP server is shut down too; the handlers answer on their own.
	for _, h := range []http.Handler{n.srv.LivenessHandler(), n.srv.ReadinessHandler()} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		if rec.Code != http.StatusServiceUnavailable || strings.TrimSpace(rec.Body.String()) != "closed" {
			t.Errorf("after Close: %d %q, want 503 closed", rec.Code, rec.Body.String())
		}
	}
}

// TestShutdownDrains takes a loaded server out of service with Shutdown:
// it turns unready at once and refuses new clients, goes on serving the
// connected ones until the drain period ends — none of them is dropped
// before — and then closes their transports (they would reconnect
// elsewhere).
func TestShutdownDrains(t *testing.T) {
	const drain = 1500 * time.Millisecond
	n := startNodeOn(t, "127.0.0.1:0", server.Config{DrainPeriod: drain}, mountProbes)
	ctx := testkit.Context(t)

	const clients = 20
	var conns []*sio.Conn
	var marks sync.Map // client index → saw the "during-drain" event
	for i := range clients {
		c, err := sio.Dial(ctx, sio.Config{
			URL:  n.url(),
			Auth: map[string]any{"token": testkit.Token(t, i+1)},
			OnEvent: func(name string, data []byte) {
				if name == "reactive" && strings.Contains(string(data), `"during-drain"`) {
					marks.Store(i, true)
				}
			},
		})
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	testkit.Eventually(t, "every client authenticated", func() bool {
		return testkit.RoomSize(t, n.srv, "users") == clients
	})

	// Load: events to everyone, all through the drain.
	stop := make(chan struct{})
	var emitted atomic.Int64
	var load sync.WaitGroup
	load.Add(1)
	go func() {
		defer load.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			ev := entreactive.Event{Action: entreactive.ActionUpdate, Model: "Load", ID: i, Data: map[string]any{"i": i}, Timestamp: time.Now()}
			if n.srv.Emit(context.Background(), entreactive.ToAll(), ev) == nil {
				emitted.Add(1)
			}
		}
	}()
	defer func() { close(stop); load.Wait() }()

	// When each client's connection ended.
	ended := make([]time.Time, clients)
	var watch sync.WaitGroup
	for i, c := range conns {
		watch.Add(1)
		go func() {
			defer watch.Done()
			select {
			case <-c.Done():
				ended[i] = time.Now()
			case <-time.After(time.Minute):
			}
		}()
	}

	began := time.Now()
	shut := make(chan error, 1)
	go func() { shut <- n.srv.Shutdown(context.Background()) }()

	testkit.Eventually(t, "unready once Shutdown began", func() bool {
		code, body := probe(t, n.url()+"/readyz")
		return code == http.StatusServiceUnavailable && body == "draining"
	})
	if code, _ := probe(t, n.url()+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz while draining: %d, want 200", code)
	}
	if c, err := sio.Dial(ctx, sio.Config{URL: n.url()}); err == nil {
		c.Close()
		t.Error("a new client was accepted while draining")
	}
	ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Mark", ID: "during-drain", Data: map[string]any{}, Timestamp: time.Now()}
	if err := n.srv.Emit(ctx, entreactive.ToAll(), ev); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every connected client served while draining", func() bool {
		count := 0
		marks.Range(func(any, any) bool { count++; return true })
		return count == clients
	})

	if err := <-shut; err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	if d := time.Since(began); d < drain {
		t.Errorf("Shutdown returned after %v, before the drain period of %v", d, drain)
	}
	watch.Wait()
	for i, at := range ended {
		switch {
		case at.IsZero():
			t.Errorf("client %d still connected after Shutdown", i)
		case at.Sub(began) < drain:
			t.Errorf("client %d dropped %v into the drain, before its end (%v)", i, at.Sub(began), drain)
		}
	}
	t.Logf("%d events emitted during the test; clients closed %v after Shutdown began", emitted.Load(), time.Since(began).Round(time.Millisecond))
}
