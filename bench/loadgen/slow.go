package loadgen

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// SlowConfig: Healthy authenticated sockets that read everything, plus
// Stalled sockets that authenticate and then stop reading while they keep
// sending heartbeats (a live peer that does not drain). Notifications of
// about PayloadBytes are posted at Rate per second for Duration; each must
// reach every healthy socket. Run it once with Stalled 0 and once with
// stalled clients, each on a fresh server, to compare the healthy
// sockets' latency.
type SlowConfig struct {
	Common
	Healthy      int           // default 100
	Stalled      int           // 0: the control run
	Rate         float64       // default 25
	Duration     time.Duration // default 40 s
	PayloadBytes int           // default 16 KiB
	// StalledReadBuffer is the stalled sockets' SO_RCVBUF, so the kernel
	// holds little for them. Default 16 KiB.
	StalledReadBuffer int
	// PendingLimitMiB is the server's configured per-connection limit on
	// pending bytes, recorded in the result for the report (0: unknown).
	PendingLimitMiB float64
}

// SlowConsumers runs the slow-consumer scenario. Beyond the fan-out
// figures of the healthy sockets, it reports the server's peak RSS during
// the feed and how many stalled sockets the server closed.
func SlowConsumers(ctx context.Context, e *Env, cfg SlowConfig) (*Result, error) {
	healthy := orDefault(cfg.Healthy, 100)
	rate := orDefaultF(cfg.Rate, 25)
	dur := cfg.Duration
	if dur <= 0 {
		dur = 40 * time.Second
	}
	size := orDefault(cfg.PayloadBytes, 16<<10)
	n := max(1, int(rate*dur.Seconds()))
	r := cfg.result(e, "slow")
	r.Clients, r.Messages, r.Rate = healthy, n, rate
	r.Slow = &SlowResult{Stalled: cfg.Stalled, PayloadBytes: size, PendingLimitMiB: cfg.PendingLimitMiB}

	t := newTracker(e, healthy, n, nil)
	s, err := open(ctx, e, r, t, healthy)
	if err != nil {
		return nil, err
	}
	defer s.close()
	stalled, err := e.dialStalledUsers(ctx, healthy+1, cfg.Stalled, orDefault(cfg.StalledReadBuffer, 16<<10))
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, sc := range stalled {
			sc.ws.Close()
		}
	}()
	if e.PID > 0 {
		r.Server.RSSAfterConnect, _ = procRSS(e.PID)
	}

	peak := startRSSPeak(e.PID, 250*time.Millisecond)
	var ok atomic.Int64
	s.begin()
	pad := strings.Repeat("x", max(0, size-64))
	pacer(ctx, n, rate, 64, 1, func(ctx context.Context, seq int) {
		t.markPosted(seq)
		code, err := e.postJSON(ctx, "/api/notifications", "", map[string]string{"message": "slow " + e.tag(seq) + " " + pad}, nil)
		if err != nil || code != http.StatusCreated {
			t.failed[seq].Store(true)
			t.noteError(err, code, "POST /api/notifications")
			return
		}
		ok.Add(1)
	})
	r.Expected = ok.Load() * int64(healthy)
	r.PostErrors = int64(n) - ok.Load()
	t.waitFor(ctx, r.Expected, time.Now().Add(cfg.drain()))
	// Give the server time to act on the stalled sockets it has not
	// closed yet, before judging.
	if len(stalled) > 0 {
		sleepCtx(ctx, 2*time.Second)
	}
	r.Server.RSSPeak = peak.stop()
	s.end()
	r.Slow.StalledClosed, r.Slow.CloseSeconds = finishAll(stalled, 3*time.Second)
	return r, nil
}

// dialStalledUsers logs users first..first+count-1 in and connects one
// stalled socket each.
func (e *Env) dialStalledUsers(ctx context.Context, first, count, readBuffer int) ([]*stalledConn, error) {
	conns := make([]*stalledConn, count)
	err := parallel(ctx, count, 8, func(ctx context.Context, i int) error {
		tok, err := e.login(ctx, e.Base, first+i)
		if err != nil {
			return err
		}
		conns[i], err = dialStalled(ctx, e.Base, tok, readBuffer)
		return err
	})
	if err != nil {
		for _, c := range conns {
			if c != nil {
				c.ws.Close()
			}
		}
		return nil, fmt.Errorf("stalled clients: %w", err)
	}
	return conns, nil
}

// rssPeak samples a process's RSS until stopped and keeps the highest.
type rssPeak struct {
	stopc chan struct{}
	done  chan struct{}
	mu    sync.Mutex
	peak  float64
}

func startRSSPeak(pid int, every time.Duration) *rssPeak {
	p := &rssPeak{stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		if pid <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v, err := procRSS(pid); err == nil {
				p.mu.Lock()
				p.peak = max(p.peak, v)
				p.mu.Unlock()
			}
			select {
			case <-p.stopc:
				return
			case <-t.C:
			}
		}
	}()
	return p
}

// stop ends the sampling and returns the peak in MiB (0 without a pid).
func (p *rssPeak) stop() float64 {
	close(p.stopc)
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.peak
}
