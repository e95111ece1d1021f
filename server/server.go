// Package server is the Socket.IO component of entreactive: it authenticates
// sockets with JWTs, keeps them in rooms, and pushes committed ent changes
// to them as "reactive" events. *Server implements entreactive.Emitter and
// is an http.Handler for the Socket.IO path, to mount on any mux:
//
//	srv, err := server.New(server.Config{JWT: server.JWT{Secret: secret}})
//	if err != nil { ... }
//	defer srv.Close(context.Background())
//	mux.Handle("/socket.io/", srv)
//	client := ent.NewClient(ent.Driver(drv), ent.Emitter(srv))
//
// The wire protocol is the protocol table of the repository's docs/protocol.md.
package server

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// Config configures a Server. Zero fields take the defaults documented on
// each field; only JWT.Secret (or JWT.KeyFunc) is required.
type Config struct {
	// Path is where the server answers, with a trailing slash. Mount the
	// Server on the same path without stripping the prefix. Default
	// "/socket.io/".
	Path string
	// JWT configures token verification for "auth" and handshake auth.token.
	JWT JWT
	// Authorize decides client "join" requests for rooms that are not
	// reserved. Nil denies every join.
	Authorize JoinAuthorizer
	// Logger receives the server's logs. Default slog.Default().
	Logger *slog.Logger
	// CORS, when set, answers cross-origin requests from the listed
	// origins and checks the Origin of websocket upgrades against them.
	// When nil, no CORS headers are sent and websocket upgrades must be
	// same-origin (or carry no Origin, as non-browser clients do).
	CORS *CORS
	// PingInterval is how often the server pings a client. Default 25s.
	PingInterval time.Duration
	// PingTimeout is how long the server waits for the pong before closing
	// the connection. Default 20s.
	PingTimeout time.Duration
	// ConnectTimeout is how long a client has, after the transport opens,
	// to connect to the namespace. Default 45s.
	ConnectTimeout time.Duration
	// MaxPayload is the largest message, in bytes, a client may send; a
	// larger one closes its connection. Default 1,000,000.
	MaxPayload int64
	// QueueSize is the capacity of the delivery queue between Emit (the
	// database commit path) and the sockets. When it is full, the new event
	// is dropped, logged and counted, and Emit returns ErrQueueFull: a
	// commit never waits for sockets. Default 8192.
	QueueSize int
	// EmitBacklog, when positive, makes Emit and the EmitTo* calls wait
	// while more than this many broadcasts are queued ahead of the
	// fan-out (at most MaxEmitWait, or until the caller's ctx is done):
	// a caller that emits faster than the server fans out — requests that
	// commit in a burst — is slowed to the fan-out's pace instead of
	// events queueing up and their latency growing. The wait is for the
	// server's own work: a slow client never holds it (its writer is
	// bounded and asynchronous). Default 0: Emit never waits.
	EmitBacklog int
	// MaxPendingBytes bounds, per connection, the bytes waiting to be
	// written to a client (on websocket; on polling, the bytes kept for
	// its next GET). A client that reads so slowly that an
	// event would take it past the limit is disconnected with reason
	// ReasonSlowConsumer, logged and counted in Stats.SlowConsumers; other
	// clients never wait for it. Default 1 MiB.
	MaxPendingBytes int
	// WriteTimeout bounds each write to a websocket client; a client that
	// takes longer is disconnected with reason ReasonWriteTimeout and
	// counted in Stats.WriteTimeouts. Default 10s.
	WriteTimeout time.Duration
	// ClientDir, when set, is a directory holding the browser client bundle
	// (e.g. node_modules/socket.io-client/dist); its socket.io*.js files are
	// served under Path, e.g. /socket.io/socket.io.min.js.
	ClientDir string
	// ClientFS, when set, holds the browser client bundle at its root, like
	// ClientDir but from any file system, e.g. one embedded in the binary:
	//
	//	//go:embed dist
	//	var dist embed.FS
	//	bundle, _ := fs.Sub(dist, "dist")
	//	server.Config{ClientFS: bundle, ...}
	//
	// New fails when its root holds no socket.io*.js file (an embed without
	// fs.Sub, say). Set ClientDir or ClientFS, not both.
	ClientFS fs.FS
	// Observer, when set, is told about events as they happen, for
	// metrics (see Observer). Nil costs nothing.
	Observer Observer
	// Recovery, when set, turns on connection state recovery: a client
	// that drops for a moment gets back its socket and what it missed
	// (see Recovery). Nil: off.
	Recovery *Recovery
	// Broker, when set, makes the server one node of a cluster (see
	// Broker): emits and the utility API reach the sockets of every node.
	// New starts it and Close closes it. Nil: a single node.
	Broker Broker
	// PublishWindow is how long a server without a Broker remembers the
	// EventID of an event it published (see Server.Publish), so as to drop
	// the repeats: the durable path may publish an event again within
	// minutes of the first time. With a Broker the broker remembers them,
	// for the whole cluster (see Broadcast.Once; package redisbroker:
	// Config.OnceWindow), and this field is not used. Default 10 minutes.
	PublishWindow time.Duration
	// PublishMemory bounds how many EventIDs a server without a Broker
	// remembers: past it, the oldest are forgotten before their window
	// ends (an event published again after that is delivered again).
	// Default 100,000 (a few MiB).
	PublishMemory int
	// DrainPeriod is how long Drain (and so Shutdown) keeps serving the
	// connected clients after the server went unready, before Shutdown
	// closes their connections: long enough for a load balancer to see
	// the failing readiness probe and stop sending new clients (for
	// Kubernetes, the probe's periodSeconds × failureThreshold, plus a
	// margin). Default 0: Shutdown closes at once.
	DrainPeriod time.Duration
}

// CORS lists the origins allowed to connect from a browser.
type CORS struct {
	// AllowedOrigins are origins such as "https://app.example.com"; a single
	// "*" allows any origin.
	AllowedOrigins []string
	// AllowCredentials lets browsers send cookies and HTTP auth.
	AllowCredentials bool
}

// Defaults of Config.
const (
	DefaultPath           = "/socket.io/"
	DefaultPingInterval   = 25 * time.Second
	DefaultPingTimeout    = 20 * time.Second
	DefaultConnectTimeout = 45 * time.Second
	DefaultMaxPayload     = 1_000_000
	DefaultQueueSize      = 8192
	DefaultMaxPending     = 1 << 20
	DefaultWriteTimeout   = 10 * time.Second
	DefaultPublishWindow  = 10 * time.Minute
	DefaultPublishMemory  = 100_000
)

// Server is the Socket.IO server. Create it with New; it is safe for
// concurrent use. Close it to end every connection and goroutine.
type Server struct {
	cfg      Config
	log      *slog.Logger
	verifier *verifier
	io       *socket.Server
	engine   http.Handler
	reg      *registry
	del      *delivery
	// cluster is the server's side of Config.Broker, nil without one.
	cluster *cluster
	// once remembers the EventIDs Publish published, without a broker.
	once *onceSet
	// flushers counts the websocket writers' goroutines: Close waits
	// for them.
	flushers inflight
	// hist and sessions serve Config.Recovery; nil without it.
	hist     *history
	sessions *sessionStore
	// keeper keeps live sockets' sessions in the broker; nil unless both
	// Recovery and Broker are set.
	keeper *sessionKeeper
	// engineConns holds, per namespace, the Engine.IO connections
	// (nspClient) that have a socket there, admitted or being admitted.
	engineConns sync.Map
	stats       counters

	// namespaces are the namespaces other than "/" (see Namespace).
	nspMu      sync.Mutex
	namespaces map[string]*Namespace

	// watchers are the functions registered with Watch (copy on write).
	watchMu   sync.Mutex
	watchers  atomic.Pointer[[]*watcher]
	watchOnce sync.Once

	// ctx is the parent of every connection's context; cancelled by Close.
	ctx    context.Context
	cancel context.CancelFunc

	hooksMu      sync.RWMutex
	handlers     map[string]EventHandler
	serverEvents map[string]ServerEventHandler
	middlewares  []Middleware
	onConnect    []func(ctx context.Context, c *Conn)
	onDisconnect []func(ctx context.Context, c *Conn, reason string)

	// closeMu guards closed and active. active counts the server's own
	// units of work in flight (the delivery goroutine, handlers, timer
	// callbacks); idle is closed when the server is closed and active is 0.
	closeMu   sync.Mutex
	closed    bool
	active    int
	idle      chan struct{}
	closeOnce sync.Once
	done      chan struct{}

	// draining is set by Shutdown: the server is unready and refuses new
	// clients; drainEnd is when Shutdown closes it (set once, by
	// drainOnce).
	draining  atomic.Bool
	drainOnce sync.Once
	drainEnd  time.Time
}

// New returns a Server ready to be mounted. It fails on a configuration
// that cannot work (no JWT key, an unknown algorithm, a bad path).
func New(cfg Config) (*Server, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	v, err := newVerifier(cfg.JWT)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:          cfg,
		log:          cfg.Logger,
		verifier:     v,
		reg:          newRegistry(runtime.GOMAXPROCS(0)),
		ctx:          ctx,
		cancel:       cancel,
		handlers:     make(map[string]EventHandler),
		serverEvents: make(map[string]ServerEventHandler),
		namespaces:   make(map[string]*Namespace),
		done:         make(chan struct{}),
		idle:         make(chan struct{}),
		once:         newOnceSet(cfg.PublishWindow, cfg.PublishMemory),
	}
	s.del = newDelivery(s.reg, cfg.QueueSize, s.log, &s.stats)
	if cfg.Recovery != nil {
		s.hist = newHistory(cfg.Recovery.HistorySize, cfg.Recovery.HistoryBytes)
		s.sessions = newSessionStore(cfg.Recovery.MaxDisconnection)
	}
	engineTransports := newEngineTransports(cfg, &s.stats, &s.flushers)

	opts := socket.DefaultServerOptions()
	opts.SetPath(strings.TrimSuffix(cfg.Path, "/"))
	opts.SetServeClient(false)
	opts.SetPingInterval(cfg.PingInterval)
	opts.SetPingTimeout(cfg.PingTimeout)
	opts.SetConnectTimeout(cfg.ConnectTimeout)
	opts.SetMaxHttpBufferSize(cfg.MaxPayload)
	opts.SetTransports(engineTransports.set)
	if cfg.CORS != nil {
		opts.SetCors(cfg.CORS.toLibrary())
	}
	if cfg.Recovery != nil {
		rec := socket.DefaultConnectionStateRecovery()
		rec.SetMaxDisconnectionDuration(cfg.Recovery.MaxDisconnection.Milliseconds())
		rec.SetSkipMiddlewares(false)
		opts.SetConnectionStateRecovery(rec)
		opts.SetAdapter(recoveryAdapters{s})
	}
	s.io = socket.NewServer(nil, opts)
	s.io.Use(s.admit)
	if err := s.io.On("connection", s.onConnection); err != nil {
		cancel()
		return nil, fmt.Errorf("server: register connection handler: %w", err)
	}
	s.engine = s.io.ServeHandler(nil)
	engineTransports.upgrades.watch(s.io.Engine())

	cl, err := startCluster(ctx, s)
	if err != nil {
		cancel()
		s.io.Close(nil)
		return nil, err
	}
	s.cluster = cl
	if cl != nil && s.hist != nil {
		s.keeper = newSessionKeeper(s, cfg.Recovery.MaxDisconnection)
		s.reg.onChange = s.keeper.mark
		s.enter()
		go func() {
			defer s.exit()
			s.keeper.run(s.done)
		}()
	}

	s.enter()
	go func() {
		defer s.exit()
		s.del.run(s.done)
	}()
	if cl != nil {
		s.enter()
		go func() {
			defer s.exit()
			cl.run(s.done)
		}()
	}
	return s, nil
}

func (c *Config) setDefaults() error {
	if c.Path == "" {
		c.Path = DefaultPath
	}
	if !strings.HasPrefix(c.Path, "/") {
		return fmt.Errorf("server: Path %q must start with /", c.Path)
	}
	if !strings.HasSuffix(c.Path, "/") {
		c.Path += "/"
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.PingInterval <= 0 {
		c.PingInterval = DefaultPingInterval
	}
	if c.PingTimeout <= 0 {
		c.PingTimeout = DefaultPingTimeout
	}
	if c.ConnectTimeout <= 0 {
		c.ConnectTimeout = DefaultConnectTimeout
	}
	if c.MaxPayload <= 0 {
		c.MaxPayload = DefaultMaxPayload
	}
	if c.QueueSize <= 0 {
		c.QueueSize = DefaultQueueSize
	}
	if c.MaxPendingBytes <= 0 {
		c.MaxPendingBytes = DefaultMaxPending
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultWriteTimeout
	}
	if c.PublishWindow <= 0 {
		c.PublishWindow = DefaultPublishWindow
	}
	if c.PublishMemory <= 0 {
		c.PublishMemory = DefaultPublishMemory
	}
	if c.DrainPeriod < 0 {
		return fmt.Errorf("server: DrainPeriod %v is negative", c.DrainPeriod)
	}
	if c.Recovery != nil {
		r := *c.Recovery
		r.setDefaults()
		c.Recovery = &r
	}
	if c.ClientDir != "" {
		if c.ClientFS != nil {
			return errors.New("server: set ClientDir or ClientFS, not both")
		}
		fi, err := os.Stat(c.ClientDir)
		if err != nil {
			return fmt.Errorf("server: ClientDir: %w", err)
		}
		if !fi.IsDir() {
			return fmt.Errorf("server: ClientDir %q is not a directory", c.ClientDir)
		}
		c.ClientFS = os.DirFS(c.ClientDir)
	} else if c.ClientFS != nil {
		if err := checkClientFS(c.ClientFS); err != nil {
			return err
		}
	}
	if c.CORS != nil && len(c.CORS.AllowedOrigins) == 0 {
		return errors.New("server: CORS.AllowedOrigins is empty")
	}
	return nil
}

func (c *CORS) toLibrary() *types.Cors {
	var origin any = append([]string(nil), c.AllowedOrigins...)
	if len(c.AllowedOrigins) == 1 && c.AllowedOrigins[0] == "*" {
		origin = "*"
	}
	return &types.Cors{
		Origin:      origin,
		Methods:     []string{http.MethodGet, http.MethodPost, http.MethodOptions},
		Credentials: c.AllowCredentials,
	}
}

// clientFile matches the names of the browser bundle's files.
var clientFile = regexp.MustCompile(`^socket\.io(\.msgpack|\.esm)?(\.min)?\.js(\.map)?$`)

// checkClientFS reports an error unless fsys holds a file of the bundle at
// its root.
func checkClientFS(fsys fs.FS) error {
	entries, err := fs.ReadDir(fsys, ".")
	if err != nil {
		return fmt.Errorf("server: ClientFS: %w", err)
	}
	for _, e := range entries {
		if !e.IsDir() && clientFile.MatchString(e.Name()) {
			return nil
		}
	}
	return errors.New("server: ClientFS holds no socket.io*.js file at its root (embedded a directory without fs.Sub?)")
}

// ServeHTTP answers Socket.IO requests under Config.Path (and the client
// bundle when Config.ClientDir or ClientFS is set). After Close it answers
// 503, and so it does to new clients once Shutdown has begun.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, s.cfg.Path) {
		http.NotFound(w, r)
		return
	}
	if s.isClosed() {
		http.Error(w, "server closed", http.StatusServiceUnavailable)
		return
	}
	if rest := strings.TrimPrefix(r.URL.Path, s.cfg.Path); rest != "" {
		if s.cfg.ClientFS != nil && clientFile.MatchString(rest) &&
			(r.Method == http.MethodGet || r.Method == http.MethodHead) {
			http.ServeFileFS(w, r, s.cfg.ClientFS, path.Clean(rest))
			return
		}
		http.NotFound(w, r)
		return
	}
	if s.draining.Load() && !r.URL.Query().Has("sid") {
		// A new client: Shutdown has begun, it belongs on another node.
		http.Error(w, "server draining", http.StatusServiceUnavailable)
		return
	}
	if r.Header.Get("Upgrade") != "" {
		w = newReleasingWriter(w)
	} else {
		w = countingWriter{w, &s.stats.pollingBytes}
	}
	s.engine.ServeHTTP(w, r)
}

// Close ends every connection, stops the delivery goroutine and waits for
// the server's goroutines and in-flight handlers, at most until ctx is done
// (then it returns ctx.Err()). It is safe to call more than once; later
// calls wait the same way.
//
// Connections are closed as Node's io.close() closes them: the transport
// closes, with no Socket.IO DISCONNECT, so clients see "transport close"
// and reconnect by themselves — to a server started again on the same
// address, or to another node. The disconnect hooks get
// ReasonServerShutdown. To take a node out of a load balancer first, use
// Shutdown.
func (s *Server) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		if s.active == 0 {
			close(s.idle)
		}
		s.closeMu.Unlock()
		if s.cluster != nil && s.hist != nil {
			s.handOver(ctx)
		}
		close(s.done)
		s.cancel()
		for _, c := range s.reg.all() {
			c.shutdown()
		}
		for _, n := range s.namespaceList() {
			for _, sk := range n.Sockets() {
				sk.shutdown()
			}
		}
		s.io.Close(nil)
	})
	select {
	case <-s.idle:
	case <-ctx.Done():
		return fmt.Errorf("server: close: %w", ctx.Err())
	}
	// The connections are closed: their writers' last writes fail or
	// finish at once.
	if err := s.flushers.wait(ctx); err != nil {
		return fmt.Errorf("server: close: waiting for connection writers: %w", err)
	}
	return nil
}

// handOver closes every socket's connection the way a network failure
// would, so that the library hands its session to the broker for
// recovery on another node, and waits for them to be gone (at most until
// ctx is done, or 5 s).
func (s *Server) handOver(ctx context.Context) {
	for _, c := range s.reg.all() {
		c.closeToRecover()
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.reg.count() > 0 {
		select {
		case <-ctx.Done():
			s.log.Warn("server: close: sockets still open after handing over their sessions", "sockets", s.reg.count())
			return
		case <-t.C:
		}
	}
}

func (s *Server) isClosed() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	return s.closed
}

// enter registers a unit of the server's own work (a handler, a timer
// callback) so that Close waits for it. It reports false once the server
// is closed: the caller must then do nothing.
func (s *Server) enter() bool {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	if s.closed {
		return false
	}
	s.active++
	return true
}

// exit ends a unit of work started by a successful enter.
func (s *Server) exit() {
	s.closeMu.Lock()
	defer s.closeMu.Unlock()
	s.active--
	if s.closed && s.active == 0 {
		close(s.idle)
	}
}
