package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
)

// started is a run in the background.
type started struct {
	url    string
	stop   context.CancelFunc
	done   chan error
	stderr *testkit.Buffer
	once   sync.Once
}

// startRun runs the command with args and env on a random loopback port.
func startRun(t *testing.T, env map[string]string, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{stop: cancel, done: make(chan error, 1), stderr: &testkit.Buffer{}}
	ready := make(chan string, 1)
	getenv := func(k string) string { return env[k] }
	go func() { s.done <- run(ctx, append([]string{"-addr", "127.0.0.1:0"}, args...), getenv, s.stderr, ready) }()
	select {
	case addr := <-ready:
		s.url = "http://" + addr
	case err := <-s.done:
		cancel()
		t.Fatalf("run: %v\n%s", err, s.stderr)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("run did not start\n%s", s.stderr)
	}
	t.Cleanup(func() { s.shutdown(t) })
	return s
}

// shutdown cancels the run, as SIGINT does, and waits for it to return.
func (s *started) shutdown(t *testing.T) {
	t.Helper()
	s.once.Do(func() {
		s.stop()
		select {
		case err := <-s.done:
			if err != nil {
				t.Errorf("run: %v\n%s", err, s.stderr)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("run did not stop\n%s", s.stderr)
		}
	})
}

func post(t *testing.T, url, body string) (int, []byte) {
	t.Helper()
	res, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	return res.StatusCode, raw
}

func TestRunServesAndStops(t *testing.T) {
	s := startRun(t, nil, "-db", ":memory:", "-static", t.TempDir())
	if !strings.Contains(s.stderr.String(), "JWT_SECRET is not set") {
		t.Errorf("no warning about the missing JWT_SECRET:\n%s", s.stderr)
	}
	res, err := http.Get(s.url + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), `<script src="/socket.io/socket.io.js"></script>`) {
		t.Fatalf("GET /: %d %.300s", res.StatusCode, page)
	}
	if code, body := post(t, s.url+"/api/login", `{"user_id":5}`); code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	s.shutdown(t)
	if !strings.Contains(s.stderr.String(), "stopped") {
		t.Errorf("no clean stop in the log:\n%s", s.stderr)
	}
	if _, err := http.Get(s.url + "/"); err == nil {
		t.Errorf("still serving after shutdown")
	}
}

func TestRunKeepsTheDatabaseFile(t *testing.T) {
	db := filepath.Join(t.TempDir(), "sub", "example.db")
	env := map[string]string{"JWT_SECRET": "a-test-secret-that-is-32-bytes-long"}
	first := startRun(t, env, "-db", db)
	if code, body := post(t, first.url+"/api/notifications", `{"message":"kept"}`); code != http.StatusCreated {
		t.Fatalf("POST: %d %s", code, body)
	}
	if strings.Contains(first.stderr.String(), "JWT_SECRET is not set") {
		t.Errorf("warned although JWT_SECRET is set")
	}
	first.shutdown(t)

	second := startRun(t, env, "-db", db)
	res, err := http.Get(second.url + "/api/notifications")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var rows []struct{ Message string }
	if err := json.NewDecoder(res.Body).Decode(&rows); err != nil || len(rows) != 1 || rows[0].Message != "kept" {
		t.Fatalf("after a restart: %+v %v", rows, err)
	}
}

func TestRunBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-nope"},
		{"extra"},
		{"-static", filepath.Join(t.TempDir(), "missing"), "-db", ":memory:"},
		{"-addr", "256.0.0.1:bad", "-db", ":memory:"},
		{"-emit-backlog", "-1", "-db", ":memory:"},
		{"-drain", "-1s", "-db", ":memory:"},
		{"-drain", "soon", "-db", ":memory:"},
	} {
		var stderr testkit.Buffer
		err := run(context.Background(), args, func(string) string { return "" }, &stderr, nil)
		if err == nil {
			t.Errorf("run %q: no error", args)
		}
	}
	var stderr testkit.Buffer
	if err := run(context.Background(), []string{"-h"}, func(string) string { return "" }, &stderr, nil); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("-h: %v", err)
	}
	if !strings.Contains(stderr.String(), "-db") {
		t.Errorf("-h does not list the flags:\n%s", stderr.String())
	}
}

// A JWT_SECRET shorter than 32 bytes would let anyone who sees one token
// find it by brute force and sign tokens for any user: the example refuses
// to start, saying why and how to make one.
func TestRunRefusesShortJWTSecret(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var stderr testkit.Buffer
	getenv := func(k string) string { return map[string]string{"JWT_SECRET": "12345"}[k] }
	err := run(ctx, []string{"-addr", "127.0.0.1:0", "-db", ":memory:", "-static", t.TempDir()}, getenv, &stderr, nil)
	if err == nil || !strings.Contains(err.Error(), "JWT_SECRET is 5 bytes") || !strings.Contains(err.Error(), "at least 32") ||
		!strings.Contains(err.Error(), "openssl rand -hex 32") {
		t.Fatalf("run with a 5-byte JWT_SECRET: %v\n%s", err, stderr.String())
	}
}

func TestRunAdmin(t *testing.T) {
	ui := t.TempDir()
	if err := os.WriteFile(filepath.Join(ui, "index.html"), []byte("<title>Socket.IO Admin UI</title>"), 0o644); err != nil {
		t.Fatal(err)
	}
	// Without -admin there is no /admin/.
	plain := startRun(t, nil, "-db", ":memory:", "-static", t.TempDir())
	if res, err := http.Get(plain.url + "/admin/"); err != nil || res.StatusCode != http.StatusNotFound {
		t.Errorf("GET /admin/ without -admin: %v %v", res.StatusCode, err)
	}

	s := startRun(t, map[string]string{"ADMIN_PASSWORD": "a long password"}, "-db", ":memory:", "-static", t.TempDir(), "-admin", "-admin-ui", ui)
	res, err := http.Get(s.url + "/admin/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusOK || !strings.Contains(string(page), "Socket.IO Admin UI") {
		t.Fatalf("GET /admin/: %d %.200s", res.StatusCode, page)
	}
	if !strings.Contains(s.stderr.String(), "Admin UI: "+s.url+"/admin/") {
		t.Errorf("the log does not point at the Admin UI:\n%s", s.stderr)
	}

	for name, env := range map[string]map[string]string{
		"no password": nil,
		"bad hash":    {"ADMIN_PASSWORD_HASH": "not-bcrypt"},
	} {
		var stderr testkit.Buffer
		getenv := func(k string) string { return env[k] }
		if err := run(context.Background(), []string{"-db", ":memory:", "-admin", "-admin-ui", ui}, getenv, &stderr, nil); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	var stderr testkit.Buffer
	if err := run(context.Background(), []string{"-admin-readonly"}, func(string) string { return "" }, &stderr, nil); err == nil {
		t.Errorf("-admin-readonly without -admin: no error")
	}
}

func TestRunServesMetricsBehindTheFlag(t *testing.T) {
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	on := startRun(t, nil, "-db", ":memory:", "-metrics")
	code, body := get(on.url + "/metrics")
	if code != http.StatusOK {
		t.Fatalf("-metrics: GET /metrics: %d", code)
	}
	for _, want := range []string{"entreactive_connections{transport=\"websocket\"} 0", "entreactive_delivery_queue_capacity 8192", "go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	off := startRun(t, nil, "-db", ":memory:")
	if code, _ := get(off.url + "/metrics"); code != http.StatusNotFound {
		t.Errorf("without -metrics: GET /metrics: %d, want 404", code)
	}
}

// Two runs on one Redis (one with -redis, one with REDIS_URL) are two
// nodes of a cluster: an event posted to one reaches a socket of the other,
// and a client that drops from one recovers on the other.
func TestRunTwoNodesShareRoomsAndRecovery(t *testing.T) {
	addr := cmp.Or(os.Getenv("ENTREACTIVE_REDIS_ADDR"), "127.0.0.1:6379")
	if c, err := net.DialTimeout("tcp", addr, time.Second); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis at %s: %v (.ci/run starts it)", addr, err)
		}
		t.Skipf("no Redis at %s: %v", addr, err)
	} else {
		c.Close()
	}
	redisURL := "redis://" + addr + "/0"
	db := filepath.Join(t.TempDir(), "shared.db")
	env := map[string]string{"JWT_SECRET": strings.Repeat("k", 32)}
	a := startRun(t, env, "-db", db, "-static", t.TempDir(), "-redis", redisURL)
	env2 := map[string]string{"JWT_SECRET": env["JWT_SECRET"], "REDIS_URL": redisURL}
	b := startRun(t, env2, "-db", db, "-static", t.TempDir())

	code, body := post(t, a.url+"/api/login", `{"user_id":5}`)
	var login struct{ Token string }
	if code != http.StatusOK || json.Unmarshal(body, &login) != nil {
		t.Fatalf("login: %d %s", code, body)
	}
	type note struct {
		message, offset string
	}
	notes := make(chan note, 10)
	onEvent := func(name string, data []byte) {
		var args []json.RawMessage
		if name != "reactive" || json.Unmarshal(data, &args) != nil || len(args) != 3 {
			return
		}
		var ev struct{ Data struct{ Message string } }
		var off string
		if json.Unmarshal(args[1], &ev) == nil && json.Unmarshal(args[2], &off) == nil {
			notes <- note{ev.Data.Message, off}
		}
	}
	next := func(want string) note {
		t.Helper()
		select {
		case n := <-notes:
			if n.message != want {
				t.Fatalf("got %q, want %q", n.message, want)
			}
			return n
		case <-time.After(testkit.Wait):
			t.Fatalf("no %q", want)
		}
		return note{}
	}
	ctx := testkit.Context(t)
	c1, err := sio.Dial(ctx, sio.Config{URL: b.url, Auth: map[string]any{"token": login.Token}, OnEvent: onEvent})
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	// The socket is in room users once B says so; A posts.
	testkit.Eventually(t, "the socket on B", func() bool {
		code, _ := post(t, a.url+"/api/notifications", `{"message":"ping"}`)
		select {
		case n := <-notes:
			return code == http.StatusCreated && n.message == "ping"
		case <-time.After(100 * time.Millisecond):
			return false
		}
	})
	for len(notes) > 0 {
		<-notes
	}
	if code, body := post(t, a.url+"/api/notifications", `{"message":"one"}`); code != http.StatusCreated {
		t.Fatalf("notification: %d %s", code, body)
	}
	last := next("one")

	c1.Drop()
	if code, body := post(t, b.url+"/api/notifications", `{"message":"two"}`); code != http.StatusCreated {
		t.Fatalf("notification: %d %s", code, body)
	}
	// Reconnect to A until B has seen the drop and kept the session (a
	// real client waits a second first); a fresh socket meanwhile is
	// closed and the client tries again, as socket.io-client would not.
	var c2 *sio.Conn
	testkit.Eventually(t, "recovered on the other node", func() bool {
		c, err := sio.Dial(ctx, sio.Config{URL: a.url, Auth: map[string]any{"pid": c1.PID, "offset": last.offset}, OnEvent: onEvent})
		if err != nil {
			t.Fatal(err)
		}
		if c.SID != c1.SID {
			_ = c.Close()
			return false
		}
		c2 = c
		return true
	})
	defer c2.Close()
	next("two")
}

// -emit-backlog 0 must reach the app as "never wait", not as "the default".
func TestEmitBacklogFlag(t *testing.T) {
	for flagValue, want := range map[int]int{0: -1, 1: 1, 16: 16} {
		if got := emitBacklog(flagValue); got != want {
			t.Errorf("-emit-backlog %d: app.Config.EmitBacklog %d, want %d", flagValue, got, want)
		}
	}
	o, err := parse([]string{"-db", ":memory:"}, func(string) string { return "" }, io.Discard, slog.New(slog.DiscardHandler))
	if err != nil || o.emitBacklog != app.DefaultEmitBacklog {
		t.Errorf("default -emit-backlog: %d %v, want %d", o.emitBacklog, err, app.DefaultEmitBacklog)
	}
}

// TestRunDrains stops the app as SIGTERM does, with -drain: /readyz turns
// 503 at once while the API and /healthz go on answering, and the app stops
// only when the drain period is over.
func TestRunDrains(t *testing.T) {
	const drain = time.Second
	s := startRun(t, nil, "-db", ":memory:", "-static", t.TempDir(), "-drain", drain.String())
	get := func(path string) int {
		res, err := http.Get(s.url + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if get("/healthz") != http.StatusOK || get("/readyz") != http.StatusOK {
		t.Fatal("not live and ready before the shutdown")
	}
	began := time.Now()
	s.stop()
	testkit.Eventually(t, "/readyz 503 once the shutdown began", func() bool { return get("/readyz") == http.StatusServiceUnavailable })
	if code := get("/healthz"); code != http.StatusOK {
		t.Errorf("/healthz while draining: %d", code)
	}
	if code, body := post(t, s.url+"/api/login", `{"user_id":5}`); code != http.StatusOK {
		t.Errorf("the API while draining: %d %s", code, body)
	}
	s.shutdown(t)
	if d := time.Since(began); d < drain {
		t.Errorf("stopped %v after the signal, before the drain period (%v)", d, drain)
	}
}
