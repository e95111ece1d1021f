package main

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/entreactive/reactive/bench/loadgen"
)

// clusterRun is a fake cluster result: n nodes (0: one node, no Redis).
func clusterRun(target string, n, round int, cpuPer1k, p50 float64) loadgen.Result {
	r := loadgen.Result{Scenario: "fanout", Case: "cluster-1000-rate", Target: target, Round: round, Clients: 1000, Messages: 200, Rate: 20,
		Nodes: max(n, 1), Redis: n > 0, Delivered: 200000, Expected: 200000,
		Latency: loadgen.LatencySummary{P50: p50, P99: 2 * p50},
		Server:  loadgen.ServerCost{CPUPer1k: cpuPer1k, CPUSeconds: cpuPer1k * 200, RSSAfterConnect: 100}}
	if n > 0 {
		r.Server.Procs = []loadgen.ProcCost{{Label: "node 1", CPUSeconds: cpuPer1k*200 - 1, RSSAfterConnect: 90}, {Label: "redis", CPUSeconds: 1, RSSAfterConnect: 10}}
	}
	if n > 1 {
		r.LatencyLocal = &loadgen.LatencySummary{P50: p50 - 1, P99: 2*p50 - 1}
		r.LatencyRemote = &loadgen.LatencySummary{P50: p50 + 1, P99: 2*p50 + 3}
	}
	return r
}

func TestClusterSection(t *testing.T) {
	var all []loadgen.Result
	for round := 1; round <= 2; round++ {
		for _, n := range []int{0, 1, 2, 3} {
			all = append(all, clusterRun("go", n, round, 0.01*float64(n+1), 10+float64(n)), clusterRun("node", n, round, 0.02*float64(n+1), 20+float64(n)))
		}
	}
	busy := clusterRun("node", 2, 3, 1, 1)
	busy.Box.Busy = true
	dup := clusterRun("go", 3, 3, 0.04, 13)
	dup.Duplicates, dup.Delivered = 5, 199990
	failed := clusterRun("node", 1, 3, 0.03, 20)
	failed.PostErrors, failed.Expected, failed.Delivered, failed.Errors = 1, 199000, 199000, []string{"POST /api/notifications: connection reset by peer"}
	all = append(all, busy, dup, failed)

	rep := aggregateCluster(all)
	if got := rep.topos; len(got) != 4 || got[0] != (topo{1, false}) || got[1] != (topo{1, true}) || got[3] != (topo{3, true}) {
		t.Fatalf("topos = %v", got)
	}
	if rep.targets[0] != "go" || rep.targets[1] != "node" || rep.busy != 1 {
		t.Errorf("targets %v, busy %d", rep.targets, rep.busy)
	}
	if p := rep.check(2, []string{"go", "node"}); len(p) != 0 {
		t.Errorf("check(2): %v", p)
	}
	if p := rep.check(3, []string{"go", "node"}); len(p) != 6 { // all but go/3 nodes and node/1 on Redis
		t.Errorf("check(3): %d problems: %v", len(p), p)
	}
	md := clusterSection(rep, meta{date: "2026-12-01", machine: "m", versions: "v", command: "bash bench/cluster.sh", rounds: 2})
	for _, want := range []string{
		"## Cluster: fan-out over 1, 2 and 3 nodes on one Redis",
		"1,000 sockets spread evenly over the nodes, 200 notifications at 20/s (20,000 deliveries/s)",
		"| entreactive | 1, no Redis | 400,000 / 400,000 | 0 | **0.0100** | — | 0 | 10.0 | 20.0 | — | — | 100 |",
		"| entreactive | 2 on Redis | 400,000 / 400,000 | 0 | **0.0300** | 0.0050 |",
		"| 11.0 / 23.0 | 13.0 / 27.0 | 90 + 10 |",
		"| Node | 3 on Redis |",
		"**Not every delivery arrived exactly once:** cluster-1000-rate/go/3 on Redis: 599990 of 600000 delivered, 5 duplicates.",
		"| cluster-1000-rate | entreactive | 1 node: on Redis − without | +1.0 | +2.0 | +0.0100 |",
		"| cluster-1000-rate | entreactive | 2 nodes: other node − same node | +2.0 | +4.0 | — |",
		"| cluster-1000-rate | Node | 3 nodes: other node − same node | +2.0 | +4.0 | — |",
		"1 busy run(s) were repeated and left out, 2 of them by make-up runs after the rounds.",
		"Failed requests (expected deliveries count only the notifications whose POST succeeded): cluster-1000-rate/Node/1 on Redis round 3: 1 of 200 POSTs failed (`POST /api/notifications: connection reset by peer`).",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("section lacks %q:\n%s", want, md)
		}
	}
}

func TestDelta(t *testing.T) {
	s := func(v float64) stat { return stat{med: v, n: 1} }
	for _, tc := range []struct {
		a, b float64
		want string
	}{{1, 2.5, "+1.5"}, {3, 1, "−2.0"}, {1, 1.02, "±0.0"}, {1, 0.98, "±0.0"}} {
		if got := delta(s(tc.a), s(tc.b), 1); got != tc.want {
			t.Errorf("delta(%v, %v) = %q, want %q", tc.a, tc.b, got, tc.want)
		}
	}
	if delta(stat{}, s(1), 1) != "—" {
		t.Error("delta of nothing")
	}
}

func TestRunClusterMarkers(t *testing.T) {
	dir := t.TempDir()
	md := filepath.Join(dir, "B.md")
	os.WriteFile(md, []byte("# B\n\n"+beginMarker+"\nside by side\n"+endMarker+"\n"), 0o644)
	var all []loadgen.Result
	for _, n := range []int{0, 1, 2} {
		all = append(all, clusterRun("go", n, 1, 0.01, 10))
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m := meta{date: "2026-12-01", rounds: 1, command: "bash bench/cluster.sh"}
	if err := runCluster(all, m, md, "", filepath.Join(dir, "r.jsonl"), []string{"go"}, log); err != nil {
		t.Fatal(err)
	}
	if err := runCluster(all, m, md, "", filepath.Join(dir, "r.jsonl"), []string{"go"}, log); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(md)
	s := string(b)
	if !strings.Contains(s, beginMarker+"\nside by side\n"+endMarker+"\n") || strings.Count(s, clusterBegin) != 1 || !strings.HasSuffix(s, clusterEnd+"\n") {
		t.Errorf("BENCHMARKS.md:\n%s", s)
	}
	// Node required but absent: a draft, BENCHMARKS.md untouched.
	err := runCluster(all, m, md, "", filepath.Join(dir, "r.jsonl"), []string{"go", "node"}, log)
	if err == nil || !strings.Contains(err.Error(), "not publishable") {
		t.Errorf("err = %v", err)
	}
	if d, _ := os.ReadFile(filepath.Join(dir, "BENCHMARKS.cluster-draft.md")); !strings.HasPrefix(string(d), "**NOT PUBLISHED**") {
		t.Errorf("draft = %.80q", d)
	}
	if b2, _ := os.ReadFile(md); string(b2) != s {
		t.Error("BENCHMARKS.md changed by an unpublishable run")
	}
}
