// Command loadgen drives a server that speaks the example app's HTTP API and
// socket protocol (example/README.md, docs/protocol.md) and prints what it measured as one JSON
// line (a loadgen.Result). It only talks to loopback addresses and every run
// is bounded by -timeout.
//
//	loadgen -scenario fanout -clients 1000 -n 200 -rate 20 -target http://127.0.0.1:18080 -pid 1234 -label go
//	loadgen -scenario targeted -clients 200 -n 500 ...
//	loadgen -scenario rollback -n 100 ...
//	loadgen -scenario slow -clients 100 -stalled 5 -rate 25 -duration 40s -payload 16384 ...
//	loadgen -scenario fanout -urls http://127.0.0.1:18090,http://127.0.0.1:18091 -pids 11,12 -redis-pid 10 ...
//	                                          # a cluster: sockets spread over the nodes, posts to random nodes
//	loadgen quiet -threshold 0.15 -wait 60s   # wait until other processes leave the box
//
// bench/run.sh runs it for every scenario and server; see BENCHMARKS.md.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/entreactive/reactive/bench/loadgen"
)

func main() {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	var err error
	if len(os.Args) > 1 && os.Args[1] == "quiet" {
		err = quiet(os.Args[2:], log)
	} else {
		err = run(os.Args[1:], log)
	}
	if err != nil {
		log.Error("loadgen failed", "err", err)
		os.Exit(1)
	}
}

func quiet(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("loadgen quiet", flag.ContinueOnError)
	threshold := fs.Float64("threshold", 0.15, "most cores other processes may use")
	window := fs.Duration("window", 2*time.Second, "sampling window")
	wait := fs.Duration("wait", time.Minute, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), *wait)
	defer cancel()
	other, err := loadgen.WaitQuiet(ctx, *threshold, *window)
	if err != nil {
		return err
	}
	log.Info("box quiet", "other_cores", fmt.Sprintf("%.3f", other))
	return nil
}

func run(args []string, log *slog.Logger) error {
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	var (
		target   = fs.String("target", "http://127.0.0.1:8080", "server base URL (loopback only)")
		urls     = fs.String("urls", "", "fanout: comma-separated base URLs of a cluster's nodes (loopback only); replaces -target")
		pids     = fs.String("pids", "", "with -urls: the nodes' process ids, in the same order (replaces -pid)")
		redisPID = fs.Int("redis-pid", 0, "with -urls: the cluster's Redis process, measured with the nodes (0: the nodes run without Redis)")
		label    = fs.String("label", "server", "server label in the result (go, node, floor, ...)")
		pid      = fs.Int("pid", 0, "server process id, for its CPU and RSS (0: not measured)")
		scenario = fs.String("scenario", "fanout", "fanout, targeted, rollback or slow")
		clients  = fs.Int("clients", 1000, "fanout: sockets; targeted: users; slow: healthy sockets")
		n        = fs.Int("n", 100, "fanout: notifications; targeted: messages; rollback: batches")
		rate     = fs.Float64("rate", 0, "posts per second (fanout: 0 = saturation; targeted default 100)")
		workers  = fs.Int("workers", 4, "fanout saturation: concurrent posters")
		pairs    = fs.Int("pairs", 10, "rollback: sender/recipient pairs")
		batch    = fs.Int("batch", 5, "rollback: items per batch")
		seed     = fs.Uint64("seed", 1, "targeted: random seed for the pairs; fanout with -urls: for the nodes posted to")
		stalled  = fs.Int("stalled", 5, "slow: sockets that stop reading but keep sending heartbeats (0: control run)")
		duration = fs.Duration("duration", 40*time.Second, "slow: how long notifications are posted")
		payload  = fs.Int("payload", 16<<10, "slow: bytes per notification message")
		limitMiB = fs.Float64("pending-limit-mib", 0, "slow: the server's per-connection pending-bytes limit, recorded for the report")
		caseName = fs.String("case", "", "case name in the result (default: the scenario)")
		round    = fs.Int("round", 0, "round number in the result")
		pinned   = fs.String("pinned", "", "CPU pinning note in the result")
		busy     = fs.Float64("busy", 0.15, "cores other processes may use before the run is marked busy")
		drain    = fs.Duration("drain", 20*time.Second, "wait for deliveries after the last post")
		timeout  = fs.Duration("timeout", 3*time.Minute, "bound on the whole run")
		out      = fs.String("out", "", "append the JSON result to this file (default stdout)")
	)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *caseName == "" {
		*caseName = *scenario
	}
	cl, err := parseCluster(*urls, *pids, *redisPID)
	if err != nil {
		return err
	}
	if cl != nil {
		if *scenario != "fanout" {
			return fmt.Errorf("-urls: only the fanout scenario runs on a cluster")
		}
		*target, *pid = cl.urls[0], cl.pids[0]
	}
	env, err := loadgen.NewEnv(*target, *pid, *label)
	if err != nil {
		return err
	}
	defer env.Close()
	env.BusyThreshold = *busy
	if cl != nil {
		if err := env.SetNodes(cl.urls); err != nil {
			return err
		}
		env.PIDLabel, env.Procs = "node 1", cl.procs()
	}
	if cl == nil {
		err = checkListener(*target, *pid)
	} else {
		for i := range cl.urls {
			err = errors.Join(err, checkListener(cl.urls[i], cl.pids[i]))
		}
	}
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	common := loadgen.Common{Case: *caseName, Round: *round, Pinned: *pinned, Drain: *drain}
	var res *loadgen.Result
	switch *scenario {
	case "fanout":
		res, err = loadgen.Fanout(ctx, env, loadgen.FanoutConfig{Common: common, Clients: *clients, Notifications: *n, Rate: *rate, Workers: *workers})
	case "targeted":
		res, err = loadgen.Targeted(ctx, env, loadgen.TargetedConfig{Common: common, Users: *clients, Messages: *n, Rate: *rate, Seed: *seed})
	case "rollback":
		res, err = loadgen.Rollback(ctx, env, loadgen.RollbackConfig{Common: common, Pairs: *pairs, Batches: *n, BatchSize: *batch})
	case "slow":
		res, err = loadgen.SlowConsumers(ctx, env, loadgen.SlowConfig{Common: common, Healthy: *clients, Stalled: *stalled, Rate: *rate,
			Duration: *duration, PayloadBytes: *payload, PendingLimitMiB: *limitMiB})
	default:
		return fmt.Errorf("unknown scenario %q", *scenario)
	}
	if err != nil {
		return fmt.Errorf("%s against %s: %w", *scenario, *target, err)
	}
	if ctx.Err() != nil {
		res.Errors = append(res.Errors, "run stopped early: "+ctx.Err().Error())
	}
	if cl != nil {
		res.Nodes, res.Redis = len(cl.urls), cl.redisPID > 0
	}
	log.Info("result", "case", res.Case, "target", res.Target,
		"delivered", fmt.Sprintf("%d/%d", res.Delivered, res.Expected),
		"dups", res.Duplicates, "leaks", res.Leaks, "phantoms", res.Phantoms, "stored", res.Stored,
		"per_s", fmt.Sprintf("%.0f", res.DeliveriesPerSec),
		"p50_ms", fmt.Sprintf("%.2f", res.Latency.P50), "p99_ms", fmt.Sprintf("%.2f", res.Latency.P99),
		"local_remote_p50_ms", splitP50(res),
		"cpu_s_per_1k", fmt.Sprintf("%.4f", res.Server.CPUPer1k),
		"rss_mib", fmt.Sprintf("%.0f/%.0f/%.0f", res.Server.RSSBefore, res.Server.RSSAfterConnect, res.Server.RSSAfter),
		"other_cores", fmt.Sprintf("%.2f", res.Box.OtherCores), "busy", res.Box.Busy,
		"errors", res.Errors)
	if res.Slow != nil {
		log.Info("slow consumers", "stalled", res.Slow.Stalled, "closed", res.Slow.StalledClosed, "close_s", res.Slow.CloseSeconds,
			"rss_peak_mib", fmt.Sprintf("%.0f", res.Server.RSSPeak),
			"growth_mib", fmt.Sprintf("%.0f", res.Server.RSSPeak-res.Server.RSSAfterConnect))
	}
	return write(*out, res)
}

// cluster is what -urls, -pids and -redis-pid describe.
type cluster struct {
	urls     []string
	pids     []int
	redisPID int
}

// parseCluster reads -urls, -pids and -redis-pid; nil without -urls.
func parseCluster(urls, pids string, redisPID int) (*cluster, error) {
	if urls == "" {
		if pids != "" || redisPID != 0 {
			return nil, fmt.Errorf("-pids and -redis-pid need -urls")
		}
		return nil, nil
	}
	c := &cluster{urls: strings.Split(urls, ","), redisPID: redisPID}
	for _, u := range c.urls {
		if err := loadgen.CheckLoopback(u); err != nil {
			return nil, err
		}
	}
	if pids == "" {
		c.pids = make([]int, len(c.urls))
		if redisPID != 0 {
			return nil, fmt.Errorf("-redis-pid needs -pids")
		}
		return c, nil
	}
	for _, p := range strings.Split(pids, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(p))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("-pids: bad process id %q", p)
		}
		c.pids = append(c.pids, n)
	}
	if len(c.pids) != len(c.urls) {
		return nil, fmt.Errorf("-pids has %d process ids for %d -urls", len(c.pids), len(c.urls))
	}
	if redisPID < 0 {
		return nil, fmt.Errorf("-redis-pid: bad process id %d", redisPID)
	}
	return c, nil
}

// procs are the measured processes besides the first node.
func (c *cluster) procs() []loadgen.Proc {
	var out []loadgen.Proc
	for i, p := range c.pids[1:] {
		out = append(out, loadgen.Proc{Label: fmt.Sprintf("node %d", i+2), PID: p})
	}
	if c.redisPID > 0 {
		out = append(out, loadgen.Proc{Label: "redis", PID: c.redisPID})
	}
	return out
}

// checkListener verifies that pid (when not 0) listens on target's port.
func checkListener(target string, pid int) error {
	if pid <= 0 {
		return nil
	}
	u, err := url.Parse(target)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(u.Port())
	if err != nil {
		return fmt.Errorf("target %q needs an explicit port: %w", target, err)
	}
	return loadgen.CheckListener(pid, port)
}

func splitP50(r *loadgen.Result) string {
	if r.LatencyLocal == nil || r.LatencyRemote == nil {
		return "-"
	}
	return fmt.Sprintf("%.2f/%.2f", r.LatencyLocal.P50, r.LatencyRemote.P50)
}

func write(path string, res *loadgen.Result) error {
	b, err := json.Marshal(res)
	if err != nil {
		return fmt.Errorf("encode result: %w", err)
	}
	b = append(b, '\n')
	if path == "" {
		_, err = os.Stdout.Write(b)
		return err
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("open %s: %w", path, err)
	}
	_, err = f.Write(b)
	return errors.Join(err, f.Close())
}
