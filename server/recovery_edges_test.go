package server_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sio"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// events records the names (and "deauthenticated" reasons) of the events
// a raw connection receives, and its notes.
type events struct {
	notes *notes
	names chan string
}

func newEvents() *events { return &events{notes: newNotes(), names: make(chan string, 64)} }

func (e *events) handler(name string, data []byte) {
	e.notes.handler(name, data)
	if name == server.EventDeauthenticated {
		var args []json.RawMessage
		var p struct{ Reason string }
		if json.Unmarshal(data, &args) == nil && len(args) == 2 && json.Unmarshal(args[1], &p) == nil {
			name += ":" + p.Reason
		}
	}
	select {
	case e.names <- name:
	default:
	}
}

// await waits up to d for event name (as handler records it).
func (e *events) await(t *testing.T, name string, d time.Duration) bool {
	t.Helper()
	deadline := time.After(d)
	for {
		select {
		case got := <-e.names:
			if got == name {
				return true
			}
		case <-deadline:
			return false
		}
	}
}

func dialEvents(t *testing.T, url string, auth map[string]any, e *events) *sio.Conn {
	t.Helper()
	c, err := sio.Dial(testkit.Context(t), sio.Config{URL: url, Auth: auth, OnEvent: e.handler})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// A session is restored once: a second client presenting the same pid and
// offset while the restored socket is live gets a fresh socket, and the
// live one keeps its id, alone.
func TestRecoveryRestoresASessionOnce(t *testing.T) {
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{}})
	ctx := testkit.Context(t)
	got := newNotes()
	c1 := dialUser(t, srv, url, 5, got)
	if err := srv.EmitTo(ctx, entreactive.ToUserIDs(5), "note", 0); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 1)
	dropAndWait(t, srv, c1)

	auth := map[string]any{"pid": c1.PID, "offset": got.lastOffset()}
	c2 := dialSIO(t, url, auth, got)
	if c2.SID != c1.SID {
		t.Fatal("the session was not restored")
	}
	c3 := dialSIO(t, url, auth, newNotes())
	if c3.SID == c1.SID {
		t.Fatalf("the session %s was restored a second time while its socket is live", c1.SID)
	}
	testkit.Eventually(t, "the restored socket and a fresh one", func() bool { return testkit.Connections(t, srv) == 2 })
	// The restored socket is the user's only one, and it still gets its
	// notes.
	if err := srv.EmitTo(ctx, entreactive.ToUserIDs(5), "note", 1); err != nil {
		t.Fatal(err)
	}
	got.waitFor(t, 2)
	if n := testkit.RoomSize(t, srv, server.UserRoom(5)); n != 1 {
		t.Fatalf("user 5 has %d sockets, want the restored one", n)
	}
}

// A dropped socket can come back within Recovery.MaxDisconnection, not
// after.
func TestRecoverySessionsExpire(t *testing.T) {
	const window = 500 * time.Millisecond
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{MaxDisconnection: window}})
	ctx := testkit.Context(t)
	for _, c := range []struct {
		name     string
		away     time.Duration
		restored bool
	}{
		{"within the window", 0, true},
		{"past the window", 3 * window, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := newNotes()
			c1 := dialUser(t, srv, url, 5, got)
			if err := srv.EmitTo(ctx, entreactive.ToUserIDs(5), "note", 0); err != nil {
				t.Fatal(err)
			}
			got.waitFor(t, 1)
			dropAndWait(t, srv, c1)
			time.Sleep(c.away)
			c2 := dialSIO(t, url, map[string]any{"pid": c1.PID, "offset": got.lastOffset()}, got)
			if restored := c2.SID == c1.SID; restored != c.restored {
				t.Fatalf("back after %v (window %v): restored %v, want %v", c.away, window, restored, c.restored)
			}
			c2.Close()
			testkit.Eventually(t, "the socket gone", func() bool { return testkit.Connections(t, srv) == 0 })
		})
	}
}

// A restored socket's authentication ends when its token expires, as the
// original socket's would have: restored after the expiry it is a guest;
// restored before, it is deauthenticated ("expired") when the token
// expires.
func TestRestoredSessionKeepsItsTokenExpiry(t *testing.T) {
	srv, url := startServer(t, server.Config{Recovery: &server.Recovery{}})
	ctx := testkit.Context(t)
	for _, c := range []struct {
		name        string
		restoreLate bool
	}{
		{"restored before the expiry", false},
		{"restored after the expiry", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			// exp is in whole seconds: 3 s ahead is 2 to 3 s.
			exp := time.Now().Add(3 * time.Second)
			tok := tokenExactly(t, jwt.MapClaims{"id": 5, "exp": exp.Unix()})
			e := newEvents()
			c1 := dialEvents(t, url, map[string]any{"token": tok}, e)
			testkit.Eventually(t, "user 5 online", func() bool { return testkit.Online(t, srv, 5) })
			if err := srv.EmitTo(ctx, entreactive.ToUserIDs(5), "note", 0); err != nil {
				t.Fatal(err)
			}
			e.notes.waitFor(t, 1)
			dropAndWait(t, srv, c1)
			if c.restoreLate {
				time.Sleep(time.Until(time.Unix(exp.Unix(), 0)) + 200*time.Millisecond)
			}
			e2 := newEvents()
			c2 := dialEvents(t, url, map[string]any{"pid": c1.PID, "offset": e.notes.lastOffset()}, e2)
			if c2.SID != c1.SID {
				t.Fatal("the session was not restored")
			}
			// The client has the CONNECT reply before the server has put
			// the socket back in its rooms.
			if c.restoreLate {
				testkit.Eventually(t, "the restored socket back, as a guest", func() bool { return testkit.RoomSize(t, srv, "guests") == 1 })
				if testkit.Online(t, srv, 5) {
					t.Fatal("a socket restored after its token expired is still authenticated")
				}
				// Restored as a guest from the start, not authenticated with
				// the expired token and deauthenticated by its timer after.
				if e2.await(t, server.EventDeauthenticated+":expired", time.Second) {
					t.Fatal("the socket was restored authenticated with its expired token (then deauthenticated)")
				}
			} else {
				testkit.Eventually(t, "the restored socket authenticated", func() bool { return testkit.Online(t, srv, 5) })
				if time.Now().After(time.Unix(exp.Unix(), 0)) {
					t.Skip("the machine is too slow: the token expired before the restore")
				}
				if !e2.await(t, server.EventDeauthenticated+":expired", 10*time.Second) {
					t.Fatal("the restored socket was not deauthenticated when its token expired")
				}
				if testkit.Online(t, srv, 5) {
					t.Fatal("user 5 still online after the expiry")
				}
			}
			c2.Close()
			testkit.Eventually(t, "the socket gone", func() bool { return testkit.Connections(t, srv) == 0 })
		})
	}
}

// Authenticating again as the same user with a token that expires sooner
// moves the expiry: the socket is deauthenticated when the newer token
// expires, not when the older one would have.
func TestReauthWithAShorterTokenExpiresSooner(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	e := newEvents()
	c := dialEvents(t, url, map[string]any{"token": testkit.Token(t, 5)}, e) // expires in an hour
	testkit.Eventually(t, "user 5 online", func() bool { return testkit.Online(t, srv, 5) })
	short := tokenExactly(t, jwt.MapClaims{"id": 5, "exp": time.Now().Add(2 * time.Second).Unix()})
	ack, err := c.EmitWithAck(testkit.Context(t), server.EventAuth, short)
	if err != nil || !testkit.AckSuccess(decodeAck(t, ack)) {
		t.Fatalf("auth with the shorter token: %s %v", ack, err)
	}
	if !e.await(t, server.EventDeauthenticated+":expired", 10*time.Second) {
		t.Fatal("not deauthenticated when the shorter token expired")
	}
	if testkit.Online(t, srv, 5) {
		t.Fatal("user 5 still online after the expiry")
	}
}

// decodeAck decodes a raw acknowledgement's arguments.
func decodeAck(t *testing.T, raw []byte) []any {
	t.Helper()
	var args []any
	if err := json.Unmarshal(raw, &args); err != nil {
		t.Fatalf("ack %s: %v", raw, err)
	}
	return args
}

// A re-authentication replaces the expiry of the token before it: the
// earlier token's expiry passing does not deauthenticate the socket.
func TestReauthOutlivesTheEarlierTokensExpiry(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	e := newEvents()
	exp := time.Now().Add(2 * time.Second)
	c := dialEvents(t, url, map[string]any{"token": tokenExactly(t, jwt.MapClaims{"id": 5, "exp": exp.Unix()})}, e)
	testkit.Eventually(t, "user 5 online", func() bool { return testkit.Online(t, srv, 5) })
	for _, id := range []int{5, 6} { // the same user, then another
		ack, err := c.EmitWithAck(testkit.Context(t), server.EventAuth, testkit.Token(t, id)) // an hour
		if err != nil || !testkit.AckSuccess(decodeAck(t, ack)) {
			t.Fatalf("auth as %d: %s %v", id, ack, err)
		}
	}
	if e.await(t, server.EventDeauthenticated+":expired", time.Until(time.Unix(exp.Unix(), 0))+2*time.Second) {
		t.Fatal("deauthenticated when the first token expired")
	}
	if !testkit.Online(t, srv, 6) {
		t.Fatal("user 6 not online")
	}
}

// JWT.Leeway lets a token live that long past its exp, on a socket too.
func TestExpiryWaitsForTheLeeway(t *testing.T) {
	const leeway = 3 * time.Second
	srv, url := startServer(t, server.Config{JWT: server.JWT{Secret: testSecret, Leeway: leeway}})
	e := newEvents()
	exp := time.Unix(time.Now().Add(time.Second).Unix(), 0)
	c := dialEvents(t, url, map[string]any{"token": tokenExactly(t, jwt.MapClaims{"id": 5, "exp": exp.Unix()})}, e)
	testkit.Eventually(t, "user 5 online", func() bool { return testkit.Online(t, srv, 5) })
	// Past exp, within the leeway: still authenticated.
	if e.await(t, server.EventDeauthenticated+":expired", time.Until(exp)+leeway/2) {
		t.Fatalf("deauthenticated before exp + leeway (%v)", leeway)
	}
	if !e.await(t, server.EventDeauthenticated+":expired", leeway+5*time.Second) {
		t.Fatal("never deauthenticated")
	}
	_ = c
}
