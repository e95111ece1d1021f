package testkit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/entreactive/reactive/server"
)

// Served is a server.Server mounted at its Path on Mux, which a loopback
// HTTP server serves at URL. Tests may add routes to Mux.
type Served struct {
	Server *server.Server
	Mux    *http.ServeMux
	URL    string
}

// Serve starts a server.Server made of cfg, with Secret as its JWT secret
// and Logger(t) as its logger unless cfg sets them, and serves it on a
// loopback port. When the test ends it closes the server, failing the test
// if Close fails, then the HTTP server; cleanups registered after Serve run
// before that (an Admin's Close, say).
func Serve(t testing.TB, cfg server.Config) *Served {
	t.Helper()
	if cfg.JWT.Secret == nil && cfg.JWT.KeyFunc == nil {
		cfg.JWT.Secret = []byte(Secret)
	}
	if cfg.Logger == nil {
		cfg.Logger = Logger(t)
	}
	srv, err := server.New(cfg)
	if err != nil {
		t.Fatalf("testkit: server.New: %v", err)
	}
	path := cfg.Path
	if path == "" {
		path = server.DefaultPath
	}
	if !strings.HasSuffix(path, "/") {
		path += "/"
	}
	mux := http.NewServeMux()
	mux.Handle(path, srv)
	hs := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), Wait)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Errorf("testkit: server Close: %v", err)
		}
		hs.Close()
	})
	return &Served{Server: srv, Mux: mux, URL: hs.URL}
}
