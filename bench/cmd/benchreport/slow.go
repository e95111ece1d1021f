package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/entreactive/reactive/bench/loadgen"
)

// slowSection writes the slow-consumer table: per server, the runs with
// stalled sockets against the control runs without.
func slowSection(w func(string, ...any), rep *report) {
	var control string
	var stalledCases []string
	for _, c := range rep.cases {
		if rep.scenario[c] != "slow" {
			continue
		}
		first := rep.firstRun(c)
		if first == nil || first.Slow == nil {
			continue
		}
		if first.Slow.Stalled == 0 {
			control = c
		} else {
			stalledCases = append(stalledCases, c)
		}
	}
	if len(stalledCases) == 0 {
		return
	}
	w("### Slow consumers\n\n")
	for _, c := range append(stalledCases, control) {
		if c != "" {
			w("- `%s`: %s\n", c, rep.describe(c))
		}
	}
	w("\nStalled sockets authenticate, then never read again while they keep sending Engine.IO pongs (and have a 16 KiB receive buffer): to the server they are live peers that do not drain. " +
		"**Growth** is the server's peak RSS during the feed minus its RSS once every socket is connected; the target for entreactive is at most 5 × its per-connection limit + 20 MiB. " +
		"**Over control** is that growth minus the control run's (the same feed, no stalled socket): what the stalled sockets themselves cost. " +
		"These runs keep their rows in a SQLite database file (both servers), not in memory, so that the 16 MB of notifications posted are the database's and not counted as growth; " +
		"what does grow with the feed in every run is the server's own: for entreactive the recovery history the example keeps (`Recovery.HistoryBytes`, 8 MiB) and the garbage collector's headroom. " +
		"A stalled socket counts as closed when the client saw the connection end (at its next heartbeat, or when it finally read what was queued for it); the seconds are from its stall to that moment. " +
		"The healthy sockets' p99 is compared with the control run, which has no stalled socket")
	if n := rep.slowRunCount(append(stalledCases, control)); n > 1 {
		w(" (medians of %d rounds; `SLOW_ROUNDS`)", n)
	}
	w(".\n\n")
	w("| case | server | healthy delivered / expected | RSS MiB: connected / peak / after | growth MiB | over control MiB | limit per connection | stalled closed | seconds to close | healthy p99 ms | p99 / control p99 |\n")
	w("|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range stalledCases {
		for _, t := range rep.targets(c) {
			runs := rep.runs(c, t)
			closed, stalled := 0, 0
			var secs []float64
			for _, r := range runs {
				if r.Slow != nil {
					closed += r.Slow.StalledClosed
					stalled += r.Slow.Stalled
					secs = append(secs, r.Slow.CloseSeconds...)
				}
			}
			limit := "—"
			if l := runs[0].Slow.PendingLimitMiB; l > 0 {
				limit = fmt.Sprintf("%s MiB (target growth ≤ %s MiB)", num(l, 1), num(5*l+20, 0))
			}
			ctlRuns := rep.runs(control, t)
			p99 := stats(runs, func(r loadgen.Result) float64 { return r.Latency.P99 })
			ctl := stats(ctlRuns, func(r loadgen.Result) float64 { return r.Latency.P99 })
			over := "—"
			if len(ctlRuns) > 0 {
				d := stats(runs, rssGrowth).med - stats(ctlRuns, rssGrowth).med
				if d > -0.5 && d < 0.5 {
					d = 0 // not "-0"
				}
				over = num(d, 0)
			}
			w("| %s | %s | %s / %s | %s / %s / %s | **%s** | %s | %s | **%d / %d** | %s | %s | %s |\n", c, t,
				num(float64(sum(runs, func(r loadgen.Result) int64 { return r.Delivered })), 0),
				num(float64(sum(runs, func(r loadgen.Result) int64 { return r.Expected })), 0),
				stats(runs, func(r loadgen.Result) float64 { return r.Server.RSSAfterConnect }).cell(0),
				stats(runs, func(r loadgen.Result) float64 { return r.Server.RSSPeak }).cell(0),
				stats(runs, func(r loadgen.Result) float64 { return r.Server.RSSAfter }).cell(0),
				stats(runs, rssGrowth).cell(0), over,
				limit, closed, stalled, secondsCell(secs), p99.cell(1), ratio(p99, ctl))
		}
	}
	if control != "" {
		w("\nControl (`%s`, no stalled socket): ", control)
		var parts []string
		for _, t := range rep.targets(control) {
			runs := rep.runs(control, t)
			parts = append(parts, fmt.Sprintf("%s p99 %s ms, growth %s MiB", t,
				stats(runs, func(r loadgen.Result) float64 { return r.Latency.P99 }).cell(1),
				stats(runs, rssGrowth).cell(0)))
		}
		w("%s.\n", strings.Join(parts, "; "))
	}
	w("\n")
}

// rssGrowth is a run's growth: its peak RSS during the feed minus its RSS
// once every socket was connected.
func rssGrowth(r loadgen.Result) float64 { return r.Server.RSSPeak - r.Server.RSSAfterConnect }

// secondsCell is "min–max" of the close times, or "—".
func secondsCell(v []float64) string {
	if len(v) == 0 {
		return "—"
	}
	lo, hi := slices.Min(v), slices.Max(v)
	if num(lo, 1) == num(hi, 1) {
		return num(lo, 1)
	}
	return num(lo, 1) + "–" + num(hi, 1)
}

// firstRun is the first quiet run of case c, of any server.
func (rep *report) firstRun(c string) *loadgen.Result {
	for _, t := range targetOrder() {
		if runs := rep.runs(c, t); len(runs) > 0 {
			return &runs[0]
		}
	}
	return nil
}

// slowRunCount is the most quiet runs any server has of any of cases: the
// rounds the slow-consumer cases ran.
func (rep *report) slowRunCount(cases []string) int {
	n := 0
	for _, c := range cases {
		if c == "" {
			continue
		}
		for _, t := range rep.targets(c) {
			n = max(n, len(rep.runs(c, t)))
		}
	}
	return n
}
