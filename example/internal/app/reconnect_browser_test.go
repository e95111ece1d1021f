package app_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/testkit"
)

// servedApp is an App on a listener of its own, so that a test can stop it
// and start another on the same address, as a restart does.
type servedApp struct {
	app *app.App
	hs  *http.Server
	url string
}

// serveAppOn starts an App made of cfg on addr ("127.0.0.1:0" for any
// port), retrying the listen while a stopped app's port is released.
func serveAppOn(t *testing.T, addr string, cfg app.Config) *servedApp {
	t.Helper()
	if cfg.JWTSecret == nil {
		cfg.JWTSecret = testSecret
	}
	if cfg.Logger == nil {
		cfg.Logger = testkit.Logger(t)
	}
	var ln net.Listener
	var err error
	for deadline := time.Now().Add(testkit.Wait); ; time.Sleep(20 * time.Millisecond) {
		if ln, err = net.Listen("tcp", addr); err == nil || time.Now().After(deadline) {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	s := &servedApp{app: a, hs: &http.Server{Handler: a.Handler()}, url: "http://" + ln.Addr().String()}
	go func() { _ = s.hs.Serve(ln) }()
	t.Cleanup(func() { s.stop(t) })
	return s
}

// stop shuts the app down as a SIGTERM does; stopping twice is a no-op.
func (s *servedApp) stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	if err := s.app.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if err := s.hs.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		t.Errorf("http Shutdown: %v", err)
	}
}

// TestBrowserReconnects checks what the page shows and does when the
// server ends its socket: after an operator's kick ("io server
// disconnect", which socket.io-client never retries) it says so and offers
// a Reconnect button, which brings the tab back; after a restart of the
// server (a transport close) it reconnects and authenticates by itself,
// and live events reach it again.
func TestBrowserReconnects(t *testing.T) {
	exe, bundle := chromium(t)
	cfg := app.Config{ClientDir: bundle, DB: filepath.Join(t.TempDir(), "example.db")}
	first := serveAppOn(t, "127.0.0.1:0", cfg)
	tab := openTab(newBrowser(t, exe), t, "tab")
	tab.login(first.url, 1)
	const authed = `document.querySelector("#status-text").textContent.includes("user 1")`

	// An operator disconnects user 1.
	if err := first.app.Server().DisconnectUser(testkit.Context(t), 1); err != nil {
		t.Fatal(err)
	}
	tab.waitJS("the page to say the server disconnected it",
		`document.querySelector("#status-text").textContent === "Disconnected by the server" && !document.querySelector("#reconnect").hidden`)
	tab.run(chromedp.Click(chromedp.CSS("#reconnect")))
	tab.waitJS("the tab back after Reconnect", authed+` && document.querySelector("#reconnect").hidden`)

	// The server restarts on the same address.
	first.stop(t)
	tab.waitJS("the page to say it is reconnecting",
		`document.querySelector("#status").dataset.state === "connecting" && document.querySelector("#reconnect").hidden`)
	second := serveAppOn(t, first.url[len("http://"):], cfg)
	tab.waitJS("the tab back by itself after the restart", authed)

	// Live events reach it again.
	const note = "after the restart"
	code, body, err := postJSON(second.url+"/api/notifications", "", map[string]any{"message": note})
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST /api/notifications: %d %s %v", code, body, err)
	}
	tab.waitJS("the notification", `[...document.querySelectorAll("#notifications li .text")].some(e => e.textContent === `+jsExpr(note)+`)`)

	tab.mu.Lock()
	defer tab.mu.Unlock()
	for _, e := range tab.errors {
		t.Errorf("JavaScript error: %s", e)
	}
}
