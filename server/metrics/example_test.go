package metrics_test

import (
	"log"
	"net/http"
	"os"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/metrics"
)

// A server's metrics at /metrics, beside its Socket.IO endpoint.
func ExampleNew() {
	m := metrics.New()
	srv, err := server.New(server.Config{
		JWT:      server.JWT{Secret: []byte(os.Getenv("JWT_SECRET"))},
		Observer: m,
	})
	if err != nil {
		log.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector(srv), collectors.NewGoCollector())

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", srv)
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	_ = http.ListenAndServe("127.0.0.1:8080", mux)
}
