package server

import (
	"net/http"

	"github.com/zishang520/socket.io/servers/engine/v3"
	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// EngineTransports are the Engine.IO transports a Server runs on — its own
// websocket transport (connWriter: coalesced, bounded, deadlined writes;
// the close handshake of RFC 6455) and the library's polling transport
// with the server's fixes (see compat.go) — for an Engine.IO server built
// directly on the library that must behave on the wire exactly as a Server
// does, such as the echo server the official protocol suites need.
// Applications do not need it: New installs them.
//
// Such a server is set up in three steps: Set's transports in its options,
// Attach once it is built, and Handler around its http.Handler.
type EngineTransports struct {
	set      *types.Set[transports.TransportCtor]
	upgrades *upgradeGuard
}

// NewEngineTransports returns the transports of a Server configured with
// cfg (its MaxPendingBytes, WriteTimeout, Logger, PingInterval and
// PingTimeout, which must be the Engine.IO server's; other fields are
// ignored).
func NewEngineTransports(cfg Config) (*EngineTransports, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	return newEngineTransports(cfg, &counters{}, nil), nil
}

func newEngineTransports(cfg Config, stats *counters, flushers *inflight) *EngineTransports {
	upgrades := newUpgradeGuard()
	return &EngineTransports{
		set: types.NewSet[transports.TransportCtor](
			&pollingBuilder{},
			&wsBuilder{cfg: &wsConfig{
				maxPending:   cfg.MaxPendingBytes,
				writeTimeout: cfg.WriteTimeout,
				log:          cfg.Logger,
				stats:        stats,
				upgrades:     upgrades,
				observer:     cfg.Observer,
				flushers:     flushers,
				pingInterval: cfg.PingInterval,
				pingTimeout:  cfg.PingTimeout,
			}},
		),
		upgrades: upgrades,
	}
}

// Set returns the transports, for the library's ServerOptions.SetTransports.
func (t *EngineTransports) Set() *types.Set[transports.TransportCtor] { return t.set }

// Attach must be called with the Engine.IO server built with Set's
// transports, before it serves: the upgrade guard follows its sessions and
// installs its middleware (see upgradeGuard).
func (t *EngineTransports) Attach(eng engine.BaseServer) { t.upgrades.watch(eng) }

// Handler returns h, the Engine.IO server's handler, with websocket
// upgrades wrapped as a Server wraps them (see upgradedConn). Without it
// the transports work, but a polling request sent right after a websocket
// upgrade may be handled before the upgrade, and the close frame that
// fails a connection on a protocol error is written outside the
// connection's writer.
func (t *EngineTransports) Handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			w = newReleasingWriter(w)
		}
		h.ServeHTTP(w, r)
	})
}
