package app_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// checkTally fails the test unless every expected delivery happened, once,
// to the right sockets only, in offset order.
func checkTally(t *testing.T, got tally, examples []string) {
	t.Helper()
	if got.lost != 0 || got.duplicated != 0 || got.leaked != 0 || got.unordered != 0 || got.malformed != 0 ||
		got.delivered != got.expected || got.expected == 0 {
		t.Errorf("%v\n\t%s", got, strings.Join(examples, "\n\t"))
	}
}

// logStats logs each running node's delivery counters and fails the test
// if a node dropped an event.
func logStats(t *testing.T, nodes []*cnode) {
	t.Helper()
	for _, n := range nodes {
		s := n.app.Server().Stats()
		t.Logf("node %s: %d sockets, events queued %d, sent %d, dropped %d, publish errors %d, recovery closes %d, slow consumers %d",
			n.name, s.Connections, s.EventsQueued, s.EventsSent, s.Dropped, s.PublishErrors, s.RecoveryCloses, s.SlowConsumers)
		if s.Dropped != 0 {
			t.Errorf("node %s dropped %d events", n.name, s.Dropped)
		}
	}
}

// Three nodes on one Redis, each with its own listener, 300 sockets spread
// over them (60 users have a socket on two nodes), and 10,000 messages
// created through the API of random nodes by concurrent senders: each
// socket receives exactly the messages addressed to its user, each once.
// Nothing lost, nothing duplicated, nothing leaked.
func TestClusterTargetedEvents(t *testing.T) {
	needRedis(t, sharedRedis)
	const (
		users = 240
		twice = 60 // users with a second socket, on another node
		group = 20 // users per conversation

		events  = 10_000
		batch   = 16 // most requests create 2 to batch messages
		workers = 12
	)
	c := newCluster(t, 3, sharedRedis, redisNames(t, sharedRedis), nil)
	tokens := c.login(users)
	conv, peers := c.groups(tokens, users, group)

	ids := socketUsers(users, twice)
	// User u's first socket is on node (u-1)%3, its second on u%3.
	clients := c.connectAll(ids, tokens, func(i int) *cnode { return c.nodes[(i+i/users)%3] })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.barrier(ctx, c.nodes, clients); err != nil {
		t.Fatalf("every socket subscribed: %v", err)
	}

	start := time.Now()
	sizes := plan(events, batch)
	results := make([][]sent, len(sizes))
	errs := make([]error, len(sizes))
	picks := make([]int, len(sizes))
	runWorkers(len(sizes), workers, func(rng *rand.Rand, i int) {
		from := int64(rng.IntN(users)) + 1
		to := make([]int64, sizes[i])
		for k := range to {
			to[k] = peers[from][rng.IntN(len(peers[from]))]
		}
		picks[i] = rng.IntN(len(c.nodes))
		results[i], errs[i] = c.sendMessages(ctx, c.nodes[picks[i]], tokens[from], conv[from], to, fmt.Sprintf("m%d", i))
	})
	sending := time.Since(start)
	perNode := make([]int, len(c.nodes))
	for _, p := range picks {
		perNode[p]++
	}
	var msgs []sent
	for _, r := range results {
		msgs = append(msgs, r...)
	}
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sending: %.2000v", err)
	}
	if err := c.barrier(ctx, c.nodes, clients); err != nil {
		t.Fatalf("after the last message: %v", err)
	}
	delivered := time.Since(start)

	got, examples := count(clients, msgs)
	t.Logf("%d sockets on 3 nodes (%v requests per node), %d messages in %d requests from %d workers: sent in %v, all delivered after %v (%.0f messages/s)",
		len(clients), perNode, len(msgs), len(sizes), workers, sending.Round(time.Millisecond), delivered.Round(time.Millisecond), float64(events)/delivered.Seconds())
	t.Logf("lost %d, duplicated %d, leaked %d (%v)",
		got.lost, got.duplicated, got.leaked, got)
	checkTally(t, got, examples)
	logStats(t, c.nodes)
}

// move waits until each of clients has lost its connection and its
// session is in Redis, then redials it on a random node of to with its pid
// and last offset (no token), a few clients at a time as real clients
// reconnect on their own. It returns how many got their socket back.
func (c *tcluster) move(ctx context.Context, rdb *redis.Client, clients []*rclient, to []*cnode) (restored int, err error) {
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, r := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			ok, err := c.moveOne(ctx, rdb, r, to[i%len(to)])
			mu.Lock()
			defer mu.Unlock()
			if ok {
				restored++
			}
			if err != nil {
				errs = append(errs, err)
			}
		}()
	}
	wg.Wait()
	return restored, errors.Join(errs...)
}

// moveOne moves one client: see move.
func (c *tcluster) moveOne(ctx context.Context, rdb *redis.Client, r *rclient, to *cnode) (bool, error) {
	conn, from := r.connection()
	select {
	case <-conn.Done():
	case <-ctx.Done():
		return false, fmt.Errorf("user %d (socket %s on %s): connection still open: %w", r.user, conn.SID, from.name, ctx.Err())
	}
	// A real client waits a second or more before it reconnects; the test
	// waits for what that wait is for: the session handed over.
	key := c.rcfg.SessionKeyPrefix + r.pid
	wait, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for rdb.Exists(wait, key).Val() == 0 {
		select {
		case <-wait.Done():
			// Lost: the client can only start afresh, with its token.
			c.t.Logf("user %d (socket %s on %s): session %s not persisted after 10 s; reconnecting with the token",
				r.user, conn.SID, from.name, key)
			r.mu.Lock()
			r.sessionLost = true
			r.mu.Unlock()
			return false, c.dial(ctx, r, to, map[string]any{"token": r.token})
		case <-time.After(5 * time.Millisecond):
		}
	}
	return c.recover(ctx, r, to)
}

// on returns the clients whose current connection is to n.
func on(clients []*rclient, n *cnode) []*rclient {
	var out []*rclient
	for _, r := range clients {
		if _, at := r.connection(); at == n {
			out = append(out, r)
		}
	}
	return out
}

// Nodes go while messages keep coming: first node B loses every socket
// connection at once while it keeps running (as a network failure would:
// the library persists the sessions), then node C is stopped with Close
// (which hands its sockets' sessions over to Redis first). Their clients
// reconnect to the other nodes with their pid and last offset, and no
// token: each gets its socket, user and rooms back and ends with every
// message addressed to it exactly once. Requests that failed because
// their node was gone are counted, not expected.
func TestClusterNodeLoss(t *testing.T) {
	needRedis(t, sharedRedis)
	const (
		users   = 120
		twice   = 30
		group   = 20
		events  = 4000
		batch   = 8
		workers = 8
	)
	rcfg := redisNames(t, sharedRedis)
	rcfg.MaxLen = 100_000 // the whole test's history: recovery must not fail for a trimmed offset
	c := newCluster(t, 3, sharedRedis, rcfg, nil)
	a, b, cc := c.nodes[0], c.nodes[1], c.nodes[2]
	rdb := redis.NewClient(&redis.Options{Addr: sharedRedis})
	defer rdb.Close()
	tokens := c.login(users)
	conv, peers := c.groups(tokens, users, group)
	ids := socketUsers(users, twice)
	clients := c.connectAll(ids, tokens, func(i int) *cnode { return c.nodes[(i+i/users)%3] })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Every socket has an offset to come back with.
	if err := c.barrier(ctx, c.nodes, clients); err != nil {
		t.Fatal(err)
	}

	sizes := plan(events, batch)
	results := make([][]sent, len(sizes))
	errs := make([]error, len(sizes))
	var done atomic.Int64
	var gone, goneMessages atomic.Int64
	sending := make(chan struct{})
	start := time.Now()
	go func() {
		defer close(sending)
		runWorkers(len(sizes), workers, func(rng *rand.Rand, i int) {
			defer done.Add(1)
			from := int64(rng.IntN(users)) + 1
			to := make([]int64, sizes[i])
			for k := range to {
				to[k] = peers[from][rng.IntN(len(peers[from]))]
			}
			for {
				n := c.nodes[rng.IntN(len(c.nodes))]
				results[i], errs[i] = c.sendMessages(ctx, n, tokens[from], conv[from], to, fmt.Sprintf("m%d", i))
				switch {
				case errors.Is(errs[i], errNodePaused):
					continue // not sent: another node
				case errors.Is(errs[i], errNodeGone):
					gone.Add(1)
					goneMessages.Add(int64(len(to)))
					errs[i] = nil
				}
				return
			}
		})
	}()
	waitFor := func(what string, n int) {
		t.Helper()
		for done.Load() < int64(min(n, len(sizes))) {
			select {
			case <-ctx.Done():
				t.Fatalf("%s: %d requests done: %v", what, done.Load(), ctx.Err())
			case <-time.After(5 * time.Millisecond):
			}
		}
	}

	// B's sockets lose their connections; B keeps running (API requests
	// kept away from it meanwhile, so that none is cut).
	waitFor("before B's cut", len(sizes)/4)
	onB := on(clients, b)
	b.setPaused(true)
	c.tr.CloseIdleConnections()
	cut := time.Now()
	b.cutConnections()
	restoredB, err := c.move(ctx, rdb, onB, []*cnode{a, cc})
	if err != nil {
		t.Fatal(err)
	}
	movedB := time.Since(cut)
	b.setPaused(false)
	atCut := done.Load()

	// C is stopped for good; requests sent to it now fail.
	waitFor("before C's stop", int(atCut)+len(sizes)/4)
	onC := on(clients, cc)
	stop := time.Now()
	if err := cc.stop(ctx); err != nil {
		t.Fatalf("node C: Close: %v", err)
	}
	closed := time.Since(stop)
	restoredC, err := c.move(ctx, rdb, onC, []*cnode{a, b})
	if err != nil {
		t.Fatal(err)
	}
	movedC := time.Since(stop)
	atStop := done.Load()

	<-sending
	if err := errors.Join(errs...); err != nil {
		t.Fatalf("sending: %.2000v", err)
	}
	if err := c.barrier(ctx, []*cnode{a, b}, clients); err != nil {
		t.Fatalf("after the last message: %v", err)
	}
	var msgs []sent
	for _, r := range results {
		msgs = append(msgs, r...)
	}
	got, examples := count(clients, msgs)
	t.Logf("%d sockets, %d requests (%d messages) from %d workers in %v", len(clients), len(sizes), len(msgs), workers, time.Since(start).Round(time.Millisecond))
	t.Logf("B cut after %d requests: %d/%d sockets restored on A and C within %v", len(sizes)/4, restoredB, len(onB), movedB.Round(time.Millisecond))
	t.Logf("C stopped after %d requests: Close took %v; %d/%d sockets restored on A and B within %v; requests refused by the stopped node: %d (%d messages, not expected)",
		atCut+int64(len(sizes)/4), closed.Round(time.Millisecond), restoredC, len(onC), movedC.Round(time.Millisecond), gone.Load(), goneMessages.Load())
	t.Logf("requests done when C's clients were back: %d of %d", atStop, len(sizes))
	t.Logf("lost %d, duplicated %d, leaked %d, out of order %d (%v)",
		got.lost, got.duplicated, got.leaked, got.unordered, got)
	sessionsLost := 0
	for _, r := range clients {
		if r.sessionLost {
			sessionsLost++
		}
	}
	logStats(t, []*cnode{a, b})
	// Whatever was not lost with its session came back.
	if restoredB+restoredC+sessionsLost != len(onB)+len(onC) {
		t.Errorf("restored %d/%d sockets of B and %d/%d of C (%d sessions not persisted), want all",
			restoredB, len(onB), restoredC, len(onC), sessionsLost)
	}
	if got.leaked != 0 || got.malformed != 0 || got.expected == 0 {
		t.Errorf("%v\n\t%s", got, strings.Join(examples, "\n\t"))
	}
	if got.lost != 0 || got.duplicated != 0 || got.unordered != 0 || sessionsLost != 0 {
		t.Errorf("%d lost, %d duplicated, %d out of offset order, %d sessions not persisted by Close\n\t%s",
			got.lost, got.duplicated, got.unordered, sessionsLost, strings.Join(examples, "\n\t"))
	}
}
