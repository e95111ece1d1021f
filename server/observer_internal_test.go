package server

import (
	"fmt"
	"log/slog"
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
func observedConns(n int, o Observer) (*registry, []*Conn) {
	reg := newRegistry(1)
	for i := range n {
		c := &Conn{id: fmt.Sprint(i), reg: reg, log: slog.Default(), observer: o}
		w := newConnWriter(&sinkConn{}, 1<<30, time.Second, nil)
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
	reg, conns := observedConns(50, &o)
	d := newDelivery(reg, 1, slog.Default(), &counters{})
	sh := d.shards[0]
	before := time.Now()
	for range 3 {
		for _, c := range sh.members(reg, []string{"all"}) {
			c.deliver(stampedFrame())
		}
	}
	// A frame without a commit time (Conn.Emit, protocol events) is not
	// a reactive event: not observed.
	plain, _ := encodeFrame("news", 1)
	for _, c := range conns {
		c.deliver(plain)
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
		reg, conns := observedConns(n, &o)
		d := newDelivery(reg, 1, slog.Default(), &counters{})
		sh := d.shards[0]
		f := stampedFrame()
		for range 5 {
			for _, c := range sh.members(reg, []string{"all"}) {
				c.deliver(f)
			}
			waitIdle(conns)
		}
		return testing.AllocsPerRun(50, func() {
			for _, c := range sh.members(reg, []string{"all"}) {
				c.deliver(f)
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
			reg, conns := observedConns(n, &o)
			d := newDelivery(reg, 1, slog.Default(), &counters{})
			sh := d.shards[0]
			f := stampedFrame()
			for range 3 {
				for _, c := range sh.members(reg, []string{"all"}) {
					c.deliver(f)
				}
				waitIdle(conns)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, c := range sh.members(reg, []string{"all"}) {
					c.deliver(f)
				}
				waitIdle(conns)
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}
