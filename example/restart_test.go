package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/entreactive/reactive/internal/testkit"
)

// asExample makes the test binary run the example's main when started by
// startProcess: a real process to send SIGTERM to, built without a go build.
const asExample = "ENTREACTIVE_RUN_EXAMPLE"

func TestMain(m *testing.M) {
	if os.Getenv(asExample) == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// process is the example running as a process of its own.
type process struct {
	cmd    *exec.Cmd
	stderr *testkit.Buffer
	exited chan error
}

// startProcess starts the example on addr with args and env, and waits
// until it answers /healthz.
func startProcess(t *testing.T, addr string, env []string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-addr", addr}, args...)...)
	cmd.Env = append(append(os.Environ(), asExample+"=1"), env...)
	p := &process{cmd: cmd, stderr: &testkit.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.exited
		if t.Failed() {
			t.Logf("example's stderr:\n%s", p.stderr)
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := http.Get("http://" + addr + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			t.Fatalf("the example exited: %v\n%s", err, p.stderr)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the example does not answer /healthz: %v\n%s", err, p.stderr)
		}
	}
}

// terminate sends SIGTERM and waits for the process to exit by itself.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err
		if err != nil {
			t.Fatalf("the example exited with %v after SIGTERM\n%s", err, p.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the example did not exit after SIGTERM\n%s", p.stderr)
	}
}

// freeAddr returns a loopback address nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// nodeClients starts restart.mjs (the server package's socket.io-client
// harness) with n clients on url and returns a channel of its lines.
func nodeClients(t *testing.T, url string, n int, token string) <-chan map[string]any {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node is not installed")
	}
	script, err := filepath.Abs(filepath.Join("..", "server", "testdata", "node", "restart.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "socket.io-client")); err != nil {
		missingTool(t, "socket.io-client is not installed: run `npm ci --prefix server/testdata/node`")
	}
	cmd := exec.Command(node, script, url, fmt.Sprint(n), "default", token)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan map[string]any, 16*n)
	go func() {
		defer close(lines)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var l map[string]any
			if json.Unmarshal(sc.Bytes(), &l) == nil {
				lines <- l
			}
		}
	}()
	t.Cleanup(func() {
		_, _ = io.WriteString(stdin, "done\n")
		_ = stdin.Close()
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return lines
}

// missingTool skips the test locally, or fails it in CI, when a tool it
// needs is not installed.
func missingTool(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// awaitClients reads lines until each of n clients has printed step, and
// returns the data of those lines by client.
func awaitClients(t *testing.T, lines <-chan map[string]any, step string, n int) map[int]map[string]any {
	t.Helper()
	got := make(map[int]map[string]any)
	deadline := time.After(30 * time.Second)
	for len(got) < n {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("the clients ended with %d of %d %q", len(got), n, step)
			}
			if l["step"] == "error" {
				t.Fatalf("clients: %v", l["data"])
			}
			if l["step"] == step {
				d, _ := l["data"].(map[string]any)
				i, _ := d["i"].(float64)
				got[int(i)] = d
			}
		case <-deadline:
			t.Fatalf("after 30 s, %d of %d clients had %q", len(got), n, step)
		}
	}
	return got
}

// TestRestartedProcessGetsItsClientsBack runs the example as a process,
// connects 50 socket.io-client clients with their default reconnection,
// stops it with SIGTERM and starts it again on the same port: every client
// comes back by itself (on main before this test, none ever did: they were
// sent "io server disconnect").
func TestRestartedProcessGetsItsClientsBack(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the example as a process")
	}
	const clients = 50
	addr := freeAddr(t)
	db := filepath.Join(t.TempDir(), "example.db")
	env := []string{"JWT_SECRET=" + strings.Repeat("s", 32)}
	first := startProcess(t, addr, env, "-db", db, "-static", t.TempDir())
	code, body := post(t, "http://"+addr+"/api/login", `{"user_id":1}`)
	if code != http.StatusOK {
		t.Fatalf("login: %d %s", code, body)
	}
	var login struct{ Token string }
	if err := json.Unmarshal(body, &login); err != nil {
		t.Fatal(err)
	}
	lines := nodeClients(t, "http://"+addr, clients, login.Token)
	awaitClients(t, lines, "connect", clients)

	first.terminate(t)
	for i, d := range awaitClients(t, lines, "disconnect", clients) {
		if d["reason"] == "io server disconnect" {
			t.Errorf("client %d: %q: socket.io-client never reconnects after it", i, d["reason"])
		}
	}
	began := time.Now()
	startProcess(t, addr, env, "-db", db, "-static", t.TempDir())
	awaitClients(t, lines, "connect", clients)
	t.Logf("%d clients back %v after the restart began", clients, time.Since(began).Round(time.Millisecond))

}
