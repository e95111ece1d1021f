package app_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/internal/testkit/promscrape"
	"github.com/entreactive/reactive/server/admin"
)

// scrape fetches and parses /metrics.
func (e *env) scrape() (promscrape.Scrape, error) {
	return promscrape.Get(context.Background(), e.url+"/metrics")
}

// counters are the counters the test follows while traffic runs.
var followedCounters = []string{
	"entreactive_deliveries_total", "entreactive_broadcasts_queued_total", "entreactive_auth_failures_total",
	"entreactive_joins_refused_total", "entreactive_delivery_latency_seconds",
}

// TestMetricsFollowTheTraffic scrapes /metrics while real clients are
// connected and real mutations go through the HTTP API, and checks that
// every counter moved exactly as the traffic says.
func TestMetricsFollowTheTraffic(t *testing.T) {
	e := start(t, app.Config{Metrics: true})
	before, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}

	// A scraper runs through the whole test: counters never go back.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var scrapes int
	var scrapeErr error
	wg.Go(func() {
		last := before
		for {
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
			s, err := e.scrape()
			if err != nil {
				scrapeErr = err
				return
			}
			for _, name := range followedCounters {
				if s.Value(name) < last.Value(name) {
					scrapeErr = fmt.Errorf("%s went back from %v to %v", name, last.Value(name), s.Value(name))
					return
				}
			}
			last = s
			scrapes++
		}
	})
	stopScraper := func() {
		t.Helper()
		close(stop)
		wg.Wait()
		if scrapeErr != nil {
			t.Fatal(scrapeErr)
		}
		if scrapes == 0 {
			t.Fatal("no scrape while the traffic ran")
		}
		t.Logf("%d scrapes during the traffic", scrapes)
	}

	alice, bob, carol := e.connect(1), e.connect(2), e.connect(3)
	guest := e.dial() // its first request is a join, refused: 1 refused join
	conv := e.conversation(alice, bob.id)
	room := fmt.Sprintf("conversation_%d", conv)
	if !e.join(alice, room) || !e.join(bob, room) || e.join(carol, room) { // 1 more refused join
		t.Fatal("joins")
	}
	for _, bad := range []string{"garbage", alice.token + "x"} { // 2 auth failures
		if ack, err := guest.EmitAck(testkit.Context(t), "auth", bad); err != nil || testkit.AckSuccess(ack) {
			t.Fatalf("auth %q: %v %v", bad, ack, err)
		}
	}

	// 5 messages from alice to bob: Message create → user_2, 1 socket each.
	var last message
	for i := range 5 {
		last = e.send(alice, conv, bob.id, fmt.Sprintf("hello %d", i))
	}
	// An edit and a delete: → conversation_C, joined by alice and bob.
	e.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/messages/%d", last.ID), alice.token, map[string]string{"text": "edited"}, nil)
	e.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/messages/%d", last.ID), alice.token, nil, nil)
	// The barrier is a notification: Notification create → users, 3 sockets.
	e.barrier(alice, bob, carol)
	e.barrier(alice, bob, carol)

	const (
		creates       = 5
		notifications = 2
		deliveries    = creates*1 + 2*2 + notifications*3
	)
	var after promscrape.Scrape
	deadline := time.Now().Add(testkit.Wait)
	for {
		if after, err = e.scrape(); err != nil {
			t.Fatal(err)
		}
		if after.Value("entreactive_delivery_latency_seconds") >= deliveries || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	stopScraper()

	delta := func(name string, labels ...string) float64 {
		return after.Value(name, labels...) - before.Value(name, labels...)
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"entreactive_connections", []string{"transport=websocket"}, 4},
		{"entreactive_connections", []string{"transport=polling"}, 0},
		{"entreactive_users", nil, 3},
		// all, guests, users, user_1, user_2, user_3, conversation_C
		{"entreactive_rooms", nil, 7},
		{"entreactive_events_emitted_total", []string{"model=Message", "action=create"}, creates},
		{"entreactive_events_emitted_total", []string{"model=Message", "action=update"}, 1},
		{"entreactive_events_emitted_total", []string{"model=Message", "action=delete"}, 1},
		{"entreactive_events_emitted_total", []string{"model=Notification", "action=create"}, notifications},
		{"entreactive_broadcasts_queued_total", nil, creates + 2 + notifications},
		{"entreactive_deliveries_total", nil, deliveries},
		{"entreactive_delivery_latency_seconds", nil, deliveries},
		{"entreactive_drops_total", nil, 0},
		{"entreactive_events_lost_total", nil, 0},
		{"entreactive_auth_failures_total", nil, 2},
		{"entreactive_joins_refused_total", nil, 2},
		{"entreactive_slow_consumer_disconnects_total", nil, 0},
		{"entreactive_delivery_queue_depth", nil, 0},
	} {
		if got := delta(c.name, c.labels...); got != c.want {
			t.Errorf("%s%v moved by %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	h := after["entreactive_delivery_latency_seconds"].Metric[0].Histogram
	t.Logf("commit-to-write latency: %d deliveries, mean %.2f ms", h.GetSampleCount(), 1000*h.GetSampleSum()/float64(h.GetSampleCount()))
}

// With -admin and -metrics the app's /metrics shows the Admin UI's
// refused logins beside the server's metrics and which build runs.
func TestMetricsOfTheAdminUI(t *testing.T) {
	hash, err := bcrypt.GenerateFromPassword([]byte("a long password"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	e := start(t, app.Config{Metrics: true, Admin: &app.AdminConfig{
		Admin: admin.Config{Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)}},
	}})
	if _, err := sioclient.Dial(testkit.Context(t), e.url, sioclient.Options{Namespace: "/admin", Auth: map[string]any{"username": "admin", "password": "wrong"}}); err == nil {
		t.Fatal("wrong password accepted")
	}
	s, err := e.scrape()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Value("entreactive_admin_login_failures_total", "reason=password"); got != 1 {
		t.Errorf("admin_login_failures_total{reason=password} = %v, want 1", got)
	}
	if s["entreactive_build_info"] == nil || s["entreactive_disconnections_total"] == nil {
		t.Errorf("build_info or disconnections_total missing")
	}
}
