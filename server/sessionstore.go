package server

import (
	"sync"
	"time"
)

// sessionStore keeps the sessions of dropped sockets in memory for the
// recovery window (without a SessionStore broker).
type sessionStore struct {
	mu    sync.Mutex
	ttl   time.Duration
	byPID map[string]storedSession
	order []string // pids in the order persisted: expiry order
}

type storedSession struct {
	s       Session
	expires time.Time
}

func newSessionStore(ttl time.Duration) *sessionStore {
	return &sessionStore{ttl: ttl, byPID: make(map[string]storedSession)}
}

func (st *sessionStore) persist(s Session, now time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expireLocked(now)
	st.byPID[s.PID] = storedSession{s: s, expires: now.Add(st.ttl)}
	st.order = append(st.order, s.PID)
}

// take removes and returns the session pid, if it has not expired.
func (st *sessionStore) take(pid string, now time.Time) (Session, bool) {
	st.mu.Lock()
	defer st.mu.Unlock()
	st.expireLocked(now)
	ss, ok := st.byPID[pid]
	if !ok {
		return Session{}, false
	}
	delete(st.byPID, pid)
	return ss.s, true
}

func (st *sessionStore) expireLocked(now time.Time) {
	i := 0
	for ; i < len(st.order); i++ {
		pid := st.order[i]
		ss, ok := st.byPID[pid]
		if ok && now.Before(ss.expires) {
			break
		}
		if ok {
			delete(st.byPID, pid)
		}
	}
	st.order = st.order[i:]
}
