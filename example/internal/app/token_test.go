package app_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
)

// TestAPIAndSocketsAgreeOnTokens sends each token to the HTTP API (as a
// bearer token), to a socket's "auth" event and in a socket's handshake:
// all three accept it, or all three refuse it.
func TestAPIAndSocketsAgreeOnTokens(t *testing.T) {
	e := start(t, app.Config{})
	e.login(1) // the user exists: a refusal is about the token, not the user
	sign := func(claims jwt.MapClaims, key []byte) string {
		t.Helper()
		s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hour := time.Now().Add(time.Hour).Unix()
	cases := []struct {
		name   string
		token  string
		accept bool
	}{
		{"login token", e.login(1), true},
		{"valid", sign(jwt.MapClaims{"id": 1, "exp": hour}, testSecret), true},
		{"largest id", sign(jwt.MapClaims{"id": app.MaxID, "exp": hour}, testSecret), true},
		{"no exp", sign(jwt.MapClaims{"id": 1}, testSecret), false},
		{"negative id", sign(jwt.MapClaims{"id": -1, "exp": hour}, testSecret), false},
		{"zero id", sign(jwt.MapClaims{"id": 0, "exp": hour}, testSecret), false},
		{"id past MaxID", sign(jwt.MapClaims{"id": app.MaxID + 1, "exp": hour}, testSecret), false},
		{"id as a string", sign(jwt.MapClaims{"id": "1", "exp": hour}, testSecret), false},
		{"id in sub only", sign(jwt.MapClaims{"sub": "1", "exp": hour}, testSecret), false},
		{"id in user_id only", sign(jwt.MapClaims{"user_id": 1, "exp": hour}, testSecret), false},
		{"fractional id", sign(jwt.MapClaims{"id": 1.5, "exp": hour}, testSecret), false},
		{"expired", sign(jwt.MapClaims{"id": 1, "exp": time.Now().Add(-time.Minute).Unix()}, testSecret), false},
		{"not yet valid", sign(jwt.MapClaims{"id": 1, "exp": hour, "nbf": hour - 60}, testSecret), false},
		{"wrong key", sign(jwt.MapClaims{"id": 1, "exp": hour}, []byte("another-secret-another-secret-!!")), false},
		{"garbage", "not.a.token", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			api := e.do("GET", "/api/conversations", tc.token, nil)
			if apiOK := api.status == http.StatusOK; apiOK != tc.accept {
				t.Errorf("API: status %d %s, want accepted=%v", api.status, api.body, tc.accept)
			} else if !apiOK && api.status != http.StatusUnauthorized {
				t.Errorf("API: status %d, want 401", api.status)
			}

			c := e.dial()
			ack, err := c.EmitAck(testkit.Context(t), "auth", tc.token)
			if err != nil {
				t.Fatalf("auth: %v", err)
			}
			if testkit.AckSuccess(ack) != tc.accept {
				t.Errorf("socket auth: ack %v, want accepted=%v", ack, tc.accept)
			}

			hs, err := sioclient.Dial(testkit.Context(t), e.url, sioclient.Options{
				Transport: sioclient.WebSocketOnly,
				Auth:      map[string]any{"token": tc.token},
			})
			if err == nil {
				defer hs.Close()
			}
			if accepted := err == nil; accepted != tc.accept {
				t.Errorf("handshake token: err %v, want accepted=%v", err, tc.accept)
			} else if err != nil && !strings.Contains(err.Error(), "Invalid token") {
				t.Errorf("handshake token: err %v, want Invalid token", err)
			}
		})
	}
}
