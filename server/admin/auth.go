package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/server"
)

// errInvalidCredentials is the connect_error the UI understands as a
// failed login (it shows the login form again). A throttled login and an
// expired session get it too: the UI has no other words for them.
const errInvalidCredentials = "invalid credentials"

// uiSession is the login session of a UI socket, kept in its Data.
type uiSession struct {
	id      string
	expires time.Time
	// fresh is set for a session the password login just opened: its id
	// is sent to the UI on connect.
	fresh bool
}

// authenticate is the namespace's middleware: a known session id, or the
// username and password, as instrument()'s basic authentication. A
// successful password login opens a session, sent to the UI on connect.
// Password logins are rate-limited per client address (see
// Config.MaxLoginFailures).
func (a *Admin) authenticate(ctx context.Context, s *server.Conn) error {
	if a.isClosed() {
		return errors.New("admin closed")
	}
	if a.cfg.NoAuth {
		return nil
	}
	now := time.Now()
	auth := s.Handshake().Auth
	addr := loginAddress(s.Handshake().Address)
	if id, ok := auth["sessionId"].(string); ok && id != "" {
		if exp, ok := a.sessions.expiry(id, now); ok {
			s.SetData(&uiSession{id: id, expires: exp})
			return nil
		}
	}
	user, _ := auth["username"].(string)
	pass, _ := auth["password"].(string)
	if auth["username"] == nil && auth["password"] == nil {
		// No password: an unknown or expired session, or nothing at all.
		// Not a guess at the password, so not rate-limited.
		a.counts.sessionsRefused.Add(1)
		a.log.Info("admin: login refused, no valid session", "address", addr)
		return errors.New(errInvalidCredentials)
	}
	if !a.limiter.begin(addr, now) {
		a.counts.throttled.Add(1)
		a.log.Debug("admin: login refused unchecked, too many failures", "address", addr)
		return errors.New(errInvalidCredentials)
	}
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.Auth.Username)) == 1
	// The hash is compared even for a wrong username, so that the answer
	// takes as long either way.
	passOK := bcrypt.CompareHashAndPassword([]byte(a.cfg.Auth.PasswordHash), []byte(pass)) == nil
	if !userOK || !passOK {
		a.counts.loginFailures.Add(1)
		if a.limiter.failures(addr) >= a.cfg.MaxLoginFailures {
			a.log.Warn("admin: login refused; further logins from this address refused for a while",
				"address", addr, "failures", a.cfg.MaxLoginFailures, "window", a.cfg.LoginFailureWindow)
		} else {
			a.log.Warn("admin: login refused", "address", addr)
		}
		return errors.New(errInvalidCredentials)
	}
	a.limiter.succeeded(addr)
	id, exp, err := a.sessions.open(now)
	if err != nil {
		return err
	}
	s.SetData(&uiSession{id: id, expires: exp, fresh: true})
	a.log.Info("admin: login", "address", addr)
	return nil
}

// loginAddress is the address a login is rate-limited by: the client's
// IP, without the port.
func loginAddress(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// expireSessions disconnects the UIs whose session has expired: they must
// log in again.
func (a *Admin) expireSessions(now time.Time) {
	for _, s := range a.nsp.Sockets() {
		if ses, ok := s.Data().(*uiSession); ok && !now.Before(ses.expires) {
			a.counts.sessionsExpired.Add(1)
			a.log.Info("admin: session expired, UI disconnected", "socket", s.ID(), "address", loginAddress(s.Handshake().Address))
			s.Disconnect()
		}
	}
}

// sessions are the open login sessions, each valid for a TTL.
type sessions struct {
	ttl time.Duration

	mu      sync.Mutex
	expires map[string]time.Time
}

// maxSessions bounds the open sessions; the oldest go first.
const maxSessions = 1000

func newSessions(ttl time.Duration) *sessions {
	return &sessions{ttl: ttl, expires: make(map[string]time.Time)}
}

// open starts a session and returns its id and expiry.
func (ss *sessions) open(now time.Time) (string, time.Time, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", time.Time{}, errors.New("admin: session id: " + err.Error())
	}
	id := hex.EncodeToString(b[:])
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, exp := range ss.expires {
		if !now.Before(exp) {
			delete(ss.expires, k)
		}
	}
	for len(ss.expires) >= maxSessions {
		var oldest string
		for k, exp := range ss.expires {
			if oldest == "" || exp.Before(ss.expires[oldest]) {
				oldest = k
			}
		}
		delete(ss.expires, oldest)
	}
	exp := now.Add(ss.ttl)
	ss.expires[id] = exp
	return id, exp, nil
}

// expiry returns when session id expires, if it is open at now.
func (ss *sessions) expiry(id string, now time.Time) (time.Time, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.expires[id]
	return exp, ok && now.Before(exp)
}

// loginLimiter counts, per client address, the password logins that have
// not succeeded within a fixed window opened by the first of them; past
// max, further logins from the address are refused unchecked until the
// window ends. An attempt counts from its start, so that concurrent
// guesses cannot slip past the limit while bcrypt runs; a success
// forgets the address.
type loginLimiter struct {
	max    int
	window time.Duration

	mu    sync.Mutex
	addrs map[string]*attempts
}

// attempts are one address's failed or running logins since start.
type attempts struct {
	n     int
	start time.Time
}

// maxAddresses bounds the addresses a loginLimiter keeps: past it, those
// whose window has ended go first, then the oldest.
const maxAddresses = 10_000

func newLoginLimiter(max int, window time.Duration) *loginLimiter {
	return &loginLimiter{max: max, window: window, addrs: make(map[string]*attempts)}
}

// begin reports whether a login from addr may be checked now, and counts
// it.
func (l *loginLimiter) begin(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	at, ok := l.addrs[addr]
	if ok && !now.Before(at.start.Add(l.window)) {
		delete(l.addrs, addr)
		ok = false
	}
	if !ok {
		l.makeRoomLocked(now)
		at = &attempts{start: now}
		l.addrs[addr] = at
	}
	if at.n >= l.max {
		return false
	}
	at.n++
	return true
}

// failures returns the logins from addr counted in its window.
func (l *loginLimiter) failures(addr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	if at, ok := l.addrs[addr]; ok {
		return at.n
	}
	return 0
}

// succeeded forgets addr: its login succeeded.
func (l *loginLimiter) succeeded(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.addrs, addr)
}

// makeRoomLocked keeps the map under maxAddresses before an address is
// added.
func (l *loginLimiter) makeRoomLocked(now time.Time) {
	if len(l.addrs) < maxAddresses {
		return
	}
	for k, at := range l.addrs {
		if !now.Before(at.start.Add(l.window)) {
			delete(l.addrs, k)
		}
	}
	for len(l.addrs) >= maxAddresses {
		var oldest string
		for k, at := range l.addrs {
			if oldest == "" || at.start.Before(l.addrs[oldest].start) {
				oldest = k
			}
		}
		delete(l.addrs, oldest)
	}
}
