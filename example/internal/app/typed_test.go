package app_test

import (
	"bufio"
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/testkit"
)

// tscDir holds the pinned TypeScript of the generator's tests (npm ci
// --prefix entreactive/entreactivegen/testdata/tsc).
const tscDir = "../../../entreactive/entreactivegen/testdata/tsc"

// compileReactiveModule compiles ent/reactive.ts to an ES module and
// returns the path of reactive.js.
func compileReactiveModule(t *testing.T, node string) string {
	t.Helper()
	dir, err := filepath.Abs(tscDir)
	if err != nil {
		t.Fatal(err)
	}
	tsc := filepath.Join(dir, "node_modules", "typescript", "bin", "tsc")
	if _, err := os.Stat(tsc); err != nil {
		missing(t, "typescript is not installed: run `npm ci --prefix entreactive/entreactivegen/testdata/tsc`")
	}
	out := t.TempDir()
	cmd := exec.CommandContext(testkit.Context(t), node, tsc, "--pretty", "false", "-p", filepath.Join(dir, "tsconfig.emit.json"), "--outDir", out)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tsc: %v\n%s", err, b)
	}
	if err := os.WriteFile(filepath.Join(out, "package.json"), []byte(`{"type":"module"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(out, "reactive.js")
}

// TestGeneratedTypeScriptHelpers runs onReactive and onModel of the
// generated module (ent/reactive.ts, compiled by tsc) on a socket of the
// npm socket.io-client against the app: onModel hears only its model,
// onReactive hears everything, and the functions they return stop them.
func TestGeneratedTypeScriptHelpers(t *testing.T) {
	node, listen := nodeListener(t)
	module := compileReactiveModule(t, node)
	e := start(t, app.Config{})
	alice := &user{id: 1, token: e.login(1)}
	bob := e.login(2)
	conv := e.conversation(alice, 2)

	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, filepath.Join(filepath.Dir(listen), "typed.mjs"), e.url, bob, module)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := cmd.Wait(); err != nil {
			t.Errorf("typed.mjs: %v\n%s", err, stderr.String())
		}
	}()
	lines := bufio.NewScanner(stdout)
	if !lines.Scan() || lines.Text() != `{"step":"ready"}` {
		t.Fatalf("typed.mjs did not get ready: %q\n%s", lines.Text(), stderr.String())
	}

	notify := func(text string) {
		e.must(http.StatusCreated, "POST", "/api/notifications", "", map[string]string{"message": text}, nil)
	}
	notify("hello")
	e.send(alice, conv, 2, "first")
	notify("stop")
	e.send(alice, conv, 2, "after stop") // no helper hears it
	notify("end")

	var got []string
	for lines.Scan() {
		got = append(got, lines.Text())
	}
	want := []string{
		`{"via":"onReactive","model":"Notification","action":"create"}`,
		`{"via":"onModel","model":"Message","action":"create"}`,
		`{"via":"onReactive","model":"Message","action":"create"}`,
		`{"via":"onReactive","model":"Notification","action":"create"}`,
		`{"step":"stopped"}`,
		`{"step":"end"}`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("typed.mjs printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
