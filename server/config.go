package server

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

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
	// New starts it and Close closes it when it is a Closer. Nil: a
	// single node.
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
