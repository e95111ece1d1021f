package app_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/testkit"
)

func TestPageAndBundle(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "socket.io.js"), []byte("/* bundle */"), 0o644); err != nil {
		t.Fatal(err)
	}
	e := start(t, app.Config{ClientDir: dir})
	cases := []struct {
		path     string
		status   int
		typ      string
		contains string
	}{
		{"/", 200, "text/html", `<script src="/socket.io/socket.io.js"></script>`},
		{"/static/app.js", 200, "text/javascript", `socket.on("reactive"`},
		{"/static/style.css", 200, "text/css", ".messages"},
		{"/socket.io/socket.io.js", 200, "text/javascript", "/* bundle */"},
		{"/static/", 404, "", ""},
		{"/static/nope.js", 404, "", ""},
		{"/index.html", 404, "", ""},
		{"/socket.io/other.js", 404, "", ""},
	}
	for _, tc := range cases {
		r := e.do("GET", tc.path, "", nil)
		if r.status != tc.status {
			t.Errorf("GET %s: %d, want %d", tc.path, r.status, tc.status)
			continue
		}
		if ct := r.header.Get("Content-Type"); tc.typ != "" && !strings.HasPrefix(ct, tc.typ) {
			t.Errorf("GET %s: Content-Type %q, want %s", tc.path, ct, tc.typ)
		}
		if !strings.Contains(string(r.body), tc.contains) {
			t.Errorf("GET %s: body lacks %q", tc.path, tc.contains)
		}
	}
	if csp := e.do("GET", "/", "", nil).header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") {
		t.Errorf("page CSP %q", csp)
	}
}

func TestClose(t *testing.T) {
	e := start(t, app.Config{})
	tok := e.login(1)
	if err := e.app.Close(context.Background()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := e.app.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, path := range []string{"/api/notifications", "/api/conversations"} {
		r := e.do("GET", path, tok, nil)
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("GET %s after Close: %d, want 503", path, r.status)
		}
		r.errorMessage(t)
	}
}

func TestNewRefusesBadConfig(t *testing.T) {
	for name, cfg := range map[string]app.Config{
		"no DB":         {JWTSecret: testSecret},
		"no secret":     {DB: app.MemoryDB},
		"missing dir":   {DB: app.MemoryDB, JWTSecret: testSecret, ClientDir: filepath.Join(t.TempDir(), "none")},
		"bad DB folder": {DB: filepath.Join(t.TempDir(), "no", "such", "dir", "x.db"), JWTSecret: testSecret},
	} {
		cfg.Logger = testkit.Logger(t)
		if a, err := app.New(context.Background(), cfg); err == nil {
			a.Close(context.Background())
			t.Errorf("%s: New succeeded", name)
		}
	}
}
