package metrics

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/entreactive/reactive/server/admin"
)

// adminCollector reads an Admin's Stats at each scrape.
type adminCollector struct {
	a *admin.Admin
}

// Metrics of the Admin UI's server side.
var (
	adminLoginFailuresDesc = desc("admin_login_failures_total",
		"Admin UI logins refused, by reason: password (wrong username or password), throttled (refused unchecked: "+
			"too many failures from the address), session (no password and an unknown or expired session).", "reason")
	adminSessionsExpiredDesc = desc("admin_sessions_expired_total",
		"Connected Admin UIs disconnected because their login session expired.")
	adminActionsRefusedDesc = desc("admin_actions_refused_total",
		"Admin UI actions refused: read-only, a room the server manages, bad arguments, an unknown namespace.")
)

// AdminCollector returns a prometheus.Collector of a's counters (see
// admin.Stats): refused logins by reason, expired sessions, refused
// actions. Register it beside a Metrics' Collector:
//
//	reg.MustRegister(m.Collector(srv), metrics.AdminCollector(adm))
func AdminCollector(a *admin.Admin) prometheus.Collector {
	return &adminCollector{a: a}
}

// Describe implements prometheus.Collector.
func (c *adminCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- adminLoginFailuresDesc
	ch <- adminSessionsExpiredDesc
	ch <- adminActionsRefusedDesc
}

// Collect implements prometheus.Collector.
func (c *adminCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.a.Stats()
	for _, r := range []struct {
		reason string
		n      uint64
	}{{"password", st.LoginFailures}, {"throttled", st.LoginsThrottled}, {"session", st.SessionsRefused}} {
		ch <- prometheus.MustNewConstMetric(adminLoginFailuresDesc, prometheus.CounterValue, float64(r.n), r.reason)
	}
	ch <- prometheus.MustNewConstMetric(adminSessionsExpiredDesc, prometheus.CounterValue, float64(st.SessionsExpired))
	ch <- prometheus.MustNewConstMetric(adminActionsRefusedDesc, prometheus.CounterValue, float64(st.ActionsRefused))
}
