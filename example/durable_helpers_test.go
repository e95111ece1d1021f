package main

// The harness of the durable-delivery tests (durable_test.go): the modes
// they run in, a fresh database of each kind, a Redis database of their
// own, a two-node cluster of example processes, and the two kinds of
// clients that record what they receive.

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
)

// durableMode is one configuration of the example that the durable tests
// run every database in.
type durableMode struct {
	// name names the subtest.
	name string
	// flags are added to the command line of every example node.
	flags []string
	// fixed says the mode must show no defect: the test fails on one,
	// rather than logging it as known.
	fixed bool
	// only, when set, names the tests that run in the mode; the others
	// skip it.
	only []string
	// settle is how long a test waits, once the writes are over, for an
	// event still missing while no event comes: a mode whose relay
	// publishes a dead node's events only after a lease expires sets it
	// above the lease. Default 3 s ($ENTREACTIVE_DURABLE_QUIET overrides).
	settle time.Duration
}

// quiet returns how long the test waits for a missing event: see settle.
func (m durableMode) quiet(t *testing.T) time.Duration {
	t.Helper()
	if s := os.Getenv(envQuiet); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration", envQuiet, s)
		}
		return d
	}
	return cmp.Or(m.settle, 3*time.Second)
}

// durableModes are the modes of the durable tests: the path off (the
// defects are measured and logged, the test skipped as known) and on
// (package entreactive/outbox; every figure must be zero), with the
// creates stored by their transaction or recorded by a trigger
// (outbox.Outbox.Capture).
var durableModes = []durableMode{
	{name: "off"},
	{name: "durable", flags: []string{"-durable"}, fixed: true},
	// The durable path with the creates recorded by a trigger: the tests
	// whose rows are created under test (the others edit rows created
	// before, and the path of their updates is durable's).
	{name: "captured", flags: []string{"-durable", "-capture"}, fixed: true, only: []string{
		"TestKilledNodeLosesNoCommittedEvent", "TestNodeKilledBetweenCommitAndPublish",
		"TestRedisOutageLosesNoCommittedEvent", "TestDeleteIsNeverFollowedByAnEarlierChange",
	}},
}

// Environment of the durable tests.
const (
	// envExpect, set to 1, makes every mode assert zero defects (lost,
	// duplicated, inverted, stale), as fixed modes always do.
	envExpect = "ENTREACTIVE_DURABLE_EXPECT"
	// envFlags adds flags (space separated) to every node of every mode,
	// e.g. ENTREACTIVE_DURABLE_FLAGS=-durable, to try a flag before it
	// has its own mode.
	envFlags = "ENTREACTIVE_DURABLE_FLAGS"
	// envRounds is the number of SIGKILL rounds of the crash test and of
	// update runs of the order test: a few by default (CI), many to
	// measure.
	envRounds = "ENTREACTIVE_DURABLE_ROUNDS"
	// envUpdates is the number of updates of each run of the order test.
	envUpdates = "ENTREACTIVE_DURABLE_UPDATES"
	// envWriters is the number of concurrent writers of the crash test.
	envWriters = "ENTREACTIVE_DURABLE_WRITERS"
	// envQuiet overrides every mode's settle: how long a test waits for a
	// missing event while none comes.
	envQuiet = "ENTREACTIVE_DURABLE_QUIET"
	// envLoad is how many other messages a second each node creates in
	// the order test's "busy" phase.
	envLoad = "ENTREACTIVE_DURABLE_LOAD"
	// envCutGrace is how long, at least, a connection of the recovery test
	// lives before it may be cut (a duration; default 300ms, 0s: any
	// time).
	envCutGrace = "ENTREACTIVE_DURABLE_CUT_GRACE"
	// envTrace, set to 1, makes listen.mjs in the recovery test print each
	// packet it receives: a failing client's history then shows them.
	envTrace = "ENTREACTIVE_DURABLE_TRACE"
)

// envInt returns the positive integer in the environment variable name, or
// def when it is unset; anything else fails the test.
func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 {
		t.Fatalf("%s=%q: want a positive integer", name, s)
	}
	return n
}

// envDuration returns the duration in the variable name (0s or more), or
// def when it is unset; anything else fails the test.
func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	s := os.Getenv(name)
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		t.Fatalf("%s=%q: want a duration, 0s or more", name, s)
	}
	return d
}

// exampleDatabase is a kind of database the durable tests run on.
type exampleDatabase struct {
	name string
	// env holds the DSN of an existing database of a server, which the
	// tests create their own database next to; "" for SQLite.
	env string
}

// exampleDatabases are the databases of the durable tests, as in the rest
// of the repository (entreactive/db_test.go): SQLite always; PostgreSQL and
// MariaDB when their DSN is set (.ci/run sets both).
var exampleDatabases = []exampleDatabase{
	{name: "sqlite"},
	{name: "postgres", env: "ENTREACTIVE_POSTGRES_DSN"},
	{name: "mariadb", env: "ENTREACTIVE_MARIADB_DSN"},
}

// eachDurable runs test as one subtest per mode and database, each on a
// new database and a Redis database of its own.
func eachDurable(t *testing.T, test func(t *testing.T, mode durableMode, c *cluster)) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the example as processes")
	}
	extra := strings.Fields(os.Getenv(envFlags))
	for _, mode := range durableModes {
		mode.flags = append(append([]string(nil), mode.flags...), extra...)
		t.Run(mode.name, func(t *testing.T) {
			if test, _, _ := strings.Cut(t.Name(), "/"); mode.only != nil && !slices.Contains(mode.only, test) {
				t.Skipf("mode %s runs %v only", mode.name, mode.only)
			}
			for _, db := range exampleDatabases {
				t.Run(db.name, func(t *testing.T) {
					dbArg, conn := freshDatabase(t, db)
					test(t, mode, newCluster(t, dbArg, conn, redisDatabase(t), mode.flags))
				})
			}
		})
	}
}

// verdict ends a durable test on its figures: a pass when defects is 0;
// otherwise a failure when the mode is fixed or $ENTREACTIVE_DURABLE_EXPECT
// is 1, and else a skip that names the known defect (the figures are in
// the log either way).
func verdict(t *testing.T, mode durableMode, defects int, summary string) {
	t.Helper()
	switch {
	case defects == 0:
		t.Logf("no defect: %s", summary)
	case mode.fixed || os.Getenv(envExpect) == "1":
		t.Errorf("%s", summary)
	default:
		t.Skipf("known defect without the durable path (%s=1 fails on it): %s", envExpect, summary)
	}
}

// freshDatabase returns the -db value of a new, empty database of kind db,
// which is dropped when the test ends, and a connection to it for the
// test's own queries.
func freshDatabase(t *testing.T, db exampleDatabase) (string, *sql.DB) {
	t.Helper()
	var arg string
	if db.env == "" {
		arg = filepath.Join(t.TempDir(), "shared.db")
	} else {
		dsn := os.Getenv(db.env)
		if dsn == "" {
			if os.Getenv("CI") != "" {
				t.Fatalf("%s is not set: CI must run the durable tests on %s", db.env, db.name)
			}
			t.Skipf("%s is not set: not running on %s", db.env, db.name)
		}
		arg = createDatabase(t, db, dsn)
	}
	d, err := app.ParseDB(arg)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := sql.Open(d.Driver, d.DSN)
	if err != nil {
		t.Fatalf("open %s: %v", d, err)
	}
	t.Cleanup(func() { conn.Close() })
	return arg, conn
}

// createDatabase creates a uniquely named database on the server of dsn,
// dropped when the test ends, and returns its -db value.
func createDatabase(t *testing.T, db exampleDatabase, dsn string) string {
	t.Helper()
	name := "er_durable_" + strings.ToLower(rand.Text()[:10])
	var driver, adminDSN, arg string
	switch db.name {
	case "postgres":
		u, err := url.Parse(dsn)
		if err != nil || u.Scheme == "" {
			t.Fatalf("%s must be a URL (postgres://...)", db.env)
		}
		driver, adminDSN = "postgres", dsn
		u.Path = "/" + name
		arg = u.String()
	case "mariadb":
		// go-sql-driver's form, as .ci/run sets it, or behind mysql://.
		for _, scheme := range []string{"mysql://", "mariadb://"} {
			dsn = strings.TrimPrefix(dsn, scheme)
		}
		cfg, err := mysql.ParseDSN(dsn)
		if err != nil {
			t.Fatalf("%s: %v", db.env, err)
		}
		driver, adminDSN = "mysql", cfg.FormatDSN()
		cfg.DBName = name
		arg = "mysql://" + cfg.FormatDSN()
	default:
		t.Fatalf("no database server %q", db.name)
	}
	admin, err := sql.Open(driver, adminDSN)
	if err != nil {
		t.Fatalf("open %s: %v", db.name, err)
	}
	t.Cleanup(func() { admin.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database %s on %s: %v", name, db.name, err)
	}
	t.Cleanup(func() {
		drop := "DROP DATABASE " + name
		if db.name == "postgres" {
			drop += " WITH (FORCE)"
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, drop); err != nil {
			t.Errorf("drop database %s: %v", name, err)
		}
	})
	return arg
}

// redisLockPrefix prefixes the keys, in Redis database 0, by which a test
// holds one of the other databases.
const redisLockPrefix = "entreactive:example-test:redis-db:"

// redisDatabase returns the URL of a Redis database (1 to 15) that no other
// test uses meanwhile, in this process or another: the example's -redis
// takes a URL, so a database number, not a key prefix, keeps the test's
// streams apart. The database is emptied before and after the test. Without
// Redis the test is skipped, or fails in CI.
func redisDatabase(t *testing.T) string {
	t.Helper()
	addr := cmp.Or(os.Getenv("ENTREACTIVE_REDIS_ADDR"), "127.0.0.1:6379")
	locks := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { locks.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := locks.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis at %s: %v (.ci/run starts it)", addr, err)
		}
		t.Skipf("no Redis at %s (%v): not running the cluster tests; set ENTREACTIVE_REDIS_ADDR or start redis-server", addr, err)
	}
	const ttl = 2 * time.Minute
	token := rand.Text()
	n := 0
	for n == 0 {
		for i := 1; i <= 15 && n == 0; i++ {
			ok, err := locks.SetNX(ctx, redisLockPrefix+strconv.Itoa(i), token, ttl).Result()
			if err != nil {
				t.Fatalf("redis: %v", err)
			}
			if ok {
				n = i
			}
		}
		if n == 0 {
			select {
			case <-ctx.Done():
				t.Fatalf("redis at %s: databases 1 to 15 stay held by other tests (keys %s*)", addr, redisLockPrefix)
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
	key := redisLockPrefix + strconv.Itoa(n)
	rdb := redis.NewClient(&redis.Options{Addr: addr, DB: n})
	if err := rdb.FlushDB(ctx).Err(); err != nil {
		t.Fatalf("redis: flush database %d: %v", n, err)
	}
	// Hold the lock for as long as the test runs.
	stop := make(chan struct{})
	held := make(chan struct{})
	go func() {
		defer close(held)
		tick := time.NewTicker(ttl / 4)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				locks.Expire(context.Background(), key, ttl)
			}
		}
	}()
	t.Cleanup(func() {
		close(stop)
		<-held
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := rdb.FlushDB(ctx).Err(); err != nil {
			t.Errorf("redis: flush database %d: %v", n, err)
		}
		rdb.Close()
		if v, _ := locks.Get(ctx, key).Result(); v == token {
			locks.Del(ctx, key)
		}
	})
	return fmt.Sprintf("redis://%s/%d", addr, n)
}

// cluster is two example processes, nodes 0 (A) and 1 (B), on one
// database and one Redis database.
type cluster struct {
	t     *testing.T
	db    string // the -db value
	conn  *sql.DB
	redis string
	flags []string
	env   []string
	// nodeEnv is added to the environment of one node only.
	nodeEnv [2][]string
	addrs   [2]string
	procs   [2]*process
}

// nodeName names node i in logs.
func nodeName(i int) string { return string(rune('A' + i)) }

// newCluster returns the cluster of the test; start starts its nodes.
func newCluster(t *testing.T, db string, conn *sql.DB, redisURL string, flags []string) *cluster {
	return &cluster{
		t: t, db: db, conn: conn, redis: redisURL, flags: flags,
		env:   []string{"JWT_SECRET=" + strings.Repeat("d", 32)},
		addrs: [2]string{freeAddr(t), freeAddr(t)},
	}
}

// start starts node i, on its address, and waits until it serves. When
// the test fails, the log shows the end of each process's stderr, without
// the request lines.
func (c *cluster) start(i int) {
	c.t.Helper()
	args := append([]string{"-addr", c.addrs[i], "-db", c.db, "-redis", c.redis, "-static", c.t.TempDir()}, c.flags...)
	cmd := exec.Command(os.Args[0], args...)
	cmd.Env = append(append(append(os.Environ(), asExample+"=1"), c.env...), c.nodeEnv[i]...)
	p := &process{cmd: cmd, stderr: &testkit.Buffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { p.exited <- cmd.Wait() }()
	name := fmt.Sprintf("%s (pid %d)", nodeName(i), cmd.Process.Pid)
	c.t.Cleanup(func() {
		_ = cmd.Process.Kill()
		err := <-p.exited
		if c.t.Failed() {
			c.t.Logf("node %s exited (%v); its stderr, without the request lines:\n%s", name, err, stderrTail(p.stderr.String(), 60))
		}
	})
	c.procs[i] = p
	deadline := time.Now().Add(60 * time.Second)
	for {
		res, err := http.Get(c.url(i) + "/healthz")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			c.t.Fatalf("node %s exited: %v\n%s", name, err, stderrTail(p.stderr.String(), 60))
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("node %s does not answer /healthz: %v\n%s", name, err, stderrTail(p.stderr.String(), 60))
		}
	}
}

// stderrTail returns the last n lines of a node's stderr that are not the
// log of a request.
func stderrTail(s string, n int) string {
	var keep []string
	for line := range strings.SplitSeq(s, "\n") {
		if !strings.Contains(line, " msg=http ") {
			keep = append(keep, line)
		}
	}
	if len(keep) > n {
		keep = append([]string{fmt.Sprintf("[%d lines before]", len(keep)-n)}, keep[len(keep)-n:]...)
	}
	return strings.Join(keep, "\n")
}

// url is node i's base URL.
func (c *cluster) url(i int) string { return "http://" + c.addrs[i] }

// kill kills node i with SIGKILL and waits until it is gone.
func (c *cluster) kill(i int) {
	c.t.Helper()
	p := c.procs[i]
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		c.t.Fatalf("kill %s: %v", nodeName(i), err)
	}
	select {
	case err := <-p.exited:
		p.exited <- err // for startProcess's cleanup
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s lives on after SIGKILL", nodeName(i))
	}
}

// waitExit waits until node i exits by itself.
func (c *cluster) waitExit(i int) {
	c.t.Helper()
	p := c.procs[i]
	select {
	case err := <-p.exited:
		p.exited <- err // for start's cleanup
	case <-time.After(30 * time.Second):
		c.t.Fatalf("%s is still running", nodeName(i))
	}
}

// stop stops both nodes with SIGTERM: each must exit cleanly (a race
// report, under -race, fails the test). The clients on them lose their
// connection: read what they received first.
func (c *cluster) stop() {
	c.t.Helper()
	for i, p := range c.procs {
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			c.t.Fatalf("SIGTERM to %s: %v", nodeName(i), err)
		}
		select {
		case err := <-p.exited:
			p.exited <- err
			if err != nil {
				c.t.Errorf("node %s exited with %v after SIGTERM\n%s", nodeName(i), err, stderrTail(p.stderr.String(), 60))
			}
		case <-time.After(30 * time.Second):
			c.t.Errorf("node %s did not exit 30 s after SIGTERM", nodeName(i))
		}
	}
}

// login logs user in on node i and returns the token, which every node
// accepts.
func (c *cluster) login(i int, user int) string {
	c.t.Helper()
	code, body := call(c.t, http.DefaultClient, http.MethodPost, c.url(i)+"/api/login", "", fmt.Sprintf(`{"user_id":%d}`, user))
	var res struct{ Token string }
	if code != http.StatusOK || json.Unmarshal(body, &res) != nil || res.Token == "" {
		c.t.Fatalf("login %d on %s: %d %s", user, nodeName(i), code, body)
	}
	return res.Token
}

// call sends a request with a JSON body (none when body is "") and the
// bearer token (none when token is ""), and returns the status and body;
// a transport error fails the test.
func call(t *testing.T, hc *http.Client, method, url, token, body string) (int, []byte) {
	t.Helper()
	code, raw, err := tryCall(hc, method, url, token, body)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	return code, raw
}

// tryCall is call returning the transport error.
func tryCall(hc *http.Client, method, url, token, body string) (int, []byte, error) {
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		return 0, nil, err
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := hc.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	return res.StatusCode, raw, err
}

// reactive is one "reactive" event as a client received it.
type reactive struct {
	Action  string `json:"action"`
	Model   string `json:"model"`
	ID      int64  `json:"id"`
	EventID string `json:"eventId"`
	Data    struct {
		Text string `json:"text"`
	} `json:"data"`
	// Offset is the event's recovery offset, its last argument: a Redis
	// stream id "<ms>-<seq>" in the cluster.
	Offset string `json:"-"`
}

// recorder keeps the reactive events a client received, in order, and
// the times it was without a connection.
type recorder struct {
	name string
	mu   sync.Mutex
	evs  []reactive
	errs []string
	// down is when the client lost its connection, zero while it has one;
	// gaps are the times it was without one, each from the loss to its
	// next dial; drops and recoveries count the losses and the
	// reconnections that got the socket back.
	down       time.Time
	gaps       []gap
	drops      int
	recoveries int
	// stale counts the events listen.mjs dropped from socket.io-client's
	// receive buffer as it reconnected (see listen.mjs).
	stale int
	// history is the last events of the client's connections, for the log
	// of a failure.
	history []note
}

// gap is a time a client was without a connection.
type gap struct{ from, to time.Time }

// add records ev.
func (r *recorder) add(ev reactive) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
}

// fail records a client error, reported by events.
func (r *recorder) fail(msg string) {
	r.mu.Lock()
	r.errs = append(r.errs, msg)
	r.mu.Unlock()
}

// lost records that the client lost its connection at at (a second call
// before redial is a no-op).
func (r *recorder) lost(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down.IsZero() {
		r.down = at
		r.drops++
	}
}

// redial records that the client dials again at at: the end of its gap.
func (r *recorder) redial(at time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.down.IsZero() {
		r.gaps = append(r.gaps, gap{r.down, at})
		r.down = time.Time{}
	}
}

// dropStale counts n events dropped from socket.io-client's receive buffer.
func (r *recorder) dropStale(n int) {
	r.mu.Lock()
	r.stale += n
	r.mu.Unlock()
}

// recovered records a reconnection that got the socket back.
func (r *recorder) recovered() {
	r.mu.Lock()
	r.recoveries++
	r.mu.Unlock()
}

// note adds a line to the client's history: what happened to its
// connection at at.
func (r *recorder) note(at time.Time, format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	const keep = 4000
	if len(r.history) == keep {
		r.history = append(r.history[:0], r.history[keep/2:]...)
	}
	r.history = append(r.history, note{at: at, after: len(r.evs), what: fmt.Sprintf(format, args...)})
}

// note is a line of a client's history: what happened to its connection,
// at, once it had received after events.
type note struct {
	at    time.Time
	after int
	what  string
}

func (n note) String() string {
	return fmt.Sprintf("%s after event #%d: %s", n.at.Format("15:04:05.000"), n.after, n.what)
}

// notes returns the lines of the client's history noted after it had
// received from to to events (the last ones when to < 0).
func (r *recorder) notes(from, to int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, n := range r.history {
		if n.after >= from && (to < 0 || n.after <= to) {
			out = append(out, n.String())
		}
	}
	if to < 0 && len(out) > 20 {
		out = out[len(out)-20:]
	}
	return out
}

// links returns the client's drops, recoveries and gaps so far, and the
// stale events dropped.
func (r *recorder) links() (drops, recoveries int, gaps []gap, stale int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drops, r.recoveries, append([]gap(nil), r.gaps...), r.stale
}

// events returns a copy of what the client received so far; an error the
// client reported fails the test.
func (r *recorder) events(t *testing.T) []reactive {
	t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.errs) > 0 {
		var last []string
		for _, n := range r.history[max(0, len(r.history)-20):] {
			last = append(last, n.String())
		}
		t.Fatalf("client %s: %s; its connections:\n    %s", r.name, strings.Join(r.errs, "; "), strings.Join(last, "\n    "))
	}
	return append([]reactive(nil), r.evs...)
}

// count returns how many events the client received so far.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.evs)
}

// goClient connects our Go client (internal/sio: Engine.IO and Socket.IO
// by hand over a websocket) to base with token, joins rooms and records
// the reactive events it receives.
func goClient(t *testing.T, name, base, token string, rooms ...string) *recorder {
	t.Helper()
	rec := &recorder{name: name}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := sio.Dial(ctx, sio.Config{URL: base, Auth: map[string]any{"token": token}, OnEvent: func(event string, data []byte) {
		if event != "reactive" {
			return
		}
		args, err := sio.Args(data)
		var ev reactive
		if err == nil && len(args) >= 2 {
			err = json.Unmarshal(args[1], &ev)
		}
		if err != nil {
			rec.fail(fmt.Sprintf("bad reactive event %s: %v", data, err))
			return
		}
		rec.add(ev)
	}})
	if err != nil {
		t.Fatalf("client %s: %v", name, err)
	}
	// A connection that ends before the test does loses events that the
	// test would count against the server: say so instead.
	var closing atomic.Bool
	go func() {
		<-c.Done()
		if !closing.Load() {
			rec.fail(fmt.Sprintf("the connection ended: %v", c.Err()))
		}
	}()
	t.Cleanup(func() {
		closing.Store(true)
		c.Close()
	})
	for _, room := range rooms {
		ack, err := c.EmitWithAck(ctx, "join", room)
		if err != nil || !bytes.Contains(ack, []byte(`"success":true`)) {
			t.Fatalf("client %s: join %s: %s %v", name, room, ack, err)
		}
	}
	return rec
}

// nodeClient starts example/web/listen.mjs (npm socket.io-client, polling
// then websocket, as a browser connects) on base with token, joined to
// rooms, and records the reactive events it prints.
func nodeClient(t *testing.T, name, base, token string, rooms ...string) *recorder {
	t.Helper()
	return startListener(t, name, base, token, false, rooms...).rec
}

// listener is a running listen.mjs.
type listener struct {
	rec   *recorder
	stdin io.WriteCloser
	// wmu serializes writes to stdin; mu guards connected and since, when
	// the client last connected.
	wmu       sync.Mutex
	mu        sync.Mutex
	connected bool
	since     time.Time
}

// up records that the client is connected.
func (l *listener) up() {
	l.mu.Lock()
	l.connected, l.since = true, time.Now()
	l.mu.Unlock()
}

// cut closes the client's connection under it, as a network failure
// would (listen.mjs --reconnect then reconnects and recovers its socket);
// it reports false, doing nothing, while the client is not connected or
// has been for less than grace.
func (l *listener) cut(grace time.Duration) bool {
	l.mu.Lock()
	ok := l.connected && time.Since(l.since) >= grace
	if ok {
		l.connected = false
	}
	l.mu.Unlock()
	if !ok {
		return false
	}
	l.wmu.Lock()
	defer l.wmu.Unlock()
	if _, err := io.WriteString(l.stdin, "cut\n"); err != nil {
		l.rec.fail(fmt.Sprintf("cut: %v", err))
	}
	return true
}

// startListener starts listen.mjs as nodeClient does; with reconnect, the
// client reconnects by itself when its connection drops, with connection
// state recovery (a reconnection that does not recover its socket fails
// the client), and cut drops it.
func startListener(t *testing.T, name, base, token string, reconnect bool, rooms ...string) *listener {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missingTool(t, "node is not installed")
	}
	script, err := filepath.Abs(filepath.Join("web", "listen.mjs"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(script), "node_modules", "socket.io-client")); err != nil {
		missingTool(t, "socket.io-client is not installed: run `npm ci --prefix example/web`")
	}
	args := []string{script, "--url", base, "--token", token, "--stdin"}
	if reconnect {
		args = append(args, "--reconnect")
	}
	for _, room := range rooms {
		args = append(args, "--join", room)
	}
	cmd := exec.Command(node, args...)
	if reconnect && os.Getenv(envTrace) == "1" {
		cmd.Env = append(os.Environ(), "LISTEN_TRACE=1")
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr testkit.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{name: name}
	l := &listener{rec: rec, stdin: stdin}
	ready := make(chan error, 1)
	signal := func(err error) {
		select {
		case ready <- err:
		default:
		}
	}
	var closing atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				Step   string          `json:"step"`
				Room   string          `json:"room"`
				Offset string          `json:"offset"`
				PID    string          `json:"pid"`
				Stale  int             `json:"stale"`
				At     int64           `json:"at"`
				Data   json.RawMessage `json:"data"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				rec.fail(fmt.Sprintf("bad line %q", sc.Bytes()))
				continue
			}
			switch line.Step {
			case "reactive":
				var ev reactive
				if err := json.Unmarshal(line.Data, &ev); err != nil {
					rec.fail(fmt.Sprintf("bad reactive event %s", line.Data))
					continue
				}
				ev.Offset = line.Offset
				rec.add(ev)
			case "join":
				if !bytes.Contains(line.Data, []byte(`"success":true`)) {
					signal(fmt.Errorf("join %s: %s", line.Room, line.Data))
				}
			case "ready":
				l.up()
				signal(nil)
			case "cut":
				rec.lost(time.UnixMilli(line.At))
				rec.note(time.UnixMilli(line.At), "cut")
			case "reconnect_attempt":
				rec.redial(time.UnixMilli(line.At))
				rec.note(time.UnixMilli(line.At), "reconnect attempt %s with pid %s, offset %s; %d stale events dropped", line.Data, line.PID, line.Offset, line.Stale)
				rec.dropStale(line.Stale)
			case "reconnect":
				var r struct {
					Recovered bool   `json:"recovered"`
					ID        string `json:"id"`
					Transport string `json:"transport"`
				}
				if json.Unmarshal(line.Data, &r) != nil || !r.Recovered {
					rec.fail(fmt.Sprintf("reconnected without recovery: %s", line.Data))
					continue
				}
				rec.recovered()
				rec.note(time.Now(), "recovered %s on %s", r.ID, r.Transport)
				l.up()
			case "trace":
				rec.note(time.Now(), "trace %s", sc.Bytes())
			case "connect_error":
				// Reconnecting: the next attempt follows.
				rec.note(time.Now(), "connect_error %s", line.Data)
			case "disconnect":
				if reconnect && !bytes.Equal(line.Data, []byte(`"io server disconnect"`)) {
					l.mu.Lock()
					l.connected = false
					l.mu.Unlock()
					rec.lost(time.Now())
					rec.note(time.Now(), "disconnect %s", line.Data)
					continue
				}
				if !closing.Load() {
					rec.fail(fmt.Sprintf("%s: %s", line.Step, line.Data))
				}
				signal(fmt.Errorf("%s: %s", line.Step, line.Data))
			case "error":
				if !closing.Load() {
					rec.fail(fmt.Sprintf("%s: %s", line.Step, line.Data))
				}
				signal(fmt.Errorf("%s: %s", line.Step, line.Data))
			}
		}
		if !closing.Load() {
			rec.fail("listen.mjs ended")
			signal(fmt.Errorf("listen.mjs ended"))
		}
	}()
	t.Cleanup(func() {
		closing.Store(true)
		l.wmu.Lock()
		_ = stdin.Close() // listen.mjs disconnects and exits
		l.wmu.Unlock()
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
		<-done
		if t.Failed() && stderr.String() != "" {
			t.Logf("client %s: listen.mjs stderr:\n%s", name, stderr.String())
		}
	})
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("client %s: %v\n%s", name, err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("client %s: not ready after 30 s\n%s", name, stderr.String())
	}
	return l
}

// settle waits until done holds for the recorders, or until none of them
// has received an event for quiet, or until max has passed; it returns
// how long it waited.
func settle(recs []*recorder, quiet, max time.Duration, done func() bool) time.Duration {
	began := time.Now()
	last, lastChange := -1, time.Now()
	for !done() {
		n := 0
		for _, r := range recs {
			n += r.count()
		}
		if n != last {
			last, lastChange = n, time.Now()
		}
		if time.Since(lastChange) > quiet || time.Since(began) > max {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(began)
}
