package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// node is a server.Server served on a listener of its own, so that a test
// can stop it and start another on the same address, as a restart does.
type node struct {
	srv *server.Server
	hs  *http.Server
	ln  net.Listener
}

// startNodeOn serves a server made of cfg on addr ("127.0.0.1:0" for any
// port), retrying the listen for a moment while the previous node's port is
// being released.
func startNodeOn(t *testing.T, addr string, cfg server.Config, mount func(*http.ServeMux, *server.Server)) *node {
	t.Helper()
	if cfg.JWT.Secret == nil {
		cfg.JWT.Secret = testSecret
	}
	if cfg.Logger == nil {
		cfg.Logger = testkit.Logger(t)
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(testkit.Wait); ; {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(server.DefaultPath, srv)
	if mount != nil {
		mount(mux, srv)
	}
	n := &node{srv: srv, hs: &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}, ln: ln}
	go func() { _ = n.hs.Serve(ln) }()
	t.Cleanup(func() { n.stop(t) })
	return n
}

func (n *node) url() string { return "http://" + n.ln.Addr().String() }

// stop closes the server, then the HTTP server, as the example app does on
// SIGTERM. Stopping twice is a no-op.
func (n *node) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := n.srv.Close(ctx); err != nil {
		t.Errorf("server Close: %v", err)
	}
	if err := n.hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("http Shutdown: %v", err)
	}
}

// nodeClients is a running restart.mjs: many socket.io-client clients.
type nodeClients struct {
	t     *testing.T
	steps chan clientStep
	stdin io.WriteCloser
}

// clientStep is one line of restart.mjs.
type clientStep struct {
	Step string
	I    int
	ID   string
	// Reason is a disconnect's reason, Message a connect_error's.
	Reason, Message string
	Recovered       bool
}

// startClients runs n socket.io-client clients against url with the
// given transports ("default", "websocket" or "polling") and token ("" for
// guests).
func startClients(t *testing.T, url string, n int, transports, token string) *nodeClients {
	t.Helper()
	node, script := nodeHarness(t)
	script = filepath.Join(filepath.Dir(script), "restart.mjs")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	args := []string{script, url, fmt.Sprint(n), transports}
	if token != "" {
		args = append(args, token)
	}
	cmd := exec.CommandContext(ctx, node, args...)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &nodeClients{t: t, steps: make(chan clientStep, 16*n), stdin: stdin}
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer close(c.steps)
		lines := bufio.NewScanner(stdout)
		for lines.Scan() {
			var raw struct {
				Step string          `json:"step"`
				Data json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(lines.Bytes(), &raw); err != nil {
				t.Errorf("restart.mjs: %s: %v", lines.Text(), err)
				continue
			}
			s := clientStep{Step: raw.Step}
			var d struct {
				I         int    `json:"i"`
				ID        string `json:"id"`
				Reason    string `json:"reason"`
				Message   string `json:"message"`
				Recovered bool   `json:"recovered"`
			}
			if raw.Step == "error" {
				s.Message = string(raw.Data)
			} else if err := json.Unmarshal(raw.Data, &d); err != nil {
				t.Errorf("restart.mjs: %s: %v", lines.Text(), err)
				continue
			}
			s.I, s.ID, s.Reason, s.Message, s.Recovered = d.I, d.ID, d.Reason, d.Message, d.Recovered
			c.steps <- s
		}
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(stdin, "done\n")
		_ = stdin.Close()
		<-read
		_ = cmd.Wait()
		cancel()
		if t.Failed() {
			t.Logf("restart.mjs stderr: %s", stderr.String())
		}
	})
	return c
}

// await reads steps until every client in want has done step, or fails the
// test after timeout. It returns those steps, by client, and every other
// step seen meanwhile.
func (c *nodeClients) await(step string, want int, timeout time.Duration) (got map[int]clientStep, others []clientStep) {
	c.t.Helper()
	got = make(map[int]clientStep)
	deadline := time.After(timeout)
	for len(got) < want {
		select {
		case s, ok := <-c.steps:
			if !ok {
				c.t.Fatalf("clients ended with %d of %d %q (others: %v)", len(got), want, step, others)
			}
			if s.Step == "error" {
				c.t.Fatalf("restart.mjs: %s", s.Message)
			}
			if s.Step == step {
				if _, dup := got[s.I]; !dup {
					got[s.I] = s
				}
				continue
			}
			others = append(others, s)
		case <-deadline:
			c.t.Fatalf("after %v, %d of %d clients had %q (others: %v)", timeout, len(got), want, step, others)
		}
	}
	return got, others
}

// TestRestartReconnectsEveryClient stops a server as a SIGTERM'd app does
// (Close, then the HTTP server) and starts another on the same address:
// every socket.io-client, with its default reconnection, sees a transport
// close (not "io server disconnect", which it never retries) and comes
// back to the new server on its own, within seconds. With recovery on a
// single node, the new server cannot know the old sessions: the clients
// get fresh ones.
func TestRestartReconnectsEveryClient(t *testing.T) {
	cases := []struct {
		transports string
		clients    int
		cfg        server.Config
	}{
		{"default", 50, server.Config{}},
		{"default", 20, server.Config{Recovery: &server.Recovery{}}},
		{"websocket", 20, server.Config{}},
		{"polling", 20, server.Config{}},
	}
	for _, tc := range cases {
		// A short heartbeat: a client that misses the close (none should)
		// finds out in seconds rather than in the default 45 s.
		tc.cfg.PingInterval, tc.cfg.PingTimeout = 2*time.Second, 2*time.Second
		name := tc.transports
		if tc.cfg.Recovery != nil {
			name += "/recovery"
		}
		t.Run(name, func(t *testing.T) {
			first := startNodeOn(t, "127.0.0.1:0", tc.cfg, nil)
			clients := startClients(t, first.url(), tc.clients, tc.transports, testkit.Token(t, 1))
			before, _ := clients.await("connect", tc.clients, 30*time.Second)

			first.stop(t)
			gone, _ := clients.await("disconnect", tc.clients, 30*time.Second)
			reasons := map[string]int{}
			for i, s := range gone {
				reasons[s.Reason]++
				if s.Reason == "io server disconnect" {
					t.Errorf("client %d: disconnect reason %q: the client will never reconnect", i, s.Reason)
				}
			}
			t.Logf("disconnect reasons: %v", reasons)

			started := time.Now()
			second := startNodeOn(t, first.ln.Addr().String(), tc.cfg, nil)
			back, _ := clients.await("connect", tc.clients, 30*time.Second)
			t.Logf("%d clients back %v after the restart", len(back), time.Since(started).Round(time.Millisecond))
			for i, s := range back {
				if s.Recovered {
					t.Errorf("client %d recovered a session of the stopped server", i)
				}
				if s.ID == before[i].ID {
					t.Errorf("client %d kept its socket id %s", i, s.ID)
				}
			}
			testkit.Eventually(t, "every client in the new server's users room", func() bool {
				return testkit.RoomSize(t, second.srv, "users") == tc.clients
			})
		})
	}
}

// A namespace's clients come back after a restart as those of "/" do: the
// stopped server closes their connection without a DISCONNECT, their
// socket.io-client reconnects on its own, and they are the new server's
// sockets of that namespace (new ones: nothing is recovered outside "/").
func TestRestartReconnectsNamespaceClients(t *testing.T) {
	const clients = 10
	cfg := server.Config{PingInterval: 2 * time.Second, PingTimeout: 2 * time.Second}
	var chats []*server.Namespace
	withChat := func(_ *http.ServeMux, srv *server.Server) {
		chat, err := srv.Namespace("/chat")
		if err != nil {
			t.Fatal(err)
		}
		chats = append(chats, chat)
	}
	first := startNodeOn(t, "127.0.0.1:0", cfg, withChat)
	nc := startClients(t, first.url()+"/chat", clients, "default", "")
	before, _ := nc.await("connect", clients, 30*time.Second)
	if got := len(chats[0].Sockets()); got != clients {
		t.Fatalf("first server: %d sockets in /chat, want %d", got, clients)
	}

	first.stop(t)
	gone, _ := nc.await("disconnect", clients, 30*time.Second)
	for i, s := range gone {
		if s.Reason == "io server disconnect" {
			t.Errorf("client %d: disconnect reason %q: the client will never reconnect", i, s.Reason)
		}
	}

	second := startNodeOn(t, first.ln.Addr().String(), cfg, withChat)
	back, _ := nc.await("connect", clients, 30*time.Second)
	for i, s := range back {
		if s.ID == before[i].ID {
			t.Errorf("client %d kept its socket id %s", i, s.ID)
		}
	}
	testkit.Eventually(t, "every client in the new server's /chat", func() bool {
		return len(chats[1].Sockets()) == clients
	})
	if n := testkit.Connections(t, second.srv); n != 0 {
		t.Errorf("the new server has %d sockets of /, want 0", n)
	}
}
