package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entreactive/reactive/bench/loadgen"
)

func TestNumAndCell(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		prec int
		want string
	}{
		{1234567.891, 0, "1,234,568"},
		{999, 0, "999"},
		{1000, 1, "1,000.0"},
		{-12345.5, 1, "-12,345.5"},
		{0.01234, 4, "0.0123"},
	} {
		if got := num(tc.v, tc.prec); got != tc.want {
			t.Errorf("num(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
	runs := []loadgen.Result{{DeliveriesPerSec: 3}, {DeliveriesPerSec: 1}, {DeliveriesPerSec: 2}}
	s := stats(runs, func(r loadgen.Result) float64 { return r.DeliveriesPerSec })
	if s.med != 2 || s.lo != 1 || s.hi != 3 || s.cell(1) != "2.0 (1.0–3.0)" {
		t.Errorf("stats = %+v, cell %q", s, s.cell(1))
	}
	if got := stats(runs[:2], func(r loadgen.Result) float64 { return r.DeliveriesPerSec }).med; got != 2 {
		t.Errorf("even median = %v", got)
	}
	if (stat{}).cell(1) != "—" {
		t.Error("empty cell")
	}
}

func TestAggregateAndCheck(t *testing.T) {
	var all []loadgen.Result
	for round := 1; round <= 3; round++ {
		for _, target := range []string{"go", "node"} {
			all = append(all, loadgen.Result{Scenario: "fanout", Case: "f", Target: target, Round: round, Clients: 10, Messages: 5, Delivered: 50, Expected: 50,
				Server: loadgen.ServerCost{CPUPer1k: float64(round)}, CDF: make([]float64, len(loadgen.CDFQuantiles()))})
		}
	}
	for target, cpu := range map[string]float64{"floor": 1, "floor-coalesced": 0.5} {
		all = append(all, loadgen.Result{Scenario: "fanout", Case: "f", Target: target, Round: 1, Delivered: 50, Expected: 50,
			Server: loadgen.ServerCost{CPUPer1k: cpu}, Latency: loadgen.LatencySummary{P99: 4 * cpu}})
	}
	all = append(all, loadgen.Result{Scenario: "fanout", Case: "f", Target: "node", Box: loadgen.BoxLoad{Busy: true, OtherCores: 1}})
	rep := aggregate(all)
	if p := rep.check(3, 1, []string{"go", "node"}); len(p) != 0 {
		t.Errorf("check: %v", p)
	}
	if p := rep.check(4, 1, []string{"go", "node"}); len(p) != 2 {
		t.Errorf("check(4): %v", p)
	}
	if rep.busy != 1 || rep.maxOther != 0 {
		t.Errorf("busy %d, maxOther %v", rep.busy, rep.maxOther)
	}
	md := section(rep, meta{date: "2026-11-25", machine: "m", command: "bash bench/run.sh", rounds: 3, pngRel: "bench/latency.png"})
	for _, want := range []string{"| f | go | 150 / 150 | **2.0000 (1.0000–3.0000)**", "| f | **1.00** |", "![Latency CDF", "1 busy run(s)",
		"| f | 1.0000 | 0.5000 | 2.00 | 4.00 | 2.00 | 4.00 | 4.0 / 2.0 | 0.00 | 0.00 |", "| f | floor-coalesced | 50 / 50 |"} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
	dir := t.TempDir()
	if err := writePlot(filepath.Join(dir, "p.png"), rep); err != nil {
		t.Fatal(err)
	}
}

func TestReplaceSection(t *testing.T) {
	path := filepath.Join(t.TempDir(), "B.md")
	os.WriteFile(path, []byte("# Benchmarks\n\nhook section"), 0o644)
	if err := replaceSection(path, "one\n"); err != nil {
		t.Fatal(err)
	}
	if err := replaceSection(path, "two\n"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	want := "# Benchmarks\n\nhook section\n\n" + beginMarker + "\ntwo\n" + endMarker + "\n"
	if string(b) != want {
		t.Errorf("got %q, want %q", b, want)
	}
	os.WriteFile(path, []byte(beginMarker+"\n"), 0o644)
	if err := replaceSection(path, "x"); err == nil {
		t.Error("a lone marker was accepted")
	}
}

func TestSlowSection(t *testing.T) {
	slow := func(c, target string, stalled, closed int, p99, peak float64) loadgen.Result {
		return loadgen.Result{Scenario: "slow", Case: c, Target: target, Round: 1, Clients: 100, Messages: 1000, Rate: 25, Delivered: 100000, Expected: 100000,
			Latency: loadgen.LatencySummary{P99: p99},
			Server:  loadgen.ServerCost{RSSAfterConnect: 40, RSSPeak: peak, RSSAfter: peak},
			Slow:    &loadgen.SlowResult{Stalled: stalled, StalledClosed: closed, CloseSeconds: make([]float64, closed), PayloadBytes: 16384, PendingLimitMiB: 1}}
	}
	rep := aggregate([]loadgen.Result{
		slow("slow-0", "go", 0, 0, 10, 45),
		slow("slow-5", "go", 5, 5, 12, 60),
		slow("slow-0", "node", 0, 0, 20, 90),
		slow("slow-5", "node", 5, 0, 40, 200),
	})
	if p := rep.check(3, 1, []string{"go", "node"}); len(p) != 0 {
		t.Errorf("check with one slow round: %v", p)
	}
	if p := rep.check(3, 2, []string{"go", "node"}); len(p) != 4 {
		t.Errorf("check with two slow rounds: %v", p)
	}
	md := section(rep, meta{date: "2026-12-01", rounds: 3, slowRounds: 1})
	for _, want := range []string{
		"### Slow consumers",
		"- `slow-5`: 100 healthy sockets and 5 stalled ones, 1,000 notifications of 16 KiB at 25/s (40 s)",
		"| slow-5 | go | 100,000 / 100,000 | 40 / 60 / 60 | **20** | 15 | 1.0 MiB (target growth ≤ 25 MiB) | **5 / 5** | 0.0 | 12.0 | 1.20 |",
		"| slow-5 | node | 100,000 / 100,000 | 40 / 200 / 200 | **160** | 110 | 1.0 MiB (target growth ≤ 25 MiB) | **0 / 5** | — | 40.0 | 2.00 |",
		"go p99 10.0 ms, growth 5 MiB; node p99 20.0 ms, growth 50 MiB",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
	if strings.Contains(md, "| slow-5 | **") {
		t.Error("the slow cases appear in the entreactive / Node ratio table")
	}
	if strings.Contains(md, "medians of") {
		t.Error("one slow round is reported as medians")
	}

	// A second round (SLOW_ROUNDS=2): the medians say how many rounds.
	second := func(r loadgen.Result) loadgen.Result { r.Round = 2; return r }
	rep = aggregate([]loadgen.Result{
		slow("slow-0", "go", 0, 0, 10, 45), second(slow("slow-0", "go", 0, 0, 14, 45)),
		slow("slow-5", "go", 5, 5, 12, 60), second(slow("slow-5", "go", 5, 5, 16, 60)),
	})
	md = section(rep, meta{date: "2026-12-01", rounds: 3, slowRounds: 2})
	for _, want := range []string{
		"(medians of 2 rounds; `SLOW_ROUNDS`)",
		"| slow-5 | go | 200,000 / 200,000 | 40 / 60 / 60 | **20** | 15 | 1.0 MiB (target growth ≤ 25 MiB) | **10 / 10** | 0.0 | 14.0 (12.0–16.0) | 1.17 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("two-round section lacks %q:\n%s", want, md)
		}
	}
}
