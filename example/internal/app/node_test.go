package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/testkit"
)

// webDir is example/web, relative to this package.
const webDir = "../../web"

// missing skips the test locally, or fails it in CI (CI=true), when a tool
// it needs is not installed.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

// nodeListener returns node and the path of example/web/listen.mjs.
func nodeListener(t *testing.T) (node, script string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not installed")
	}
	dir, err := filepath.Abs(webDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json")); err != nil {
		missing(t, "socket.io-client is not installed: run `npm ci --prefix example/web`")
	}
	return node, filepath.Join(dir, "listen.mjs")
}

// nodeLine is a line printed by listen.mjs.
type nodeLine struct {
	Step      string          `json:"step"`
	Room      string          `json:"room"`
	Transport string          `json:"transport"`
	Data      json.RawMessage `json:"data"`
}

// nodeClient is a running listen.mjs.
type nodeClient struct {
	t     *testing.T
	lines chan nodeLine
	done  chan error
}

// startNode runs listen.mjs against e with args and waits for its "ready"
// line, returning the lines before it.
func (e *env) startNode(args ...string) (*nodeClient, []nodeLine) {
	t := e.t
	t.Helper()
	node, script := nodeListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	cmd := exec.CommandContext(ctx, node, append([]string{script, "--url", e.url, "--stdin", "--timeout", "50"}, args...)...)
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
	c := &nodeClient{t: t, lines: make(chan nodeLine, 64), done: make(chan error, 1)}
	go func() {
		defer close(c.lines)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			var l nodeLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				l = nodeLine{Step: "unparsed", Data: json.RawMessage(strconv.Quote(sc.Text()))}
			}
			c.lines <- l
		}
		_, _ = io.Copy(io.Discard, stdout)
		c.done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		stdin.Close() // listen.mjs exits when its stdin closes
		select {
		case <-c.done:
		case <-time.After(testkit.Wait):
			t.Errorf("listen.mjs did not exit")
		}
		cancel()
		if t.Failed() && stderr.Len() > 0 {
			t.Logf("listen.mjs stderr:\n%s", stderr.String())
		}
	})
	var before []nodeLine
	for {
		l := c.next()
		if l.Step == "ready" {
			return c, before
		}
		before = append(before, l)
	}
}

// next returns the next line, failing the test if the client ends or
// reports an error first.
func (c *nodeClient) next() nodeLine {
	c.t.Helper()
	select {
	case l, ok := <-c.lines:
		if !ok {
			c.t.Fatal("listen.mjs exited")
		}
		if l.Step == "error" || l.Step == "unparsed" || l.Step == "disconnect" {
			c.t.Fatalf("listen.mjs: %s %s", l.Step, l.Data)
		}
		return l
	case <-time.After(testkit.Wait):
		c.t.Fatal("timed out waiting for listen.mjs")
	}
	return nodeLine{}
}

// untilBarrier posts a notification and returns the events the client
// printed before it (see env.barrier).
func (e *env) untilBarrier(c *nodeClient) []event {
	e.t.Helper()
	text := fmt.Sprintf("node barrier %d", e.mark.Add(1))
	e.must(http.StatusCreated, "POST", "/api/notifications", "", map[string]string{"message": text}, nil)
	var out []event
	for {
		l := c.next()
		if l.Step != "reactive" {
			e.t.Fatalf("unexpected line %+v", l)
		}
		var ev event
		if err := json.Unmarshal(l.Data, &ev); err != nil {
			e.t.Fatalf("reactive %s: %v", l.Data, err)
		}
		var n struct{ Message string }
		if ev.Model == "Notification" && json.Unmarshal(ev.Data, &n) == nil && n.Message == text {
			return out
		}
		out = append(out, ev)
	}
}

// TestNodeClient drives the npm socket.io-client (the same package the
// page loads) through login, notifications, a message, an edit, a delete
// and joins, with and without the polling → websocket upgrade.
func TestNodeClient(t *testing.T) {
	nodeListener(t)
	for _, transports := range []string{"polling,websocket", "websocket"} {
		t.Run(transports, func(t *testing.T) {
			t.Parallel()
			e := start(t, app.Config{})
			alice := &user{id: 1, token: e.login(1)}
			e.login(2)
			conv := e.conversation(alice, 2)
			other := e.conversation(&user{id: 3, token: e.login(3)}, 1)
			room := fmt.Sprintf("conversation_%d", conv)

			bob, setup := e.startNode("--user", "2", "--transports", transports,
				"--join", room, "--join", fmt.Sprintf("conversation_%d", other), "--join", "users")
			steps := map[string][]nodeLine{}
			for _, l := range setup {
				steps[l.Step] = append(steps[l.Step], l)
			}
			if a := steps["auth"]; len(a) != 1 || string(a[0].Data) != `{"success":true}` {
				t.Fatalf("auth: %+v", a)
			}
			wantJoins := []string{`{"success":true}`, `{"error":"forbidden","success":false}`, `{"error":"forbidden","success":false}`}
			if j := steps["join"]; len(j) != 3 {
				t.Fatalf("joins: %+v", j)
			} else {
				for i, l := range j {
					var got map[string]any
					_ = json.Unmarshal(l.Data, &got)
					var want map[string]any
					_ = json.Unmarshal([]byte(wantJoins[i]), &want)
					if fmt.Sprint(got) != fmt.Sprint(want) {
						t.Errorf("join %s: %s, want %s", l.Room, l.Data, wantJoins[i])
					}
				}
			}

			e.must(http.StatusCreated, "POST", "/api/notifications", "", map[string]string{"message": "to every user"}, nil)
			m := e.send(alice, conv, 2, "hello node")
			var edited message
			e.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/messages/%d", m.ID), alice.token, map[string]string{"text": "hello node, edited"}, &edited)
			e.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/messages/%d", m.ID), alice.token, nil, nil)
			// Not for bob: a message between users 3 and 1.
			e.send(&user{id: 3, token: e.login(3)}, other, 1, "not for bob")

			got := e.untilBarrier(bob)
			want := []string{"create Notification", "create Message", "update Message", "delete Message"}
			if len(got) != len(want) {
				t.Fatalf("node client got %d events, want %v: %+v", len(got), want, got)
			}
			for i, ev := range got {
				if ev.Action+" "+ev.Model != want[i] {
					t.Errorf("event %d: %s %s, want %s", i, ev.Action, ev.Model, want[i])
				}
			}
			if got[1].message(t) != m || got[2].message(t) != edited || got[3].ID.String() != strconv.Itoa(m.ID) {
				t.Errorf("message events carry %+v, %+v, %s; want %+v, %+v, %d", got[1].message(t), got[2].message(t), got[3].ID, m, edited, m.ID)
			}
		})
	}
}
