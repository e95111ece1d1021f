package app_test

import (
	"bytes"
	"cmp"
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
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

	"github.com/gorilla/websocket"
	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server/redisbroker"
)

// sharedRedis is the Redis the cluster tests share with the other
// packages' tests: $ENTREACTIVE_REDIS_ADDR, or the local default.
var sharedRedis = cmp.Or(os.Getenv("ENTREACTIVE_REDIS_ADDR"), "127.0.0.1:6379")

// needRedis skips the test when no Redis answers at addr, as the
// redisbroker tests do; in CI ($CI set) it fails instead.
func needRedis(t *testing.T, addr string) {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis at %s: %v (.ci/run starts it)", addr, err)
		}
		t.Skipf("no Redis at %s (%v): not running the cluster tests; set ENTREACTIVE_REDIS_ADDR or start redis-server", addr, err)
	}
}

// redisNames returns a broker config whose stream, channels and session
// keys are this test's own, so that tests of other packages on the same
// Redis do not see its traffic, and deletes its keys from addr when the
// test ends.
func redisNames(t *testing.T, addr string) redisbroker.Config {
	t.Helper()
	var b [6]byte
	_, _ = crand.Read(b[:])
	prefix := "apptest-" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: addr})
		defer rdb.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return redisbroker.Config{
		StreamName:       prefix + "-stream",
		ChannelPrefix:    prefix + "-chan",
		SessionKeyPrefix: prefix + "-session:",
		// A reader's blocking XREAD ends within a second: Close is quick.
		BlockTime: time.Second,
	}
}

// cnode is one node of a test cluster: an App on its own loopback
// listener.
type cnode struct {
	name string
	app  *app.App
	hs   *httptest.Server
	ln   *trackingListener
	url  string

	// mu is read-held by each API request sent to the node; pausing the
	// node takes it, so no request is in flight while it is paused.
	mu     sync.RWMutex
	paused bool

	stopOnce sync.Once
	stopErr  error
	stopping atomic.Bool
}

// stop closes the app (its sockets are handed over to the cluster for
// recovery), then its listener; it returns Close's error. Safe to call
// more than once.
func (n *cnode) stop(ctx context.Context) error {
	n.stopOnce.Do(func() {
		n.stopping.Store(true)
		n.stopErr = n.app.Close(ctx)
		n.hs.Close()
	})
	return n.stopErr
}

// cutConnections closes every TCP connection of the node at once, the
// websockets included (httptest's CloseClientConnections forgets hijacked
// connections), as a network failure would; the node keeps running.
func (n *cnode) cutConnections() { n.ln.closeAll() }

// trackingListener remembers the connections it accepted, so that they
// can all be cut.
type trackingListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	l.conns[c] = struct{}{}
	l.mu.Unlock()
	return &trackedConn{Conn: c, l: l}, nil
}

func (l *trackingListener) closeAll() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for c := range l.conns {
		_ = c.Close()
	}
	clear(l.conns)
}

// trackedConn forgets itself when closed.
type trackedConn struct {
	net.Conn
	l *trackingListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c.Conn)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

// setPaused keeps API requests away from the node (true), after waiting
// for those in flight, or lets them in again (false).
func (n *cnode) setPaused(p bool) {
	n.mu.Lock()
	n.paused = p
	n.mu.Unlock()
}

// tcluster is a cluster of Apps on one Redis and one SQLite file, with
// an HTTP client and a websocket dialer of its own (closed at the end, so
// that goroutine checks see none of them).
type tcluster struct {
	t        *testing.T
	db       string
	redisURL string
	rcfg     redisbroker.Config
	logger   func(name string) *slog.Logger
	nodes    []*cnode
	tr       *http.Transport
	http     *http.Client
	dialer   *websocket.Dialer
}

// fastTempDir returns a directory removed when the test ends: on tmpfs
// (/dev/shm) when there is one, as SQLite syncs its WAL on every commit
// and the cluster tests commit thousands of times; t.TempDir otherwise.
func fastTempDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("/dev/shm", "entreactive-apptest-")
	if err != nil {
		return t.TempDir()
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

// newCluster starts n nodes on the Redis at redisAddr with broker config
// rcfg; logger, when not nil, gives each node its logger.
func newCluster(t *testing.T, n int, redisAddr string, rcfg redisbroker.Config, logger func(name string) *slog.Logger) *tcluster {
	t.Helper()
	tr := &http.Transport{MaxIdleConns: 256, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}
	c := &tcluster{
		t:        t,
		db:       filepath.Join(fastTempDir(t), "cluster.db"),
		redisURL: "redis://" + redisAddr + "/0",
		rcfg:     rcfg,
		logger:   logger,
		tr:       tr,
		http:     &http.Client{Transport: tr, Timeout: testkit.Wait},
		dialer: &websocket.Dialer{
			HandshakeTimeout: 10 * time.Second,
			ReadBufferSize:   2048,
			WriteBufferSize:  1024,
			WriteBufferPool:  &sync.Pool{},
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	for i := range n {
		c.nodes = append(c.nodes, c.startNode(string(rune('A'+i))))
	}
	return c
}

// startNode starts one more node.
func (c *tcluster) startNode(name string) *cnode {
	t := c.t
	t.Helper()
	log := quietLogger(t)
	if c.logger != nil {
		log = c.logger(name)
	}
	a, err := app.New(context.Background(), app.Config{
		DB:        c.db,
		JWTSecret: testSecret,
		RedisURL:  c.redisURL,
		Redis:     c.rcfg,
		Logger:    log.With("node", name),
	})
	if err != nil {
		t.Fatalf("node %s: app.New: %v", name, err)
	}
	hs := httptest.NewUnstartedServer(a.Handler())
	ln := &trackingListener{Listener: hs.Listener, conns: make(map[net.Conn]struct{})}
	hs.Listener = ln
	hs.Start()
	n := &cnode{name: name, app: a, hs: hs, ln: ln, url: hs.URL}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		if err := n.stop(ctx); err != nil {
			t.Errorf("node %s: Close: %v", name, err)
		}
	})
	return n
}

// quietLogger logs warnings and errors to t.Log under -v, nothing
// otherwise: three nodes' debug logs would drown the test's own lines.
func quietLogger(t *testing.T) *slog.Logger {
	if !testing.Verbose() {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// tlog writes each line to t.Log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// errNodeGone is an API request refused because its node was stopped
// (503 while it closes, or no listener any more).
var errNodeGone = errors.New("node gone")

// errNodePaused is an API request not sent because its node is paused.
var errNodePaused = errors.New("node paused")

// post sends a JSON request to node and decodes a 2xx answer into out. A
// request the node refused because it is stopping or stopped fails with
// errNodeGone; one to a paused node with errNodePaused, unsent.
func (c *tcluster) post(ctx context.Context, n *cnode, path, token string, body, out any) error {
	n.mu.RLock()
	defer n.mu.RUnlock()
	if n.paused {
		return errNodePaused
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", n.url+path, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := c.http.Do(req)
	if err != nil {
		// Once the node is stopping no request can change anything: the
		// app answers 503 and waits for the requests it took, and the
		// listener waits for their answers; what fails then is a
		// connection it closed or refused.
		if n.stopping.Load() || errors.Is(err, syscall.ECONNREFUSED) {
			return fmt.Errorf("%w: %w", errNodeGone, err)
		}
		return fmt.Errorf("POST %s on %s: %w", path, n.name, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return fmt.Errorf("POST %s on %s: read: %w", path, n.name, err)
	}
	if res.StatusCode == http.StatusServiceUnavailable {
		return fmt.Errorf("%w: %s", errNodeGone, b)
	}
	if res.StatusCode/100 != 2 {
		return &statusError{status: res.StatusCode, msg: fmt.Sprintf("POST %s on %s: status %d: %s", path, n.name, res.StatusCode, b)}
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("POST %s on %s: %s: %w", path, n.name, b, err)
		}
	}
	return nil
}

// statusError is an API answer other than 2xx and 503.
type statusError struct {
	status int
	msg    string
}

func (e *statusError) Error() string { return e.msg }

// mustPost is post that fails the test; for the test's own goroutine.
func (c *tcluster) mustPost(n *cnode, path, token string, body, out any) {
	c.t.Helper()
	if err := c.post(testkit.Context(c.t), n, path, token, body, out); err != nil {
		c.t.Fatal(err)
	}
}

// login logs users 1..n in (on node 0) and returns their tokens by id.
func (c *tcluster) login(n int) map[int64]string {
	c.t.Helper()
	tokens := make(map[int64]string, n)
	for id := int64(1); id <= int64(n); id++ {
		var out struct{ Token string }
		c.mustPost(c.nodes[0], "/api/login", "", map[string]any{"user_id": id}, &out)
		tokens[id] = out.Token
	}
	return tokens
}

// groups puts users 1..n in conversations of size members and returns,
// for each user, its conversation and the other members.
func (c *tcluster) groups(tokens map[int64]string, n, size int) (conv map[int64]int, peers map[int64][]int64) {
	c.t.Helper()
	conv, peers = make(map[int64]int), make(map[int64][]int64)
	for first := int64(1); first <= int64(n); first += int64(size) {
		var members []int64
		for id := first; id < first+int64(size) && id <= int64(n); id++ {
			members = append(members, id)
		}
		var out struct{ ID int }
		c.mustPost(c.nodes[0], "/api/conversations", tokens[first], map[string]any{"member_ids": members[1:]}, &out)
		for _, id := range members {
			conv[id] = out.ID
			peers[id] = slices.DeleteFunc(slices.Clone(members), func(m int64) bool { return m == id })
		}
	}
	return conv, peers
}

// sent is a message created through the API.
type sent struct {
	id        int
	recipient int64
}

// sendMessage posts a message from sender to recipient on node.
func (c *tcluster) sendMessage(ctx context.Context, n *cnode, token string, conv int, recipient int64, text string) (sent, error) {
	var m struct {
		ID          int   `json:"id"`
		RecipientID int64 `json:"recipient_id"`
	}
	err := c.post(ctx, n, "/api/messages", token, map[string]any{"conversation_id": conv, "recipient_id": recipient, "text": text}, &m)
	if err != nil {
		return sent{}, err
	}
	if m.ID == 0 || m.RecipientID != recipient {
		return sent{}, fmt.Errorf("message row %+v for recipient %d", m, recipient)
	}
	return sent{id: m.ID, recipient: recipient}, nil
}

// sendMessages creates a message from the sender of token to each of
// recipients on node n: one POST /api/messages for a single recipient, one
// POST /api/messages/batch (one transaction) for more.
func (c *tcluster) sendMessages(ctx context.Context, n *cnode, token string, conv int, recipients []int64, text string) ([]sent, error) {
	if len(recipients) == 1 {
		m, err := c.sendMessage(ctx, n, token, conv, recipients[0], text)
		if err != nil {
			return nil, err
		}
		return []sent{m}, nil
	}
	items := make([]map[string]any, len(recipients))
	for i, r := range recipients {
		items[i] = map[string]any{"conversation_id": conv, "recipient_id": r, "text": fmt.Sprintf("%s.%d", text, i)}
	}
	var rows []struct {
		ID          int   `json:"id"`
		RecipientID int64 `json:"recipient_id"`
	}
	if err := c.post(ctx, n, "/api/messages/batch", token, items, &rows); err != nil {
		return nil, err
	}
	if len(rows) != len(recipients) {
		return nil, fmt.Errorf("batch of %d answered %d rows", len(recipients), len(rows))
	}
	out := make([]sent, len(rows))
	for i, m := range rows {
		if m.ID == 0 || m.RecipientID != recipients[i] {
			return nil, fmt.Errorf("batch row %d: %+v for recipient %d", i, m, recipients[i])
		}
		out[i] = sent{id: m.ID, recipient: m.RecipientID}
	}
	return out, nil
}

// plan splits total messages into requests: a quarter of them single
// messages, the others batches of 2 to maxBatch.
func plan(total, maxBatch int) []int {
	rng := rand.New(rand.NewPCG(1, 2))
	var sizes []int
	for left := total; left > 0; {
		k := 1
		if rng.IntN(4) > 0 {
			k = 2 + rng.IntN(maxBatch-1)
		}
		k = min(k, left)
		sizes = append(sizes, k)
		left -= k
	}
	return sizes
}

// received is one reactive event a client received.
type received struct {
	model, action string
	id            int
	text          string // a notification's message
	offset        string // "" when the event came without one
}

// rclient is a raw Socket.IO client (internal/sio: one goroutine) that
// records the reactive events of its user across its connections.
type rclient struct {
	user  int64
	token string

	mu       sync.Mutex
	conn     *sio.Conn
	node     *cnode
	sids     []string // the socket id of each connection
	pid      string
	got      []received
	bad      []string // events that did not parse
	restored int      // reconnections that got the socket back
	resumed  []string // the offsets it reconnected with
	// sessionLost is set when its session never reached Redis.
	sessionLost bool
}

func (r *rclient) onEvent(name string, data []byte) {
	if name != "reactive" {
		return
	}
	var args []json.RawMessage
	var ev struct {
		Model  string `json:"model"`
		Action string `json:"action"`
		Data   struct {
			ID      int    `json:"id"`
			Message string `json:"message"`
		} `json:"data"`
	}
	var off string
	if json.Unmarshal(data, &args) != nil || len(args) < 2 || len(args) > 3 || json.Unmarshal(args[1], &ev) != nil ||
		len(args) == 3 && json.Unmarshal(args[2], &off) != nil {
		r.mu.Lock()
		r.bad = append(r.bad, string(data))
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	r.got = append(r.got, received{model: ev.Model, action: ev.Action, id: ev.Data.ID, text: ev.Data.Message, offset: off})
	r.mu.Unlock()
}

// lastOffset returns the offset of the last event received with one.
func (r *rclient) lastOffset() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	for i := len(r.got) - 1; i >= 0; i-- {
		if r.got[i].offset != "" {
			return r.got[i].offset
		}
	}
	return ""
}

// offsetsOf returns the offsets message id was received with.
func (r *rclient) offsetsOf(id int) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, g := range r.got {
		if g.model == "Message" && g.id == id {
			out = append(out, g.offset)
		}
	}
	return out
}

// connection returns the client's current connection and node.
func (r *rclient) connection() (*sio.Conn, *cnode) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn, r.node
}

// has reports whether the client received the notification text.
func (r *rclient) has(text string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.got {
		if g.model == "Notification" && g.text == text {
			return true
		}
	}
	return false
}

// messages returns how many times each message id was received.
func (r *rclient) messages() map[int]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[int]int)
	for _, g := range r.got {
		if g.model == "Message" && g.action == "create" {
			out[g.id]++
		}
	}
	return out
}

// connect dials node with the client's token.
func (c *tcluster) connect(ctx context.Context, n *cnode, user int64, token string) (*rclient, error) {
	r := &rclient{user: user, token: token}
	if err := c.dial(ctx, r, n, map[string]any{"token": token}); err != nil {
		return nil, err
	}
	return r, nil
}

// dial opens a connection of r to n with auth and makes it r's current
// one; it is closed when the test ends.
func (c *tcluster) dial(ctx context.Context, r *rclient, n *cnode, auth map[string]any) error {
	conn, err := sio.Dial(ctx, sio.Config{URL: n.url, Auth: auth, OnEvent: r.onEvent, Dialer: c.dialer})
	if err != nil {
		return fmt.Errorf("user %d: dial %s: %w", r.user, n.name, err)
	}
	c.t.Cleanup(func() { _ = conn.Close() })
	r.mu.Lock()
	r.conn, r.node = conn, n
	r.sids = append(r.sids, conn.SID)
	if r.pid == "" {
		r.pid = conn.PID
	}
	r.mu.Unlock()
	return nil
}

// recover redials r, whose connection ended, on node n with its pid and
// last offset and no token, and reports whether it got its socket back.
func (c *tcluster) recover(ctx context.Context, r *rclient, n *cnode) (bool, error) {
	r.mu.Lock()
	pid, sid := r.pid, r.sids[len(r.sids)-1]
	r.mu.Unlock()
	off := r.lastOffset()
	if pid == "" || off == "" {
		return false, fmt.Errorf("user %d: nothing to recover with (pid %q, offset %q)", r.user, pid, off)
	}
	r.mu.Lock()
	r.resumed = append(r.resumed, off)
	r.mu.Unlock()
	if err := c.dial(ctx, r, n, map[string]any{"pid": pid, "offset": off}); err != nil {
		return false, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	ok := r.conn.SID == sid && r.conn.PID == pid
	if ok {
		r.restored++
	}
	return ok, nil
}

// connectAll connects a client for each user of users to nodes[at(i)],
// a few at a time.
func (c *tcluster) connectAll(users []int64, tokens map[int64]string, at func(i int) *cnode) []*rclient {
	c.t.Helper()
	ctx := testkit.Context(c.t)
	out := make([]*rclient, len(users))
	errs := make([]error, len(users))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 16)
	for i, u := range users {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			out[i], errs[i] = c.connect(ctx, at(i), u, tokens[u])
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		c.t.Fatal(err)
	}
	return out
}

// barrierSeq numbers barriers.
var barrierSeq atomic.Int64

// barrier posts a notification on each of nodes (every authenticated
// socket of the cluster receives each) and waits until every client has
// them all. Each node publishes its events in order and every node
// delivers the stream in order, so what any of nodes emitted before its
// barrier has then reached the clients: what is missing was never sent.
func (c *tcluster) barrier(ctx context.Context, nodes []*cnode, clients []*rclient) error {
	var texts []string
	for _, n := range nodes {
		text := fmt.Sprintf("barrier %d from %s", barrierSeq.Add(1), n.name)
		if err := c.post(ctx, n, "/api/notifications", "", map[string]string{"message": text}, nil); err != nil {
			return err
		}
		texts = append(texts, text)
	}
	for {
		missing := 0
		var example string
		for _, r := range clients {
			for _, text := range texts {
				if !r.has(text) {
					missing++
					example = fmt.Sprintf("user %d lacks %q", r.user, text)
				}
			}
		}
		if missing == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("barrier: %d notifications missing (%s): %w", missing, example, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// tally counts what the clients received against what was sent.
type tally struct {
	messages   int // messages sent
	expected   int // deliveries expected: one per message per socket of its recipient
	delivered  int // expected deliveries that happened (once or more)
	lost       int // expected deliveries that did not happen
	duplicated int // deliveries beyond the first
	leaked     int // deliveries to a socket of another user, or of an unknown message
	unordered  int // events whose offset is not after the previous one's
	malformed  int // events that did not parse
}

func (t tally) String() string {
	return fmt.Sprintf("messages %d, deliveries expected %d, delivered %d, lost %d, duplicated %d, leaked %d, out of order %d, malformed %d",
		t.messages, t.expected, t.delivered, t.lost, t.duplicated, t.leaked, t.unordered, t.malformed)
}

// count tallies the clients' messages against msgs.
func count(clients []*rclient, msgs []sent) (tally, []string) {
	var t tally
	var examples, unordered []string
	note := func(format string, args ...any) {
		if len(examples) < 10 {
			examples = append(examples, fmt.Sprintf(format, args...))
		}
	}
	to := make(map[int]int64, len(msgs))
	for _, m := range msgs {
		to[m.id] = m.recipient
	}
	byUser := make(map[int64][]*rclient)
	got := make(map[*rclient]map[int]int, len(clients))
	for _, r := range clients {
		byUser[r.user] = append(byUser[r.user], r)
		got[r] = r.messages()
		for id, n := range got[r] {
			switch rcpt, ok := to[id]; {
			case !ok:
				t.leaked += n
				note("user %d got message %d, which the test did not send", r.user, id)
			case rcpt != r.user:
				t.leaked += n
				note("user %d got message %d for user %d", r.user, id, rcpt)
			case n > 1:
				t.duplicated += n - 1
				note("user %d got message %d %d times (offsets %v; resumed from %v)", r.user, id, n, r.offsetsOf(id), r.resumed)
			}
		}
		r.mu.Lock()
		t.malformed += len(r.bad)
		var prev offset
		for _, g := range r.got {
			o, ok := parseOffset(g.offset)
			if !ok {
				continue
			}
			if !o.after(prev) {
				t.unordered++
				unordered = append(unordered, fmt.Sprintf("user %d: offset %s after %s", r.user, g.offset, prev))
			}
			prev = o
		}
		r.mu.Unlock()
	}
	t.messages = len(msgs)
	for _, m := range msgs {
		for _, r := range byUser[m.recipient] {
			t.expected++
			if got[r][m.id] > 0 {
				t.delivered++
			} else {
				t.lost++
				note("user %d (socket %v) did not get message %d", r.user, r.sids, m.id)
			}
		}
	}
	return t, append(examples, unordered[:min(len(unordered), 5)]...)
}

// offset is a Redis stream id "<ms>-<seq>", as the events carry it.
type offset struct{ ms, seq uint64 }

func parseOffset(s string) (offset, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return offset{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	return offset{ms, seq}, err1 == nil && err2 == nil
}

func (o offset) after(p offset) bool { return o.ms > p.ms || o.ms == p.ms && o.seq > p.seq }

func (o offset) String() string { return fmt.Sprintf("%d-%d", o.ms, o.seq) }

// runWorkers runs job(rng, i) for i in [0, total) on workers goroutines
// and waits for them.
func runWorkers(total, workers int, job func(rng *rand.Rand, i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				i := int(next.Add(1)) - 1
				if i >= total {
					return
				}
				job(rng, i)
			}
		}()
	}
	wg.Wait()
}

// privateRedis is a redis-server of the test's own, on a port of its
// own, that the test may kill, restart and pause without disturbing the
// Redis other tests share.
type privateRedis struct {
	t    *testing.T
	bin  string
	addr string
	log  *os.File
	cmd  *exec.Cmd
}

// startPrivateRedis starts a redis-server without persistence on a free
// loopback port; it is killed when the test ends.
func startPrivateRedis(t *testing.T) *privateRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	logf, err := os.Create(filepath.Join(t.TempDir(), "redis.log"))
	if err != nil {
		t.Fatal(err)
	}
	r := &privateRedis{t: t, bin: bin, addr: addr, log: logf}
	t.Cleanup(func() {
		r.kill()
		logf.Close()
	})
	r.start()
	return r
}

// start starts redis-server on r's port and waits until it answers.
func (r *privateRedis) start() {
	r.t.Helper()
	_, port, _ := net.SplitHostPort(r.addr)
	cmd := exec.Command(r.bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	cmd.Stdout, cmd.Stderr = r.log, r.log // files: no copying goroutine
	if err := cmd.Start(); err != nil {
		r.t.Fatalf("start redis-server: %v", err)
	}
	r.cmd = cmd
	rdb := redis.NewClient(&redis.Options{Addr: r.addr, MaxRetries: -1})
	defer rdb.Close()
	deadline := time.Now().Add(testkit.Wait)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s does not answer: %v", r.addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill kills redis-server (SIGKILL: its data is gone) and waits for it.
func (r *privateRedis) kill() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGCONT) // in case it was paused
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// socketUsers lists the user of every socket: users 1..users, then users
// 1..twice again for their second socket.
func socketUsers(users, twice int64) []int64 {
	ids := make([]int64, 0, users+twice)
	for u := int64(1); u <= users; u++ {
		ids = append(ids, u)
	}
	for u := int64(1); u <= twice; u++ {
		ids = append(ids, u)
	}
	return ids
}
