package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strings"

	"github.com/entreactive/reactive/bench/internal/plot"
	"github.com/entreactive/reactive/bench/loadgen"
)

// targetOrder lists the servers in the order they appear in tables.
func targetOrder() []string { return []string{"go", "node", "node-hook", "floor", "floor-coalesced"} }

type key struct{ caseName, target string }

type group struct {
	runs []loadgen.Result // quiet runs
	busy int
}

type report struct {
	cases    []string // in order of first appearance
	scenario map[string]string
	groups   map[key]*group
	busy     int     // busy runs left out
	maxOther float64 // most cores other processes took during a published run
	first    loadgen.Result
}

func aggregate(all []loadgen.Result) *report {
	rep := &report{scenario: map[string]string{}, groups: map[key]*group{}, first: all[0]}
	for _, r := range all {
		if _, ok := rep.scenario[r.Case]; !ok {
			rep.cases = append(rep.cases, r.Case)
			rep.scenario[r.Case] = r.Scenario
		}
		if !file(rep.groups, key{r.Case, r.Target}, r) {
			rep.busy++
			continue
		}
		rep.maxOther = math.Max(rep.maxOther, r.Box.OtherCores)
	}
	return rep
}

// file adds run r to the group k of groups: a quiet run to its runs, a
// busy one to its count. It reports whether r was quiet.
func file[K comparable](groups map[K]*group, k K, r loadgen.Result) bool {
	g := groups[k]
	if g == nil {
		g = &group{}
		groups[k] = g
	}
	if r.Box.Busy {
		g.busy++
		return false
	}
	g.runs = append(g.runs, r)
	return true
}

func (rep *report) runs(c, target string) []loadgen.Result {
	if g := rep.groups[key{c, target}]; g != nil {
		return g.runs
	}
	return nil
}

// check lists why the results cannot be published: every case needs
// rounds quiet runs of each required server (slow-consumer cases
// slowRounds, at most rounds).
func (rep *report) check(rounds, slowRounds int, required []string) []string {
	var problems []string
	for _, c := range rep.cases {
		want := rounds
		if rep.scenario[c] == "slow" {
			want = min(slowRounds, rounds)
		}
		for _, t := range required {
			if n := len(rep.runs(c, t)); n < want {
				problems = append(problems, fmt.Sprintf("%s/%s has %d quiet runs of %d", c, t, n, want))
			}
		}
	}
	return problems
}

// stat is a median with its range over rounds.
type stat struct {
	med, lo, hi float64
	n           int
}

func stats(runs []loadgen.Result, f func(loadgen.Result) float64) stat {
	if len(runs) == 0 {
		return stat{}
	}
	v := make([]float64, len(runs))
	for i, r := range runs {
		v[i] = f(r)
	}
	slices.Sort(v)
	med := v[len(v)/2]
	if len(v)%2 == 0 {
		med = (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	return stat{med: med, lo: v[0], hi: v[len(v)-1], n: len(v)}
}

// cell formats a stat as "median (min–max)" with the given precision.
func (s stat) cell(prec int) string {
	if s.n == 0 {
		return "—"
	}
	f := func(v float64) string { return num(v, prec) }
	if s.n == 1 || f(s.lo) == f(s.hi) {
		return f(s.med)
	}
	return fmt.Sprintf("%s (%s–%s)", f(s.med), f(s.lo), f(s.hi))
}

// num formats v with prec decimals and thousands separators.
func num(v float64, prec int) string {
	s := fmt.Sprintf("%.*f", prec, v)
	intPart, frac, _ := strings.Cut(s, ".")
	neg := strings.HasPrefix(intPart, "-")
	intPart = strings.TrimPrefix(intPart, "-")
	var b strings.Builder
	for i, ch := range intPart {
		if i > 0 && (len(intPart)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	out := b.String()
	if neg {
		out = "-" + out
	}
	if frac != "" {
		out += "." + frac
	}
	return out
}

func ratio(a, b stat) string {
	if a.n == 0 || b.n == 0 || b.med == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f", a.med/b.med)
}

func sum(runs []loadgen.Result, f func(loadgen.Result) int64) int64 {
	var n int64
	for _, r := range runs {
		n += f(r)
	}
	return n
}

// describe says what a case does, from its first run.
func (rep *report) describe(c string) string {
	var r loadgen.Result
	for _, t := range targetOrder() {
		if runs := rep.runs(c, t); len(runs) > 0 {
			r = runs[0]
			break
		}
	}
	switch r.Scenario {
	case "fanout":
		how := "at saturation (4 concurrent posters)"
		if r.Rate > 0 {
			how = fmt.Sprintf("at %s/s", num(r.Rate, 0))
		}
		s := fmt.Sprintf("%s sockets, %s notifications %s, each to every socket", num(float64(r.Clients), 0), num(float64(r.Messages), 0), how)
		if r.Pinned != "" {
			s += "; pinned: " + r.Pinned
		}
		return s
	case "targeted":
		return fmt.Sprintf("%d users, %d messages between random pairs at %s/s", r.Clients, r.Messages, num(r.Rate, 0))
	case "rollback":
		return fmt.Sprintf("%d users, %d batches posted one after another, 4 in 5 failing on their last item", r.Clients, r.Messages)
	case "slow":
		if r.Slow == nil {
			break
		}
		secs := 0.0
		if r.Rate > 0 {
			secs = float64(r.Messages) / r.Rate
		}
		return fmt.Sprintf("%d healthy sockets and %d stalled ones, %s notifications of %s KiB at %s/s (%s s)", r.Clients, r.Slow.Stalled,
			num(float64(r.Messages), 0), num(float64(r.Slow.PayloadBytes)/1024, 0), num(r.Rate, 0), num(secs, 0))
	}
	return c
}

func (rep *report) targets(c string) []string {
	var ts []string
	for _, t := range targetOrder() {
		if len(rep.runs(c, t)) > 0 {
			ts = append(ts, t)
		}
	}
	return ts
}

func section(rep *report, m meta) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("## Side by side: entreactive vs a Node socket.io server\n\n")
	w("`%s`, %s. Machine: %s. %s.\n\n", m.command, m.date, m.machine, m.versions)
	w("Each case ran %d rounds, alternating servers within a round (entreactive, then Node; A B A B), each run on a freshly started server on loopback. "+
		"**entreactive** is the example app (`go build ./example`, `-db :memory:`); **Node** is `bench/node-baseline`: the same HTTP API and socket protocol on "+
		"socket.io 4.8, express and Sequelize hooks on in-memory SQLite (both on a database file in the slow-consumer cases), emitting after commit. Cells are the median over rounds with min–max in brackets. "+
		"The load tool (`bench/cmd/loadgen`, its own Engine.IO/Socket.IO client) shares the machine's 2 cores with the server, so its own cost caps every "+
		"throughput figure: **server CPU per 1,000 deliveries** is the headline efficiency figure, and saturation runs pin the server and the load tool to "+
		"separate cores with `taskset`. ", m.rounds)
	makeup := 0
	for _, g := range rep.groups {
		for _, r := range g.runs {
			if r.Round > m.rounds {
				makeup++
			}
		}
	}
	w("Other processes used at most %.2f cores during any published run; %d busy run(s) (other processes above the threshold) were repeated and left out", rep.maxOther, rep.busy)
	if makeup > 0 {
		w(", %d of them by make-up runs after the rounds", makeup)
	}
	w(".\n\n")

	// Fan-out.
	var fanout []string
	for _, c := range rep.cases {
		if rep.scenario[c] == "fanout" {
			fanout = append(fanout, c)
		}
	}
	if len(fanout) > 0 {
		w("### Fan-out: one notification to every socket\n\n")
		for _, c := range fanout {
			w("- `%s`: %s\n", c, rep.describe(c))
		}
		w("\n| case | server | delivered / expected | server CPU s per 1,000 deliveries | deliveries/s | p50 ms | p90 ms | p99 ms | max ms | server RSS MiB: before / connected / after |\n")
		w("|---|---|---|---|---|---|---|---|---|---|\n")
		for _, c := range fanout {
			for _, t := range rep.targets(c) {
				runs := rep.runs(c, t)
				w("| %s | %s | %s / %s | **%s** | %s | %s | %s | %s | %s | %s / %s / %s |\n", c, t,
					num(float64(sum(runs, func(r loadgen.Result) int64 { return r.Delivered })), 0),
					num(float64(sum(runs, func(r loadgen.Result) int64 { return r.Expected })), 0),
					stats(runs, func(r loadgen.Result) float64 { return r.Server.CPUPer1k }).cell(4),
					stats(runs, func(r loadgen.Result) float64 { return r.DeliveriesPerSec }).cell(0),
					stats(runs, func(r loadgen.Result) float64 { return r.Latency.P50 }).cell(1),
					stats(runs, func(r loadgen.Result) float64 { return r.Latency.P90 }).cell(1),
					stats(runs, func(r loadgen.Result) float64 { return r.Latency.P99 }).cell(1),
					stats(runs, func(r loadgen.Result) float64 { return r.Latency.Max }).cell(1),
					stats(runs, func(r loadgen.Result) float64 { return r.Server.RSSBefore }).cell(0),
					stats(runs, func(r loadgen.Result) float64 { return r.Server.RSSAfterConnect }).cell(0),
					stats(runs, func(r loadgen.Result) float64 { return r.Server.RSSAfter }).cell(0))
			}
		}
		w("\n")
	}

	// Ratios.
	w("### entreactive / Node, per case (medians; below 1 means entreactive uses less or is faster)\n\n")
	w("| case | server CPU per delivery | deliveries/s | p50 latency | p99 latency | RSS connected |\n|---|---|---|---|---|---|\n")
	for _, c := range rep.cases {
		if rep.scenario[c] == "rollback" || rep.scenario[c] == "slow" {
			continue // their figures are in their own sections, below
		}
		g, n := rep.runs(c, "go"), rep.runs(c, "node")
		st := func(runs []loadgen.Result, f func(loadgen.Result) float64) stat { return stats(runs, f) }
		cpu := func(r loadgen.Result) float64 { return r.Server.CPUPer1k }
		dps := func(r loadgen.Result) float64 { return r.DeliveriesPerSec }
		p50 := func(r loadgen.Result) float64 { return r.Latency.P50 }
		p99 := func(r loadgen.Result) float64 { return r.Latency.P99 }
		rss := func(r loadgen.Result) float64 { return r.Server.RSSAfterConnect }
		dpsCell := ratio(st(g, dps), st(n, dps))
		if len(g) > 0 && g[0].Scenario != "fanout" || len(g) > 0 && g[0].Rate > 0 {
			dpsCell += " (paced)"
		}
		w("| %s | **%s** | %s | %s | %s | %s |\n", c, ratio(st(g, cpu), st(n, cpu)), dpsCell,
			ratio(st(g, p50), st(n, p50)), ratio(st(g, p99), st(n, p99)), ratio(st(g, rss), st(n, rss)))
	}
	w("\nIn paced cases the deliveries per second are set by the posting rate, so their ratio is about 1 by construction.\n\n")

	// Floors.
	var floorRows []string
	for _, c := range fanout {
		cpu := func(t string) stat {
			return stats(rep.runs(c, t), func(r loadgen.Result) float64 { return r.Server.CPUPer1k })
		}
		p99 := func(t string) stat {
			return stats(rep.runs(c, t), func(r loadgen.Result) float64 { return r.Latency.P99 })
		}
		f, fc := cpu("floor"), cpu("floor-coalesced")
		if f.n == 0 && fc.n == 0 {
			continue
		}
		g, n := cpu("go"), cpu("node")
		floorRows = append(floorRows, fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s |\n", c,
			f.cell(4), fc.cell(4), ratio(g, f), ratio(g, fc), ratio(n, f), ratio(n, fc),
			p99("floor").cell(1), p99("floor-coalesced").cell(1), ratio(p99("go"), p99("floor")), ratio(p99("go"), p99("floor-coalesced"))))
	}
	if len(floorRows) > 0 {
		w("### How far from the machine's limit\n\n")
		w("Two raw floors (`bench/cmd/floor`) serve the same fan-out with no database, no rooms and no per-socket work: a pre-encoded websocket frame per notification, written to every connection. " +
			"The **one-write** floor (`floor`) writes each frame to each connection in its own syscall, as it is broadcast. " +
			"The **coalescing** floor (`floor-coalesced`, `-coalesce`) queues the frame on every connection and lets each connection's writer goroutine send all it has queued in one writev: " +
			"when frames arrive faster than one write each can go out, that is the least a Go server can spend per delivery.\n\n")
		w("| case | one-write floor: CPU s per 1,000 deliveries | coalescing floor: CPU s per 1,000 | entreactive / one-write | entreactive / coalescing | Node / one-write | Node / coalescing | p99 ms: one-write / coalescing | entreactive p99 / one-write p99 | entreactive p99 / coalescing p99 |\n|---|---|---|---|---|---|---|---|---|---|\n")
		for _, row := range floorRows {
			w("%s", row)
		}
		w("\n")
	}

	// Targeted.
	for _, c := range rep.cases {
		if rep.scenario[c] != "targeted" {
			continue
		}
		w("### Targeted: `%s` — %s\n\n", c, rep.describe(c))
		w("| server | delivered / expected | leaks | losses | duplicates | p50 ms | p99 ms | max ms | server CPU s per 1,000 messages |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, t := range rep.targets(c) {
			runs := rep.runs(c, t)
			d, e := sum(runs, func(r loadgen.Result) int64 { return r.Delivered }), sum(runs, func(r loadgen.Result) int64 { return r.Expected })
			w("| %s | %s / %s | %d | %d | %d | %s | %s | %s | %s |\n", t, num(float64(d), 0), num(float64(e), 0),
				sum(runs, func(r loadgen.Result) int64 { return r.Leaks }), e-d,
				sum(runs, func(r loadgen.Result) int64 { return r.Duplicates }),
				stats(runs, func(r loadgen.Result) float64 { return r.Latency.P50 }).cell(1),
				stats(runs, func(r loadgen.Result) float64 { return r.Latency.P99 }).cell(1),
				stats(runs, func(r loadgen.Result) float64 { return r.Latency.Max }).cell(1),
				stats(runs, func(r loadgen.Result) float64 { return r.Server.CPUPer1k }).cell(3))
		}
		w("\nLeaks, losses and duplicates are totals over all rounds.\n\n")
	}

	// Rollback.
	for _, c := range rep.cases {
		if rep.scenario[c] != "rollback" {
			continue
		}
		w("### Rollback: `%s` — %s\n\n", c, rep.describe(c))
		w("| server | phantom events (must be 0) | rows of failed batches stored | valid rows delivered / expected |\n|---|---|---|---|\n")
		for _, t := range rep.targets(c) {
			runs := rep.runs(c, t)
			w("| %s | %d | %d | %s / %s |\n", t,
				sum(runs, func(r loadgen.Result) int64 { return r.Phantoms }),
				sum(runs, func(r loadgen.Result) int64 { return r.Stored }),
				num(float64(sum(runs, func(r loadgen.Result) int64 { return r.Delivered })), 0),
				num(float64(sum(runs, func(r loadgen.Result) int64 { return r.Expected })), 0))
		}
		w("\nTotals over all rounds. `node-hook` is the Node baseline in the reference's own hook style (`--emit hook`): Sequelize's afterCreate hook emits at once, so the rows a rollback later removes have already been sent to their recipients. The `node` rows use `transaction.afterCommit`, which is what makes the comparison fair.\n\n")
	}

	slowSection(w, rep)

	if hook := readHook(m.hookFile); hook != "" {
		w("### Hook overhead (same run)\n\n`bash scripts/bench-hook.sh`:\n\n%s\n\n", hook)
	}

	w("### Latency distribution\n\n![Latency CDF, POST to receipt, per fan-out case](%s)\n\n", m.pngRel)
	w("Cumulative distribution of the time from sending the POST to a socket receiving the event, for every delivery; each curve is the per-quantile median over the rounds.\n\n")
	minutes := 20 + 5*(max(m.slowRounds, 1)-1) // each extra slow round adds its six 45 s runs
	w("Reproduce: `%s` (about %d minutes on a quiet machine, longer when busy runs are repeated; it refuses non-loopback targets, bounds every run with `timeout`, waits for a quiet machine before each run and repeats busy runs).\n", m.command, minutes)
	return b.String()
}

// readHook keeps the summary lines of bench-hook.sh's output: the table
// and the ratio.
func readHook(path string) string {
	if path == "" {
		return ""
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var keep []string
	for line := range strings.SplitSeq(string(b), "\n") {
		if strings.HasPrefix(line, "|") || strings.HasPrefix(line, "reactive/plain") {
			keep = append(keep, line)
		}
	}
	// A blank line ends the table before the ratio line.
	return strings.Replace(strings.Join(keep, "\n"), "\nreactive/plain", "\n\nreactive/plain", 1)
}

func writePlot(path string, rep *report) error {
	colors := map[string]color.RGBA{
		"go":              {31, 119, 180, 255},
		"node":            {230, 120, 20, 255},
		"floor":           {110, 110, 110, 255},
		"floor-coalesced": {44, 160, 44, 255},
	}
	qs := loadgen.CDFQuantiles()
	var panels []plot.Panel
	for _, c := range rep.cases {
		if rep.scenario[c] != "fanout" && rep.scenario[c] != "targeted" {
			continue
		}
		p := plot.Panel{Title: c}
		for _, t := range []string{"go", "node", "floor", "floor-coalesced"} {
			runs := rep.runs(c, t)
			if len(runs) == 0 || len(runs[0].CDF) != len(qs) {
				continue
			}
			xs := make([]float64, len(qs))
			for i := range qs {
				xs[i] = stats(runs, func(r loadgen.Result) float64 {
					if i < len(r.CDF) {
						return r.CDF[i]
					}
					return math.NaN()
				}).med
			}
			label := map[string]string{"go": "entreactive", "node": "node", "floor": "floor, one write", "floor-coalesced": "floor, coalesced"}[t]
			p.Series = append(p.Series, plot.Series{Label: label, Color: colors[t], X: xs, Y: qs})
		}
		panels = append(panels, p)
	}
	if len(panels) == 0 {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("plot: %w", err)
	}
	if err := plot.CDF(f, "Latency CDF, POST to receipt (median of rounds)", panels, 2); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
