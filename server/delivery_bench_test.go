package server

import (
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"sync"
	"testing"
	"time"
)

// sinkConn is an in-memory connection that accepts every write. While
// its hold (when set) is locked, writes wait.
type sinkConn struct {
	net.Conn
	mu   sync.Mutex
	n    int
	hold *sync.RWMutex
}

func (s *sinkConn) Write(b []byte) (int, error) {
	if s.hold != nil {
		s.hold.RLock()
		//lint:ignore SA2001 waits for the hold to be released
		s.hold.RUnlock()
	}
	s.mu.Lock()
	s.n += len(b)
	s.mu.Unlock()
	return len(b), nil
}

func (*sinkConn) SetWriteDeadline(time.Time) error { return nil }
func (*sinkConn) Close() error                     { return nil }

// benchConns registers n sockets in room "all", each with a websocket
// writer on an in-memory connection whose writes wait while hold is locked.
func benchConns(n int, hold *sync.RWMutex) (*registry, []*sinkConn) {
	reg := newRegistry(1)
	sinks := make([]*sinkConn, n)
	for i := range n {
		c := &Conn{id: fmt.Sprint(i), reg: reg, log: slog.Default()}
		sinks[i] = &sinkConn{hold: hold}
		c.direct.Store(newConnWriter(sinks[i], 1<<30, time.Second, nil))
		reg.add(c)
		reg.join(c, "all")
	}
	return reg, sinks
}

// warmUp delivers f to every member of j's rooms a few times, once with
// every write held until all the connections' flush goroutines have
// started: the room snapshot and the writers' queues exist then, and the
// runtime has as many goroutine records as the broadcast can ever have
// running at once (one flusher per connection), which it reuses from then
// on. Without the held round, a later broadcast that happens to have more
// flushers alive at once than any before allocates the runtime's records
// for the extra ones: allocations of the scheduler's, counted in the
// benchmark's allocs/op but not made by the delivery path.
func warmUp(sh *shard, reg *registry, j *job, f *frame, conns []*Conn, hold *sync.RWMutex) {
	hold.Lock()
	for _, c := range sh.members(reg, j) {
		c.deliver(f, false)
	}
	hold.Unlock()
	waitIdle(conns)
	for range 3 {
		for _, c := range sh.members(reg, j) {
			c.deliver(f, false)
		}
		waitIdle(conns)
	}
}

// BenchmarkBroadcast delivers one event to 10, 1,000 and 10,000 in-memory
// websocket connections through the shard path (room snapshot → Conn.deliver
// → connWriter). Allocations per broadcast are the same for every size:
// nothing is allocated per recipient.
func BenchmarkBroadcast(b *testing.B) {
	for _, n := range []int{10, 1000, 10000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var hold sync.RWMutex
			reg, _ := benchConns(n, &hold)
			var stats counters
			d := newDelivery(reg, 1, slog.Default(), &stats)
			sh := d.shards[0]
			f := newFrame("reactive", []byte(`["reactive",{"action":"create","model":"Notification","data":{"id":1,"message":"hello"},"timestamp":1}]`))
			j := job{rooms: []string{"all"}, frame: f}
			conns := reg.all()
			warmUp(sh, reg, &j, f, conns, &hold)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				for _, c := range sh.members(reg, &j) {
					c.deliver(j.frame, false)
				}
				waitIdle(conns) // every frame written: the writers' cost counts too
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
		})
	}
}

// waitIdle waits until every writer has written everything.
func waitIdle(conns []*Conn) {
	for _, c := range conns {
		w := c.direct.Load()
		for {
			w.mu.Lock()
			busy := w.writing
			w.mu.Unlock()
			if !busy {
				break
			}
			runtime.Gosched()
		}
	}
}

// TestBroadcastAllocatesNothingPerRecipient pins the benchmark's claim.
func TestBroadcastAllocatesNothingPerRecipient(t *testing.T) {
	allocs := func(n int) float64 {
		var hold sync.RWMutex
		reg, _ := benchConns(n, &hold)
		var stats counters
		d := newDelivery(reg, 1, slog.Default(), &stats)
		sh := d.shards[0]
		f := newFrame("x", []byte(`["x",1]`))
		j := &job{rooms: []string{"all"}}
		conns := reg.all()
		warmUp(sh, reg, j, f, conns, &hold)
		return testing.AllocsPerRun(50, func() {
			for _, c := range sh.members(reg, j) {
				c.deliver(f, false)
			}
			waitIdle(conns)
		})
	}
	small, large := allocs(10), allocs(2000)
	// A few allocations of the runtime's own (goroutine records, the race
	// detector's) may come and go; an allocation in the path costs at least
	// one per recipient.
	if perRecipient := (large - small) / (2000 - 10); perRecipient > 0.1 {
		t.Fatalf("allocations per broadcast: %.1f to 10 sockets, %.1f to 2,000", small, large)
	}
}
