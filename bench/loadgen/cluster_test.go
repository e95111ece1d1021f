package loadgen

import (
	"context"
	"os"
	"testing"
	"time"
)

// startFakeCluster starts n fake apps that share notifications, as the
// nodes of a cluster do through Redis, and returns an Env on all of them.
func startFakeCluster(t *testing.T, n int, tweak func(i int, a *fakeApp)) *Env {
	t.Helper()
	nodes := make([]*fakeApp, n)
	urls := make([]string, n)
	for i := range nodes {
		nodes[i] = &fakeApp{cluster: &nodes, offset: true}
		if tweak != nil {
			tweak(i, nodes[i])
		}
		urls[i] = startFakeApp(t, nodes[i]).Base
	}
	e := testEnv(t, urls[0])
	if err := e.SetNodes(urls); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestFanoutCluster: sockets spread over three nodes, notifications posted
// to random nodes, every event carrying a recovery offset as a second
// argument; every delivery is counted once and split into local and
// remote.
func TestFanoutCluster(t *testing.T) {
	e := startFakeCluster(t, 3, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Fanout(ctx, e, FanoutConfig{Common: Common{Case: "c", Drain: 5 * time.Second}, Clients: 30, Notifications: 20, Rate: 200, Seed: 7})
	if err != nil {
		t.Fatal(err)
	}
	if r.Expected != 600 || r.Delivered != 600 || r.Duplicates != 0 || r.PostErrors != 0 || len(r.Errors) != 0 {
		t.Fatalf("delivered %d/%d, dups %d, post errors %d, errors %v", r.Delivered, r.Expected, r.Duplicates, r.PostErrors, r.Errors)
	}
	if r.LatencyLocal == nil || r.LatencyRemote == nil {
		t.Fatal("no local/remote split")
	}
	// Each notification reaches its node's 10 sockets locally and the
	// other 20 remotely.
	if r.LatencyLocal.Count != 200 || r.LatencyRemote.Count != 400 || r.Latency.Count != 600 {
		t.Errorf("local %d, remote %d, all %d; want 200, 400, 600", r.LatencyLocal.Count, r.LatencyRemote.Count, r.Latency.Count)
	}
}

func TestFanoutClusterDuplicates(t *testing.T) {
	e := startFakeCluster(t, 2, func(i int, a *fakeApp) { a.remoteDup = i == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Fanout(ctx, e, FanoutConfig{Common: Common{Case: "c", Drain: 5 * time.Second}, Clients: 10, Notifications: 10, Rate: 200, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered != r.Expected || r.Duplicates == 0 {
		t.Errorf("delivered %d/%d, dups %d; want all delivered and duplicates seen", r.Delivered, r.Expected, r.Duplicates)
	}
}

// TestOffsetArgument: a single node whose events carry the recovery
// offset as a last argument still counts every delivery.
func TestOffsetArgument(t *testing.T) {
	e := startFakeApp(t, &fakeApp{offset: true})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Fanout(ctx, e, FanoutConfig{Common: Common{Case: "c", Drain: 5 * time.Second}, Clients: 5, Notifications: 5, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	if r.Delivered != 25 || r.Expected != 25 || r.Duplicates != 0 || r.LatencyLocal != nil {
		t.Errorf("delivered %d/%d, dups %d, split %v", r.Delivered, r.Expected, r.Duplicates, r.LatencyLocal)
	}
}

// TestProcsMeasured: with Procs, the server's CPU and RSS are the sums
// over every process and the breakdown names each.
func TestProcsMeasured(t *testing.T) {
	e := startFakeApp(t, &fakeApp{})
	e.PID, e.PIDLabel = os.Getpid(), "node 1"
	e.Procs = []Proc{{Label: "redis", PID: os.Getpid()}}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	r, err := Fanout(ctx, e, FanoutConfig{Common: Common{Case: "c", Drain: 5 * time.Second}, Clients: 3, Notifications: 3, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	p := r.Server.Procs
	if len(p) != 2 || p[0].Label != "node 1" || p[1].Label != "redis" || p[1].PID != os.Getpid() {
		t.Fatalf("procs = %+v", p)
	}
	if r.Server.RSSAfterConnect != p[0].RSSAfterConnect+p[1].RSSAfterConnect || r.Server.RSSAfterConnect <= 0 {
		t.Errorf("RSS %v is not the sum of %+v", r.Server.RSSAfterConnect, p)
	}
	if got := p[0].CPUSeconds + p[1].CPUSeconds; got != r.Server.CPUSeconds {
		t.Errorf("CPU %v is not the sum %v", r.Server.CPUSeconds, got)
	}
}

func TestSetNodesLoopbackOnly(t *testing.T) {
	e := testEnv(t, "http://127.0.0.1:1")
	if err := e.SetNodes([]string{"http://127.0.0.1:2", "http://10.0.0.1:3"}); err == nil {
		t.Error("a non-loopback node was accepted")
	}
	if err := e.SetNodes(nil); err == nil {
		t.Error("no nodes accepted")
	}
	if err := e.SetNodes([]string{"http://127.0.0.1:2", "http://127.0.0.1:3"}); err != nil || e.Base != "http://127.0.0.1:2" || e.nodeCount() != 2 {
		t.Errorf("SetNodes: %v, base %s, %d nodes", err, e.Base, e.nodeCount())
	}
}
