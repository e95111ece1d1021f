package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// These tests open many connections that each send an event with an ack as
// soon as the server has answered their CONNECT, as socket.io clients do
// with the events they buffered while connecting. The library (v3.0.6)
// sends that answer before it has recorded the socket, and used to close
// the connection (websocket close 1006) when the event was read in between;
// see Server.awaitRecorded.

// stressN is the number of connections of each test: def, or
// $SERVER_STRESS_N for a longer run.
func stressN(t *testing.T, def int) int {
	t.Helper()
	if s := os.Getenv("SERVER_STRESS_N"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n <= 0 {
			t.Fatalf("SERVER_STRESS_N=%q: want a positive number", s)
		}
		return n
	}
	return def
}

// connectCycle opens one connection with the light client (internal/sio)
// and, without waiting for anything else, asks to join a room (refused by
// the default authorizer). The ack must come, after "connected"; then it closes.
func connectCycle(ctx context.Context, url string) error {
	var connected atomic.Bool
	c, err := sio.Dial(ctx, sio.Config{URL: url, OnEvent: func(name string, _ []byte) {
		if name == server.EventConnected {
			connected.Store(true)
		}
	}})
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	data, err := c.EmitWithAck(ctx, server.EventJoin, "conversation_1")
	if err != nil {
		return fmt.Errorf("socket %s: join: %w (connection: %w)", c.SID, err, c.Err())
	}
	var ack []map[string]any
	if err := json.Unmarshal(data, &ack); err != nil {
		return fmt.Errorf("socket %s: join ack %s: %w", c.SID, data, err)
	}
	if len(ack) != 1 || ack[0]["success"] != false || ack[0]["error"] != "forbidden" {
		return fmt.Errorf("socket %s: join ack %s, want [{success:false,error:forbidden}]", c.SID, data)
	}
	if !connected.Load() {
		return fmt.Errorf("socket %s: join ack before %q", c.SID, server.EventConnected)
	}
	return nil
}

// runCycles runs n connect cycles on workers goroutines and fails the test
// with the count of failed cycles and the first few errors.
func runCycles(t *testing.T, url string, n, workers int) {
	t.Helper()
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		next = make(chan int)
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := connectCycle(testkit.Context(t), url); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("connection %d: %w", i, err))
					mu.Unlock()
				}
			}
		}()
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d connections failed, the first:\n%v", len(errs), n, errors.Join(errs[:min(len(errs), 5)]...))
	}
}

func TestEventRightAfterConnectSequential(t *testing.T) {
	_, url := startServer(t, server.Config{})
	runCycles(t, url, stressN(t, 600), 1)
}

func TestEventRightAfterConnectConcurrent(t *testing.T) {
	_, url := startServer(t, server.Config{})
	runCycles(t, url, stressN(t, 300), 8)
}
