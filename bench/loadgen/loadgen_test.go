package loadgen

import (
	"context"
	"errors"
	"net"
	"net/http/httptest"
	"os"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entreactive/reactive/bench/floor"
)

func TestCheckLoopback(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080", "http://127.3.4.5", "http://localhost:1", "http://[::1]:80"} {
		if err := CheckLoopback(ok); err != nil {
			t.Errorf("CheckLoopback(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"http://10.0.0.1", "http://192.168.1.2:80", "http://example.com", "https://127.0.0.1", "http://0.0.0.0:80", "http://8.8.8.8", "::"} {
		if err := CheckLoopback(bad); err == nil {
			t.Errorf("CheckLoopback(%q) accepted", bad)
		}
	}
}

func TestTagOf(t *testing.T) {
	m := []byte("bmab-")
	for in, want := range map[string]int{
		`{"message":"notification bmab-12;"}`: 12,
		`{"text":"bmab-0;"}`:                  0,
		`{"text":"bmzz-3;"}`:                  -1, // another run
		`{"text":"bmab-;"}`:                   -1,
		`{"text":"bmab-12"}`:                  -1,
		`{"text":"bmab-99999999999;"}`:        -1,
		`bmab-7`:                              -1,
	} {
		if got := tagOf([]byte(in), m); got != want {
			t.Errorf("tagOf(%q) = %d, want %d", in, got, want)
		}
	}
}

func TestProcParsers(t *testing.T) {
	stat := []byte("1234 (node (x) y) S 1 1234 1234 0 -1 4194560 5000 0 0 0 250 50 0 0 20 0 11 0 100 1000000 2000 18446744073709551615\n")
	if cpu, err := parseProcStat(stat); err != nil || cpu != 3.0 {
		t.Errorf("parseProcStat = %v, %v; want 3.0", cpu, err)
	}
	if _, err := parseProcStat([]byte("1234 (x) S 1")); err == nil {
		t.Error("short stat accepted")
	}
	status := []byte("Name:\tnode\nVmPeak:\t 1 kB\nVmRSS:\t  102400 kB\nThreads: 11\n")
	if rss, err := parseVmRSS(status); err != nil || rss != 100 {
		t.Errorf("parseVmRSS = %v, %v; want 100", rss, err)
	}
	if _, err := parseVmRSS([]byte("Name: x\n")); err == nil {
		t.Error("status without VmRSS accepted")
	}
	ct, err := parseCPUTimes([]byte("cpu  100 20 30 5000 7 1 2 3 0 0\ncpu0 1 2 3\n"))
	if err != nil || ct.busy != 1.53 || ct.softirq != 0.03 {
		t.Errorf("parseCPUTimes = %+v, %v; want busy 1.53 softirq 0.03", ct, err)
	}
	// The live files parse.
	if _, err := readCPUTimes(); err != nil {
		t.Error(err)
	}
}

func TestSummarize(t *testing.T) {
	samples := make([]int32, 1000)
	for i := range samples {
		samples[i] = int32((1000 - i) * 1000) // 1..1000 ms, reversed
	}
	var r Result
	summarize(samples, &r)
	if r.Latency.Count != 1000 || r.Latency.P50 != 500 || r.Latency.P90 != 900 || r.Latency.P99 != 990 || r.Latency.Max != 1000 {
		t.Errorf("latency = %+v", r.Latency)
	}
	if len(r.CDF) != len(CDFQuantiles()) || r.CDF[0] != 1 || r.CDF[len(r.CDF)-1] != 1000 {
		t.Errorf("cdf = %v", r.CDF)
	}
	var empty Result
	summarize(nil, &empty)
	if empty.Latency.Count != 0 || empty.CDF != nil {
		t.Errorf("empty = %+v", empty)
	}
}

func TestParallel(t *testing.T) {
	var sum atomic.Int64
	if err := parallel(context.Background(), 100, 7, func(_ context.Context, i int) error {
		sum.Add(int64(i))
		return nil
	}); err != nil || sum.Load() != 4950 {
		t.Errorf("parallel: sum %d, err %v", sum.Load(), err)
	}
	boom := errors.New("boom")
	var calls atomic.Int64
	err := parallel(context.Background(), 1000, 4, func(_ context.Context, i int) error {
		calls.Add(1)
		if i == 10 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || calls.Load() > 100 {
		t.Errorf("parallel with an error: %v after %d calls", err, calls.Load())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := parallel(ctx, 5, 2, func(context.Context, int) error { return nil }); err == nil {
		t.Error("parallel on a cancelled context reported no error")
	}
}

func TestPacerRate(t *testing.T) {
	var n atomic.Int64
	start := time.Now()
	pacer(context.Background(), 10, 200, 4, 1, func(context.Context, int) { n.Add(1) })
	if n.Load() != 10 {
		t.Errorf("pacer ran %d calls, want 10", n.Load())
	}
	if d := time.Since(start); d < 40*time.Millisecond {
		t.Errorf("10 calls at 200/s took %v, want ≥ 45ms", d)
	}
}

func TestFanoutAgainstFloor(t *testing.T) {
	for _, coalesce := range []bool{false, true} {
		fl := floor.New(floor.Config{Coalesce: coalesce})
		srv := httptest.NewServer(fl)
		t.Cleanup(func() {
			fl.Close()
			srv.Close()
		})
		e := testEnv(t, srv.URL)
		for _, rate := range []float64{0, 200} {
			r, err := Fanout(context.Background(), e, FanoutConfig{Common: Common{Drain: 5 * time.Second}, Clients: 20, Notifications: 15, Rate: rate})
			if err != nil {
				t.Fatal(err)
			}
			if r.Expected != 300 || r.Delivered != 300 || r.Duplicates != 0 || r.PostErrors != 0 || len(r.Errors) != 0 {
				t.Errorf("coalesce %v, rate %v: %+v", coalesce, rate, r)
			}
			if r.Latency.Count != 300 || r.Latency.Max <= 0 || r.DeliveriesPerSec <= 0 {
				t.Errorf("coalesce %v, rate %v: latency %+v, %v/s", coalesce, rate, r.Latency, r.DeliveriesPerSec)
			}
		}
	}
}

func TestTargeted(t *testing.T) {
	for _, tc := range []struct {
		leaks, dup bool
	}{
		{},
		{leaks: true},
		{dup: true},
	} {
		e := startFakeApp(t, &fakeApp{leak: tc.leaks, dup: tc.dup})
		r, err := Targeted(context.Background(), e, TargetedConfig{Common: Common{Drain: 3 * time.Second}, Users: 8, Messages: 40, Rate: 1000})
		if err != nil {
			t.Fatal(err)
		}
		if r.Expected != 40 || r.Delivered != 40 || r.PostErrors != 0 {
			t.Errorf("leak %v dup %v: delivered %d/%d, errors %v", tc.leaks, tc.dup, r.Delivered, r.Expected, r.Errors)
		}
		if (r.Leaks > 0) != tc.leaks || (r.Duplicates > 0) != tc.dup {
			t.Errorf("leak %v dup %v: leaks %d, duplicates %d", tc.leaks, tc.dup, r.Leaks, r.Duplicates)
		}
	}
}

func TestRollback(t *testing.T) {
	for _, phantom := range []bool{false, true} {
		e := startFakeApp(t, &fakeApp{phantom: phantom})
		r, err := Rollback(context.Background(), e, RollbackConfig{Common: Common{Drain: 3 * time.Second}, Pairs: 3, Batches: 10, BatchSize: 3, ValidEvery: 5})
		if err != nil {
			t.Fatal(err)
		}
		// Batches 4 and 9 are valid: 6 rows; 8 failed batches of 2 valid rows.
		if r.Expected != 6 || r.Delivered != 6 || r.PostErrors != 0 || r.Stored != 0 || r.Leaks != 0 {
			t.Errorf("phantom %v: %+v", phantom, r)
		}
		want := int64(0)
		if phantom {
			want = 16
		}
		if r.Phantoms != want {
			t.Errorf("phantom %v: phantoms = %d, want %d", phantom, r.Phantoms, want)
		}
	}
}

func TestListenInodes(t *testing.T) {
	tcp := []byte(`  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:46A0 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 123456 1 0000000000000000 100 0 0 10 0
   1: 0100007F:46A0 0100007F:D2C4 01 00000000:00000000 00:00000000 00000000     0        0 777 1 0000000000000000 20 4 30 10 -1
   2: 0100007F:46A1 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 999 1 0000000000000000 100 0 0 10 0
`)
	if got := listenInodes(tcp, 18080); len(got) != 1 || got[0] != "123456" {
		t.Errorf("listenInodes = %v, want [123456]", got)
	}
	// The live check: this test process listens.
	srv := httptest.NewServer(nil)
	defer srv.Close()
	port := srv.Listener.Addr().(*net.TCPAddr).Port
	if err := CheckListener(os.Getpid(), port); err != nil {
		t.Error(err)
	}
	if err := CheckListener(os.Getppid(), port); err == nil {
		t.Error("the parent process was taken for the listener")
	}
}

// Against the coalescing floor, whose per-connection limit drops a peer
// that does not read, the stalled sockets are closed and the healthy ones
// get everything; the control run has no stalled socket to close. With a
// limit too high to reach (and writes that may block for a minute), the
// stalled sockets are reported open.
func TestSlowConsumersAgainstCoalescingFloor(t *testing.T) {
	for _, tc := range []struct {
		limit      int
		stalled    int
		wantClosed int
	}{
		{limit: 4 << 20, stalled: 0, wantClosed: 0},
		{limit: 4 << 20, stalled: 2, wantClosed: 2},
		{limit: 1 << 30, stalled: 2, wantClosed: 0},
	} {
		fl := floor.New(floor.Config{Coalesce: true, MaxPending: tc.limit, WriteTimeout: time.Minute})
		srv := httptest.NewServer(fl)
		e := testEnv(t, srv.URL)
		e.PID = os.Getpid() // this process serves the floor: its RSS is sampled
		// 800 notifications of 16 KiB: 12.5 MiB for each stalled socket,
		// more than the kernel's buffers and a 4 MiB limit hold, which
		// leaves a healthy socket slowed by a busy box a second of lag.
		r, err := SlowConsumers(context.Background(), e, SlowConfig{Common: Common{Drain: 20 * time.Second}, Healthy: 3, Stalled: tc.stalled,
			Rate: 200, Duration: 4 * time.Second, PendingLimitMiB: float64(tc.limit) / (1 << 20)})
		fl.Close()
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		if r.Expected != 3*800 || r.Delivered != r.Expected || r.PostErrors != 0 || len(r.Errors) != 0 {
			t.Errorf("%+v: delivered %d/%d, post errors %d, errors %v", tc, r.Delivered, r.Expected, r.PostErrors, r.Errors)
		}
		if r.Slow == nil || r.Slow.Stalled != tc.stalled || r.Slow.StalledClosed != tc.wantClosed || len(r.Slow.CloseSeconds) != tc.wantClosed {
			t.Errorf("%+v: %+v", tc, r.Slow)
		}
		if r.Server.RSSPeak <= 0 {
			t.Errorf("%+v: no RSS peak sampled", tc)
		}
	}
}
