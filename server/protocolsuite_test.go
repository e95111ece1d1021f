package server

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"testing"
	"time"

	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/config"
)

// TestServeEngineIOProtocolSuite serves the echo server that the official
// engine.io protocol suite (socketio/engine.io-protocol, test-suite/) runs
// against: a bare Engine.IO server on this package's transports, as a
// Server runs them, that sends every message back. It runs only when
// ENTREACTIVE_ENGINE_SUITE_ADDR is set (the suite wants 127.0.0.1:3000),
// until SIGINT or SIGTERM or ENTREACTIVE_ENGINE_SUITE_FOR (default 10m):
//
//	ENTREACTIVE_ENGINE_SUITE_ADDR=127.0.0.1:3000 go test -run TestServeEngineIOProtocolSuite -v ./server/ &
//	(cd engine.io-protocol/test-suite && npm ci && npx mocha test-suite.js)
//
// CONTRIBUTING.md says how to fetch the suites; they are never committed.
func TestServeEngineIOProtocolSuite(t *testing.T) {
	addr := os.Getenv("ENTREACTIVE_ENGINE_SUITE_ADDR")
	if addr == "" {
		t.Skip("set ENTREACTIVE_ENGINE_SUITE_ADDR=127.0.0.1:3000 to serve the engine.io protocol suite's echo server")
	}
	serveFor := 10 * time.Minute
	if v := os.Getenv("ENTREACTIVE_ENGINE_SUITE_FOR"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Fatalf("ENTREACTIVE_ENGINE_SUITE_FOR: %v", err)
		}
		serveFor = d
	}
	// The suite's settings (its README).
	cfg := Config{PingInterval: 300 * time.Millisecond, PingTimeout: 200 * time.Millisecond}
	if err := cfg.setDefaults(); err != nil {
		t.Fatal(err)
	}
	tr := newEngineTransports(cfg, &counters{}, nil)
	opts := config.DefaultServerOptions()
	opts.SetPingInterval(cfg.PingInterval)
	opts.SetPingTimeout(cfg.PingTimeout)
	opts.SetMaxHttpBufferSize(1_000_000)
	opts.SetTransports(tr.set)
	eng := engine.NewServer(opts)
	tr.upgrades.watch(eng)
	_ = eng.On("connection", func(args ...any) {
		sock := args[0].(engine.Socket)
		_ = sock.On("message", func(args ...any) {
			if data, ok := args[0].(io.Reader); ok {
				sock.Send(data, nil, nil)
			}
		})
	})
	defer eng.Close()

	mux := http.NewServeMux()
	mux.Handle("/engine.io/", tr.handler(eng))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	t.Logf("engine.io echo server on http://%s/engine.io/ for %v", ln.Addr(), serveFor)

	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(stop)
	select {
	case <-stop:
	case <-time.After(serveFor):
	}
}
