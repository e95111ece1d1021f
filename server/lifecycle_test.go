package server_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// startBare starts a server without test cleanup, for tests that check
// goroutines after closing it themselves.
func startBare(t *testing.T) (*server.Server, *httptest.Server) {
	t.Helper()
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: testSecret}, Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	return srv, httptest.NewServer(mux)
}

func TestCyclesLeaveNothingBehind(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, hs := startBare(t)
	const cycles, workers = 2000, 8
	var next, acked atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > cycles {
					return
				}
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				c, err := sioclient.Dial(ctx, hs.URL, sioclient.Options{Auth: map[string]any{"device_id": "d"}, StaleOpenTimer: 3 * time.Second})
				if err == nil {
					var ack []any
					ack, err = c.EmitAck(ctx, "auth", testkit.Token(t, i%50+1))
					if err == nil {
						acked.Add(1)
					} else {
						t.Logf("lost ack: server received %d events, clients got %d acks, client connected=%v transport=%s", srv.Stats().EventsReceived, acked.Load(), c.Connected(), c.Transport())
					}
					if err == nil && !testkit.AckSuccess(ack) {
						t.Errorf("cycle %d: ack %v", i, ack)
					}
					c.Close()
				}
				cancel()
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every socket gone", func() bool { return testkit.Connections(t, srv) == 0 })
	if st := srv.Stats(); len(st.Rooms) != 0 || st.Users != 0 {
		t.Fatalf("left behind: %+v", st)
	}
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := srv.Close(ctx); err != nil {
		t.Fatal(err)
	}
	hs.Close()
}

// TestCloseUnderLoad uses the light client (internal/sio), which reports
// exactly when the server closes its websocket: the library's Go client can
// miss its own disconnect when the machine is busy.
func TestCloseUnderLoad(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	srv, hs := startBare(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	var clients []*sio.Conn
	for i := range 40 {
		c, err := sio.Dial(ctx, sio.Config{URL: hs.URL, Auth: map[string]any{"token": testkit.Token(t, i+1)}})
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	// Keep the server busy: events to everyone and clients talking.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Load", ID: i, Data: map[string]any{"i": i}, Timestamp: time.Now()}
			_ = srv.Emit(context.Background(), entreactive.ToAll(), ev)
			_ = clients[i%len(clients)].Emit("join", "busy")
		}
	}()
	testkit.Eventually(t, "events flowing", func() bool { return srv.Stats().EventsSent > 1000 })

	if err := srv.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := srv.Close(ctx); err != nil { // idempotent
		t.Fatalf("second Close: %v", err)
	}
	close(stop)
	wg.Wait()
	for i, c := range clients {
		select {
		case <-c.Done():
		case <-ctx.Done():
			t.Fatalf("client %d: the server did not close its connection", i)
		}
		c.Close()
	}
	if testkit.Connections(t, srv) != 0 {
		t.Fatalf("%d connections after Close", testkit.Connections(t, srv))
	}
	// New connections are refused.
	resp, err := http.Get(hs.URL + "/socket.io/?EIO=4&transport=polling")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("after Close: %s", resp.Status)
	}
	hs.Close()
}
