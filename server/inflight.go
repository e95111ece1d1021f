package server

import (
	"context"
	"sync"
)

// inflight counts units of work in flight so that Close can wait until
// none runs: the server's own work (the delivery goroutine, handlers, timer
// callbacks), and the websocket writers' flush goroutines. Unlike a
// sync.WaitGroup it may be added to while someone waits. Once closed it
// refuses new work to enter; add still counts work that runs whatever (the
// goroutines New starts, a writer's last flush).
type inflight struct {
	mu      sync.Mutex
	n       int
	closed  bool
	waiters []chan struct{}
}

// add counts one unit of work, closed or not.
func (f *inflight) add() {
	f.mu.Lock()
	f.n++
	f.mu.Unlock()
}

// enter counts one unit of work and reports true, unless f is closed:
// then it reports false and the caller must do nothing.
func (f *inflight) enter() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return false
	}
	f.n++
	return true
}

// done ends a unit of work counted by add or a successful enter.
func (f *inflight) done() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.n--
	if f.n == 0 {
		for _, w := range f.waiters {
			close(w)
		}
		f.waiters = nil
	}
}

// close makes enter refuse from now on.
func (f *inflight) close() {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
}

// isClosed reports whether close was called.
func (f *inflight) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// wait returns once none runs, or with ctx's error.
func (f *inflight) wait(ctx context.Context) error {
	f.mu.Lock()
	if f.n == 0 {
		f.mu.Unlock()
		return nil
	}
	ch := make(chan struct{})
	f.waiters = append(f.waiters, ch)
	f.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
