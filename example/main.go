// Command example is the entreactive demo: a live chat and notification app
// on the reference schemas. Run it from the repository root with
//
//	bash example/run.sh
//
// which installs the Socket.IO browser client and starts the app on
// http://127.0.0.1:8080. Flags:
//
//	-addr    listen address (default 127.0.0.1:8080, or $ADDR)
//	-db      the database (default: a SQLite file under the user cache dir):
//	         a SQLite file, or :memory:;
//	         postgres://user:pass@host:5432/NAME?sslmode=disable (PostgreSQL);
//	         mysql://user:pass@tcp(host:3306)/NAME or mariadb://… (MySQL, MariaDB)
//	-static  directory of the socket.io-client browser bundle
//	         (default example/web/node_modules/socket.io-client/dist when present)
//	-admin   serve the Socket.IO Admin UI at /admin/ (login from $ADMIN_PASSWORD_HASH,
//	         a bcrypt hash, or $ADMIN_PASSWORD; user $ADMIN_USER, default "admin")
//	-admin-readonly  the Admin UI only watches: no disconnect, join or leave
//	-admin-ui  directory of the built Admin UI
//	         (default example/web/node_modules/@socket.io/admin-ui/ui/dist when present)
//	-metrics serve Prometheus metrics at /metrics
//
// The JWT secret comes from $JWT_SECRET, at least 32 bytes (a shorter one
// is refused); without it a random development secret is used, with a
// warning.
package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/server/admin"
)

// defaultStatic is where `npm ci --prefix example/web` puts the bundle,
// relative to the repository root; defaultAdminUI the Admin UI's files;
// defaultFonts the node_modules of the UI's fonts.
const (
	defaultStatic  = "example/web/node_modules/socket.io-client/dist"
	defaultAdminUI = "example/web/node_modules/@socket.io/admin-ui/ui/dist"
	defaultFonts   = "example/web/node_modules"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stderr, nil)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case err != nil:
		fmt.Fprintln(os.Stderr, "example:", err)
		stop()
		os.Exit(1)
	}
}

// options are the parsed command line and environment.
type options struct {
	addr string
	db   string
	// database is db parsed.
	database app.Database
	static   string
	metrics  bool
	durable  bool
	capture  bool
	redis    string
	secret   []byte
	// emitBacklog is -emit-backlog: 0 never waits.
	emitBacklog int
	// drain is -drain: how long a SIGTERM'd app stays up, unready.
	drain time.Duration
	// admin is the Admin UI's configuration; nil without -admin.
	admin *app.AdminConfig
}

// emitBacklog maps -emit-backlog to app.Config.EmitBacklog, where zero
// means the default and a negative value never waits.
func emitBacklog(flagValue int) int {
	if flagValue == 0 {
		return -1
	}
	return flagValue
}

// parse reads the flags in args and the environment through getenv.
func parse(args []string, getenv func(string) string, stderr io.Writer, log *slog.Logger) (options, error) {
	var o options
	fs := flag.NewFlagSet("example", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := getenv("ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	fs.StringVar(&o.addr, "addr", addr, "listen address (env ADDR)")
	fs.StringVar(&o.db, "db", "", "the database: a SQLite file, or \":memory:\" (default: <user cache dir>/entreactive-example/example.db);\n"+
		"postgres://user:pass@host:5432/NAME?sslmode=disable (PostgreSQL);\n"+
		"mysql://user:pass@tcp(host:3306)/NAME or mariadb://user:pass@tcp(host:3306)/NAME (MySQL, MariaDB; parseTime=true is added).\n"+
		"Every node of a cluster uses the same database")
	fs.BoolVar(&o.metrics, "metrics", false, "serve Prometheus metrics at /metrics")
	fs.BoolVar(&o.durable, "durable", getenv("DURABLE") != "", "store each event with its change and publish it after the commit (package entreactive/outbox): a process killed in between loses none (env DURABLE)")
	fs.BoolVar(&o.capture, "capture", getenv("CAPTURE") != "", "with -durable, have the database record creates itself, with a trigger, rather than in a transaction of their own (outbox.Outbox.Capture; env CAPTURE)")
	fs.IntVar(&o.emitBacklog, "emit-backlog", app.DefaultEmitBacklog, "requests wait while more than this many broadcasts wait for the fan-out; 0: never wait")
	drain := time.Duration(0)
	if v := getenv("DRAIN_PERIOD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			return o, fmt.Errorf("DRAIN_PERIOD %q: %w", v, err)
		}
		drain = d
	}
	fs.DurationVar(&o.drain, "drain", drain, "on SIGTERM, answer /readyz 503 and refuse new sockets for this long before closing, e.g. 10s behind a load balancer (env DRAIN_PERIOD)")
	fs.StringVar(&o.redis, "redis", getenv("REDIS_URL"), "join the cluster on this Redis, e.g. redis://127.0.0.1:6379/0 (env REDIS_URL); empty: a single process")
	fs.StringVar(&o.static, "static", "", "directory of the socket.io-client browser bundle (default: "+defaultStatic+" when present)")
	withAdmin := fs.Bool("admin", false, "serve the Socket.IO Admin UI at /admin/ (env ADMIN_PASSWORD_HASH or ADMIN_PASSWORD, ADMIN_USER)")
	adminReadOnly := fs.Bool("admin-readonly", false, "the Admin UI only watches: no disconnect, join or leave")
	adminUI := fs.String("admin-ui", "", "directory of the built Admin UI (default: "+defaultAdminUI+" when present)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: go run ./example [flags]\n\nThe entreactive live chat and notification demo. "+
			"Env: JWT_SECRET, ADDR, REDIS_URL, DRAIN_PERIOD; with -admin ADMIN_PASSWORD_HASH or ADMIN_PASSWORD, ADMIN_USER.\n\nFlags:")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return o, fmt.Errorf("unexpected arguments: %q", fs.Args())
	}
	if o.emitBacklog < 0 {
		return o, fmt.Errorf("-emit-backlog %d: must be 0 (never wait) or more", o.emitBacklog)
	}
	if o.drain < 0 {
		return o, fmt.Errorf("-drain %v: must be 0 or more", o.drain)
	}
	if o.capture && !o.durable {
		return o, errors.New("-capture needs -durable: it changes how the durable path records creates")
	}

	if o.db == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			dir = os.TempDir()
		}
		o.db = filepath.Join(dir, "entreactive-example", "example.db")
	}
	database, err := app.ParseDB(o.db)
	if err != nil {
		return o, fmt.Errorf("-db: %w", err)
	}
	o.database = database
	if database.File != "" {
		if err := os.MkdirAll(filepath.Dir(database.File), 0o755); err != nil {
			return o, fmt.Errorf("database directory: %w", err)
		}
	}

	if o.static == "" {
		if fi, err := os.Stat(defaultStatic); err == nil && fi.IsDir() {
			o.static = defaultStatic
		} else {
			log.Warn("the Socket.IO browser client is not installed: the page will not connect. " +
				"Run `bash example/run.sh` (it runs `npm ci --prefix example/web`) or pass -static DIR")
		}
	}

	if *withAdmin {
		cfg, err := adminConfig(getenv, *adminReadOnly, *adminUI, log)
		if err != nil {
			return o, err
		}
		o.admin = cfg
	} else if *adminReadOnly || *adminUI != "" {
		return o, errors.New("-admin-readonly and -admin-ui need -admin")
	}

	if s := getenv("JWT_SECRET"); s != "" {
		o.secret = []byte(s)
		if len(o.secret) < minSecret {
			return o, fmt.Errorf("JWT_SECRET is %d bytes; HS256 needs at least %d (RFC 7518 §3.2), "+
				"or whoever sees one token can find it and sign tokens for any user: "+
				"generate one with `openssl rand -hex 32`", len(o.secret), minSecret)
		}
	} else {
		b := make([]byte, 32)
		rand.Read(b)
		o.secret = []byte(hex.EncodeToString(b))
		log.Warn("*** JWT_SECRET is not set: using a random DEVELOPMENT secret. " +
			"Tokens die with this process. Set JWT_SECRET for anything but a local demo. ***")
	}
	return o, nil
}

// minSecret is the shortest JWT_SECRET accepted: the size of HS256's hash.
const minSecret = 32

// run starts the app and serves it until ctx is done, then shuts down
// gracefully. When ready is not nil it receives the listening address.
func run(ctx context.Context, args []string, getenv func(string) string, stderr io.Writer, ready chan<- string) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	o, err := parse(args, getenv, stderr, log)
	if err != nil {
		return err
	}
	afterCommit, err := killAfterCommits(getenv)
	if err != nil {
		return err
	}
	a, err := app.New(ctx, app.Config{AfterCommit: afterCommit, DB: o.db, JWTSecret: o.secret, ClientDir: o.static, Logger: log, Admin: o.admin, Metrics: o.metrics, Durable: o.durable, Capture: o.capture, RedisURL: o.redis, EmitBacklog: emitBacklog(o.emitBacklog), DrainPeriod: o.drain})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		closeApp(a, log)
		return fmt.Errorf("listen: %w", err)
	}
	hs := &http.Server{
		Handler:           a.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	url := "http://" + ln.Addr().String()
	log.Info("entreactive example is running", "url", url, "db", o.database.String(), "bundle", o.static, "metrics", o.metrics, "durable", o.durable, "capture", o.capture, "cluster", o.redis != "")
	fmt.Fprintf(stderr, "\n  Open %s in two browser tabs and log in as two users.\n\n", url)
	if o.admin != nil && o.admin.UIDir != "" {
		fmt.Fprintf(stderr, "  Admin UI: %s/admin/ (server URL %s, user %q).\n\n", url, url, o.admin.Admin.Auth.Username)
	}
	if ready != nil {
		ready <- ln.Addr().String()
	}

	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		closeApp(a, log)
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "drain", o.drain)
	sctx, cancel := context.WithTimeout(context.Background(), o.drain+10*time.Second)
	defer cancel()
	// The app first: it drains (unready, still serving), then ends socket
	// connections, whose long-polling requests would otherwise hold
	// Shutdown.
	errApp := a.Shutdown(sctx)
	errHTTP := hs.Shutdown(sctx)
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		errHTTP = errors.Join(errHTTP, err)
	}
	if err := errors.Join(errApp, errHTTP); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	log.Info("stopped")
	return nil
}

// adminConfig is the Admin UI's configuration from the environment: a
// bcrypt hash in ADMIN_PASSWORD_HASH, or a password in ADMIN_PASSWORD
// hashed here.
func adminConfig(getenv func(string) string, readOnly bool, uiDir string, log *slog.Logger) (*app.AdminConfig, error) {
	hash := getenv("ADMIN_PASSWORD_HASH")
	if hash == "" {
		pass := getenv("ADMIN_PASSWORD")
		if pass == "" {
			return nil, errors.New("-admin needs ADMIN_PASSWORD_HASH (a bcrypt hash) or ADMIN_PASSWORD in the environment")
		}
		if len(pass) < 8 {
			log.Warn("ADMIN_PASSWORD is shorter than 8 characters: use a longer one")
		}
		h, err := bcrypt.GenerateFromPassword([]byte(pass), bcrypt.DefaultCost)
		if err != nil {
			return nil, fmt.Errorf("ADMIN_PASSWORD: %w", err)
		}
		hash = string(h)
	}
	user := getenv("ADMIN_USER")
	if user == "" {
		user = "admin"
	}
	if uiDir == "" {
		if fi, err := os.Stat(defaultAdminUI); err == nil && fi.IsDir() {
			uiDir = defaultAdminUI
		} else {
			log.Warn("the Admin UI is not installed: only its protocol runs (point https://admin.socket.io at this server). " +
				"Run `npm ci --prefix example/web` or pass -admin-ui DIR")
		}
	}
	return &app.AdminConfig{
		Admin: admin.Config{
			Auth:     &admin.BasicAuth{Username: user, PasswordHash: hash},
			ReadOnly: readOnly,
			Logger:   log.With("component", "admin"),
		},
		UIDir:    uiDir,
		FontsDir: fontsDir(uiDir, log),
	}, nil
}

// fontsDir returns the node_modules directory of the Admin UI's fonts
// (@mdi/font, @fontsource/roboto, installed by npm ci --prefix
// example/web), "" without a UI or when they are not installed.
func fontsDir(uiDir string, log *slog.Logger) string {
	if uiDir == "" {
		return ""
	}
	for _, pkg := range []string{"@mdi/font", "@fontsource/roboto"} {
		if fi, err := os.Stat(filepath.Join(defaultFonts, pkg)); err != nil || !fi.IsDir() {
			log.Warn("the Admin UI's fonts are not installed: it loads them from public CDNs. Run `npm ci --prefix example/web`")
			return ""
		}
	}
	return defaultFonts
}

// closeApp closes a after a failed start.
func closeApp(a *app.App, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.Close(ctx); err != nil {
		log.Error("close", "err", err)
	}
}

// envKillAfterCommits names the variable that, set to N, makes a -durable
// example kill itself with SIGKILL right after its Nth commit that stored
// events, before its relay publishes them: the tests' way of hitting that
// window every time. Not for anything but tests.
const envKillAfterCommits = "ENTREACTIVE_EXAMPLE_KILL_AFTER_COMMITS"

// killAfterCommits returns the AfterCommit hook envKillAfterCommits asks
// for, or nil.
func killAfterCommits(getenv func(string) string) (func(), error) {
	v := getenv(envKillAfterCommits)
	if v == "" {
		return nil, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return nil, fmt.Errorf("%s=%q: want a number of commits, 1 or more", envKillAfterCommits, v)
	}
	var commits atomic.Int64
	return func() {
		if commits.Add(1) == int64(n) {
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // the signal takes the process
		}
	}, nil
}
