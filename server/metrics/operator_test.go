package metrics_test

import (
	"cmp"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	ws "github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/internal/testkit/promscrape"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/admin"
	"github.com/entreactive/reactive/server/metrics"
	"github.com/entreactive/reactive/server/redisbroker"
)

// deltas returns the change of each metric between two scrapes.
func deltas(before, after promscrape.Scrape) func(name string, labels ...string) float64 {
	return func(name string, labels ...string) float64 {
		return after.Value(name, labels...) - before.Value(name, labels...)
	}
}

// After 3 sockets closed by their client and 1 disconnected by the server,
// the reason counters say exactly that, and no other reason moved.
func TestMetricsCountDisconnectionsByReason(t *testing.T) {
	e := start(t, server.Config{})
	before := e.scrape()
	// Three clients leave with a Socket.IO DISCONNECT; user 4 stays.
	var leave []func()
	for id := 1; id <= 3; id++ {
		leave = append(leave, leaver(t, e.url, testkit.Token(t, id)))
	}
	dial(t, e.url, sioclient.WebSocketOnly, map[string]any{"token": testkit.Token(t, 4)})
	testkit.Eventually(t, "four connections", func() bool { return testkit.Connections(t, e.srv) == 4 })
	for i, l := range leave {
		l()
		testkit.Eventually(t, "the socket gone", func() bool { return testkit.Connections(t, e.srv) == 3-i })
	}
	if err := e.srv.DisconnectUser(testkit.Context(t), 4); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "every socket gone", func() bool { return testkit.Connections(t, e.srv) == 0 })
	after := e.scrape()
	delta := deltas(before, after)
	if got := delta("entreactive_connections_total"); got != 4 {
		t.Errorf("connections_total moved by %v, want 4", got)
	}
	want := map[string]float64{server.ReasonClientDisconnect: 3, server.ReasonServerDisconnect: 1}
	for _, reason := range server.DisconnectReasons() {
		if got := delta("entreactive_disconnections_total", "reason="+reason); got != want[reason] {
			t.Errorf("disconnections_total{reason=%q} moved by %v, want %v", reason, got, want[reason])
		}
	}
	if n := len(after["entreactive_disconnections_total"].GetMetric()); n != len(server.DisconnectReasons()) {
		t.Errorf("%d reasons exposed, want %d", n, len(server.DisconnectReasons()))
	}
}

// leaver connects a socket with token over a raw websocket and returns a
// function that sends its Socket.IO DISCONNECT, leaving the websocket open
// (closed when the test ends). A client that closes its transport right
// after the DISCONNECT, as the Go and JS clients do, may be counted as
// "transport close": the library handles the packet on the socket's queue
// and the close at once.
func leaver(t *testing.T, url, token string) func() {
	t.Helper()
	conn, _, err := ws.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	read := func(prefix string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(testkit.Wait))
		for {
			_, b, err := conn.ReadMessage()
			if err != nil {
				t.Fatalf("read %q: %v", prefix, err)
			}
			if strings.HasPrefix(string(b), prefix) {
				return
			}
		}
	}
	read("0{")
	auth, _ := json.Marshal(map[string]any{"token": token})
	if err := conn.WriteMessage(ws.TextMessage, append([]byte("40"), auth...)); err != nil {
		t.Fatal(err)
	}
	read("40{")
	return func() {
		if err := conn.WriteMessage(ws.TextMessage, []byte("41")); err != nil {
			t.Fatal(err)
		}
	}
}

// A reason the server does not know is counted as "other": the label set
// stays bounded whatever the library reports.
func TestDisconnectReasonsAreBounded(t *testing.T) {
	reasons := server.DisconnectReasons()
	if reasons[len(reasons)-1] != server.ReasonOther {
		t.Fatalf("reasons %q do not end with %q", reasons, server.ReasonOther)
	}
	seen := map[string]bool{}
	for _, r := range reasons {
		if seen[r] {
			t.Errorf("reason %q twice", r)
		}
		seen[r] = true
	}
	for _, r := range []string{server.ReasonPingTimeout, server.ReasonTransportClose, server.ReasonSlowConsumer, server.ReasonForcedClose} {
		if !seen[r] {
			t.Errorf("reason %q not counted apart", r)
		}
	}
}

// Under recovery, a client that comes back in time gets its session back,
// one that comes back too late a fresh one, and a new client a new one:
// entreactive_sessions_total says which, and the drops show as transport
// closes.
func TestMetricsCountRecoveredSessions(t *testing.T) {
	e := start(t, server.Config{Recovery: &server.Recovery{}})
	before := e.scrape()
	var mu sync.Mutex
	var lastOffset string
	offset := func() string {
		mu.Lock()
		defer mu.Unlock()
		return lastOffset
	}
	onEvent := func(name string, data []byte) {
		var args []any
		if name == "note" && json.Unmarshal(data, &args) == nil && len(args) > 0 {
			mu.Lock()
			lastOffset, _ = args[len(args)-1].(string)
			mu.Unlock()
		}
	}
	dialSIO := func(auth map[string]any) *sio.Conn {
		t.Helper()
		c, err := sio.Dial(testkit.Context(t), sio.Config{URL: e.url, Auth: auth, OnEvent: onEvent})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		testkit.Eventually(t, "the socket registered", func() bool { return testkit.Connections(t, e.srv) == 1 })
		return c
	}
	dropAndWait := func(c *sio.Conn) {
		t.Helper()
		c.Drop()
		testkit.Eventually(t, "the socket gone", func() bool { return testkit.Connections(t, e.srv) == 0 })
	}

	first := dialSIO(map[string]any{"token": testkit.Token(t, 7)})
	// Registered is not yet in its user's room: the note would miss it.
	testkit.Eventually(t, "user 7 online", func() bool { return testkit.Online(t, e.srv, 7) })
	if err := e.srv.EmitTo(testkit.Context(t), entreactive.ToUserIDs(7), "note", 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the note", func() bool { return offset() != "" })
	dropAndWait(first)
	back := dialSIO(map[string]any{"pid": first.PID, "offset": offset()})
	if back.SID != first.SID {
		t.Fatal("not recovered")
	}
	dropAndWait(back)
	late := dialSIO(map[string]any{"pid": first.PID, "offset": "1-0"}) // no longer in the history
	if late.SID == first.SID {
		t.Fatal("recovered from an offset that is not in the history")
	}
	dropAndWait(late)
	dialSIO(nil)

	delta := deltas(before, e.scrape())
	for result, want := range map[string]float64{"recovered": 1, "not_recovered": 1, "new": 2} {
		if got := delta("entreactive_sessions_total", "result="+result); got != want {
			t.Errorf("sessions_total{result=%q} moved by %v, want %v", result, got, want)
		}
	}
	if got := delta("entreactive_disconnections_total", "reason="+server.ReasonTransportClose); got != 3 {
		t.Errorf("transport closes moved by %v, want 3", got)
	}
	if got := delta("entreactive_connections_total"); got != 4 {
		t.Errorf("connections_total moved by %v, want 4", got)
	}
}

// What Stats counted but /metrics did not show: events without a
// handler, events that could not be encoded, and the bytes written.
func TestMetricsCountUnknownEventsEncodeErrorsAndBytes(t *testing.T) {
	e := start(t, server.Config{})
	ws := dial(t, e.url, sioclient.WebSocketOnly, map[string]any{"token": testkit.Token(t, 1)})
	closeGuest := testkit.PollingGuest(t, e.url)
	defer closeGuest()
	testkit.Eventually(t, "two connections", func() bool { return testkit.Connections(t, e.srv) == 2 })
	before := e.scrape()

	for range 2 {
		if ack, err := ws.EmitAck(testkit.Context(t), "no-such-event", 1); err != nil || testkit.AckSuccess(ack) {
			t.Fatalf("unknown event answered %v, %v", ack, err)
		}
	}
	if err := e.srv.EmitTo(context.Background(), entreactive.ToAll(), "bad", make(chan int)); err == nil {
		t.Fatal("a channel encoded")
	}
	big := strings.Repeat("x", 100_000)
	if err := e.srv.EmitTo(context.Background(), entreactive.ToAll(), "big", big); err != nil {
		t.Fatal(err)
	}
	if err := ws.WaitCount(testkit.Context(t), "big", 1); err != nil {
		t.Fatal(err)
	}
	// The polling guest reads nothing: its event waits in the engine, and
	// is written to the next poll.
	poll(t, e.url, e.srv)

	delta := deltas(before, e.scrape())
	if got := delta("entreactive_unknown_events_total"); got != 2 {
		t.Errorf("unknown_events_total moved by %v, want 2", got)
	}
	if got := delta("entreactive_encode_errors_total"); got != 1 {
		t.Errorf("encode_errors_total moved by %v, want 1", got)
	}
	for _, transport := range []string{"websocket", "polling"} {
		if got := delta("entreactive_bytes_written_total", "transport="+transport); got < float64(len(big)) || got > 2*float64(len(big)) {
			t.Errorf("bytes_written_total{transport=%q} moved by %v after one event of %d bytes", transport, got, len(big))
		}
	}
}

// poll reads, with one GET, what the engine keeps for the polling socket
// of srv, uncompressed (the engine gzips a large poll for a client that
// accepts it, and counts what it wrote).
func poll(t *testing.T, url string, srv *server.Server) {
	t.Helper()
	var sid string
	for _, s := range srv.Operator().Sockets() {
		if s.Transport == "polling" {
			sid = s.ClientID
		}
	}
	if sid == "" {
		t.Fatal("no polling socket")
	}
	body := get(t, url+"/socket.io/?EIO=4&transport=polling&sid="+sid, "Accept-Encoding", "identity")
	if !strings.Contains(body, `"big"`) {
		t.Fatalf("poll: %.100q", body)
	}
}

// entreactive_build_info says which entreactive and which Go built the
// binary: a test binary is built from a checkout, "(devel)".
func TestMetricsBuildInfo(t *testing.T) {
	e := start(t, server.Config{})
	s := e.scrape()
	if got := s.Value("entreactive_build_info", "version=(devel)", "go_version="+runtime.Version()); got != 1 {
		t.Fatalf("build_info{version=(devel), go_version=%s} = %v; %v", runtime.Version(), got, s["entreactive_build_info"])
	}
}

// get returns the body of a GET of url with the header pairs, failing the
// test unless it is 200.
func get(t *testing.T, url string, header ...string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(testkit.Context(t), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", url, res.StatusCode, b)
	}
	return string(b)
}

// newRedis returns a client of the test Redis, closed when the test ends;
// without Redis the test is skipped (failed in CI).
func newRedis(t *testing.T) *redis.Client {
	t.Helper()
	addr := cmp.Or(os.Getenv("ENTREACTIVE_REDIS_ADDR"), "127.0.0.1:6379")
	rdb := redis.NewClient(&redis.Options{Addr: addr})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("redis at %s: %v", addr, err)
		}
		t.Skipf("no Redis at %s: %v", addr, err)
	}
	return rdb
}

// With a broker, /metrics shows the nodes of the cluster, how far behind
// this node reads, and what failed to reach the cluster.
func TestMetricsOfABroker(t *testing.T) {
	prefix := "metricstest-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	cfg := redisbroker.Config{StreamName: prefix + "-stream", ChannelPrefix: prefix + "-chan", SessionKeyPrefix: prefix + "-session:"}
	t.Cleanup(func() {
		rdb := redis.NewClient(&redis.Options{Addr: cmp.Or(os.Getenv("ENTREACTIVE_REDIS_ADDR"), "127.0.0.1:6379")})
		defer rdb.Close()
		if keys, _ := rdb.Keys(context.Background(), prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(context.Background(), keys...)
		}
	})
	node := func(rdb *redis.Client) *env {
		b, err := redisbroker.New(rdb, cfg)
		if err != nil {
			t.Fatal(err)
		}
		return start(t, server.Config{Broker: b})
	}
	rdb := newRedis(t)
	e := node(rdb)
	other := node(newRedis(t))
	if e.scrape()["entreactive_broker_nodes"] == nil {
		t.Fatal("no entreactive_broker_nodes")
	}
	testkit.Eventually(t, "two nodes, nothing left to read", func() bool {
		s := e.scrape()
		return s.Value("entreactive_broker_nodes") == 2 && s["entreactive_broker_read_lag_seconds"] != nil &&
			s.Value("entreactive_broker_read_lag_seconds") == 0
	})
	c := dial(t, e.url, sioclient.WebSocketOnly, nil)
	if err := other.srv.EmitTo(context.Background(), entreactive.ToAll(), "hello", 1); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitCount(testkit.Context(t), "hello", 1); err != nil {
		t.Fatal(err)
	}
	before := e.scrape()
	for _, name := range []string{"entreactive_broker_publish_errors_total", "entreactive_broker_read_errors_total", "entreactive_broadcasts_unpublished_total"} {
		if before[name] == nil || before.Value(name) != 0 {
			t.Errorf("%s = %v before any failure", name, before.Value(name))
		}
	}

	// This node's Redis connection gone: its broadcast does not reach the
	// cluster, and the broker says it cannot see it.
	_ = rdb.Close()
	if err := e.srv.EmitTo(context.Background(), entreactive.ToAll(), "lost", 1); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, "the failed publish counted", func() bool {
		s := e.scrape()
		return s.Value("entreactive_broadcasts_unpublished_total") == 1 && s.Value("entreactive_broker_publish_errors_total") == 1 &&
			s.Value("entreactive_broker_nodes") == 0
	})
}

// Wrong Admin UI passwords, the logins refused past the limit, and a
// refused action show on /metrics.
func TestMetricsOfTheAdmin(t *testing.T) {
	e := start(t, server.Config{})
	hash, err := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	a, err := admin.New(e.srv, admin.Config{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)}, Logger: testkit.Logger(t)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Close(context.Background()) })
	reg := prometheus.NewRegistry()
	reg.MustRegister(metrics.AdminCollector(a))
	mux := http.NewServeMux()
	mux.Handle("/", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	hs := httptest.NewServer(mux)
	t.Cleanup(hs.Close)

	for i := range 8 {
		adminConnect(t, e.url, map[string]any{"username": "admin", "password": "wrong " + strconv.Itoa(i)})
	}
	adminConnect(t, e.url, map[string]any{"sessionId": "0123456789abcdef"})
	if reply := adminConnect(t, e.url, nil); !strings.HasPrefix(reply, "44/admin,") {
		t.Fatalf("no credentials: %q", reply)
	}
	s, err := promscrape.Get(testkit.Context(t), hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	for reason, want := range map[string]float64{"password": admin.DefaultMaxLoginFailures, "throttled": 8 - admin.DefaultMaxLoginFailures, "session": 2} {
		if got := s.Value("entreactive_admin_login_failures_total", "reason="+reason); got != want {
			t.Errorf("admin_login_failures_total{reason=%q} = %v, want %v", reason, got, want)
		}
	}
	for _, name := range []string{"entreactive_admin_sessions_expired_total", "entreactive_admin_actions_refused_total"} {
		if s[name] == nil {
			t.Errorf("%s missing", name)
		}
	}
}

// adminConnect connects to the admin namespace over a raw websocket with
// auth and returns the answer to the CONNECT ("40/admin,..." or the
// connect error "44/admin,...").
func adminConnect(t *testing.T, url string, auth map[string]any) string {
	t.Helper()
	conn, _, err := ws.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(testkit.Wait))
	if _, open, err := conn.ReadMessage(); err != nil || !strings.HasPrefix(string(open), "0{") {
		t.Fatalf("open: %q %v", open, err)
	}
	payload := []byte("40/admin,")
	if auth != nil {
		b, _ := json.Marshal(auth)
		payload = append(payload, b...)
	}
	if err := conn.WriteMessage(ws.TextMessage, payload); err != nil {
		t.Fatal(err)
	}
	for {
		_, b, err := conn.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for the CONNECT answer: %v", err)
		}
		if reply := string(b); strings.HasPrefix(reply, "4") {
			return reply
		}
	}
}
