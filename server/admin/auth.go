package admin

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/entreactive/reactive/server"
)

// errInvalidCredentials is the connect_error the UI understands as a
// failed login (it shows the login form again).
const errInvalidCredentials = "invalid credentials"

// sessionID is a login session, kept on the socket that logged in until
// its "session" event is sent.
type sessionID string

// authenticate is the namespace's middleware: a known session id, or the
// username and password, as instrument()'s basic authentication. A
// successful password login opens a session, sent to the UI on connect.
func (a *Admin) authenticate(ctx context.Context, s *server.Socket) error {
	if a.isClosed() {
		return errors.New("admin closed")
	}
	if a.cfg.NoAuth {
		return nil
	}
	auth := s.Handshake().Auth
	if id, ok := auth["sessionId"].(string); ok && id != "" && a.sessions.valid(id) {
		return nil
	}
	user, _ := auth["username"].(string)
	pass, _ := auth["password"].(string)
	userOK := subtle.ConstantTimeCompare([]byte(user), []byte(a.cfg.Auth.Username)) == 1
	// The hash is compared even for a wrong username, so that the answer
	// takes as long either way.
	passOK := bcrypt.CompareHashAndPassword([]byte(a.cfg.Auth.PasswordHash), []byte(pass)) == nil
	if !userOK || !passOK {
		a.log.Warn("admin: login refused", "address", s.Handshake().Address)
		return errors.New(errInvalidCredentials)
	}
	id, err := a.sessions.open()
	if err != nil {
		return err
	}
	s.SetData(id)
	a.log.Info("admin: login", "address", s.Handshake().Address)
	return nil
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

// open starts a session and returns its id.
func (ss *sessions) open() (sessionID, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", errors.New("admin: session id: " + err.Error())
	}
	id := hex.EncodeToString(b[:])
	now := time.Now()
	ss.mu.Lock()
	defer ss.mu.Unlock()
	for k, exp := range ss.expires {
		if now.After(exp) {
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
	ss.expires[id] = now.Add(ss.ttl)
	return sessionID(id), nil
}

// valid reports whether id is an open session.
func (ss *sessions) valid(id string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	exp, ok := ss.expires[id]
	return ok && time.Now().Before(exp)
}
