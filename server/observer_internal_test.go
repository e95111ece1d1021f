package server

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entreactive/reactive/entreactive"
)

// countingObserver counts the Observer calls, as a metrics package would.
type countingObserver struct {
	emitted   atomic.Int64
	delivered atomic.Int64
	total     atomic.Int64 // nanoseconds
}

func (o *countingObserver) EventEmitted(string, entreactive.Action) { o.emitted.Add(1) }

func (o *countingObserver) EventDelivered(d time.Duration) {
	o.delivered.Add(1)
	o.total.Add(int64(d))
}

// observedConns is benchConns with an observer on every writer.
func observedConns(n int, o Observer, hold *sync.RWMutex) (*registry, []*Conn) {
	reg := newRegistry(1)
	for i := range n {
		c := &Conn{id: fmt.Sprint(i), reg: reg, log: slog.Default(), observer: o}
		w := newConnWriter(&sinkConn{hold: hold}, 1<<30, time.Second, nil)
		w.observer = o
		c.direct.Store(w)
		reg.add(c)
		reg.join(c, "all")
	}
	return reg, reg.all()
}

// stampedFrame is a reactive event's frame, committed now.
func stampedFrame() *frame {
	f := newFrame("reactive", []byte(`["reactive",{"action":"create","model":"Notification","data":{"id":1,"message":"hello"},"timestamp":1}]`))
	f.committed = time.Now().UnixNano()
	return f
}

func TestObserverSeesEveryWrittenDeliveryOnce(t *testing.T) {
	var o countingObserver
	reg, conns := observedConns(50, &o, nil)
	d := newDelivery(reg, 1, slog.Default(), &counters{})
	sh := d.shards[0]
	before := time.Now()
	for range 3 {
		for _, c := range sh.members(reg, &job{rooms: []string{"all"}}) {
			c.deliver(stampedFrame(), false)
		}
	}
	// A frame without a commit time (Conn.Emit, protocol events) is not
	// a reactive event: not observed.
	plain, _ := encodeFrame("news", 1)
	for _, c := range conns {
		c.deliver(plain, false)
	}
	waitIdle(conns)
	if got := o.delivered.Load(); got != 3*50 {
		t.Fatalf("%d deliveries observed, want %d", got, 3*50)
	}
	if mean := time.Duration(o.total.Load() / o.delivered.Load()); mean <= 0 || mean > time.Since(before) {
		t.Fatalf("mean commit-to-write %v, want within (0, %v]", mean, time.Since(before))
	}
}

// An observer adds no allocation per recipient (compare
// TestBroadcastAllocatesNothingPerRecipient).
func TestObservedBroadcastAllocatesNothingPerRecipient(t *testing.T) {
	allocs := func(n int) float64 {
		var o countingObserver
		reg, conns := observedConns(n, &o, nil)
		d := newDelivery(reg, 1, slog.Default(), &counters{})
		sh := d.shards[0]
		f := stampedFrame()
		for range 5 {
			for _, c := range sh.members(reg, &job{rooms: []string{"all"}}) {
				c.deliver(f, false)
			}
			waitIdle(conns)
		}
		return testing.AllocsPerRun(50, func() {
			for _, c := range sh.members(reg, &job{rooms: []string{"all"}}) {
				c.deliver(f, false)
			}
			waitIdle(conns)
		})
	}
	// The runtime allocates now and then for itself (goroutine records of
	// the writers, under -race on a busy box): the least of three runs
	// counts. An allocation per recipient would show in every run.
	small, large := allocs(10), min(allocs(2000), allocs(2000), allocs(2000))
	if perRecipient := (large - small) / (2000 - 10); perRecipient > 0.01 {
		t.Fatalf("allocations per broadcast with an observer: %.1f to 10 sockets, %.1f to 2,000", small, large)
	}
}

// BenchmarkBroadcastObserved is BenchmarkBroadcast with an Observer told
// of every delivery: the cost of metrics on the delivery path.
func BenchmarkBroadcastObserved(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var o countingObserver
			var hold sync.RWMutex
			reg, conns := observedConns(n, &o, &hold)
			d := newDelivery(reg, 1, slog.Default(), &counters{})
			sh := d.shards[0]
			f := stampedFrame()
			warmUp(sh, reg, &job{rooms: []string{"all"}}, f, conns, &hold)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, c := range sh.members(reg, &job{rooms: []string{"all"}}) {
					c.deliver(f, false)
				}
				waitIdle(conns)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// A frame written at once on the caller's goroutine (send with now), whole
// or in part with the rest queued, is observed once, when it is all out.
func TestObserverSeesImmediateAndSplitWrites(t *testing.T) {
	srvEnd, cliEnd := tcpPair(t)
	var o countingObserver
	w := newConnWriter(srvEnd, 1<<30, 10*time.Second, nil)
	w.observer = &o
	if w.raw == nil {
		t.Skip("no raw socket writes on this platform")
	}
	small := wsFrame(wsText, []byte(`42["reactive",{}]`))
	if err := w.sendEvent(small, time.Now().UnixNano(), true); err != nil {
		t.Fatal(err)
	}
	if got := o.delivered.Load(); got != 1 {
		t.Fatalf("after a lone write: %d observed, want 1", got)
	}
	buf := make([]byte, len(small))
	if _, err := io.ReadFull(cliEnd, buf); err != nil {
		t.Fatal(err)
	}

	// 32 MiB cannot go out in one non-blocking write: the rest is queued,
	// then a second frame behind it.
	big := wsFrame(wsText, make([]byte, 32<<20))
	if err := w.sendEvent(big, time.Now().UnixNano(), true); err != nil {
		t.Fatal(err)
	}
	if err := w.sendEvent(small, time.Now().UnixNano(), true); err != nil {
		t.Fatal(err)
	}
	if got := o.delivered.Load(); got != 1 {
		t.Fatalf("with the big frame still being written: %d observed, want 1", got)
	}
	if _, err := io.ReadFull(cliEnd, make([]byte, len(big)+len(small))); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both frames observed", func() bool { return o.delivered.Load() == 3 })
}
