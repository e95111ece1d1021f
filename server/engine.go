package server

import (
	"net/http"

	"github.com/zishang520/socket.io/servers/engine/v3/transports"
	"github.com/zishang520/socket.io/v3/pkg/types"
)

// engineTransports are the Engine.IO transports a Server runs on: its own
// websocket transport (connWriter: coalesced, bounded, deadlined writes;
// the close handshake of RFC 6455) and the library's polling transport
// with the server's fixes (see compat.go). An Engine.IO server built on
// them (New, and the protocol suite's echo server in
// protocolsuite_test.go) takes set in its options, has upgrades watch it
// once built, and serves through handler.
type engineTransports struct {
	set      *types.Set[transports.TransportCtor]
	upgrades *upgradeGuard
}

func newEngineTransports(cfg Config, stats *counters, flushers *inflight) *engineTransports {
	upgrades := newUpgradeGuard()
	return &engineTransports{
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

// handler returns h, the Engine.IO server's handler, with websocket
// upgrades wrapped as a Server wraps them (see upgradedConn). Without it
// the transports work, but a polling request sent right after a websocket
// upgrade may be handled before the upgrade, and the close frame that
// fails a connection on a protocol error is written outside the
// connection's writer.
func (t *engineTransports) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" {
			w = newReleasingWriter(w)
		}
		h.ServeHTTP(w, r)
	})
}
