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
// Every socket is a *Conn, of "/" (the reactive protocol's namespace, with
// its users, devices and reserved rooms) or of a namespace the application
// adds with Server.Namespace; middlewares, event handlers and hooks take it
// in both. Every event, whatever its namespace, is encoded once and queued
// on each recipient's connection. Server.Operator gives tools (the Admin UI
// of package admin) the operations across namespaces.
//
// The wire protocol is the protocol table of the repository's docs/protocol.md.
package server

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"
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
	// store is the broker's SessionStore under Recovery: nil without
	// Recovery, without a Broker, or when the Broker is no SessionStore
	// (then hist and sessions serve recovery, on this node only).
	store SessionStore
	// keeper keeps live sockets' sessions in store; nil without store.
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

	// hooks are the middlewares, handlers and hooks of "/".
	hooks *handlers
	// serverEvents are the OnServerEvent handlers.
	serverEventsMu sync.RWMutex
	serverEvents   map[string]ServerEventHandler

	// work counts the server's own units of work in flight (the delivery
	// goroutine, handlers, timer callbacks): Close closes it, so that no
	// more work enters, and waits for it.
	work      inflight
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
		hooks:        newHandlers(RootNamespace, cfg.Logger),
		serverEvents: make(map[string]ServerEventHandler),
		namespaces:   make(map[string]*Namespace),
		done:         make(chan struct{}),
		once:         newOnceSet(cfg.PublishWindow, cfg.PublishMemory),
	}
	s.del = newDelivery(s.reg, cfg.QueueSize, s.log, &s.stats)
	if cfg.Recovery != nil {
		s.hist = newHistory(cfg.Recovery.HistorySize, cfg.Recovery.HistoryBytes)
		s.sessions = newSessionStore(cfg.Recovery.MaxDisconnection)
		s.store, _ = cfg.Broker.(SessionStore)
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
	if s.store != nil {
		s.keeper = newSessionKeeper(s, cfg.Recovery.MaxDisconnection)
		s.reg.onChange = s.keeper.mark
		s.work.add()
		go func() {
			defer s.work.done()
			s.keeper.run(s.done)
		}()
	}

	s.work.add()
	go func() {
		defer s.work.done()
		s.del.run(s.done)
	}()
	if cl != nil {
		s.work.add()
		go func() {
			defer s.work.done()
			cl.run(s.done)
		}()
	}
	return s, nil
}

// ServeHTTP answers Socket.IO requests under Config.Path (and the client
// bundle when Config.ClientDir or ClientFS is set). After Close it answers
// 503, and so it does to new clients once Shutdown has begun.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.URL.Path, s.cfg.Path) {
		http.NotFound(w, r)
		return
	}
	if s.work.isClosed() {
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
		s.work.close()
		if s.store != nil {
			s.handOver(ctx)
		}
		close(s.done)
		s.cancel()
		for _, c := range s.reg.all() {
			c.shutdown()
		}
		for _, n := range s.namespaceList() {
			for _, c := range n.Sockets() {
				c.shutdown()
			}
		}
		s.io.Close(nil)
	})
	if err := s.work.wait(ctx); err != nil {
		return fmt.Errorf("server: close: %w", err)
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
