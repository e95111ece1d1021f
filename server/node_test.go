package server_test

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// nodeHarness returns the path of the Node harness, skipping the test when
// Node or its node_modules are missing locally. In CI (CI=true) a missing
// harness fails the test instead.
func nodeHarness(t *testing.T) (node, script string) {
	t.Helper()
	missing := func(why string) {
		msg := why + ": install the harness with `npm ci --prefix server/testdata/node`"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node is not installed")
	}
	dir, err := filepath.Abs(filepath.Join("testdata", "node"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "socket.io-client", "package.json")); err != nil {
		missing("socket.io-client is not installed in testdata/node/node_modules")
	}
	return node, filepath.Join(dir, "client.mjs")
}

type nodeStep struct {
	Step string          `json:"step"`
	Data json.RawMessage `json:"data"`
}

func TestNodeClient(t *testing.T) {
	node, script := nodeHarness(t)
	for _, transports := range nodeTransports {
		t.Run(transports, func(t *testing.T) {
			srv, url := startServer(t, server.Config{Authorize: allowConversations})
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, node, script, url, transports, testkit.Token(t, 7), "web-1")
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
			steps := map[string]string{}
			sc := bufio.NewScanner(stdout)
			for sc.Scan() {
				var st nodeStep
				if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
					t.Fatalf("harness printed %q", sc.Text())
				}
				steps[st.Step] = string(st.Data)
				if st.Step == "ready" {
					ev := entreactive.Event{Action: entreactive.ActionDelete, Model: "Message", ID: 5,
						Data: map[string]any{"id": 5}, Timestamp: time.UnixMilli(1700000000000)}
					if err := srv.Emit(ctx, entreactive.ToUserIDs(7), ev); err != nil {
						t.Fatal(err)
					}
					if _, err := stdin.Write([]byte("go\n")); err != nil {
						t.Fatal(err)
					}
				}
			}
			if err := cmd.Wait(); err != nil {
				t.Fatalf("harness: %v\nsteps %v\nstderr %s", err, steps, stderr.String())
			}

			var connected map[string]any
			_ = json.Unmarshal([]byte(steps["connected"]), &connected)
			if connected["deviceId"] != "web-1" || connected["socketId"] == "" {
				t.Errorf("connected = %s", steps["connected"])
			}
			want := map[string]string{
				"auth-bad":       `{"success":false,"error":"Invalid token"}`,
				"auth":           `{"success":true}`,
				"reactive":       `{"action":"delete","model":"Message","id":5,"data":{"id":5},"timestamp":1700000000000}`,
				"join":           `{"success":true}`,
				"join-forbidden": `{"success":false,"error":"forbidden"}`,
				"leave":          `{"success":true}`,
				"deauth":         `{"success":true}`,
				"transport":      `"websocket"`,
				"done":           `null`,
			}
			for step, w := range want {
				if got := compactJSON(steps[step]); got != compactJSON(w) {
					t.Errorf("%s = %s, want %s", step, steps[step], w)
				}
			}
			var authenticated map[string]any
			_ = json.Unmarshal([]byte(steps["authenticated"]), &authenticated)
			if authenticated["userId"] != float64(7) || authenticated["deviceId"] != "web-1" || authenticated["socketId"] != connected["socketId"] {
				t.Errorf("authenticated = %s", steps["authenticated"])
			}
			if !strings.Contains(steps["deauthenticated"], `"reason":"deauth"`) {
				t.Errorf("deauthenticated = %s", steps["deauthenticated"])
			}
			testkit.Eventually(t, "node socket gone", func() bool { return testkit.Connections(t, srv) == 0 })
		})
	}
}

// compactJSON re-encodes s with sorted keys, for comparisons.
func compactJSON(s string) string {
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

var nodeTransports = []string{"polling,websocket", "websocket"}
