package loadgen

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/entreactive/reactive/internal/sio"
)

// verdict is how a scenario classifies an event of this run seen by a
// socket.
type verdict int

const (
	wanted  verdict = iota // the socket should get it
	leak                   // it was for another socket
	phantom                // its row was rolled back
)

// tracker records when each sequence number was posted and what every
// socket received. Each receiver is written only by its socket's read
// goroutine; the tracker reads them after the sockets are closed.
type tracker struct {
	t0        time.Time
	marker    []byte
	postAt    []atomic.Int64 // ns since t0 when the POST was sent; 0 = never
	failed    []atomic.Bool  // the POST did not succeed
	delivered atomic.Int64
	receivers []receiver
	classify  func(sock, seq int) verdict // nil: every event is wanted
	// postNode[seq] is the node that took seq's POST and sockNode[i] the
	// node socket i is on; both nil outside a cluster run of more than
	// one node. Written before the sockets connect.
	postNode []int8
	sockNode []int8

	errMu sync.Mutex
	errs  []string // the first few distinct request errors
}

type receiver struct {
	seen      []uint64 // bitset over seq
	lat       []int32  // microseconds, POST to receipt
	latRemote []int32  // the same, for seqs posted to another node (cluster runs)
	last      int64    // ns since t0 of the last wanted receipt
	dups      int64
	leaks     int64
	phantoms  int64
	malformed int64
}

func newTracker(e *Env, sockets, seqs int, classify func(sock, seq int) verdict) *tracker {
	t := &tracker{
		t0:        time.Now(),
		marker:    e.marker(),
		postAt:    make([]atomic.Int64, seqs),
		failed:    make([]atomic.Bool, seqs),
		receivers: make([]receiver, sockets),
		classify:  classify,
	}
	for i := range t.receivers {
		t.receivers[i].seen = make([]uint64, (seqs+63)/64)
	}
	return t
}

func (t *tracker) now() int64 { return int64(time.Since(t.t0)) }

// handler returns socket i's event handler.
func (t *tracker) handler(i int) sio.EventHandler {
	rc := &t.receivers[i]
	return func(name string, data []byte) {
		if name != "reactive" {
			return
		}
		now := t.now()
		seq := tagOf(data, t.marker)
		if seq < 0 {
			return // not an event of this run (e.g. a conversation created)
		}
		if seq >= len(t.postAt) {
			rc.malformed++
			return
		}
		if t.classify != nil {
			switch t.classify(i, seq) {
			case leak:
				rc.leaks++
				return
			case phantom:
				rc.phantoms++
				return
			}
		}
		w, b := seq/64, uint64(1)<<(seq%64)
		if rc.seen[w]&b != 0 {
			rc.dups++
			return
		}
		rc.seen[w] |= b
		us := int32((now - t.postAt[seq].Load()) / 1000)
		if t.postNode != nil && t.postNode[seq] != t.sockNode[i] {
			rc.latRemote = append(rc.latRemote, us)
		} else {
			rc.lat = append(rc.lat, us)
		}
		rc.last = now
		t.delivered.Add(1)
	}
}

func (t *tracker) handlers() []sio.EventHandler {
	hs := make([]sio.EventHandler, len(t.receivers))
	for i := range hs {
		hs[i] = t.handler(i)
	}
	return hs
}

// markPosted records the send time of seq, just before its POST.
func (t *tracker) markPosted(seq int) {
	t.postAt[seq].Store(max(t.now(), 1))
}

// waitFor polls until want deliveries arrived or the deadline passes.
func (t *tracker) waitFor(ctx context.Context, want int64, deadline time.Time) bool {
	tick := time.NewTicker(2 * time.Millisecond)
	defer tick.Stop()
	for t.delivered.Load() < want {
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return false
		case <-tick.C:
		}
	}
	return true
}

// firstPost is the earliest send time, in ns since t0.
func (t *tracker) firstPost() int64 {
	first := int64(-1)
	for i := range t.postAt {
		if v := t.postAt[i].Load(); v > 0 && (first < 0 || v < first) {
			first = v
		}
	}
	return first
}

// noteError keeps the first few distinct request errors; the posting
// goroutines call it.
func (t *tracker) noteError(err error, code int, what string) {
	msg := fmt.Sprintf("%s: status %d", what, code)
	if err != nil {
		msg = fmt.Sprintf("%s: %v", what, err)
	}
	t.errMu.Lock()
	defer t.errMu.Unlock()
	if len(t.errs) < 5 && !containsPrefix(t.errs, msg) {
		t.errs = append(t.errs, msg)
	}
}

// collect fills r from the receivers; the sockets must be closed.
func (t *tracker) collect(r *Result) {
	t.errMu.Lock()
	r.Errors = append(r.Errors, t.errs...)
	t.errMu.Unlock()
	var all, local, remote []int32
	var last int64
	for i := range t.receivers {
		rc := &t.receivers[i]
		all = append(all, rc.lat...)
		all = append(all, rc.latRemote...)
		if t.postNode != nil {
			local = append(local, rc.lat...)
			remote = append(remote, rc.latRemote...)
		}
		last = max(last, rc.last)
		r.Duplicates += rc.dups
		r.Leaks += rc.leaks
		r.Phantoms += rc.phantoms
		r.Unexpected += rc.malformed
	}
	r.Delivered = t.delivered.Load()
	summarize(all, r)
	if t.postNode != nil {
		l, rm := latencyOf(local), latencyOf(remote)
		r.LatencyLocal, r.LatencyRemote = &l, &rm
	}
	if first := t.firstPost(); first > 0 && last > first {
		r.Seconds = float64(last-first) / 1e9
		r.DeliveriesPerSec = float64(r.Delivered) / r.Seconds
	}
}

// session is the connected part of a scenario: sockets plus the meters
// started around the measured phase.
type session struct {
	e      *Env
	r      *Result
	t      *tracker
	conns  []*sio.Conn
	tokens []string // tokens[i] is user i+1's
	meter  *boxMeter
	cpu0   []float64 // per pid, at begin
	rss1   []float64 // per pid, once connected
}

// open logs users 1..n in, connects one socket each and records the RSS
// before and after.
func open(ctx context.Context, e *Env, r *Result, t *tracker, users int) (*session, error) {
	s := &session{e: e, r: r, t: t}
	r.Server.PID = e.PID
	r.Server.RSSBefore = sum(rssOf(e.pids()))
	tokens, err := e.loginAll(ctx, users)
	if err != nil {
		return nil, fmt.Errorf("login: %w", err)
	}
	start := time.Now()
	conns, err := e.connectAll(ctx, tokens, t.handlers())
	if err != nil {
		return nil, fmt.Errorf("connect: %w", err)
	}
	s.conns, s.tokens = conns, tokens
	r.ConnectSeconds = time.Since(start).Seconds()
	// Let the server settle (GC after the connection burst) before the
	// measured phase.
	sleepCtx(ctx, e.Settle)
	s.rss1 = rssOf(e.pids())
	r.Server.RSSAfterConnect = sum(s.rss1)
	return s, nil
}

// begin starts the meters of the measured phase.
func (s *session) begin() {
	s.meter = startBoxMeter(s.e.pids(), s.e.BusyThreshold)
	s.cpu0 = cpuOf(s.e.pids())
}

// end stops the meters, closes the sockets and fills the result.
func (s *session) end() {
	pids := s.e.pids()
	cpu1, rss2 := cpuOf(pids), rssOf(pids)
	for i := range pids {
		s.r.Server.CPUSeconds += cpu1[i] - s.cpu0[i]
	}
	s.r.Server.RSSAfter = sum(rss2)
	if len(s.e.Procs) > 0 {
		labels := []string{cmpOr(s.e.PIDLabel, "server")}
		for _, p := range s.e.Procs {
			if p.PID > 0 {
				labels = append(labels, p.Label)
			}
		}
		if s.e.PID <= 0 {
			labels = labels[1:]
		}
		for i, pid := range pids {
			var rss1 float64
			if i < len(s.rss1) {
				rss1 = s.rss1[i]
			}
			s.r.Server.Procs = append(s.r.Server.Procs, ProcCost{Label: labels[i], PID: pid,
				CPUSeconds: cpu1[i] - s.cpu0[i], RSSAfterConnect: rss1, RSSAfter: rss2[i]})
		}
	}
	s.r.Box = s.meter.stop()
	if n, err := brokenConns(s.conns); n > 0 {
		s.r.Errors = append(s.r.Errors, fmt.Sprintf("%d sockets closed during the run, first: %v", n, err))
	}
	closeAll(s.conns)
	s.t.collect(s.r)
	if s.r.Delivered > 0 {
		s.r.Server.CPUPer1k = s.r.Server.CPUSeconds / float64(s.r.Delivered) * 1000
	}
}

// close releases the sockets if end was not reached.
func (s *session) close() { closeAll(s.conns) }

// pacer starts fn(i) for i in [0,n): at rate per second when rate > 0
// (at most inFlight outstanding), else back to back on workers
// goroutines. It returns when every call has returned.
func pacer(ctx context.Context, n int, rate float64, inFlight, workers int, fn func(context.Context, int)) {
	if rate <= 0 {
		_ = parallel(ctx, n, workers, func(ctx context.Context, i int) error {
			fn(ctx, i)
			return nil
		})
		return
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, inFlight)
	start := time.Now()
	interval := time.Duration(float64(time.Second) / rate)
	for i := 0; i < n; i++ {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			select {
			case <-ctx.Done():
			case <-time.After(d):
			}
		}
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			fn(ctx, i)
		}()
	}
	wg.Wait()
}
