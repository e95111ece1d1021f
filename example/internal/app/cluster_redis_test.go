package app_test

import (
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/entreactive/reactive/internal/testkit"
)

// Redis goes away twice under a cluster of two nodes: killed and started
// again empty on the same port, then unreachable for 10 s (a proxy cut).
// Meanwhile each node still delivers its own events to its own sockets,
// the cluster-wide utility calls fail within the broker's RequestTimeout,
// and the logs say what is wrong; when Redis is back, events cross nodes
// again without restarting anything. Nothing panics and, once the nodes
// are closed, no goroutine is left.
func TestClusterRedisOutage(t *testing.T) {
	ignore := goleak.IgnoreCurrent()
	red := startPrivateRedis(t)
	proxy := testkit.StartProxy(t, red.addr)
	var logs testkit.Buffer
	rcfg := redisNames(t, red.addr)
	rcfg.RequestTimeout = time.Second
	rcfg.BlockTime = 500 * time.Millisecond
	c := newCluster(t, 2, proxy.Addr(), rcfg, func(string) *slog.Logger {
		var w io.Writer = &logs
		if testing.Verbose() {
			w = io.MultiWriter(&logs, tlog{t})
		}
		return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelWarn}))
	})
	a, b := c.nodes[0], c.nodes[1]
	tokens := c.login(4)
	conv, _ := c.groups(tokens, 4, 4)
	// Users 1 and 3 on A, 2 on B; user 4 sends, without a socket.
	clients := c.connectAll([]int64{1, 2, 3}, tokens, func(i int) *cnode { return []*cnode{a, b, a}[i] })
	u1, u2, u3 := clients[0], clients[1], clients[2]
	ctx := testkit.Context(t)
	if err := c.barrier(ctx, c.nodes, clients); err != nil {
		t.Fatal(err)
	}

	seq := 0
	// send creates a message from user 4 to r on node n and waits at most
	// wait for r to receive it.
	send := func(n *cnode, r *rclient, wait time.Duration) (bool, error) {
		seq++
		m, err := c.sendMessage(ctx, n, tokens[4], conv[4], r.user, fmt.Sprintf("outage %d", seq))
		if err != nil {
			return false, err
		}
		deadline := time.Now().Add(wait)
		for r.messages()[m.id] == 0 {
			if time.Now().After(deadline) {
				return false, nil
			}
			time.Sleep(5 * time.Millisecond)
		}
		return true, nil
	}
	// healed waits until a message crosses from A to B and from B to A,
	// sending a new pair every second, and returns how long that took.
	healed := func(what string) time.Duration {
		t.Helper()
		start := time.Now()
		for {
			ab, err1 := send(a, u2, time.Second)
			ba, err2 := send(b, u1, time.Second)
			if err1 != nil || err2 != nil {
				t.Fatalf("%s: %v %v", what, err1, err2)
			}
			if ab && ba {
				return time.Since(start)
			}
			if time.Since(start) > 30*time.Second {
				t.Fatalf("%s: events do not cross nodes 30 s after Redis came back", what)
			}
		}
	}
	// down checks a node without Redis: its own sockets still get its
	// events, and the calls that need the other nodes fail promptly.
	down := func(what string) {
		t.Helper()
		for _, x := range []struct {
			n *cnode
			r *rclient
		}{{a, u1}, {a, u3}, {b, u2}} {
			if ok, err := send(x.n, x.r, testkit.Wait); err != nil || !ok {
				t.Fatalf("%s: a message on %s for its own socket (user %d): delivered %v, %v", what, x.n.name, x.r.user, ok, err)
			}
		}
		srv := a.app.Server()
		limit := rcfg.RequestTimeout + time.Second // slack for -race on a busy machine
		for _, call := range []struct {
			name string
			f    func() error
		}{
			{"IsUserOnline", func() error { _, err := srv.IsUserOnline(ctx, 2); return err }},
			{"RoomSize", func() error { _, err := srv.RoomSize(ctx, "users"); return err }},
			{"ConnectionCount", func() error { _, err := srv.ConnectionCount(ctx); return err }},
			{"UserCount", func() error { _, err := srv.UserCount(ctx); return err }},
			{"ServerSideEmitWithAck", func() error { _, err := srv.ServerSideEmitWithAck(ctx, "ping"); return err }},
		} {
			start := time.Now()
			err := call.f()
			d := time.Since(start)
			if err == nil || d > limit {
				t.Errorf("%s: %s returned %v after %v, want an error within %v", what, call.name, err, d.Round(time.Millisecond), limit)
			} else {
				t.Logf("%s: %s failed after %v: %v", what, call.name, d.Round(time.Millisecond), err)
			}
		}
	}

	if d := healed("at start"); d > 5*time.Second {
		t.Fatalf("events took %v to cross nodes at start", d)
	}

	// Redis killed, then started again on its port with nothing in it.
	red.kill()
	down("Redis killed")
	red.start()
	t.Logf("after Redis restarted: events cross nodes again within %v", healed("after the restart").Round(time.Millisecond))
	// The requests' subscription comes back on its own schedule: until it
	// has, a node counts only the nodes subscribed (PUBSUB NUMSUB).
	roomSizeBack := func(what string) {
		t.Helper()
		start := time.Now()
		testkit.Eventually(t, what+": RoomSize from A counting B's socket", func() bool {
			n, err := a.app.Server().RoomSize(ctx, "users")
			return err == nil && n == 3
		})
		t.Logf("%s: RoomSize right again within %v", what, time.Since(start).Round(time.Millisecond))
	}
	roomSizeBack("after the restart")

	// Redis unreachable for 10 s.
	proxy.Cut()
	cut := time.Now()
	down("Redis unreachable")
	select {
	case <-time.After(time.Until(cut.Add(10 * time.Second))):
	case <-ctx.Done():
	}
	down("Redis unreachable for 10 s")
	proxy.Restore()
	t.Logf("after 10 s unreachable: events cross nodes again within %v", healed("after the cut").Round(time.Millisecond))
	roomSizeBack("after the cut")

	// The logs say what happened.
	text := logs.String()
	for _, want := range []string{
		`level=ERROR msg="server: publish to the cluster"`,
		`level=ERROR msg="redisbroker: reading the stream failed; retrying"`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("the logs lack %s", want)
		}
	}
	errs := regexp.MustCompile(`(?m)^.*level=ERROR.*$`).FindAllString(text, -1)
	t.Logf("%d error lines logged, first: %s", len(errs), strings.Join(errs[:min(3, len(errs))], "\n\t"))
	if strings.Contains(strings.ToLower(text), "panic") {
		t.Errorf("a panic was logged:\n%s", text)
	}

	// Closed, the nodes leave nothing running.
	for _, r := range clients {
		conn, _ := r.connection()
		_ = conn.Close()
	}
	for _, n := range c.nodes {
		if err := n.stop(ctx); err != nil {
			t.Errorf("node %s: Close: %v", n.name, err)
		}
	}
	c.tr.CloseIdleConnections()
	proxy.Cut()
	goleak.VerifyNone(t, ignore)
}
