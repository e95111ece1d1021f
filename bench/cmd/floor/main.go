// Command floor serves the raw floor of the fan-out benchmark (package
// bench/floor): a bare websocket broadcaster that writes one pre-encoded
// frame to every authenticated connection per POST /api/notifications.
//
//	floor -addr 127.0.0.1:18082
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
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(*addr, log); err != nil {
		log.Error("floor failed", "err", err)
		os.Exit(1)
	}
}

func run(addr string, log *slog.Logger) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return err
	}
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return errors.New("floor listens on loopback only")
	}
	fl := floor.New(log)
	defer fl.Close()
	srv := &http.Server{Addr: addr, Handler: fl, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	log.Info("floor listening", "addr", addr)
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
