// Package app is the entreactive example app: a live chat and notification
// demo on the reference schemas. It serves the JSON API of example/README.md, the
// Socket.IO endpoint at /socket.io/ and a web page at /.
//
// The app runs in-process so tests can start it on any listener:
//
//	a, err := app.New(ctx, app.Config{DB: app.MemoryDB, JWTSecret: secret})
//	if err != nil { ... }
//	defer a.Close(context.Background())
//	http.ListenAndServe("127.0.0.1:8080", a.Handler())
package app

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/go-redis/v9"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/outbox"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/admin"
	"github.com/entreactive/reactive/server/metrics"
	"github.com/entreactive/reactive/server/redisbroker"
)

// Defaults of Config.
const (
	DefaultTokenTTL     = time.Hour
	DefaultMaxBodyBytes = 64 << 10
)

// Config configures an App. DB and JWTSecret are required; zero fields
// take the defaults documented on each field.
type Config struct {
	// DB is the database: a SQLite file, created if missing, MemoryDB, a
	// postgres:// URL or a mysql:// (or mariadb://) DSN; see ParseDB.
	DB string
	// JWTSecret is the HS256 key that signs the tokens of POST /api/login
	// and that the Socket.IO server verifies them with.
	JWTSecret []byte
	// ClientDir, when set, is the directory of the socket.io-client browser
	// bundle (node_modules/socket.io-client/dist), served under /socket.io/.
	ClientDir string
	// Logger receives the app's and the Socket.IO server's logs. Default
	// slog.Default().
	Logger *slog.Logger
	// TokenTTL is how long a login token is valid. Default 1h.
	TokenTTL time.Duration
	// MaxBodyBytes bounds request bodies; a larger one is answered 413.
	// Default 64 KiB.
	MaxBodyBytes int64
	// Admin, when set, serves the Socket.IO Admin UI: its protocol in the
	// Socket.IO namespace "/admin" and its files at /admin/. Off by default.
	Admin *AdminConfig
	// Metrics, when true, serves Prometheus metrics at GET /metrics: the
	// Socket.IO server's (package server/metrics), the Go runtime's and
	// the process's.
	Metrics bool
	// Durable, when true, makes the events durable (package
	// entreactive/outbox): each is stored by the transaction of its change
	// and published after the commit, so that a process killed in between
	// loses none, and one row's events reach every client in commit order
	// across nodes.
	Durable bool
	// Capture, with Durable, has the database record the creates of
	// notifications and messages itself (outbox.Outbox.Capture): a trigger
	// writes the record in the INSERT, so a create runs in no transaction
	// of its own; its event is built after the commit.
	Capture bool
	// AfterCommit, with Durable, is called after each commit whose events
	// were stored, before they are published (outbox.Config.AfterCommit):
	// the tests kill the process there.
	AfterCommit func()
	// RedisURL, when set ("redis://127.0.0.1:6379/0"), makes the app one
	// node of a cluster on that Redis (package server/redisbroker): the
	// events of every node reach the sockets of every node, and clients
	// recover on any node. Empty: a single process.
	RedisURL string
	// Redis configures the broker on RedisURL (stream, channel and
	// session key names, timeouts); zero fields take the defaults of
	// Node's @socket.io/redis-streams-adapter, so Node nodes can join.
	Redis redisbroker.Config
	// EmitBacklog is the Socket.IO server's EmitBacklog: requests that
	// commit while more than this many broadcasts wait for the fan-out
	// wait for it. Zero: DefaultEmitBacklog; negative: never wait.
	EmitBacklog int
	// DrainPeriod is how long Shutdown keeps serving after the app went
	// unready (GET /readyz answers 503, new sockets are refused), so that
	// a load balancer stops sending new clients first. Default 0.
	DrainPeriod time.Duration
}

// DefaultEmitBacklog is the app's Config.EmitBacklog when it is zero. A few
// broadcasts queued let each connection's writer send several frames in one
// write: less CPU per delivery at thousands of sockets than 1, at about the
// same p99 (BENCHMARKS.md).
const DefaultEmitBacklog = 4

// App is the example app. Create it with New and Close it when done.
type App struct {
	cfg    Config
	log    *slog.Logger
	client *ent.Client
	srv    *server.Server
	admin  *admin.Admin // nil unless Config.Admin
	// redis is the cluster's Redis client; nil unless Config.RedisURL.
	redis *redis.Client
	mux   *http.ServeMux
	// metrics serves /metrics, of registry; both nil unless
	// Config.Metrics.
	metrics  http.Handler
	registry *prometheus.Registry
	// adminIndex is the Admin UI's index.html as served (see startAdmin).
	adminIndex []byte

	mu       sync.Mutex
	closed   bool
	inflight int
	idle     chan struct{} // closed when closed and inflight is 0

	outbox *outbox.Outbox // with Config.Durable

	closeOnce sync.Once
	closeErr  error
}

// New opens the database, creates the Socket.IO server and returns the app,
// ready to serve Handler.
func New(ctx context.Context, cfg Config) (*App, error) {
	if cfg.DB == "" {
		return nil, errors.New("app: Config.DB is required (a file path, app.MemoryDB or a database URL)")
	}
	db, err := ParseDB(cfg.DB)
	if err != nil {
		return nil, fmt.Errorf("app: Config.DB: %w", err)
	}
	if len(cfg.JWTSecret) == 0 {
		return nil, errors.New("app: Config.JWTSecret is required")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.TokenTTL <= 0 {
		cfg.TokenTTL = DefaultTokenTTL
	}
	if cfg.MaxBodyBytes <= 0 {
		cfg.MaxBodyBytes = DefaultMaxBodyBytes
	}
	a := &App{
		cfg:  cfg,
		log:  cfg.Logger,
		idle: make(chan struct{}),
	}
	srvCfg := server.Config{
		JWT:       jwtConfig(cfg.JWTSecret),
		Authorize: a.authorizeJoin,
		Logger:    cfg.Logger.With("component", "socket.io"),
		ClientDir: cfg.ClientDir,
		// A client that drops for a moment gets what it missed.
		Recovery: &server.Recovery{},
		// Requests that commit faster than the server fans their events
		// out wait for it, rather than their events queueing up.
		EmitBacklog: max(cmp.Or(cfg.EmitBacklog, DefaultEmitBacklog), 0),
		DrainPeriod: cfg.DrainPeriod,
	}
	if cfg.RedisURL != "" {
		b, rdb, err := redisBroker(ctx, cfg.RedisURL, cfg.Redis, cfg.Logger)
		if err != nil {
			return nil, err
		}
		srvCfg.Broker, a.redis = b, rdb
	}
	var m *metrics.Metrics
	if cfg.Metrics {
		m = metrics.New()
		srvCfg.Observer = m
	}
	srv, err := server.New(srvCfg)
	if err != nil {
		a.closeRedis()
		return nil, fmt.Errorf("app: %w", err)
	}
	if m != nil {
		reg := prometheus.NewRegistry()
		reg.MustRegister(
			m.Collector(srv),
			collectors.NewGoCollector(),
			collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		)
		a.registry = reg
		a.metrics = promhttp.HandlerFor(reg, promhttp.HandlerOpts{
			ErrorLog: slog.NewLogLogger(cfg.Logger.Handler(), slog.LevelError),
		})
	}
	client, err := a.openClient(ctx, db, srv)
	if err != nil {
		closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Close(closeCtx)
		a.closeRedis()
		return nil, fmt.Errorf("app: %w", err)
	}
	a.srv, a.client = srv, client
	if cfg.Admin != nil {
		if err := a.startAdmin(cfg.Admin); err != nil {
			closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Close(closeCtx)
			_ = client.Close()
			a.closeRedis()
			return nil, err
		}
	}
	a.mux = a.routes()
	return a, nil
}

// routes returns the app's mux.
func (a *App) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/socket.io/", a.srv)
	mux.Handle("GET /healthz", a.srv.LivenessHandler())
	mux.Handle("GET /readyz", a.srv.ReadinessHandler())
	if a.metrics != nil {
		mux.Handle("GET /metrics", a.metrics)
	}
	mux.Handle("GET /{$}", a.handle(a.page))
	mux.Handle("GET /static/", a.handle(a.static))

	mux.Handle("POST /api/login", a.handle(a.login))
	mux.Handle("GET /api/notifications", a.handle(a.listNotifications))
	mux.Handle("POST /api/notifications", a.handle(a.createNotification))
	mux.Handle("GET /api/conversations", a.handle(a.authed(a.listConversations)))
	mux.Handle("POST /api/conversations", a.handle(a.authed(a.createConversation)))
	mux.Handle("GET /api/messages", a.handle(a.authed(a.listMessages)))
	mux.Handle("POST /api/messages", a.handle(a.authed(a.createMessage)))
	mux.Handle("POST /api/messages/batch", a.handle(a.authed(a.createMessages)))
	mux.Handle("PATCH /api/messages/{id}", a.handle(a.authed(a.updateMessage)))
	mux.Handle("DELETE /api/messages/{id}", a.handle(a.authed(a.deleteMessage)))
	mux.Handle("/api/", a.handle(a.apiNotFound(mux)))
	if a.admin != nil && a.cfg.Admin.UIDir != "" {
		mux.Handle("GET /admin/", a.adminUI(a.cfg.Admin))
		mux.Handle("GET /admin", http.RedirectHandler("/admin/", http.StatusMovedPermanently))
	}
	return mux
}

// Handler returns the app's HTTP handler: the page, the API and the
// Socket.IO endpoint.
func (a *App) Handler() http.Handler { return a.mux }

// Server returns the app's Socket.IO server.
func (a *App) Server() *server.Server { return a.srv }

// Shutdown takes the app out of service for a deploy: it goes unready
// (GET /readyz answers 503) and refuses new sockets at once, keeps serving
// the API and the connected sockets for Config.DrainPeriod, then closes as
// Close does — the sockets still connected see their transport close and
// reconnect, through the load balancer, to a node that is ready.
func (a *App) Shutdown(ctx context.Context) error {
	a.srv.Drain(ctx)
	return a.Close(ctx)
}

// Close ends the app: new API requests are answered 503, socket
// connections are closed, in-flight requests are waited for, then the
// database is closed. It returns early with ctx's error when ctx is done
// first. It is safe to call more than once; later calls return the first
// call's result.
//
// Close the App before shutting down the http.Server that serves it:
// long-polling Socket.IO requests would otherwise hold the shutdown for up
// to a ping interval.
func (a *App) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		if a.inflight == 0 {
			close(a.idle)
		}
		a.mu.Unlock()
		var errs []error
		// The requests in flight first: their events go out before the
		// server closes.
		select {
		case <-a.idle:
		case <-ctx.Done():
			errs = append(errs, fmt.Errorf("app: waiting for requests: %w", ctx.Err()))
		}
		if a.admin != nil {
			if err := a.admin.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		// The relay before the server it publishes to: what it leaves is
		// published by the next process on the database.
		if a.outbox != nil {
			if err := a.outbox.Close(ctx); err != nil {
				errs = append(errs, err)
			}
		}
		if err := a.srv.Close(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := a.client.Close(); err != nil {
			errs = append(errs, fmt.Errorf("app: close database: %w", err))
		}
		if err := a.closeRedis(); err != nil {
			errs = append(errs, err)
		}
		a.closeErr = errors.Join(errs...)
	})
	return a.closeErr
}

// openClient opens the database and returns the ent client whose events
// srv serves: directly, or through an outbox with Config.Durable.
func (a *App) openClient(ctx context.Context, db Database, srv *server.Server) (*ent.Client, error) {
	drv, err := openDB(ctx, db)
	if err != nil {
		return nil, err
	}
	var emitter entreactive.Emitter = srv
	if a.cfg.Durable {
		ob, err := outbox.New(ctx, drv, srv, outbox.Config{Logger: a.log.With("component", "outbox"), AfterCommit: a.cfg.AfterCommit})
		if err != nil {
			drv.Close()
			return nil, err
		}
		a.outbox, emitter = ob, ob
	}
	client, err := newClient(ctx, db, drv, ent.Emitter(emitter))
	if err == nil && a.outbox != nil && a.cfg.Capture {
		// After the migration, which may rebuild a table and its trigger.
		err = a.outbox.Capture(ctx, client.ReactiveCapture())
	}
	if err != nil {
		if a.outbox != nil {
			_ = a.outbox.Close(ctx)
		}
		drv.Close()
		return nil, err
	}
	return client, nil
}

// enter counts a request in; it reports false once the app is closing.
func (a *App) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.inflight++
	return true
}

// exit counts a request out.
func (a *App) exit() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.inflight--
	if a.closed && a.inflight == 0 {
		close(a.idle)
	}
}

// handle adapts h to an http.Handler: it counts the request for Close,
// answers h's error as JSON, turns a panic into a logged 500 and logs the
// request.
func (a *App) handle(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !a.enter() {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "the server is shutting down"})
			return
		}
		defer a.exit()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				a.log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path, "panic", v)
				if !rec.wrote {
					writeJSON(rec, http.StatusInternalServerError, map[string]string{"error": "internal error"})
				}
			}
			a.log.InfoContext(r.Context(), "http", "method", r.Method, "path", r.URL.Path,
				"status", rec.status, "duration", time.Since(start).Round(time.Microsecond))
		}()
		if err := h(rec, r); err != nil {
			writeError(rec, r, a.log, err)
		}
	})
}

// apiNotFound answers requests under /api/ that no route matches: 405 with
// an Allow header when the path exists for other methods, 404 otherwise.
func (a *App) apiNotFound(mux *http.ServeMux) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		var allow []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			probe := r.Clone(r.Context())
			probe.Method = m
			if _, pattern := mux.Handler(probe); pattern != "" && pattern != "/api/" {
				allow = append(allow, m)
			}
		}
		if len(allow) > 0 {
			w.Header().Set("Allow", strings.Join(allow, ", "))
			return errorf(http.StatusMethodNotAllowed, "method %s is not allowed on %s (allowed: %s)", r.Method, r.URL.Path, strings.Join(allow, ", "))
		}
		return errorf(http.StatusNotFound, "no such endpoint: %s %s", r.Method, r.URL.Path)
	}
}

// statusRecorder remembers the status a handler wrote, for the log.
type statusRecorder struct {
	http.ResponseWriter
	status int
	wrote  bool
}

func (s *statusRecorder) WriteHeader(code int) {
	if !s.wrote {
		s.status, s.wrote = code, true
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(p []byte) (int, error) {
	s.wrote = true
	return s.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }
