package main

// Two more real-process tests of the durable path (package
// entreactive/outbox), on the harness of durable_helpers_test.go: a
// two-node cluster of example processes on one database and one Redis
// database, once per mode (path off, durable) and database (SQLite;
// PostgreSQL and MariaDB when their DSN is set).
//
//   - TestRedisOutageLosesNoCommittedEvent: Redis is cut for a few seconds
//     (a TCP proxy between the nodes and Redis stops, dropping its
//     connections) while writers create notifications on both nodes and
//     one message is edited alternately on A and B. The writes succeed
//     meanwhile; once Redis is back, every client receives every row once
//     and the edits in commit order.
//   - TestDeleteIsNeverFollowedByAnEarlierChange: rounds of create, update
//     (one node), delete (the other node, right after the update's
//     response), with both nodes busy: no client receives a row's create
//     or update after its delete.
//
// Neither recorder (goClient, nodeClient) drops repeats by eventId: a
// client counts every copy it receives, as an application would see it.
//
// Knobs (CI's sizes by default):
//
//	ENTREACTIVE_OUTAGE            how long Redis is cut (4s)
//	ENTREACTIVE_OUTAGE_WRITERS    notification writers on each node (2)
//	ENTREACTIVE_DELETE_ROUNDS     create/update/delete rounds (100)
//	ENTREACTIVE_DURABLE_LOAD      other messages a second on each node in the delete test (400)
//	ENTREACTIVE_DURABLE_QUIET     how long to wait for a missing event
//
//	go test -race -count=1 -v -run 'TestRedisOutage|TestDeleteIsNever' ./example/

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entreactive/reactive/internal/testkit"
)

// Environment of the tests of this file (see also durable_test.go's).
const (
	// envOutage is how long the outage test cuts Redis.
	envOutage = "ENTREACTIVE_OUTAGE"
	// envOutageWriters is the number of notification writers on each
	// node of the outage test.
	envOutageWriters = "ENTREACTIVE_OUTAGE_WRITERS"
	// envDeleteRounds is the number of create/update/delete rounds of the
	// delete test.
	envDeleteRounds = "ENTREACTIVE_DELETE_ROUNDS"
)

// Timing of the outage test around the outage.
const (
	// outageBefore is how long the writers run before Redis is cut,
	// outageAfter how long they go on once it is back.
	outageBefore = time.Second
	outageAfter  = 2 * time.Second
	// outageQuiet is the least the outage test waits for a missing event
	// while none comes: a node's stream reader retries a failed read after
	// up to 5 s (redisbroker's readRetryLast), so after an outage the
	// backlog may reach a node's clients that long after Redis is back.
	outageQuiet = 7 * time.Second
)

// proxyRedis puts a proxy between the cluster's nodes and its Redis: the
// nodes started after it connect through the proxy.
func proxyRedis(t *testing.T, c *cluster) *testkit.Proxy {
	t.Helper()
	u, err := url.Parse(c.redis)
	if err != nil || u.Host == "" {
		t.Fatalf("redis URL %q: %v", c.redis, err)
	}
	p := testkit.StartProxy(t, u.Host)
	u.Host = p.Addr()
	c.redis = u.String()
	return p
}

// outageEventsFrom returns the events r received from index i on; unlike
// recorder.events it never fails the test, so goroutines may call it.
func outageEventsFrom(r *recorder, i int) []reactive {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i >= len(r.evs) {
		return nil
	}
	return slices.Clone(r.evs[i:])
}

// newConversation creates a conversation of the users of token and of
// member on node A, and returns its id.
func newConversation(t *testing.T, c *cluster, token string, member int) int64 {
	t.Helper()
	code, body := call(t, http.DefaultClient, http.MethodPost, c.url(nodeA)+"/api/conversations", token, fmt.Sprintf(`{"member_ids":[%d]}`, member))
	var conv struct{ ID int64 }
	if code != http.StatusCreated || json.Unmarshal(body, &conv) != nil {
		t.Fatalf("conversation: %d %s", code, body)
	}
	return conv.ID
}

// postMessage creates a message of conversation conv to user 2 on node,
// and returns its id.
func postMessage(t *testing.T, c *cluster, node int, token string, conv int64, text string) int64 {
	t.Helper()
	code, body := call(t, http.DefaultClient, http.MethodPost, c.url(node)+"/api/messages", token,
		fmt.Sprintf(`{"conversation_id":%d,"recipient_id":2,"text":%q}`, conv, text))
	var m struct{ ID int64 }
	if code != http.StatusCreated || json.Unmarshal(body, &m) != nil {
		t.Fatalf("message on %s: %d %s", nodeName(node), code, body)
	}
	return m.ID
}

// outboxCount returns how many events the outbox table holds with an id
// up to most (any id when most is 0); -1 when there is no such table (the
// path is off).
func outboxCount(c *cluster, most int64) int {
	q := "SELECT COUNT(*) FROM entreactive_outbox"
	if most > 0 {
		q += fmt.Sprintf(" WHERE id <= %d", most)
	}
	var n int
	if err := c.conn.QueryRow(q).Scan(&n); err != nil {
		return -1
	}
	return n
}

// outboxMax returns the largest id of the outbox table, 0 when it is
// empty or there is none.
func outboxMax(c *cluster) int64 {
	var id *int64
	if err := c.conn.QueryRow("SELECT MAX(id) FROM entreactive_outbox").Scan(&id); err != nil || id == nil {
		return 0
	}
	return *id
}

// warmBothNodes creates notifications alternately on A and B until a
// notification of each node has reached every client, and returns the
// largest notification id then: the rows after it are the test's.
func warmBothNodes(t *testing.T, c *cluster, recs []*recorder) int64 {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	var through [2]bool
	for k := 0; !through[nodeA] || !through[nodeB]; k++ {
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s, the clients still miss the notifications of one node or the other (A %v, B %v)", through[nodeA], through[nodeB])
		}
		node := k % 2
		code, body := call(t, http.DefaultClient, http.MethodPost, c.url(node)+"/api/notifications", "", `{"message":"warm-up"}`)
		var row struct{ ID int64 }
		if code != http.StatusCreated || json.Unmarshal(body, &row) != nil {
			t.Fatalf("warm-up notification on %s: %d %s", nodeName(node), code, body)
		}
		for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
			if all(recs, func(ev reactive) bool { return ev.Model == "Notification" && ev.ID == row.ID }, t) {
				through[node] = true
				break
			}
		}
	}
	return maxNotification(t, c.conn)
}

// endMarkers creates a notification on each node, once the test's writes
// are over, and returns their ids. Each node publishes its events in order,
// and the durable relays in the outbox's id order: a client that received
// both markers has received every event published before them, so a late
// event (a repeat, a change after a delete) cannot arrive after the test
// stopped looking.
func endMarkers(t *testing.T, c *cluster) []int64 {
	t.Helper()
	var ids []int64
	for node := range 2 {
		code, body := call(t, http.DefaultClient, http.MethodPost, c.url(node)+"/api/notifications", "", `{"message":"end"}`)
		var row struct{ ID int64 }
		if code != http.StatusCreated || json.Unmarshal(body, &row) != nil {
			t.Fatalf("end marker on %s: %d %s", nodeName(node), code, body)
		}
		ids = append(ids, row.ID)
	}
	return ids
}

// hasNotifications reports whether evs hold a notification of each id.
func hasNotifications(evs []reactive, ids []int64) bool {
	got := make(map[int64]bool)
	for _, ev := range evs {
		if ev.Model == "Notification" {
			got[ev.ID] = true
		}
	}
	for _, id := range ids {
		if !got[id] {
			return false
		}
	}
	return true
}

// outagePhase is when a write began: before the outage, during it, or
// after Redis came back.
type outagePhase int32

const (
	phaseBefore outagePhase = iota
	phaseDuring
	phaseAfter
)

var phaseNames = [...]string{"before", "during", "after"}

// writeTally counts the writes of one phase.
type writeTally struct {
	ok, failed atomic.Int64
	// firstErr is the first failure of the phase.
	firstErr atomic.Pointer[string]
}

func (w *writeTally) fail(msg string) {
	w.failed.Add(1)
	w.firstErr.CompareAndSwap(nil, &msg)
}

func (w *writeTally) String() string {
	s := fmt.Sprintf("%d ok, %d failed", w.ok.Load(), w.failed.Load())
	if e := w.firstErr.Load(); e != nil {
		s += " (first: " + *e + ")"
	}
	return s
}

// TestRedisOutageLosesNoCommittedEvent cuts Redis for a few seconds
// (ENTREACTIVE_OUTAGE, 4 s) under writes: a proxy between the two nodes and
// Redis stops, dropping every connection, then listens again. Meanwhile
// writers create notifications on both nodes (ENTREACTIVE_OUTAGE_WRITERS on
// each, one request after the other) and one message is edited "v1", "v2",
// …, alternately on A and B. Four clients record, npm's socket.io-client
// and our Go client on each node, in the room "users" (the notifications)
// and the conversation's room (the edits).
//
// The writes must succeed during the outage (the events wait in the
// outbox); every notification in the database must reach every client
// exactly once (as the client sees it: the recorders keep repeats), the
// edits in commit order (zero inversions, the last one received = the
// stored text). The log says how long after Redis came back the relays
// had published the outage's backlog and the clients had received it.
//
// Without the durable path each node delivers to its own sockets at once
// while it cannot publish, and its events for the other node wait in its
// in-memory publish queue: those a failed publish took (the ones queued
// at the cut) never reach the other node, the rest reach it late, out of
// order with the other node's, and a long outage overflows the queue.
// Measured, logged, skipped as known.
func TestRedisOutageLosesNoCommittedEvent(t *testing.T) {
	eachDurable(t, func(t *testing.T, mode durableMode, c *cluster) {
		outage := envDuration(t, envOutage, 4*time.Second)
		writers := envInt(t, envOutageWriters, 2)
		proxy := proxyRedis(t, c)
		c.start(nodeA)
		c.start(nodeB)
		sender, member := c.login(nodeA, 1), c.login(nodeB, 2)
		conv := newConversation(t, c, sender, 2)
		room := fmt.Sprintf("conversation_%d", conv)
		recs := []*recorder{
			goClient(t, "go@A", c.url(nodeA), member, room),
			nodeClient(t, "node@A", c.url(nodeA), sender, room),
			goClient(t, "go@B", c.url(nodeB), sender, room),
			nodeClient(t, "node@B", c.url(nodeB), member, room),
		}
		msg := postMessage(t, c, nodeA, sender, conv, "v0")
		baseline := warmBothNodes(t, c, recs)

		hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 2*writers + 2}}
		defer hc.CloseIdleConnections()
		var (
			phase     atomic.Int32
			notes     [3]writeTally
			edits     [3]writeTally
			mu        sync.Mutex
			acked     = make(map[int64]bool) // notifications answered 201
			editsOK   = make(map[int]bool)   // versions answered 200
			lastEdit  atomic.Int64           // the last version sent
			wg        sync.WaitGroup
			ctx, stop = context.WithCancel(context.Background())
		)
		defer stop()
		for node := range 2 {
			for w := range writers {
				wg.Go(func() {
					for seq := 0; ctx.Err() == nil; seq++ {
						ph := phase.Load()
						code, body, err := tryCall(hc, http.MethodPost, c.url(node)+"/api/notifications", "", fmt.Sprintf(`{"message":"%s%d-%d"}`, nodeName(node), w, seq))
						var row struct{ ID int64 }
						if err != nil || code != http.StatusCreated || json.Unmarshal(body, &row) != nil {
							notes[ph].fail(fmt.Sprintf("POST on %s: %d %v %.200s", nodeName(node), code, err, body))
							time.Sleep(10 * time.Millisecond)
							continue
						}
						notes[ph].ok.Add(1)
						mu.Lock()
						acked[row.ID] = true
						mu.Unlock()
					}
				})
			}
		}
		// The editor: one message, one edit after the other, A and B in
		// turn.
		wg.Go(func() {
			for v := 1; ctx.Err() == nil; v++ {
				ph := phase.Load()
				node := (v - 1) % 2
				lastEdit.Store(int64(v))
				code, body, err := tryCall(hc, http.MethodPatch, fmt.Sprintf("%s/api/messages/%d", c.url(node), msg), sender, fmt.Sprintf(`{"text":"v%d"}`, v))
				if err != nil || code != http.StatusOK {
					edits[ph].fail(fmt.Sprintf("PATCH v%d on %s: %d %v %.200s", v, nodeName(node), code, err, body))
					time.Sleep(10 * time.Millisecond)
					continue
				}
				edits[ph].ok.Add(1)
				mu.Lock()
				editsOK[v] = true
				mu.Unlock()
			}
		})

		time.Sleep(outageBefore)
		cutBound := maxNotification(t, c.conn)
		proxy.Cut()
		phase.Store(int32(phaseDuring))
		time.Sleep(outage)
		// What the outage left to publish: the rows committed so far,
		// and the outbox's events (durable).
		restoreBound := maxNotification(t, c.conn)
		restoreEdit := int(lastEdit.Load()) // sent, perhaps not committed yet
		heldEvents, heldMax := outboxCount(c, 0), outboxMax(c)
		atRestore := make([]int, len(recs))
		for i, r := range recs {
			atRestore[i] = r.count()
		}
		proxy.Restore()
		restoredAt := time.Now()
		phase.Store(int32(phaseAfter))

		// Watch the backlog drain: the outbox emptied of the events held
		// at the restore (durable), and every client holding every row
		// committed by then and the edit sent last before it.
		backlog := notificationsAfter(t, c.conn, baseline)
		backlog = slices.DeleteFunc(backlog, func(id int64) bool { return id > restoreBound })
		var resumed, relayed, outboxDrained, clientsDrained atomic.Int64 // ns after the restore; 0: not yet
		watchDone := make(chan struct{})
		stopWatch := make(chan struct{})
		go func() {
			defer close(watchDone)
			seen := make([]map[int64]bool, len(recs))
			read := make([]int, len(recs))
			edited := make([]bool, len(recs))
			for i := range seen {
				seen[i] = make(map[int64]bool)
			}
			want := fmt.Sprintf("v%d", restoreEdit)
			for {
				if resumed.Load() == 0 {
					for i, r := range recs {
						if r.count() > atRestore[i] {
							resumed.Store(int64(time.Since(restoredAt)))
							break
						}
					}
				}
				if outboxDrained.Load() == 0 && heldEvents >= 0 {
					n := outboxCount(c, heldMax)
					if relayed.Load() == 0 && n < heldEvents {
						relayed.Store(int64(time.Since(restoredAt)))
					}
					if n == 0 {
						outboxDrained.Store(int64(time.Since(restoredAt)))
					}
				}
				if clientsDrained.Load() == 0 {
					done := true
					for i, r := range recs {
						evs := outageEventsFrom(r, read[i])
						read[i] += len(evs)
						for _, ev := range evs {
							switch {
							case ev.Model == "Notification":
								seen[i][ev.ID] = true
							case ev.Model == "Message" && ev.ID == msg && ev.Data.Text == want:
								edited[i] = true
							}
						}
						for _, id := range backlog {
							if !seen[i][id] {
								done = false
								break
							}
						}
						if !edited[i] {
							done = false
						}
					}
					if done {
						clientsDrained.Store(int64(time.Since(restoredAt)))
					}
				}
				if clientsDrained.Load() != 0 && (outboxDrained.Load() != 0 || heldEvents < 0) {
					return
				}
				select {
				case <-stopWatch:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()

		time.Sleep(outageAfter)
		stop()
		wg.Wait()
		endMarkers(t, c) // among the rows every client must have

		rows := notificationsAfter(t, c.conn, baseline)
		stored := storedText(t, c, sender, conv, msg)
		quiet := max(mode.quiet(t), outageQuiet)
		waited := settle(recs, quiet, 2*time.Minute+10*outage, func() bool {
			for _, r := range recs {
				evs := r.events(t)
				if !hasNotifications(evs, rows) || lastText(evs, msg) != stored {
					return false
				}
			}
			return true
		})
		close(stopWatch)
		<-watchDone
		received := make([][]reactive, len(recs))
		for i, r := range recs {
			received[i] = r.events(t)
		}
		c.stop()

		mu.Lock()
		defer mu.Unlock()
		inDB := make(map[int64]bool, len(rows))
		for _, id := range rows {
			inDB[id] = true
		}
		defects := 0
		ackedMissing := 0
		for id := range acked {
			if !inDB[id] {
				ackedMissing++
			}
		}
		if ackedMissing > 0 {
			t.Errorf("%d notifications answered 201 are not in the database", ackedMissing)
		}
		storedV, err := strconv.Atoi(strings.TrimPrefix(stored, "v"))
		if err != nil || !editsOK[storedV] && storedV != int(lastEdit.Load()) {
			t.Errorf("stored text %q is no edit answered 200", stored)
		}
		// Writes during the outage are answered: the events wait.
		failedDuring := notes[phaseDuring].failed.Load() + edits[phaseDuring].failed.Load()
		failedAll := failedDuring + notes[phaseBefore].failed.Load() + edits[phaseBefore].failed.Load() + notes[phaseAfter].failed.Load() + edits[phaseAfter].failed.Load()
		defects += int(failedAll)
		during := 0
		for _, id := range rows {
			if id > cutBound && id <= restoreBound {
				during++
			}
		}
		t.Logf("%s, %s: Redis cut for %v under %d notification writers on each node and one editor alternating A and B; %d notifications committed (%d while Redis was cut: ids %d-%d), message %d edited up to %q",
			mode.name, c.dbKind(), outage, writers, len(rows), during, cutBound+1, restoreBound, msg, stored)
		for ph := range 3 {
			t.Logf("writes %s the outage: notifications %s; edits %s", phaseNames[ph], &notes[ph], &edits[ph])
		}
		if failedDuring > 0 {
			t.Logf("%d writes failed while Redis was cut", failedDuring)
		}
		drainText := func(v *atomic.Int64) string {
			if d := v.Load(); d != 0 {
				return time.Duration(d).Round(time.Millisecond).String()
			}
			return "never"
		}
		if heldEvents >= 0 {
			t.Logf("the outbox held %d events when Redis came back; after it, the relays deleted the first of them in %s and the last in %s, a client received the first event in %s, the clients had every row committed by the restore and edit v%d in %s (settled %v after the writers stopped)",
				heldEvents, drainText(&relayed), drainText(&outboxDrained), drainText(&resumed), restoreEdit, drainText(&clientsDrained), waited.Round(time.Millisecond))
			if mode.fixed && heldEvents == 0 {
				t.Errorf("the outbox held no event when Redis came back: the outage did not hold the events back")
			}
		} else {
			t.Logf("the clients had every row committed by the restore and edit v%d %s after Redis came back (settled %v after the writers stopped)",
				restoreEdit, drainText(&clientsDrained), waited.Round(time.Millisecond))
		}
		var summary []string
		for i, r := range recs {
			f := outageFigures(received[i], rows, baseline, cutBound, restoreBound)
			e := editFigures(received[i], msg, editsOK, stored)
			defects += f.lost + f.duplicated + f.unknown + e.inversions + e.stale + e.missing + e.duplicated
			t.Logf("client %s: notifications lost %d (before %d, during the outage %d, after %d), duplicated %d (%d with one eventId), not in the database %d; edits: %d inversions %v, missing %d, duplicated %d, last %q",
				r.name, f.lost, f.lostBy[phaseBefore], f.lostBy[phaseDuring], f.lostBy[phaseAfter], f.duplicated, f.sameEventID, f.unknown,
				e.inversions, e.examples, e.missing, e.duplicated, e.last)
			summary = append(summary, fmt.Sprintf("%s lost %d (%d of the outage's) dup %d, edits inverted %d missing %d stale %v",
				r.name, f.lost, f.lostBy[phaseDuring], f.duplicated, e.inversions, e.missing, e.stale == 1))
		}
		verdict(t, mode, defects, fmt.Sprintf("%s, Redis cut %v, %d rows (%d during the outage), %d writes failed: %s",
			c.dbKind(), outage, len(rows), during, failedAll, strings.Join(summary, ", ")))
	})
}

// outageResult is what one client of the outage test received of the
// notifications.
type outageResult struct {
	// lost counts the rows never received; lostBy splits them by the phase
	// they were committed in (by id: up to the largest id at the cut,
	// up to the largest at the restore, after).
	lost   int
	lostBy [3]int
	// duplicated counts the rows received more than once; sameEventID
	// those whose copies carry one eventId.
	duplicated  int
	sameEventID int
	// unknown counts rows received that are not in the database.
	unknown int
}

// outageFigures compares the notifications of evs after baseline (the
// warm-up's last) with the rows of the database after it.
func outageFigures(evs []reactive, rows []int64, baseline, cutBound, restoreBound int64) outageResult {
	var f outageResult
	copies := make(map[int64][]string)
	for _, ev := range evs {
		if ev.Model == "Notification" && ev.Action == "create" {
			copies[ev.ID] = append(copies[ev.ID], ev.EventID)
		}
	}
	inDB := make(map[int64]bool, len(rows))
	for _, id := range rows {
		inDB[id] = true
		if len(copies[id]) > 0 {
			continue
		}
		f.lost++
		switch {
		case id <= cutBound:
			f.lostBy[phaseBefore]++
		case id <= restoreBound:
			f.lostBy[phaseDuring]++
		default:
			f.lostBy[phaseAfter]++
		}
	}
	for id, ids := range copies {
		if id <= baseline {
			continue // the warm-up's
		}
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

// editResult is what one client received of the edits of one message.
type editResult struct {
	// inversions counts the edits received after a later one; examples
	// shows the first.
	inversions int
	examples   []string
	// missing counts the edits answered 200 never received, duplicated
	// those received more than once.
	missing    int
	duplicated int
	// stale is 1 when the last edit received is not the stored text, last.
	stale int
	last  string
}

// editFigures reads the updates "v<n>" of message id among evs against the
// edits answered 200 and the stored text.
func editFigures(evs []reactive, id int64, ok map[int]bool, stored string) editResult {
	var f editResult
	seen := make(map[int]int)
	highest := 0
	for _, ev := range evs {
		if ev.Model != "Message" || ev.Action != "update" || ev.ID != id || !strings.HasPrefix(ev.Data.Text, "v") {
			continue
		}
		v, err := strconv.Atoi(ev.Data.Text[1:])
		if err != nil {
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
	if f.last != stored {
		f.stale = 1
	}
	for v := range ok {
		if seen[v] == 0 {
			f.missing++
		}
	}
	for _, n := range seen {
		if n > 1 {
			f.duplicated++
		}
	}
	return f
}

// TestDeleteIsNeverFollowedByAnEarlierChange runs rounds
// (ENTREACTIVE_DELETE_ROUNDS, 100) of: create a message on one node, update
// it on the other right after the create's response, delete it on the
// first right after the update's response; the nodes swap roles every
// round. Writers keep both nodes busy meanwhile (loadMessages,
// ENTREACTIVE_DURABLE_LOAD a second on each), so that a node's publish
// queue holds events back. Four clients record, npm's socket.io-client and
// our Go client on each node, in the conversation's room (updates,
// deletes); two of them are the recipient (creates too).
//
// For each row, no create or update may reach a client after its delete,
// and the last event of every deleted row at every client is its delete;
// nor may a client miss or repeat one of the row's events, or get the
// update before the create. Without the durable path the figures are
// logged and the test skipped as known when they are not zero.
func TestDeleteIsNeverFollowedByAnEarlierChange(t *testing.T) {
	eachDurable(t, func(t *testing.T, mode durableMode, c *cluster) {
		rounds := envInt(t, envDeleteRounds, 100)
		busy := envInt(t, envLoad, 400)
		c.start(nodeA)
		c.start(nodeB)
		sender, member := c.login(nodeA, 1), c.login(nodeB, 2)
		conv := newConversation(t, c, sender, 2)
		room := fmt.Sprintf("conversation_%d", conv)
		// recipient: the client is user 2, who gets the creates.
		type client struct {
			rec       *recorder
			recipient bool
		}
		clients := []client{
			{nodeClient(t, "node@A", c.url(nodeA), member, room), true},
			{goClient(t, "go@B", c.url(nodeB), member, room), true},
			{goClient(t, "go@A", c.url(nodeA), sender, room), false},
			{nodeClient(t, "node@B", c.url(nodeB), sender, room), false},
		}
		recs := make([]*recorder, len(clients))
		for i, cl := range clients {
			recs[i] = cl.rec
		}
		hc := &http.Client{Timeout: 30 * time.Second}
		do := func(node int, method, path, body string, want int) []byte {
			t.Helper()
			code, raw := call(t, hc, method, c.url(node)+path, sender, body)
			if code != want {
				t.Fatalf("%s %s on %s: %d %s, want %d", method, path, nodeName(node), code, raw, want)
			}
			return raw
		}
		create := func(node int, text string) int64 {
			t.Helper()
			raw := do(node, http.MethodPost, "/api/messages", fmt.Sprintf(`{"conversation_id":%d,"recipient_id":2,"text":%q}`, conv, text), http.StatusCreated)
			var m struct{ ID int64 }
			if json.Unmarshal(raw, &m) != nil || m.ID == 0 {
				t.Fatalf("message on %s: %s", nodeName(node), raw)
			}
			return m.ID
		}
		update := func(node int, id int64, text string) {
			t.Helper()
			do(node, http.MethodPatch, fmt.Sprintf("/api/messages/%d", id), fmt.Sprintf(`{"text":%q}`, text), http.StatusOK)
		}
		remove := func(node int, id int64) {
			t.Helper()
			do(node, http.MethodDelete, fmt.Sprintf("/api/messages/%d", id), "", http.StatusNoContent)
		}

		// Warm up: a row created, updated and deleted on each node,
		// until every client has the delete of each node.
		deadline := time.Now().Add(30 * time.Second)
		var through [2]bool
		for k := 0; !through[nodeA] || !through[nodeB]; k++ {
			if time.Now().After(deadline) {
				t.Fatalf("after 30 s, the clients still miss the deletes of one node or the other (A %v, B %v)", through[nodeA], through[nodeB])
			}
			node := k % 2
			id := create(node, "warm-up")
			update(node, id, "warm-up edit")
			remove(node, id)
			deleted := func(ev reactive) bool { return ev.ID == id && ev.Action == "delete" }
			for wait := time.Now().Add(500 * time.Millisecond); time.Now().Before(wait); time.Sleep(10 * time.Millisecond) {
				if all(recs, deleted, t) {
					through[node] = true
					break
				}
			}
		}

		stopLoad := loadMessages(t, c, busy)
		rows := make([]int64, 0, rounds)
		began := time.Now()
		for r := range rounds {
			upd := r % 2     // the node that updates
			other := 1 - upd // creates and deletes
			id := create(other, fmt.Sprintf("r%d created", r))
			update(upd, id, fmt.Sprintf("r%d updated", r))
			remove(other, id)
			rows = append(rows, id)
		}
		elapsed := time.Since(began)
		created := stopLoad()
		markers := endMarkers(t, c)
		settle(recs, mode.quiet(t), 2*time.Minute, func() bool {
			for _, r := range recs {
				evs := r.events(t)
				if !hasNotifications(evs, markers) {
					return false
				}
				deleted := make(map[int64]bool)
				for _, ev := range evs {
					if ev.Model == "Message" && ev.Action == "delete" {
						deleted[ev.ID] = true
					}
				}
				for _, id := range rows {
					if !deleted[id] {
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

		defects := 0
		var summary []string
		t.Logf("%s, %s: %d rounds of create, update (other node), delete (first node) in %v, %d other messages/s on each node (%d created)",
			mode.name, c.dbKind(), rounds, elapsed.Round(time.Millisecond), busy, created)
		for i, cl := range clients {
			f := deleteFigures(received[i], rows, cl.recipient)
			defects += f.changedAfterDelete + f.lastNotDelete + f.missing + f.duplicated + f.inversions + f.unexpected
			line := fmt.Sprintf("%s: %d rows with a change after their delete (%d events), %d rows whose last event is not the delete, %d events missing (%d deletes), %d repeated, %d updates before the create, %d creates of another user",
				cl.rec.name, f.changedAfterDelete, f.eventsAfterDelete, f.lastNotDelete, f.missing, f.missingDeletes, f.duplicated, f.inversions, f.unexpected)
			if len(f.examples) > 0 {
				line += " (" + strings.Join(f.examples, "; ") + ")"
			}
			t.Log(line)
			summary = append(summary, fmt.Sprintf("%s changed after delete %d, last not delete %d, missing %d, repeated %d, update before create %d",
				cl.rec.name, f.changedAfterDelete, f.lastNotDelete, f.missing, f.duplicated, f.inversions))
		}
		verdict(t, mode, defects, fmt.Sprintf("%s, %d rounds, %d/s load: %s", c.dbKind(), rounds, busy, strings.Join(summary, ", ")))
	})
}

// deleteResult is what one client of the delete test received of the
// rows.
type deleteResult struct {
	// changedAfterDelete counts the rows a create or an update of which
	// came after their delete; eventsAfterDelete those events.
	changedAfterDelete int
	eventsAfterDelete  int
	// lastNotDelete counts the rows whose last event is not their delete
	// (a lost delete included).
	lastNotDelete int
	// missing counts the events expected and never received (creates only
	// at the recipient), missingDeletes the deletes among them; duplicated
	// the events received more than once.
	missing        int
	missingDeletes int
	duplicated     int
	// inversions counts the rows whose update came before their create.
	inversions int
	// unexpected counts the rows whose create a client that is not the
	// recipient received.
	unexpected int
	// examples shows the first rows out of order: "row 12: delete, update".
	examples []string
}

// deleteFigures reads the events of rows among evs; recipient says the
// client gets the creates.
func deleteFigures(evs []reactive, rows []int64, recipient bool) deleteResult {
	var f deleteResult
	seqs := make(map[int64][]string, len(rows))
	for _, id := range rows {
		seqs[id] = nil
	}
	for _, ev := range evs {
		if _, ok := seqs[ev.ID]; ok && ev.Model == "Message" {
			seqs[ev.ID] = append(seqs[ev.ID], ev.Action)
		}
	}
	want := []string{"create", "update", "delete"}
	if !recipient {
		want = want[1:]
	}
	for _, id := range rows {
		seq := seqs[id]
		bad := false
		if del := slices.Index(seq, "delete"); del >= 0 {
			if n := len(slices.DeleteFunc(slices.Clone(seq[del+1:]), func(a string) bool { return a == "delete" })); n > 0 {
				f.changedAfterDelete++
				f.eventsAfterDelete += n
				bad = true
			}
		}
		if len(seq) == 0 || seq[len(seq)-1] != "delete" {
			f.lastNotDelete++
			bad = true
		}
		for _, a := range want {
			switch n := countAction(seq, a); {
			case n == 0:
				f.missing++
				if a == "delete" {
					f.missingDeletes++
				}
				bad = true
			case n > 1:
				f.duplicated++
				bad = true
			}
		}
		if recipient {
			if u, c := slices.Index(seq, "update"), slices.Index(seq, "create"); u >= 0 && c > u {
				f.inversions++
				bad = true
			}
		}
		if !recipient && slices.Contains(seq, "create") {
			f.unexpected++ // a create sent to another user
			bad = true
		}
		if bad && len(f.examples) < 3 {
			f.examples = append(f.examples, fmt.Sprintf("row %d: %s", id, strings.Join(seq, ", ")))
		}
	}
	return f
}

// countAction returns how many times s occurs in seq.
func countAction(seq []string, s string) int {
	n := 0
	for _, x := range seq {
		if x == s {
			n++
		}
	}
	return n
}
