// Command floor serves the raw floor of the fan-out benchmark (package
// bench/floor): a bare websocket broadcaster that writes one pre-encoded
// frame to every authenticated connection per POST /api/notifications,
// one write per frame, or, with -coalesce, through a per-connection queue
// drained in as few writes (writev) as possible.
//
//	floor -addr 127.0.0.1:18082
//	floor -addr 127.0.0.1:18083 -coalesce
package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/entreactive/reactive/bench/floor"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18082", "listen address (loopback)")
	coalesce := flag.Bool("coalesce", false, "queue frames per connection and drain each queue with writev")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, floor.Config{Log: log, Coalesce: *coalesce}); err != nil {
		log.Error("floor failed", "err", err)
		os.Exit(1)
	}
}

func run(addr string, cfg floor.Config) error {
	log := cfg.Log
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("floor listens on loopback only")
	}
	fl := floor.New(cfg)
	defer fl.Close()
	srv := &http.Server{Addr: addr, Handler: fl, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("floor listening", "addr", addr, "coalesce", cfg.Coalesce)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	fl.Close() // hijacked websockets are not closed by Shutdown
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
