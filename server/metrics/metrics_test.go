package metrics_test

import (
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	ws "github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/internal/testkit/promscrape"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/metrics"
)

// env is a server with Metrics, its registry served at /metrics beside
// /socket.io/.
type env struct {
	t   *testing.T
	srv *server.Server
	url string
}

// start serves a server made of cfg with a new Metrics as its observer.
func start(t *testing.T, cfg server.Config) *env {
	t.Helper()
	m := metrics.New()
	cfg.Observer = m
	return serve(t, cfg, m)
}

// serve serves a server made of cfg, whose observer feeds m, and m's
// collector at /metrics.
func serve(t *testing.T, cfg server.Config, m *metrics.Metrics) *env {
	t.Helper()
	s := testkit.Serve(t, cfg)
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector(s.Server))
	s.Mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	return &env{t: t, srv: s.Server, url: s.URL}
}

// scrape fetches and parses /metrics.
func (e *env) scrape() promscrape.Scrape {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
	defer cancel()
	s, err := promscrape.Get(ctx, e.url+"/metrics")
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

// dial connects a socket over tr with auth, once "connected" has arrived.
func dial(t *testing.T, url string, tr sioclient.Transport, auth map[string]any) *sioclient.Client {
	t.Helper()
	return testkit.Dial(t, url, sioclient.Options{Transport: tr, Auth: auth})
}

func ackOK(t *testing.T, c *sioclient.Client, event string, arg any) bool {
	t.Helper()
	ack, err := c.EmitAck(testkit.Context(t), event, arg)
	if err != nil {
		t.Fatalf("%s: %v", event, err)
	}
	m, _ := ack[0].(map[string]any)
	return m["success"] == true
}

func TestMetricsFollowTheTraffic(t *testing.T) {
	e := start(t, server.Config{Authorize: func(_ context.Context, r server.JoinRequest) (bool, error) {
		return r.Room == "open", nil
	}})
	before := e.scrape()
	if got := before.Value("entreactive_delivery_queue_capacity"); got != server.DefaultQueueSize {
		t.Fatalf("queue capacity %v", got)
	}

	// Two users on websocket (user 1 twice), a guest on polling.
	u1 := dial(t, e.url, sioclient.WebSocketOnly, map[string]any{"token": testkit.Token(t, 1)})
	u1b := dial(t, e.url, sioclient.WebSocketOnly, nil)
	if !ackOK(t, u1b, "auth", testkit.Token(t, 1)) {
		t.Fatal("auth refused")
	}
	u2 := dial(t, e.url, sioclient.WebSocketOnly, map[string]any{"token": testkit.Token(t, 2)})
	closeGuest := testkit.PollingGuest(t, e.url)
	testkit.Eventually(t, "four connections", func() bool { return testkit.Connections(t, e.srv) == 4 })

	// Three refused tokens, two refused joins and one allowed.
	for _, bad := range []any{"garbage", testkit.Token(t, -1), 42} {
		if ackOK(t, u1b, "auth", bad) {
			t.Fatalf("token %v accepted", bad)
		}
	}
	if ackOK(t, u2, "join", "closed") || ackOK(t, u2, "join", "users") || !ackOK(t, u2, "join", "open") {
		t.Fatal("joins")
	}

	// Reactive events: 3 Message creates to user 2 (one socket), 2
	// Notification creates to users (3 sockets), 1 Message update to
	// everyone (4 sockets); and one EmitTo(ToAll), which is no reactive event.
	emit := func(model string, action entreactive.Action, to entreactive.Target, id int) {
		ev := entreactive.Event{Action: action, Model: model, ID: id, Data: map[string]any{"id": id}, Timestamp: time.Now()}
		if err := e.srv.Emit(context.Background(), to, ev); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		emit("Message", entreactive.ActionCreate, entreactive.ToUserIDs(2), i+1)
	}
	for i := range 2 {
		emit("Notification", entreactive.ActionCreate, entreactive.ToUsers(), i+1)
	}
	emit("Message", entreactive.ActionUpdate, entreactive.ToAll(), 1)
	if err := e.srv.EmitTo(context.Background(), entreactive.ToAll(), "news", "hello"); err != nil {
		t.Fatal(err)
	}
	const reactiveDeliveries = 3*1 + 2*3 + 1*4
	const deliveries = reactiveDeliveries + 4
	for c, n := range map[*sioclient.Client]int{u1: 3, u1b: 3, u2: 6} {
		if err := c.WaitCount(testkit.Context(t), "reactive", n); err != nil {
			t.Fatalf("reactive events: %v", err)
		}
		if err := c.WaitCount(testkit.Context(t), "news", 1); err != nil {
			t.Fatal(err)
		}
	}

	var after promscrape.Scrape
	testkit.Eventually(t, "every delivery observed", func() bool {
		after = e.scrape()
		return after.Value("entreactive_delivery_latency_seconds") == reactiveDeliveries
	})
	delta := func(name string, labels ...string) float64 {
		return after.Value(name, labels...) - before.Value(name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"entreactive_connections", []string{"transport=websocket"}, 3},
		{"entreactive_connections", []string{"transport=polling"}, 1},
		{"entreactive_users", nil, 2},
		// all, users, guests, user_1, user_2, open
		{"entreactive_rooms", nil, 6},
		{"entreactive_events_emitted_total", []string{"model=Message", "action=create"}, 3},
		{"entreactive_events_emitted_total", []string{"model=Notification", "action=create"}, 2},
		{"entreactive_events_emitted_total", []string{"model=Message", "action=update"}, 1},
		{"entreactive_broadcasts_queued_total", nil, 7},
		{"entreactive_deliveries_total", nil, deliveries},
		{"entreactive_delivery_latency_seconds", nil, reactiveDeliveries},
		{"entreactive_drops_total", nil, 0},
		{"entreactive_auth_failures_total", nil, 3},
		{"entreactive_joins_refused_total", nil, 2},
		{"entreactive_slow_consumer_disconnects_total", nil, 0},
		{"entreactive_delivery_queue_depth", nil, 0},
	} {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	// A delivery on this box takes well under the largest bucket.
	h := after["entreactive_delivery_latency_seconds"].Metric[0].Histogram
	if s := h.GetSampleSum(); s <= 0 || s/float64(h.GetSampleCount()) > 5 {
		t.Errorf("latency sum %v over %d deliveries", s, h.GetSampleCount())
	}

	// Disconnections show at once.
	closeGuest()
	u2.Close()
	testkit.Eventually(t, "the gauges to fall", func() bool {
		s := e.scrape()
		return s.Value("entreactive_connections", "transport=polling") == 0 &&
			s.Value("entreactive_connections", "transport=websocket") == 2 &&
			s.Value("entreactive_users") == 1 && s.Value("entreactive_rooms") == 3
	})
}

// stalled connects a raw websocket client that reads nothing after the
// Socket.IO handshake, with a small receive buffer so that the server's
// writes back up quickly.
func stalled(t *testing.T, url string) {
	t.Helper()
	d := ws.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if tc, ok := c.(*net.TCPConn); ok {
			_ = tc.SetReadBuffer(4096)
		}
		return c, err
	}}
	conn, _, err := d.Dial("ws"+strings.TrimPrefix(url, "http")+"/socket.io/?EIO=4&transport=websocket", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	read := func(prefix string) {
		t.Helper()
		_ = conn.SetReadDeadline(time.Now().Add(testkit.Wait))
		_, b, err := conn.ReadMessage()
		if err != nil || !strings.HasPrefix(string(b), prefix) {
			t.Fatalf("read %q: %q %v", prefix, b, err)
		}
	}
	read("0{")
	if err := conn.WriteMessage(ws.TextMessage, []byte("40")); err != nil {
		t.Fatal(err)
	}
	read("40{")
}

func TestMetricsCountSlowConsumers(t *testing.T) {
	e := start(t, server.Config{MaxPendingBytes: 256 << 10, QueueSize: 1})
	e.srv.OnDisconnect(func(_ context.Context, c *server.Conn, reason string) { t.Logf("disconnect %s: %s", c.ID(), reason) })
	healthy := dial(t, e.url, sioclient.WebSocketOnly, nil)
	stalled(t, e.url)
	testkit.Eventually(t, "two connections", func() bool { return testkit.Connections(t, e.srv) == 2 })
	before := e.scrape()

	big := strings.Repeat("x", 16<<10)
	sent, dropped := 0, 0
	testkit.Eventually(t, "the stalled client to be disconnected", func() bool {
		switch err := e.srv.EmitTo(context.Background(), entreactive.ToAll(), "big", big); {
		case err == nil:
			sent++
		case errors.Is(err, server.ErrQueueFull):
			// Rare: the queue holds one broadcast. The healthy client must
			// keep up within the 256 KiB limit, so no bursts.
			dropped++
		default:
			t.Fatal(err)
		}
		return testkit.Connections(t, e.srv) == 1
	})
	if err := healthy.WaitCount(testkit.Context(t), "big", sent); err != nil {
		t.Fatalf("healthy client: %v; stats %+v", err, e.srv.Stats())
	}
	after := e.scrape()
	if got := after.Value("entreactive_slow_consumer_disconnects_total") - before.Value("entreactive_slow_consumer_disconnects_total"); got != 1 {
		t.Errorf("slow consumer disconnects moved by %v, want 1", got)
	}
	if got := after.Value("entreactive_drops_total") - before.Value("entreactive_drops_total"); got != float64(dropped) {
		t.Errorf("drops moved by %v, want %d", got, dropped)
	}
	if got := after.Value("entreactive_connections", "transport=websocket"); got != 1 {
		t.Errorf("websocket connections %v, want 1", got)
	}
	t.Logf("%d broadcasts of 16 KiB sent, %d dropped, before the stalled client was closed", sent, dropped)
}

// The Observer calls allocate nothing, so that Metrics adds no allocation
// to the delivery path.
func TestObserverCallsAllocateNothing(t *testing.T) {
	m := metrics.New()
	m.EventEmitted("Message", entreactive.ActionCreate) // first call: the counter is made
	if n := testing.AllocsPerRun(1000, func() {
		m.EventEmitted("Message", entreactive.ActionCreate)
		m.EventDelivered(3 * time.Millisecond)
	}); n != 0 {
		t.Fatalf("%v allocations per call", n)
	}
}

func TestCollectorDescribesWhatItCollects(t *testing.T) {
	e := start(t, server.Config{})
	s := e.scrape()
	for _, name := range []string{
		"entreactive_connections", "entreactive_users", "entreactive_rooms", "entreactive_delivery_queue_depth",
		"entreactive_deliveries_total", "entreactive_drops_total", "entreactive_auth_failures_total",
		"entreactive_joins_refused_total", "entreactive_slow_consumer_disconnects_total",
		"entreactive_write_timeout_disconnects_total", "entreactive_delivery_latency_seconds",
		"entreactive_connections_total", "entreactive_disconnections_total", "entreactive_sessions_total",
		"entreactive_unknown_events_total", "entreactive_encode_errors_total", "entreactive_recovery_disconnects_total",
		"entreactive_broadcasts_unpublished_total", "entreactive_bytes_written_total", "entreactive_build_info",
	} {
		if s[name] == nil {
			t.Errorf("%s missing from /metrics", name)
		}
	}
	// Two collectors of one Metrics cannot both register.
	m := metrics.New()
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector(e.srv))
	if err := reg.Register(m.Collector(e.srv)); err == nil {
		t.Error("a second Collector of the same Metrics registered")
	}
}

// BenchmarkObserverCalls measures what Metrics adds per event emitted and
// per delivery.
func BenchmarkObserverCalls(b *testing.B) {
	m := metrics.New()
	b.Run("EventEmitted", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.EventEmitted("Message", entreactive.ActionCreate)
		}
	})
	b.Run("EventDelivered", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			m.EventDelivered(3 * time.Millisecond)
		}
	})
	b.Run("EventDelivered-parallel", func(b *testing.B) {
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				m.EventDelivered(3 * time.Millisecond)
			}
		})
	})
}

// stuckObserver is Metrics whose EventDelivered waits until release is
// closed: it stalls the delivery shard that calls it, so that the delivery
// queue fills and broadcasts are dropped.
type stuckObserver struct {
	*metrics.Metrics
	stuck   chan struct{} // closed at the first delivery
	once    sync.Once
	release chan struct{}
}

func (o *stuckObserver) EventDelivered(d time.Duration) {
	o.once.Do(func() { close(o.stuck) })
	<-o.release
	o.Metrics.EventDelivered(d)
}

func TestMetricsCountDrops(t *testing.T) {
	m := metrics.New()
	o := &stuckObserver{Metrics: m, stuck: make(chan struct{}), release: make(chan struct{})}
	e := serve(t, server.Config{Observer: o, QueueSize: 1}, m)
	srv := e.srv
	release := sync.OnceFunc(func() { close(o.release) })
	t.Cleanup(release) // before the server's Close: a held shard would hold Close

	// A polling socket: its deliveries are observed on the shard's
	// goroutine, which the observer then holds.
	testkit.PollingGuest(t, e.url)
	testkit.Eventually(t, "the guest connected", func() bool { return testkit.Connections(t, srv) == 1 })
	before := e.scrape()
	ev := func(id int) entreactive.Event {
		return entreactive.Event{Action: entreactive.ActionCreate, Model: "Notification", ID: id, Timestamp: time.Now()}
	}
	if err := srv.Emit(context.Background(), entreactive.ToAll(), ev(0)); err != nil {
		t.Fatal(err)
	}
	<-o.stuck
	// The shard is held. Its own queue (256 jobs), the job the dispatcher
	// then holds and the delivery queue (1) fill up; meanwhile, and once
	// they are full, new broadcasts are dropped.
	const capacity = 1 + 256 + 1 + 1
	queued, dropped := 1, 0
	emit := func(id int) error {
		err := srv.Emit(context.Background(), entreactive.ToAll(), ev(id))
		switch {
		case err == nil:
			queued++
		case errors.Is(err, server.ErrQueueFull):
			dropped++
		default:
			t.Fatal(err)
		}
		return err
	}
	deadline := time.Now().Add(testkit.Wait)
	for id := 1; queued < capacity; id++ {
		if time.Now().After(deadline) {
			t.Fatalf("%d queued, %d dropped: the queues never filled", queued, dropped)
		}
		_ = emit(id)
	}
	for id := range 10 {
		if err := emit(1000 + id); err == nil {
			t.Fatalf("broadcast queued past the capacity of %d", capacity)
		}
	}
	mid := e.scrape()
	release()
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"entreactive_drops_total", nil, float64(dropped)},
		{"entreactive_events_emitted_total", []string{"model=Notification", "action=create"}, float64(queued)},
		{"entreactive_broadcasts_queued_total", nil, float64(queued)},
		{"entreactive_delivery_queue_depth", nil, 1},
	} {
		if got := mid.Value(c.name, c.labels...) - before.Value(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	testkit.Eventually(t, "the queue to drain", func() bool {
		s := e.scrape()
		return s.Value("entreactive_delivery_queue_depth") == 0 &&
			s.Value("entreactive_delivery_latency_seconds") == float64(queued)
	})
}
