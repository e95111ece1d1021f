package redisbroker

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// TestReadyFollowsRedis: a node's readiness probe answers 503 while its
// broker cannot reach Redis, and 200 again once Redis is back; liveness
// stays 200 throughout (restarting the process would not bring Redis back).
func TestReadyFollowsRedis(t *testing.T) {
	cfg := testConfig(t)
	p := startProxy(t)
	flaky := redis.NewClient(&redis.Options{Addr: p.addr})
	defer flaky.Close()
	b, err := New(flaky, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := testkit.Serve(t, server.Config{Broker: b})
	get := func(h http.Handler) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		body, _ := io.ReadAll(rec.Body)
		return rec.Code, strings.TrimSpace(string(body))
	}
	ready, live := s.Server.ReadinessHandler(), s.Server.LivenessHandler()
	if code, body := get(ready); code != http.StatusOK {
		t.Fatalf("ready with Redis up: %d %q", code, body)
	}

	p.stop()
	testkit.Eventually(t, "unready without Redis", func() bool {
		code, body := get(ready)
		return code == http.StatusServiceUnavailable && strings.HasPrefix(body, "broker: ")
	})
	if code, body := get(live); code != http.StatusOK {
		t.Errorf("live without Redis: %d %q, want 200", code, body)
	}

	p.start()
	testkit.Eventually(t, "ready again with Redis back", func() bool {
		code, _ := get(ready)
		return code == http.StatusOK
	})
}
