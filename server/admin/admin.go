// Package admin serves the official Socket.IO Admin UI (npm
// @socket.io/admin-ui 0.5.x) from an entreactive server: it is the Go side
// of what Node's instrument(io, {...}) does. The UI connects to the
// "/admin" namespace, logs in with a username and a bcrypt-hashed
// password, and then sees the server's stats, every socket of every
// namespace with its rooms, transport and user, their changes live, and
// can disconnect sockets or make them join or leave rooms (unless
// ReadOnly).
//
//	hash, _ := bcrypt.GenerateFromPassword([]byte(password), 10)
//	a, err := admin.New(srv, admin.Config{
//		Auth: &admin.BasicAuth{Username: "admin", PasswordHash: string(hash)},
//	})
//	if err != nil { ... }
//	defer a.Close(context.Background())
//
// The UI itself is static files (the npm package's ui/dist): serve them
// under any path and give the UI your server's URL when it asks.
//
// Nothing here runs unless New is called: a server without an Admin has
// no "/admin" namespace and no watcher on its sockets.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/server"
)

// Config configures an Admin. Auth is required unless NoAuth is set.
type Config struct {
	// Namespace is the namespace the UI connects to. Default "/admin".
	Namespace string
	// Auth is the UI's login. Required unless NoAuth.
	Auth *BasicAuth
	// NoAuth lets anyone who can reach the server administer it, as
	// instrument()'s auth: false. Use only on a trusted network.
	NoAuth bool
	// ReadOnly refuses every action (disconnect, join, leave, emit): the
	// UI only watches.
	ReadOnly bool
	// ServerID names the server in the UI. Default the host name.
	ServerID string
	// StatsInterval is how often server_stats is sent. Default 2s, as
	// instrument() does.
	StatsInterval time.Duration
	// SessionTTL is how long a login session stays valid. The UI keeps
	// its session to reconnect without the password; once it expires, a
	// UI still connected is disconnected (within StatsInterval) and must
	// log in again. Default 24h.
	SessionTTL time.Duration
	// MaxLoginFailures is how many password logins from one client
	// address may fail within LoginFailureWindow; past it, logins from
	// the address are refused unchecked (with the UI's usual "invalid
	// credentials") until the window, opened by the first failure, ends.
	// A successful login starts afresh. Behind a reverse proxy every UI
	// has the proxy's address and shares one budget. Default 5.
	MaxLoginFailures int
	// LoginFailureWindow is the window of MaxLoginFailures. Default 1
	// minute.
	LoginFailureWindow time.Duration
	// Logger receives the admin's logs; actions are logged at info level.
	// Default slog.Default().
	Logger *slog.Logger
}

// BasicAuth is the UI's login, as instrument()'s {type: "basic"}.
type BasicAuth struct {
	// Username is the login name.
	Username string
	// PasswordHash is the bcrypt hash of the password (as produced by
	// bcrypt.GenerateFromPassword, or bcryptjs's hashSync in Node).
	PasswordHash string
}

// Defaults of Config.
const (
	DefaultNamespace     = "/admin"
	DefaultStatsInterval = 2 * time.Second
	DefaultSessionTTL    = 24 * time.Hour

	DefaultMaxLoginFailures   = 5
	DefaultLoginFailureWindow = time.Minute
)

// ErrConfig wraps the errors of an unusable Config.
var ErrConfig = errors.New("admin: invalid config")

// Admin serves the Admin UI's protocol on a server. Create it with New;
// Close stops it.
type Admin struct {
	cfg      Config
	srv      *server.Server
	nsp      *server.Namespace
	log      *slog.Logger
	hostname string
	started  time.Time
	features []string

	sessions *sessions
	limiter  *loginLimiter
	feed     *feed
	events   *eventBuffer
	counts   counters

	stopWatch func()
	done      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	mu     sync.Mutex
	closed bool
}

// New serves the Admin UI's protocol on srv, in the namespace
// cfg.Namespace, until Close.
func New(srv *server.Server, cfg Config) (*Admin, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	nsp, err := srv.Namespace(cfg.Namespace)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	host, _ := os.Hostname()
	if cfg.ServerID == "" {
		cfg.ServerID = host
	}
	a := &Admin{
		cfg:      cfg,
		srv:      srv,
		nsp:      nsp,
		log:      cfg.Logger,
		hostname: host,
		started:  time.Now(),
		features: features(cfg.ReadOnly),
		sessions: newSessions(cfg.SessionTTL),
		limiter:  newLoginLimiter(cfg.MaxLoginFailures, cfg.LoginFailureWindow),
		events:   newEventBuffer(),
		done:     make(chan struct{}),
	}
	a.feed = newFeed(a.emitChange)
	nsp.Use(a.authenticate)
	nsp.OnConnect(a.onConnect)
	for event, h := range map[string]server.EventHandler{
		"_disconnect": a.disconnect,
		"join":        a.join,
		"leave":       a.leave,
		"emit":        a.emit,
	} {
		if err := nsp.On(event, a.action(event, h)); err != nil {
			return nil, fmt.Errorf("admin: %w", err)
		}
	}
	a.stopWatch = srv.Operator().Watch(a.watch)
	a.wg.Go(a.run)
	return a, nil
}

func (c *Config) setDefaults() error {
	if c.Namespace == "" {
		c.Namespace = DefaultNamespace
	}
	if c.Auth == nil && !c.NoAuth {
		return fmt.Errorf("%w: Auth is required (or NoAuth, explicitly)", ErrConfig)
	}
	if c.Auth != nil {
		if c.NoAuth {
			return fmt.Errorf("%w: both Auth and NoAuth", ErrConfig)
		}
		if c.Auth.Username == "" {
			return fmt.Errorf("%w: Auth.Username is empty", ErrConfig)
		}
		if _, err := bcrypt.Cost([]byte(c.Auth.PasswordHash)); err != nil {
			return fmt.Errorf("%w: Auth.PasswordHash must be a bcrypt hash: %w", ErrConfig, err)
		}
	}
	if c.StatsInterval <= 0 {
		c.StatsInterval = DefaultStatsInterval
	}
	if c.SessionTTL <= 0 {
		c.SessionTTL = DefaultSessionTTL
	}
	if c.MaxLoginFailures <= 0 {
		c.MaxLoginFailures = DefaultMaxLoginFailures
	}
	if c.LoginFailureWindow <= 0 {
		c.LoginFailureWindow = DefaultLoginFailureWindow
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return nil
}

// features are the Admin UI features announced in "config".
func features(readOnly bool) []string {
	var f []string
	if !readOnly {
		f = append(f, "EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "MLEAVE", "MDISCONNECT")
	}
	return append(f, "AGGREGATED_EVENTS", "ALL_EVENTS")
}

// Close stops the admin: the UI's sockets are disconnected, new ones
// refused, and its goroutine stops. It waits at most until ctx is done and
// is safe to call more than once.
func (a *Admin) Close(ctx context.Context) error {
	a.closeOnce.Do(func() {
		a.mu.Lock()
		a.closed = true
		a.mu.Unlock()
		a.stopWatch()
		close(a.done)
		for _, s := range a.nsp.Sockets() {
			s.Disconnect()
		}
	})
	stopped := make(chan struct{})
	go func() {
		a.wg.Wait()
		close(stopped)
	}()
	select {
	case <-stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("admin: close: %w", ctx.Err())
	}
}

func (a *Admin) isClosed() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.closed
}

// run sends the stats every StatsInterval and the feed's changes as they
// come, until Close.
func (a *Admin) run() {
	t := time.NewTicker(a.cfg.StatsInterval)
	defer t.Stop()
	for {
		select {
		case <-a.done:
			return
		case now := <-t.C:
			a.expireSessions(now)
			a.sendStats()
		case <-a.feed.ready:
			a.feed.drain(a.resync)
		}
	}
}

// onConnect greets a logged-in UI: its session, the features, every
// socket, and the stats at once rather than at the next tick.
func (a *Admin) onConnect(ctx context.Context, s *server.Conn) {
	// A UI whose CONNECT was answered just before Close may join the
	// namespace's sockets after Close listed them: it leaves here.
	if a.isClosed() {
		s.Disconnect()
		return
	}
	if ses, ok := s.Data().(*uiSession); ok && ses.fresh {
		_ = s.Emit("session", ses.id)
	}
	_ = s.Emit("config", map[string]any{"supportedFeatures": a.features})
	_ = s.Emit("all_sockets", a.allSockets())
	_ = s.Emit("server_stats", a.stats(nil))
}

// resync sends every socket again to every UI, after the feed lost
// changes.
func (a *Admin) resync() {
	_ = a.nsp.Emit("all_sockets", a.allSockets())
}

func (a *Admin) allSockets() []serializedSocket {
	infos := a.srv.Operator().Sockets()
	out := make([]serializedSocket, 0, len(infos))
	for i := range infos {
		out = append(out, serialize(&infos[i]))
	}
	return out
}
