package main

// Real-process measurements of two delivery defects that the durable path
// (a transactional outbox) is to fix, on SQLite, PostgreSQL and MariaDB:
//
//   - TestKilledNodeLosesNoCommittedEvent: a node killed with SIGKILL loses
//     the events of rows it had committed but not yet published.
//   - TestOneRowsEventsArriveInCommitOrder: the updates of one row, made
//     one after the other on two nodes, reach clients out of commit order;
//     TestOneRowsEventsArriveInCommitOrderThroughRecovery
//     (durable_order_recovery_test.go) too while the clients' connections
//     drop and recover.
//
// Each runs two example processes (this test binary, re-executed as in
// restart_test.go) on one database and one Redis database, once per mode of
// durableModes and per database (SQLite always; PostgreSQL and MariaDB
// when ENTREACTIVE_POSTGRES_DSN and ENTREACTIVE_MARIADB_DSN are set).
//
// Both log their figures. Without the durable path they are known
// defects: a test that sees one is skipped, saying so, unless
// ENTREACTIVE_DURABLE_EXPECT=1 or its mode is fixed (see durableModes),
// in which case it fails. The sizes are CI's by default (a few seconds a
// database); to measure, raise them:
//
//	ENTREACTIVE_DURABLE_ROUNDS   SIGKILL rounds; update runs per phase (3; 2, through recovery 1)
//	ENTREACTIVE_DURABLE_WRITERS  concurrent writers of the crash test (16)
//	ENTREACTIVE_DURABLE_UPDATES  updates of one message per run (64, through recovery 160)
//	ENTREACTIVE_DURABLE_LOAD     other messages a second on each node, busy phase (400)
//	ENTREACTIVE_DURABLE_FLAGS    extra flags of every node, e.g. -durable
//	ENTREACTIVE_DURABLE_QUIET    how long to wait for a missing event, e.g. 15s (3s)
//	ENTREACTIVE_DURABLE_CUT_GRACE  the recovery order test: the least age of a connection it cuts (300ms)
//	ENTREACTIVE_DURABLE_TRACE    1: the recovery order test's listen.mjs logs every packet (in a failure's history)
//
//	ENTREACTIVE_DURABLE_ROUNDS=30 go test -race -count=1 -v -run 'TestKilledNode|TestOneRows' ./example/

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Nodes of the durable tests' cluster.
const (
	nodeA = 0
	nodeB = 1
)

// Timing of the crash test.
const (
	// killMin and killMax bound the time between a node serving and its
	// SIGKILL, drawn at random: the writers are mid-stream.
	killMin = 300 * time.Millisecond
	killMax = 1200 * time.Millisecond
	// killTail is how long the writers go on after the last restart: a
	// stretch without a kill, in which nothing should be lost.
	killTail = time.Second
)

// TestKilledNodeLosesNoCommittedEvent measures defect 1: 16 writers create
// notifications on node A while two clients (our Go client and npm's
// socket.io-client) listen on node B, in the room "users"; A is killed with
// SIGKILL at random moments and restarted, several rounds. Every row in the
// database must reach each client once: lost counts the rows a client
// never received (by the round whose kill they were committed before),
// duplicated the rows it received more than once.
func TestKilledNodeLosesNoCommittedEvent(t *testing.T) {
	eachDurable(t, func(t *testing.T, mode durableMode, c *cluster) {
		rounds := envInt(t, envRounds, 3)
		writers := envInt(t, envWriters, 16)
		c.start(nodeA)
		c.start(nodeB)
		token := c.login(nodeB, 1)
		recs := []*recorder{
			goClient(t, "go@B", c.url(nodeB), token),
			nodeClient(t, "node@B", c.url(nodeB), token),
		}
		baseline := warmNotifications(t, c, recs)

		// The writers, on A, until stopped; a request to a dead A fails
		// and the writer tries again.
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
		defer hc.CloseIdleConnections()
		var (
			mu        sync.Mutex
			acked     = make(map[int64]bool) // answered 201
			requests  atomic.Int64
			failed    atomic.Int64
			wg        sync.WaitGroup
			ctx, stop = context.WithCancel(context.Background())
		)
		defer stop()
		for w := range writers {
			wg.Go(func() {
				for seq := 0; ctx.Err() == nil; seq++ {
					requests.Add(1)
					code, body, err := tryCall(hc, http.MethodPost, c.url(nodeA)+"/api/notifications", "", fmt.Sprintf(`{"message":"w%d-%d"}`, w, seq))
					var row struct{ ID int64 }
					if err != nil || code != http.StatusCreated || json.Unmarshal(body, &row) != nil {
						failed.Add(1)
						time.Sleep(10 * time.Millisecond)
						continue
					}
					mu.Lock()
					acked[row.ID] = true
					mu.Unlock()
				}
			})
		}

		// bounds[r] is the last row committed before kill r; bounds[0] the
		// warm-up's.
		bounds := []int64{baseline}
		began := time.Now()
		for r := 1; r <= rounds; r++ {
			time.Sleep(killMin + rand.N(killMax-killMin))
			c.kill(nodeA)
			bounds = append(bounds, settledMax(t, c.conn))
			c.start(nodeA)
		}
		time.Sleep(killTail)
		stop()
		wg.Wait()
		elapsed := time.Since(began)

		rows := notificationsAfter(t, c.conn, baseline)
		inDB := make(map[int64]bool, len(rows))
		for _, id := range rows {
			inDB[id] = true
		}
		waited := settle(recs, mode.quiet(t), 2*time.Minute, func() bool {
			for _, r := range recs {
				got := make(map[int64]bool)
				for _, ev := range r.events(t) {
					got[ev.ID] = true
				}
				for _, id := range rows {
					if !got[id] {
						return false
					}
				}
			}
			return true
		})
		received := make([][]reactive, len(recs))
		for i, r := range recs {
			received[i] = r.events(t)
		}
		c.stop()

		ackedMissing := 0
		for id := range acked {
			if !inDB[id] {
				ackedMissing++
			}
		}
		var summary []string
		defects := 0
		t.Logf("%s, %s: %d SIGKILL rounds of node A in %v, %d writers: %d rows committed (%d answered 201), %d requests (%d failed); settled in %v",
			mode.name, c.dbKind(), rounds, elapsed.Round(time.Millisecond), writers, len(rows), len(acked), requests.Load(), failed.Load(), waited.Round(time.Millisecond))
		if ackedMissing > 0 {
			t.Errorf("%d rows answered 201 are not in the database", ackedMissing)
		}
		for i, r := range recs {
			f := crashFigures(received[i], rows, bounds, acked)
			defects += f.lost + f.duplicated + f.unknown
			t.Logf("client %s: lost %d %v (%d of them answered 201), duplicated %d (%d with the same eventId), not in the database %d",
				r.name, f.lost, f.lostByRound, f.lostAcked, f.duplicated, f.sameEventID, f.unknown)
			if f.lost > 0 {
				t.Logf("client %s: lost rows %s; kills after rows %v", r.name, f.lostRanges, bounds[1:])
			}
			summary = append(summary, fmt.Sprintf("%s lost %d duplicated %d", r.name, f.lost, f.duplicated))
		}
		verdict(t, mode, defects, fmt.Sprintf("%s, %d SIGKILL rounds, %d rows: %s", c.dbKind(), rounds, len(rows), strings.Join(summary, ", ")))
	})
}

// crashResult is what one client of the crash test received, against the
// database.
type crashResult struct {
	// lost counts the rows never received; lostByRound splits them by
	// round ("round 2: 5" counts the rows committed between kills 1 and 2,
	// "after" those after the last kill); lostAcked counts those whose
	// request was answered 201.
	lost        int
	lostByRound []string
	lostAcked   int
	// lostRanges shows the first runs of lost rows ("1200-1530"): a run
	// ending at a kill is the backlog that died with the node.
	lostRanges string
	// duplicated counts the rows received more than once; sameEventID
	// those whose copies carry one eventId (a client can drop them).
	duplicated  int
	sameEventID int
	// unknown counts the rows received that are not in the database.
	unknown int
}

// crashFigures compares the notifications evs (after the warm-up) with the
// rows of the database, split into rounds at bounds.
func crashFigures(evs []reactive, rows []int64, bounds []int64, acked map[int64]bool) crashResult {
	var f crashResult
	copies := make(map[int64][]string) // id → eventIds
	for _, ev := range evs {
		if ev.Model == "Notification" && ev.Action == "create" && ev.ID > bounds[0] {
			copies[ev.ID] = append(copies[ev.ID], ev.EventID)
		}
	}
	byRound := make([]int, len(bounds))
	inDB := make(map[int64]bool, len(rows))
	var lost []int64
	for _, id := range rows {
		inDB[id] = true
		if len(copies[id]) > 0 {
			continue
		}
		lost = append(lost, id)
		f.lost++
		if acked[id] {
			f.lostAcked++
		}
		r, _ := slices.BinarySearch(bounds, id) // the first bound ≥ id
		byRound[r-1]++
	}
	f.lostRanges = idRanges(lost, rows, 6)
	for r, n := range byRound {
		label := "after"
		if r < len(bounds)-1 {
			label = "round " + strconv.Itoa(r+1)
		}
		f.lostByRound = append(f.lostByRound, fmt.Sprintf("%s: %d", label, n))
	}
	for id, ids := range copies {
		if !inDB[id] {
			f.unknown++
		}
		if len(ids) > 1 {
			f.duplicated++
			if ids[0] != "" && len(slices.Compact(slices.Clone(ids))) == 1 {
				f.sameEventID++
			}
		}
	}
	return f
}

// idRanges writes ids, a sorted subset of rows, as at most n runs of
// consecutive rows: "12-40 (29), 77 (1)".
func idRanges(ids, rows []int64, n int) string {
	pos := make(map[int64]int, len(rows))
	for i, id := range rows {
		pos[id] = i
	}
	var out []string
	for i := 0; i < len(ids); {
		j := i + 1
		for j < len(ids) && pos[ids[j]] == pos[ids[j-1]]+1 {
			j++
		}
		if len(out) == n {
			out = append(out, "…")
			break
		}
		if j-i == 1 {
			out = append(out, fmt.Sprintf("%d (1)", ids[i]))
		} else {
			out = append(out, fmt.Sprintf("%d-%d (%d)", ids[i], ids[j-1], j-i))
		}
		i = j
	}
	return strings.Join(out, ", ")
}

// warmNotifications creates notifications on node A until every client has
// received one (the clients are in the room "users" and the nodes see
// each other), and returns the last one's id.
func warmNotifications(t *testing.T, c *cluster, recs []*recorder) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		code, body := call(t, http.DefaultClient, http.MethodPost, c.url(nodeA)+"/api/notifications", "", `{"message":"warm-up"}`)
		var row struct{ ID int64 }
		if code != http.StatusCreated || json.Unmarshal(body, &row) != nil {
			t.Fatalf("warm-up notification: %d %s", code, body)
		}
		wait := time.Now().Add(500 * time.Millisecond)
		for time.Now().Before(wait) {
			if all(recs, func(ev reactive) bool { return ev.Model == "Notification" && ev.ID == row.ID }, t) {
				return row.ID
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Fatal("after 30 s, the clients on B still miss the notifications created on A")
	return 0
}

// all reports whether every recorder has received an event that match
// accepts.
func all(recs []*recorder, match func(reactive) bool, t *testing.T) bool {
	t.Helper()
	for _, r := range recs {
		if !slices.ContainsFunc(r.events(t), match) {
			return false
		}
	}
	return true
}

// maxNotification returns the largest notification id in the database.
func maxNotification(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	var id sql.NullInt64
	if err := db.QueryRow("SELECT MAX(id) FROM notifications").Scan(&id); err != nil {
		t.Fatalf("max notification: %v", err)
	}
	return id.Int64
}

// settledMax returns the largest notification id once it has not changed
// for 300 ms: a database server may finish a statement of a killed client
// (PostgreSQL, MariaDB commit an INSERT whose client is gone), and that
// row belongs to the round of the kill.
func settledMax(t *testing.T, db *sql.DB) int64 {
	t.Helper()
	last, since := maxNotification(t, db), time.Now()
	for deadline := time.Now().Add(5 * time.Second); time.Since(since) < 300*time.Millisecond && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
		if m := maxNotification(t, db); m != last {
			last, since = m, time.Now()
		}
	}
	return last
}

// notificationsAfter returns the ids of the notifications after id, in
// order.
func notificationsAfter(t *testing.T, db *sql.DB, after int64) []int64 {
	t.Helper()
	// No placeholder: ? or $1 depends on the database.
	rows, err := db.Query(fmt.Sprintf("SELECT id FROM notifications WHERE id > %d ORDER BY id", after))
	if err != nil {
		t.Fatalf("notifications: %v", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return ids
}

// dbKind names the cluster's database for the logs.
func (c *cluster) dbKind() string {
	switch {
	case strings.HasPrefix(c.db, "postgres://"):
		return "postgres"
	case strings.HasPrefix(c.db, "mysql://"):
		return "mariadb"
	}
	return "sqlite"
}

// TestOneRowsEventsArriveInCommitOrder measures defect 2: one message is
// updated 64 times, text "v1", "v2", …, each request answered before the
// next is sent, alternately on node A and node B. Six clients, members of
// the conversation in its room, record the updates: npm's socket.io-client,
// our Go client and a raw websocket client (durable_order_clients_test.go),
// each on both nodes. An inversion is an update whose version is lower than
// one the client received before; a stale final is a client whose last
// update is not the stored text. The runs go once with the nodes idle, once
// busy with other writes (whose events the clients do not get): a node's
// publish queue then holds its update back for longer.
// TestOneRowsEventsArriveInCommitOrderThroughRecovery runs the same while
// the clients' connections drop.
func TestOneRowsEventsArriveInCommitOrder(t *testing.T) {
	eachDurable(t, func(t *testing.T, mode durableMode, c *cluster) {
		orderTest(t, mode, c, orderConfig{runs: envInt(t, envRounds, 2), updates: envInt(t, envUpdates, 64)})
	})
}

// orderConfig sizes an order test.
type orderConfig struct {
	// runs is the number of runs of each phase, updates the number of
	// updates of a run.
	runs, updates int
	// recovery makes the clients reconnect with connection state recovery,
	// and cuts their connections at random moments of every run.
	recovery bool
}

// orderClient is a client of the order tests.
type orderClient struct {
	rec *recorder
	// cut drops the client's connection (recovery only); it reports false
	// while the client has none, or has had it for less than its argument.
	cut func(grace time.Duration) bool
}

// orderTest is the order tests' body: see
// TestOneRowsEventsArriveInCommitOrder.
func orderTest(t *testing.T, mode durableMode, c *cluster, cfg orderConfig) {
	runs, updates := cfg.runs, cfg.updates
	busy := envInt(t, envLoad, 400)
	grace := envDuration(t, envCutGrace, defaultCutGrace)
	sender, member, conv, room := startConversation(t, c)
	var clients []orderClient
	if cfg.recovery {
		// listen.mjs reconnects to its node; ours to either.
		both := []string{c.url(nodeA), c.url(nodeB)}
		for _, l := range []*listener{
			startListener(t, "node@A", c.url(nodeA), member, true, room),
			startListener(t, "node@B", c.url(nodeB), member, true, room),
		} {
			clients = append(clients, orderClient{l.rec, l.cut})
		}
		for _, lc := range []*liveClient{
			startLive(t, "go@A", goKind, both, sender, true, room),
			startLive(t, "go@B", goKind, []string{both[1], both[0]}, member, true, room),
			startLive(t, "raw@A", rawKind, both, member, true, room),
			startLive(t, "raw@B", rawKind, []string{both[1], both[0]}, sender, true, room),
		} {
			clients = append(clients, orderClient{lc.rec, lc.cut})
		}
	} else {
		for _, r := range []*recorder{
			nodeClient(t, "node@A", c.url(nodeA), member, room),
			goClient(t, "go@B", c.url(nodeB), sender, room),
			goClient(t, "go@A", c.url(nodeA), sender, room),
			nodeClient(t, "node@B", c.url(nodeB), member, room),
			rawClient(t, "raw@A", c.url(nodeA), member, room),
			rawClient(t, "raw@B", c.url(nodeB), sender, room),
		} {
			clients = append(clients, orderClient{rec: r})
		}
	}
	recs := make([]*recorder, len(clients))
	for i, cl := range clients {
		recs[i] = cl.rec
	}
	newMessage := func(text string) int64 {
		t.Helper()
		code, body := call(t, http.DefaultClient, http.MethodPost, c.url(nodeA)+"/api/messages", sender,
			fmt.Sprintf(`{"conversation_id":%d,"recipient_id":2,"text":%q}`, conv, text))
		var m struct{ ID int64 }
		if code != http.StatusCreated || json.Unmarshal(body, &m) != nil {
			t.Fatalf("message: %d %s", code, body)
		}
		return m.ID
	}
	edit := func(node int, id int64, text string) {
		t.Helper()
		code, body := call(t, http.DefaultClient, http.MethodPatch, fmt.Sprintf("%s/api/messages/%d", c.url(node), id), sender, fmt.Sprintf(`{"text":%q}`, text))
		if code != http.StatusOK {
			t.Fatalf("PATCH %s on %s: %d %s", text, nodeName(node), code, body)
		}
	}

	// Warm up: edits on each node until every client receives one.
	warm := newMessage("warm-up")
	deadline := time.Now().Add(30 * time.Second)
	var through [2]bool // an edit on the node reached every client
	for k := 0; !through[nodeA] || !through[nodeB]; k++ {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s, the clients still miss the edits of one node or the other (A %v, B %v)", through[nodeA], through[nodeB])
		}
		text := fmt.Sprintf("warm-%d", k)
		edit(k%2, warm, text)
		received := func(ev reactive) bool { return ev.ID == warm && ev.Data.Text == text }
		for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			if all(recs, received, t) {
				through[k%2] = true
				break
			}
		}
	}

	// Runs while the nodes are idle, then while writers on both nodes
	// keep them busy (their publish queues are not empty), as in an
	// app in use; the clients do not receive the writers' events.
	var summary []string
	defects := 0
	for _, phase := range []struct {
		name string
		rate int // other messages a second on each node
	}{{"idle", 0}, {"busy", busy}} {
		stopLoad := loadMessages(t, c, phase.rate)
		totals := make([]orderResult, len(recs))
		cuts := 0
		for run := 1; run <= runs; run++ {
			id := newMessage("v0")
			stopCutting := func() int { return 0 }
			if cfg.recovery {
				stopCutting = cutAtRandom(clients, grace)
			}
			began := time.Now()
			for i := 1; i <= updates; i++ {
				edit((i-1)%2, id, "v"+strconv.Itoa(i))
			}
			elapsed := time.Since(began)
			runCuts := stopCutting()
			cuts += runCuts
			if d := relayed(t, c.conn); d > time.Second {
				t.Logf("%s run %d: the relay published the run's updates %v after the last", phase.name, run, d.Round(time.Millisecond))
			}
			final := "v" + strconv.Itoa(updates)
			settle(recs, mode.quiet(t), 2*time.Minute, func() bool {
				for _, r := range recs {
					if f := orderFigures(r.events(t), id, updates, final); f.missing > 0 {
						return false
					}
				}
				return true
			})
			stored := storedText(t, c, sender, conv, id)
			if stored != final {
				t.Fatalf("message %d: stored text %q after the last update %q", id, stored, final)
			}
			var line []string
			var short []*recorder // clients missing updates
			for i, r := range recs {
				f := orderFigures(r.events(t), id, updates, stored)
				if f.missing > 0 {
					short = append(short, r)
				}
				if cfg.recovery && (f.duplicated > 0 || mode.fixed && f.inversions > 0) {
					evs, from, to := aroundFirstDefect(r.events(t), id)
					t.Logf("client %s: the updates up to its first inversion or repeat, and its connections meanwhile:\n    %s\n    %s",
						r.name, strings.Join(evs, "\n    "), strings.Join(r.notes(from, to), "\n    "))
				}
				_, _, gaps, _ := r.links()
				f.inGaps = inGaps(r.events(t), id, gaps)
				totals[i].add(f)
				s := fmt.Sprintf("%s inv %d", r.name, f.inversions)
				if len(f.examples) > 0 {
					s += " (" + strings.Join(f.examples, ", ") + ")"
				}
				if f.stale > 0 {
					s += fmt.Sprintf(" STALE(last %s)", f.last)
				}
				if f.missing > 0 || f.duplicated > 0 {
					s += fmt.Sprintf(" missing %d dup %d", f.missing, f.duplicated)
				}
				if cfg.recovery {
					s += fmt.Sprintf(" replayed %d", f.inGaps)
				}
				line = append(line, s)
			}
			cutNote := ""
			if cfg.recovery {
				cutNote = fmt.Sprintf(", %d cuts", runCuts)
			}
			t.Logf("%s run %d: %d updates in %v%s: %s", phase.name, run, updates, elapsed.Round(time.Millisecond), cutNote, strings.Join(line, "; "))
			if cfg.recovery && len(short) > 0 {
				probe(t, c, short, id)
			}
		}
		created := stopLoad()
		var lines []string
		for i, r := range recs {
			f := totals[i]
			defects += f.inversions + f.stale + f.missing + f.duplicated
			l := fmt.Sprintf("%s: %d inversions in %d of %d runs, %d stale finals, %d missing, %d duplicated",
				r.name, f.inversions, f.runsInverted, runs, f.stale, f.missing, f.duplicated)
			if cfg.recovery {
				drops, recoveries, _, stale := r.links()
				l += fmt.Sprintf("; %d updates replayed (so far %d drops, %d recovered", f.inGaps, drops, recoveries)
				if stale > 0 {
					l += fmt.Sprintf(", %d stale events dropped by listen.mjs", stale)
				}
				l += ")"
			}
			lines = append(lines, l)
		}
		cutNote := ""
		if cfg.recovery {
			cutNote = fmt.Sprintf(", %d connections cut", cuts)
		}
		t.Logf("%s, %s, %s (%d other messages/s on each node, %d created): %d runs of %d updates alternating A and B%s:\n  %s",
			mode.name, c.dbKind(), phase.name, phase.rate, created, runs, updates, cutNote, strings.Join(lines, "\n  "))
		summary = append(summary, phase.name+": "+strings.Join(lines, "; "))
	}
	c.stop()
	verdict(t, mode, defects, fmt.Sprintf("%s: %s", c.dbKind(), strings.Join(summary, " | ")))
}

// aroundFirstDefect returns the last events of message id received up to
// the first update that is an inversion or a repeat, and two after it,
// each as "#<index among all received> <text>@<offset>", with the indexes
// of the first and the last.
func aroundFirstDefect(evs []reactive, id int64) (out []string, from, to int) {
	var idx []int
	seen := map[int]bool{}
	highest, after := 0, -1
	for i, ev := range evs {
		if ev.Model != "Message" || ev.ID != id {
			continue
		}
		out = append(out, fmt.Sprintf("#%d %s %s@%s", i, ev.Action, ev.Data.Text, ev.Offset))
		idx = append(idx, i)
		if after >= 0 {
			if after++; after == 2 {
				break
			}
			continue
		}
		v, err := strconv.Atoi(strings.TrimPrefix(ev.Data.Text, "v"))
		if err != nil || ev.Action != "update" {
			continue
		}
		if v < highest || seen[v] {
			out[len(out)-1] += " <-"
			after = 0
		}
		seen[v] = true
		highest = max(highest, v)
	}
	if len(out) > 12 {
		out, idx = out[len(out)-12:], idx[len(idx)-12:]
	}
	if len(idx) == 0 {
		return nil, 0, -1
	}
	return out, idx[0] - 1, idx[len(idx)-1]
}

// relayed waits, with the durable path, until the relay has published
// every event stored so far (its outbox holds none of them), for at most 2
// minutes, and returns how long that took: a relay behind the load of the
// busy phase would otherwise let the clients go quiet for longer than the
// settle time before the updates come. Without the outbox table it returns
// at once.
func relayed(t *testing.T, db *sql.DB) time.Duration {
	t.Helper()
	began := time.Now()
	var last int64
	if err := db.QueryRow("SELECT COALESCE(MAX(id), 0) FROM entreactive_outbox").Scan(&last); err != nil {
		return 0 // no outbox: the path is off
	}
	for time.Since(began) < 2*time.Minute {
		var left int
		// No placeholder: ? or $1 depends on the database.
		if err := db.QueryRow(fmt.Sprintf("SELECT COUNT(*) FROM entreactive_outbox WHERE id <= %d", last)).Scan(&left); err != nil {
			t.Fatalf("outbox: %v", err)
		}
		if left == 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(began)
}

// probe tells, for the log, why clients of the recovery test miss updates
// of message id: whether each still gets a notification (room "users":
// its socket is alive and authenticated, so it left the conversation's
// room) or not (its delivery stopped), what happened to its connections,
// and what it received last.
func probe(t *testing.T, c *cluster, recs []*recorder, id int64) {
	t.Helper()
	text := fmt.Sprintf("probe %d", time.Now().UnixNano())
	code, body := call(t, http.DefaultClient, http.MethodPost, c.url(nodeA)+"/api/notifications", "", fmt.Sprintf(`{"message":%q}`, text))
	if code != http.StatusCreated {
		t.Fatalf("probe notification: %d %s", code, body)
	}
	var n struct{ ID int64 }
	_ = json.Unmarshal(body, &n)
	got := func(r *recorder) bool {
		return slices.ContainsFunc(r.events(t), func(ev reactive) bool { return ev.Model == "Notification" && ev.ID == n.ID })
	}
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if !slices.ContainsFunc(recs, func(r *recorder) bool { return !got(r) }) {
			break
		}
	}
	for _, r := range recs {
		// Its last update of any message, and its connections since.
		var last string
		lastAt := 0
		for i, ev := range r.events(t) {
			if ev.Model == "Message" && ev.Action == "update" {
				last, lastAt = fmt.Sprintf("#%d: message %d %s@%s", i, ev.ID, ev.Data.Text, ev.Offset), i
			}
		}
		notes := r.notes(lastAt, math.MaxInt)
		if len(notes) > 30 {
			notes = append(notes[:30], "…")
		}
		t.Logf("client %s misses updates of message %d; a notification to room users now reaches it: %v; its last update: %s; its connections since:\n    %s",
			r.name, id, got(r), last, strings.Join(notes, "\n    "))
	}
}

// loadMessages starts writers that create messages on both nodes, rate a
// second on each, in a conversation of users 3 and 4 whose events go to
// user 4, whom no client of the test is: the nodes publish them all, the
// clients get none. It stops them when the returned function is called,
// which returns how many they created.
func loadMessages(t *testing.T, c *cluster, rate int) (stop func() int) {
	t.Helper()
	if rate == 0 {
		return func() int { return 0 }
	}
	token := c.login(nodeA, 3)
	c.login(nodeA, 4)
	code, body := call(t, http.DefaultClient, http.MethodPost, c.url(nodeA)+"/api/conversations", token, `{"member_ids":[4]}`)
	var conv struct{ ID int64 }
	if code != http.StatusCreated || json.Unmarshal(body, &conv) != nil {
		t.Fatalf("conversation of the load: %d %s", code, body)
	}
	msg := fmt.Sprintf(`{"conversation_id":%d,"recipient_id":4,"text":"load"}`, conv.ID)
	ctx, cancel := context.WithCancel(context.Background())
	// A few writers a node, each at its share of the rate; a writer
	// behind its schedule does not catch up.
	const writers = 4
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: writers}}
	var wg sync.WaitGroup
	var created atomic.Int64
	for node := range 2 {
		for range writers {
			wg.Go(func() {
				tick := time.NewTicker(writers * time.Second / time.Duration(rate))
				defer tick.Stop()
				for {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					if code, _, err := tryCall(hc, http.MethodPost, c.url(node)+"/api/messages", token, msg); err == nil && code == http.StatusCreated {
						created.Add(1)
					}
				}
			})
		}
	}
	return func() int {
		cancel()
		wg.Wait()
		hc.CloseIdleConnections()
		return int(created.Load())
	}
}

// orderResult is what one client of the order test received of one
// message's updates, or the sum over runs.
type orderResult struct {
	// inversions counts the updates whose version is lower than one
	// received before; runsInverted the runs with one or more.
	inversions   int
	runsInverted int
	// stale counts the runs whose last update received is not the stored
	// text; last is that text, of the last run.
	stale int
	last  string
	// missing counts the versions never received, duplicated those
	// received more than once.
	missing    int
	duplicated int
	// examples shows the first inversions of a run: "v7 after v8".
	examples []string
	// inGaps counts the updates received whose offset falls in a time the
	// client had no connection (the recovery test): the recovery replay
	// brought them.
	inGaps int
}

// add adds the figures of one run to r.
func (r *orderResult) add(f orderResult) {
	r.inversions += f.inversions
	r.runsInverted += f.runsInverted
	r.stale += f.stale
	r.missing += f.missing
	r.duplicated += f.duplicated
	r.inGaps += f.inGaps
	r.last = f.last
}

// orderFigures reads the updates of message id ("v1" to "v<updates>")
// among evs, in the order received, against the stored text.
func orderFigures(evs []reactive, id int64, updates int, stored string) orderResult {
	var f orderResult
	seen := make(map[int]int)
	highest := 0
	for _, ev := range evs {
		if ev.Model != "Message" || ev.Action != "update" || ev.ID != id {
			continue
		}
		v, err := strconv.Atoi(strings.TrimPrefix(ev.Data.Text, "v"))
		if err != nil || !strings.HasPrefix(ev.Data.Text, "v") {
			continue
		}
		seen[v]++
		if v < highest {
			f.inversions++
			if len(f.examples) < 3 {
				f.examples = append(f.examples, fmt.Sprintf("v%d after v%d", v, highest))
			}
		}
		highest = max(highest, v)
		f.last = ev.Data.Text
	}
	if f.inversions > 0 {
		f.runsInverted = 1
	}
	if f.last != stored {
		f.stale = 1
	}
	for v := 1; v <= updates; v++ {
		switch n := seen[v]; {
		case n == 0:
			f.missing++
		case n > 1:
			f.duplicated++
		}
	}
	return f
}

// storedText returns the text of message id of conversation conv, as node
// B lists it.
func storedText(t *testing.T, c *cluster, token string, conv, id int64) string {
	t.Helper()
	code, body := call(t, http.DefaultClient, http.MethodGet, fmt.Sprintf("%s/api/messages?conversation_id=%d", c.url(nodeB), conv), token, "")
	var rows []struct {
		ID   int64
		Text string
	}
	if code != http.StatusOK || json.Unmarshal(body, &rows) != nil {
		t.Fatalf("messages: %d %.300s", code, body)
	}
	for _, r := range rows {
		if r.ID == id {
			return r.Text
		}
	}
	t.Fatalf("message %d is not listed", id)
	return ""
}

// TestNodeKilledBetweenCommitAndPublish kills node A right after the
// commit of a notification, before its relay can publish the event
// (ENTREACTIVE_EXAMPLE_KILL_AFTER_COMMITS), round after round: the window
// a crash loses events in is hit every time, not by luck. The event waits
// in the outbox, and node B's relay publishes it: both clients on B get
// every notification of the database, once. The durable path only: without
// it there is no such window to aim at (TestKilledNodeLosesNoCommittedEvent
// measures what a crash loses then).
func TestNodeKilledBetweenCommitAndPublish(t *testing.T) {
	eachDurable(t, func(t *testing.T, mode durableMode, c *cluster) {
		if !mode.fixed {
			t.Skip("the window between commit and publish is the durable path's")
		}
		const perRound = 3
		rounds := envInt(t, envRounds, 3)
		c.nodeEnv[nodeA] = []string{envKillAfterCommits + "=" + strconv.Itoa(perRound)}
		c.start(nodeA)
		c.start(nodeB)
		token := c.login(nodeB, 1)
		recs := []*recorder{
			goClient(t, "go@B", c.url(nodeB), token),
			nodeClient(t, "node@B", c.url(nodeB), token),
		}
		hc := &http.Client{Timeout: 10 * time.Second}
		stored := 0 // rounds whose last event was still in the outbox when A died
		for round := range rounds {
			for i := range perRound {
				code, _, err := tryCall(hc, http.MethodPost, c.url(nodeA)+"/api/notifications", "", fmt.Sprintf(`{"message":"r%d-%d"}`, round, i))
				if i < perRound-1 && (err != nil || code != http.StatusCreated) {
					t.Fatalf("round %d, notification %d: %d %v", round, i, code, err)
				}
			}
			c.waitExit(nodeA)
			var left int
			if err := c.conn.QueryRow("SELECT COUNT(*) FROM entreactive_outbox").Scan(&left); err != nil {
				t.Fatal(err)
			}
			if left > 0 {
				stored++
			}
			c.start(nodeA)
		}
		rows := notificationsAfter(t, c.conn, 0)
		if len(rows) != rounds*perRound {
			t.Fatalf("%d notifications in the database, want %d", len(rows), rounds*perRound)
		}
		settle(recs, mode.quiet(t), 30*time.Second, func() bool {
			for _, r := range recs {
				if r.count() < len(rows) {
					return false
				}
			}
			return true
		})
		for _, r := range recs {
			got := map[int64]int{}
			for _, ev := range r.events(t) {
				if ev.Model == "Notification" {
					got[ev.ID]++
				}
			}
			for _, id := range rows {
				if got[id] != 1 {
					t.Errorf("client %s got notification %d %d times, want once", r.name, id, got[id])
				}
			}
		}
		t.Logf("%s: %d rounds, A killed after each round's commit %d; the event was still in the outbox when A died in %d of them; %d notifications, each checked at every client",
			c.dbKind(), rounds, perRound, stored, len(rows))
		if stored == 0 {
			t.Errorf("in no round was the event still in the outbox when A died: the kill did not hit the window")
		}
	})
}

// TestConcurrentUpdatesOfOneRowEndOnTheStoredRow edits one message from
// eight writers at once, four on each node, each writer's edits one after
// the other: the database decides the commit order. Every client must end
// on the stored text, and see each writer's edits in the order the writer
// made them (each committed before the next began); every client sees the
// same sequence.
func TestConcurrentUpdatesOfOneRowEndOnTheStoredRow(t *testing.T) {
	eachDurable(t, func(t *testing.T, mode durableMode, c *cluster) {
		const writers, edits = 8, 12
		sender, member, conv, room := startConversation(t, c)
		recs := []*recorder{
			goClient(t, "go@A", c.url(nodeA), sender, room),
			nodeClient(t, "node@B", c.url(nodeB), member, room),
			goClient(t, "go@B", c.url(nodeB), member, room),
		}
		code, body := call(t, http.DefaultClient, http.MethodPost, c.url(nodeA)+"/api/messages", sender,
			fmt.Sprintf(`{"conversation_id":%d,"recipient_id":2,"text":"start"}`, conv))
		var msg struct{ ID int64 }
		if code != http.StatusCreated || json.Unmarshal(body, &msg) != nil {
			t.Fatalf("message: %d %s", code, body)
		}
		// Every client has the create before the edits begin.
		settle(recs, mode.quiet(t), 30*time.Second, func() bool {
			return all(recs, func(ev reactive) bool { return ev.ID == msg.ID && ev.Action == "create" }, t)
		})
		var wg sync.WaitGroup
		for w := range writers {
			wg.Go(func() {
				for k := 1; k <= edits; k++ {
					url := fmt.Sprintf("%s/api/messages/%d", c.url(w%2), msg.ID)
					code, _, err := tryCall(http.DefaultClient, http.MethodPatch, url, sender, fmt.Sprintf(`{"text":"w%d-%d"}`, w, k))
					if err != nil || code != http.StatusOK {
						t.Errorf("writer %d, edit %d: %d %v", w, k, code, err)
						return
					}
				}
			})
		}
		wg.Wait()
		stored := storedText(t, c, sender, conv, msg.ID)
		settle(recs, mode.quiet(t), time.Minute, func() bool {
			for _, r := range recs {
				if last := lastText(r.events(t), msg.ID); last != stored {
					return false
				}
			}
			return true
		})
		defects := 0
		var lines []string
		var first []string
		for i, r := range recs {
			seq := updateTexts(r.events(t), msg.ID)
			stale := 0
			if last := lastText(r.events(t), msg.ID); last != stored {
				stale = 1
			}
			inversions := writerInversions(seq)
			differs := 0
			if i == 0 {
				first = seq
			} else if !slices.Equal(seq, first) {
				differs = 1
			}
			defects += stale + inversions + differs
			lines = append(lines, fmt.Sprintf("%s: %d updates, %d inversions within a writer, stale final %v, same sequence as %s %v",
				r.name, len(seq), inversions, stale == 1, recs[0].name, differs == 0))
		}
		summary := fmt.Sprintf("%s, %d writers × %d edits of one message (stored %q): %s", c.dbKind(), writers, edits, stored, strings.Join(lines, "; "))
		t.Log(summary)
		c.stop()
		verdict(t, mode, defects, summary)
	})
}

// updateTexts returns the texts of the updates of message id in evs.
func updateTexts(evs []reactive, id int64) []string {
	var out []string
	for _, ev := range evs {
		if ev.Model == "Message" && ev.Action == "update" && ev.ID == id {
			out = append(out, ev.Data.Text)
		}
	}
	return out
}

// lastText returns the text of the last event of message id in evs.
func lastText(evs []reactive, id int64) string {
	last := ""
	for _, ev := range evs {
		if ev.Model == "Message" && ev.ID == id {
			last = ev.Data.Text
		}
	}
	return last
}

// writerInversions counts the texts "w<writer>-<k>" of seq whose k is
// lower than one of the same writer before it.
func writerInversions(seq []string) int {
	highest := map[int]int{}
	n := 0
	for _, s := range seq {
		var w, k int
		if _, err := fmt.Sscanf(s, "w%d-%d", &w, &k); err != nil {
			continue
		}
		if k < highest[w] {
			n++
			continue
		}
		highest[w] = k
	}
	return n
}

// startConversation starts both nodes and has user 1 (the sender, logged in
// on node A) open a conversation with user 2 (the member, on node B). It
// returns their tokens, the conversation's id and its room.
func startConversation(t *testing.T, c *cluster) (sender, member string, conv int64, room string) {
	t.Helper()
	c.start(nodeA)
	c.start(nodeB)
	sender, member = c.login(nodeA, 1), c.login(nodeB, 2)
	code, body := call(t, http.DefaultClient, http.MethodPost, c.url(nodeA)+"/api/conversations", sender, `{"member_ids":[2]}`)
	var created struct{ ID int64 }
	if code != http.StatusCreated || json.Unmarshal(body, &created) != nil {
		t.Fatalf("conversation: %d %s", code, body)
	}
	return sender, member, created.ID, fmt.Sprintf("conversation_%d", created.ID)
}
