package server_test

import (
	"context"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// testSecret is the JWT secret of the servers startServer starts.
var testSecret = []byte(testkit.Secret)

// wait is the generous bound of every wait in these tests.
const wait = testkit.Wait

// startServer starts a Server with cfg (JWT secret and a quiet logger filled
// in when unset), mounted on a net/http mux, and returns it with the base URL.
func startServer(t *testing.T, cfg server.Config) (*server.Server, string) {
	t.Helper()
	s := testkit.Serve(t, cfg)
	return s.Server, s.URL
}

// token signs HS256 claims with testSecret, with an "exp" an hour ahead
// unless claims have one (the server refuses tokens without exp).
func token(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	return tokenExactly(t, expiring(claims))
}

// expiring returns claims with an "exp" an hour ahead unless they have one.
func expiring(claims jwt.MapClaims) jwt.MapClaims {
	out := jwt.MapClaims{"exp": time.Now().Add(time.Hour).Unix()}
	for k, v := range claims {
		out[k] = v
	}
	return out
}

// tokenExactly signs HS256 claims, as they are, with testSecret.
func tokenExactly(t *testing.T, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// authAs authenticates c as user id and checks the ack.
func authAs(t *testing.T, c *sioclient.Client, id any) {
	t.Helper()
	ack, err := c.EmitAck(testkit.Context(t), "auth", testkit.Token(t, id))
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	if !testkit.AckSuccess(ack) {
		t.Fatalf("auth %v: ack %v", id, ack)
	}
}

func ackError(ack []any) string {
	if len(ack) != 1 {
		return ""
	}
	m, _ := ack[0].(map[string]any)
	if m["success"] != false {
		return ""
	}
	s, _ := m["error"].(string)
	return s
}

// marker emits a "reactive" event to room and waits until c receives it:
// once it arrives, every event emitted before it has been delivered too
// (delivery keeps order), so a test can then assert absences.
func marker(t *testing.T, srv *server.Server, cs []*sioclient.Client, id int) {
	t.Helper()
	ev := entreactive.Event{Action: entreactive.ActionCreate, Model: "Marker", ID: id, Data: map[string]any{"id": id}, Timestamp: time.Now()}
	if err := srv.Emit(context.Background(), entreactive.ToAll(), ev); err != nil {
		t.Fatalf("marker: %v", err)
	}
	for _, c := range cs {
		for {
			args, err := c.Next(testkit.Context(t), "reactive")
			if err != nil {
				t.Fatalf("marker %d: %v", id, err)
			}
			m := args[0].(map[string]any)
			if m["model"] == "Marker" && m["id"] == float64(id) {
				break
			}
		}
	}
}

// transportsUnderTest are the Go client's transports the protocol tests
// run over (the Node client covers both too, see TestNodeClient).
var transportsUnderTest = []sioclient.Transport{sioclient.WebSocketOnly, sioclient.Upgrade}
