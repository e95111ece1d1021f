package admin

import (
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// serverStats is the periodic "server_stats" event as the Admin UI reads it.
type serverStats struct {
	ServerID            string            `json:"serverId"`
	Hostname            string            `json:"hostname"`
	PID                 int               `json:"pid"`
	Uptime              float64           `json:"uptime"`
	ClientsCount        int               `json:"clientsCount"`
	PollingClientsCount int               `json:"pollingClientsCount"`
	AggregatedEvents    []aggregatedEvent `json:"aggregatedEvents"`
	Namespaces          []namespaceStats  `json:"namespaces"`
}

type namespaceStats struct {
	Name         string `json:"name"`
	SocketsCount int    `json:"socketsCount"`
}

// aggregatedEvent counts events of one type in one second, for the UI's
// dashboard charts.
type aggregatedEvent struct {
	Timestamp int64  `json:"timestamp"`
	Type      string `json:"type"`
	SubType   string `json:"subType,omitempty"`
	Count     int    `json:"count"`
}

// sendStats sends the stats, and the events counted since the last ones,
// to every UI.
func (a *Admin) sendStats() {
	_ = a.nsp.Emit("server_stats", a.stats(a.events.take()))
}

// stats returns the server's stats with events. Uptime counts from New.
func (a *Admin) stats(events []aggregatedEvent) serverStats {
	total, polling := a.srv.Operator().Clients()
	st := serverStats{
		ServerID:            a.cfg.ServerID,
		Hostname:            a.hostname,
		PID:                 os.Getpid(),
		Uptime:              time.Since(a.started).Seconds(),
		ClientsCount:        total,
		PollingClientsCount: polling,
		AggregatedEvents:    events,
	}
	if st.AggregatedEvents == nil {
		st.AggregatedEvents = []aggregatedEvent{}
	}
	for _, n := range a.srv.Operator().Namespaces() {
		st.Namespaces = append(st.Namespaces, namespaceStats{Name: n.Name, SocketsCount: n.Sockets})
	}
	return st
}

// eventBuffer counts events per second and type until taken.
type eventBuffer struct {
	mu     sync.Mutex
	counts map[aggregatedEvent]int
}

func newEventBuffer() *eventBuffer {
	return &eventBuffer{counts: make(map[aggregatedEvent]int)}
}

// maxEventKeys bounds the buffer between two takes (disconnection reasons
// are a handful, so this is never reached in practice).
const maxEventKeys = 4096

func (b *eventBuffer) push(at time.Time, typ, subType string) {
	k := aggregatedEvent{Timestamp: at.Truncate(time.Second).UnixMilli(), Type: typ, SubType: subType}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.counts[k]; ok || len(b.counts) < maxEventKeys {
		b.counts[k]++
	}
}

// take returns the counted events and starts afresh.
func (b *eventBuffer) take() []aggregatedEvent {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]aggregatedEvent, 0, len(b.counts))
	for k, n := range b.counts {
		k.Count = n
		out = append(out, k)
	}
	clear(b.counts)
	return out
}

// counters are the admin's monotonic counters (see Stats).
type counters struct {
	loginFailures, throttled, sessionsRefused, sessionsExpired, actionsRefused atomic.Uint64
}

// Stats counts what the admin refused since New, for metrics (package
// server/metrics exports them with AdminCollector).
type Stats struct {
	// LoginFailures counts password logins refused for a wrong username
	// or password.
	LoginFailures uint64
	// LoginsThrottled counts password logins refused unchecked: too many
	// failures from the client's address (Config.MaxLoginFailures).
	LoginsThrottled uint64
	// SessionsRefused counts logins without a password whose session was
	// unknown or expired.
	SessionsRefused uint64
	// SessionsExpired counts connected UIs disconnected because their
	// session expired (Config.SessionTTL).
	SessionsExpired uint64
	// ActionsRefused counts UI actions refused: read-only, a room the
	// server manages, bad arguments, an unknown namespace.
	ActionsRefused uint64
}

// Stats returns the admin's counters.
func (a *Admin) Stats() Stats {
	return Stats{
		LoginFailures:   a.counts.loginFailures.Load(),
		LoginsThrottled: a.counts.throttled.Load(),
		SessionsRefused: a.counts.sessionsRefused.Load(),
		SessionsExpired: a.counts.sessionsExpired.Load(),
		ActionsRefused:  a.counts.actionsRefused.Load(),
	}
}
