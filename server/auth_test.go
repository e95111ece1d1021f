package server_test

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
)

// unsigned builds a token with alg "none".
func unsigned(claims map[string]any) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]any{"alg": "none", "typ": "JWT"}) + "." + enc(claims) + "."
}

func rsaKey(t *testing.T) (*rsa.PrivateKey, []byte) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// expectRefusedAuth sends token with "auth" and checks the outcome is
// {success:false, error:"Invalid token"} with no change of rooms.
func expectRefusedAuth(t *testing.T, srv *server.Server, c *sioclient.Client, tok any) {
	t.Helper()
	before := srv.Stats().Rooms
	ack, err := c.EmitAck(testkit.Context(t), "auth", tok)
	if err != nil {
		t.Fatalf("auth: %v", err)
	}
	if ackError(ack) != "Invalid token" {
		t.Fatalf("ack = %v, want Invalid token", ack)
	}
	if after := srv.Stats().Rooms; !maps.Equal(before, after) {
		t.Fatalf("rooms changed: %v → %v", before, after)
	}
	if c.Count("authenticated") != 0 {
		t.Fatal("got authenticated")
	}
}

func TestBadTokens(t *testing.T) {
	now := time.Now()
	rsaPriv, _ := rsaKey(t)
	rsSigned, err := jwt.NewWithClaims(jwt.SigningMethodRS256, expiring(jwt.MapClaims{"id": 1})).SignedString(rsaPriv)
	if err != nil {
		t.Fatal(err)
	}
	wrongSecret, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, expiring(jwt.MapClaims{"id": 1})).SignedString([]byte("another-secret-another-secret-32b"))
	hs512, _ := jwt.NewWithClaims(jwt.SigningMethodHS512, expiring(jwt.MapClaims{"id": 1})).SignedString(testSecret)

	cases := []struct {
		name string
		tok  func(t *testing.T) any
	}{
		{"alg none", func(t *testing.T) any { return unsigned(expiring(jwt.MapClaims{"id": 1})) }},
		{"wrong secret", func(t *testing.T) any { return wrongSecret }},
		{"RS256 to an HS256 server", func(t *testing.T) any { return rsSigned }},
		{"HS512 not in the allow-list", func(t *testing.T) any { return hs512 }},
		{"expired", func(t *testing.T) any {
			return token(t, jwt.MapClaims{"id": 1, "exp": now.Add(-time.Minute).Unix()})
		}},
		{"not yet valid", func(t *testing.T) any {
			return token(t, jwt.MapClaims{"id": 1, "nbf": now.Add(time.Hour).Unix()})
		}},
		{"issued in the future", func(t *testing.T) any {
			return token(t, jwt.MapClaims{"id": 1, "iat": now.Add(time.Hour).Unix()})
		}},
		{"missing id claim", func(t *testing.T) any { return token(t, jwt.MapClaims{"name": "x"}) }},
		{"id claim is an object", func(t *testing.T) any { return token(t, jwt.MapClaims{"id": map[string]any{"a": 1}}) }},
		{"id claim is a bool", func(t *testing.T) any { return token(t, jwt.MapClaims{"id": true}) }},
		{"id claim is a fraction", func(t *testing.T) any { return token(t, jwt.MapClaims{"id": 1.5}) }},
		{"id claim is empty", func(t *testing.T) any { return token(t, jwt.MapClaims{"id": ""}) }},
		{"id with an underscore", func(t *testing.T) any { return token(t, jwt.MapClaims{"id": "7_device_x"}) }},
		{"token is a number", func(t *testing.T) any { return 12345 }},
		{"token is an object", func(t *testing.T) any { return map[string]any{"token": testkit.Token(t, 1)} }},
		{"token is null", func(t *testing.T) any { return nil }},
		{"token is empty", func(t *testing.T) any { return "" }},
		{"token is garbage", func(t *testing.T) any { return "a.b.c" }},
		{"token is 1 MB", func(t *testing.T) any { return strings.Repeat("a", 1<<20) }},
	}
	// MaxPayload is raised so that the 1 MB token reaches the verifier.
	srv, url := startServer(t, server.Config{MaxPayload: 4 << 20})
	c := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			expectRefusedAuth(t, srv, c, tc.tok(t))
		})
	}
	if got := srv.Stats().AuthFailures; got != uint64(len(cases)) {
		t.Fatalf("AuthFailures = %d, want %d", got, len(cases))
	}
	// The socket is still usable.
	authAs(t, c, 1)
}

func TestHSRSConfusion(t *testing.T) {
	priv, pubPEM := rsaKey(t)
	// The server verifies RS256 with a public key. The attack signs HS256
	// with the public key's bytes as the HMAC secret.
	forged, err := jwt.NewWithClaims(jwt.SigningMethodHS256, expiring(jwt.MapClaims{"id": 1})).SignedString(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	good, err := jwt.NewWithClaims(jwt.SigningMethodRS256, expiring(jwt.MapClaims{"id": 1})).SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	for _, algs := range [][]string{{"RS256"}, {"RS256", "HS256"}} {
		t.Run(strings.Join(algs, "+"), func(t *testing.T) {
			srv, url := startServer(t, server.Config{JWT: server.JWT{
				Algorithms: algs,
				// A careless key function that returns the public key, or
				// its PEM bytes, whatever the token says.
				KeyFunc: func(tok *jwt.Token) (any, error) {
					if tok.Method.Alg() == "HS256" {
						return pubPEM, nil
					}
					return &priv.PublicKey, nil
				},
			}})
			c := testkit.Dial(t, url, sioclient.Options{})
			if len(algs) == 1 {
				expectRefusedAuth(t, srv, c, forged)
			} else {
				// HS256 is allowed and the key function hands out the PEM:
				// the forged token verifies, as it would with any HMAC
				// secret. The allow-list is what prevents confusion.
				ack, _ := c.EmitAck(testkit.Context(t), "auth", forged)
				if !testkit.AckSuccess(ack) {
					t.Fatalf("ack = %v", ack)
				}
			}
			authAs2 := func(tok string) []any {
				ack, err := c.EmitAck(testkit.Context(t), "auth", tok)
				if err != nil {
					t.Fatal(err)
				}
				return ack
			}
			if ack := authAs2(good); !testkit.AckSuccess(ack) {
				t.Fatalf("RS256 token refused: %v", ack)
			}
		})
	}
}

func TestKeyTypeMustFitAlgorithm(t *testing.T) {
	priv, _ := rsaKey(t)
	// The key function returns the RSA public key for every token; an HS256
	// token must not be verified with it.
	srv, url := startServer(t, server.Config{JWT: server.JWT{
		Algorithms: []string{"RS256", "HS256"},
		KeyFunc:    func(*jwt.Token) (any, error) { return &priv.PublicKey, nil },
	}})
	c := testkit.Dial(t, url, sioclient.Options{})
	hs := token(t, jwt.MapClaims{"id": 1})
	expectRefusedAuth(t, srv, c, hs)
}

func TestUserIDClaimsOrder(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{})
	ack, _ := c.EmitAck(testkit.Context(t), "auth", token(t, jwt.MapClaims{"sub": "s", "user_id": 2}))
	if !testkit.AckSuccess(ack) || testkit.RoomSize(t, srv, "user_2") != 1 {
		t.Fatalf("user_id before sub: %v %v", ack, srv.Stats().Rooms)
	}

	srv2, url2 := startServer(t, server.Config{JWT: server.JWT{Secret: testSecret, UserIDClaims: []string{"uid"}}})
	c2 := testkit.Dial(t, url2, sioclient.Options{})
	ack, _ = c2.EmitAck(testkit.Context(t), "auth", token(t, jwt.MapClaims{"uid": "u9", "id": 1}))
	if !testkit.AckSuccess(ack) || testkit.RoomSize(t, srv2, "user_u9") != 1 {
		t.Fatalf("custom claim: %v %v", ack, srv2.Stats().Rooms)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, cfg := range map[string]server.Config{
		"no key":        {},
		"alg none":      {JWT: server.JWT{Secret: testSecret, Algorithms: []string{"none"}}},
		"unknown alg":   {JWT: server.JWT{Secret: testSecret, Algorithms: []string{"XX1"}}},
		"relative path": {JWT: server.JWT{Secret: testSecret}, Path: "socket.io"},
		"missing dir":   {JWT: server.JWT{Secret: testSecret}, ClientDir: "/does/not/exist"},
		"empty CORS":    {JWT: server.JWT{Secret: testSecret}, CORS: &server.CORS{}},
	} {
		if _, err := server.New(cfg); err == nil || !strings.HasPrefix(err.Error(), "server: ") {
			t.Errorf("%s: New() err = %v", name, err)
		}
	}
}

func TestKeySetRotationKeepsOnlyFittingKeys(t *testing.T) {
	priv, _ := rsaKey(t)
	oldSecret, newSecret := []byte("old-secret-of-at-least-32-bytes-0123"), []byte("new-secret-of-at-least-32-bytes-0123")
	sign := func(secret []byte, id int) string {
		tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, expiring(jwt.MapClaims{"id": id})).SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	srv, url := startServer(t, server.Config{JWT: server.JWT{
		Algorithms: []string{"HS256", "RS256"},
		// During a rotation both secrets verify; the RSA key in the set must
		// never serve as an HMAC secret.
		KeyFunc: func(*jwt.Token) (any, error) {
			return jwt.VerificationKeySet{Keys: []jwt.VerificationKey{&priv.PublicKey, oldSecret, newSecret}}, nil
		},
	}})
	for i, secret := range [][]byte{oldSecret, newSecret} {
		c := testkit.Dial(t, url, sioclient.Options{})
		ack, err := c.EmitAck(testkit.Context(t), "auth", sign(secret, i+1))
		if err != nil || !testkit.AckSuccess(ack) {
			t.Fatalf("token signed with key %d of the set: ack %v, err %v", i+1, ack, err)
		}
	}
	c := testkit.Dial(t, url, sioclient.Options{})
	expectRefusedAuth(t, srv, c, sign([]byte("some-other-secret-of-at-least-32-bytes"), 3))

	srvRSAOnly, urlRSAOnly := startServer(t, server.Config{JWT: server.JWT{
		Algorithms: []string{"HS256", "RS256"},
		KeyFunc: func(*jwt.Token) (any, error) {
			return jwt.VerificationKeySet{Keys: []jwt.VerificationKey{&priv.PublicKey}}, nil
		},
	}})
	expectRefusedAuth(t, srvRSAOnly, testkit.Dial(t, urlRSAOnly, sioclient.Options{}), sign(oldSecret, 1))
}

func TestTokensWithoutExpiryOrPositiveIDAreRefusedByDefault(t *testing.T) {
	srv, url := startServer(t, server.Config{})
	c := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly})
	for name, tok := range map[string]string{
		"no exp":         tokenExactly(t, jwt.MapClaims{"id": 1}),
		"negative id":    token(t, jwt.MapClaims{"id": -5}),
		"zero id":        token(t, jwt.MapClaims{"id": 0}),
		"negative big":   token(t, jwt.MapClaims{"id": json.Number("-9007199254740993")}),
		"negative, sub":  token(t, jwt.MapClaims{"sub": -1}),
		"zero, user_id":  token(t, jwt.MapClaims{"user_id": 0}),
		"no exp, string": tokenExactly(t, jwt.MapClaims{"id": "alice"}),
	} {
		t.Run(name, func(t *testing.T) {
			expectRefusedAuth(t, srv, c, tok)
			if _, err := srv.VerifyToken(tok); !errors.Is(err, server.ErrInvalidToken) {
				t.Fatalf("VerifyToken: %v, want ErrInvalidToken", err)
			}
		})
	}
	// The handshake's token is verified the same way.
	_, err := sioclient.Dial(testkit.Context(t), url, sioclient.Options{
		Transport: sioclient.WebSocketOnly,
		Auth:      map[string]any{"token": token(t, jwt.MapClaims{"id": -5})},
	})
	if err == nil || !strings.Contains(err.Error(), "Invalid token") {
		t.Fatalf("handshake with a negative id: %v, want Invalid token", err)
	}
	// A string id that looks negative is a string: not a number, accepted.
	ack, err := c.EmitAck(testkit.Context(t), "auth", token(t, jwt.MapClaims{"id": "-5"}))
	if err != nil || !testkit.AckSuccess(ack) || testkit.RoomSize(t, srv, "user_-5") != 1 {
		t.Fatalf("string id \"-5\": ack %v err %v rooms %v", ack, err, srv.Stats().Rooms)
	}
}

func TestTokenOptionsAllowNoExpiryAndNonPositiveIDs(t *testing.T) {
	srv, url := startServer(t, server.Config{JWT: server.JWT{
		Secret: testSecret, AllowNoExpiry: true, AllowNonPositiveIDs: true,
	}})
	for _, tc := range []struct {
		tok  string
		room string
	}{
		{tokenExactly(t, jwt.MapClaims{"id": 7}), "user_7"},
		{token(t, jwt.MapClaims{"id": -5}), "user_-5"},
		{token(t, jwt.MapClaims{"id": 0}), "user_0"},
		{tokenExactly(t, jwt.MapClaims{"id": -6}), "user_-6"},
	} {
		c := testkit.Dial(t, url, sioclient.Options{Transport: sioclient.WebSocketOnly})
		ack, err := c.EmitAck(testkit.Context(t), "auth", tc.tok)
		if err != nil || !testkit.AckSuccess(ack) {
			t.Fatalf("%s: ack %v err %v", tc.room, ack, err)
		}
		if testkit.RoomSize(t, srv, tc.room) != 1 {
			t.Fatalf("%s: rooms %v", tc.room, srv.Stats().Rooms)
		}
		u, err := srv.VerifyToken(tc.tok)
		if err != nil || "user_"+u.ID != tc.room {
			t.Fatalf("VerifyToken: %+v %v", u, err)
		}
	}
	// A token with no exp never expires: ExpiresAt is zero.
	if u, _ := srv.VerifyToken(tokenExactly(t, jwt.MapClaims{"id": 7})); !u.ExpiresAt.IsZero() {
		t.Fatalf("ExpiresAt = %v, want zero", u.ExpiresAt)
	}
	// Each option allows only its own case.
	srvExp, urlExp := startServer(t, server.Config{JWT: server.JWT{Secret: testSecret, AllowNoExpiry: true}})
	expectRefusedAuth(t, srvExp, testkit.Dial(t, urlExp, sioclient.Options{}), tokenExactly(t, jwt.MapClaims{"id": -1}))
	srvNeg, urlNeg := startServer(t, server.Config{JWT: server.JWT{Secret: testSecret, AllowNonPositiveIDs: true}})
	expectRefusedAuth(t, srvNeg, testkit.Dial(t, urlNeg, sioclient.Options{}), tokenExactly(t, jwt.MapClaims{"id": 1}))
}

func TestValidateRefusesTokensForSocketsAndVerifyToken(t *testing.T) {
	srv, url := startServer(t, server.Config{JWT: server.JWT{
		Secret: testSecret,
		Validate: func(u server.User) error {
			if u.ID == "13" {
				return errors.New("user 13 is banned")
			}
			return nil
		},
	}})
	banned := token(t, jwt.MapClaims{"id": 13})
	expectRefusedAuth(t, srv, testkit.Dial(t, url, sioclient.Options{}), banned)
	if _, err := srv.VerifyToken(banned); !errors.Is(err, server.ErrInvalidToken) || !strings.Contains(err.Error(), "banned") {
		t.Fatalf("VerifyToken: %v", err)
	}
	if _, err := srv.VerifyToken(token(t, jwt.MapClaims{"id": 12})); err != nil {
		t.Fatalf("VerifyToken of user 12: %v", err)
	}
	if got := srv.Stats().AuthFailures; got != 1 {
		t.Fatalf("AuthFailures = %d, want 1 (VerifyToken does not count)", got)
	}
	expired := token(t, jwt.MapClaims{"id": 12, "exp": time.Now().Add(-time.Minute).Unix()})
	if _, err := srv.VerifyToken(expired); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("VerifyToken of an expired token: %v, want jwt.ErrTokenExpired", err)
	}
}

// An HMAC secret shorter than its hash (RFC 7518 §3.2: 32 bytes for HS256,
// 48 for HS384, 64 for HS512) can be brute-forced from one token: New
// refuses it, naming the length and the minimum.
func TestNewRefusesShortHMACSecret(t *testing.T) {
	for _, c := range []struct {
		secret     string
		algorithms []string
		want       string
	}{
		{"12345", nil, "JWT.Secret is 5 bytes; HS256 needs at least 32"},
		{strings.Repeat("s", 31), nil, "JWT.Secret is 31 bytes; HS256 needs at least 32"},
		{strings.Repeat("s", 47), []string{"HS384"}, "JWT.Secret is 47 bytes; HS384 needs at least 48"},
		{strings.Repeat("s", 40), []string{"HS256", "HS512"}, "JWT.Secret is 40 bytes; HS512 needs at least 64"},
	} {
		_, err := server.New(server.Config{JWT: server.JWT{Secret: []byte(c.secret), Algorithms: c.algorithms}})
		if err == nil || !strings.HasPrefix(err.Error(), "server: ") || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%d-byte secret, %v: New() err = %v, want %q", len(c.secret), c.algorithms, err, c.want)
		}
	}
	for _, c := range []struct {
		secret     string
		algorithms []string
	}{
		{strings.Repeat("s", 32), nil},
		{strings.Repeat("s", 48), []string{"HS384"}},
		{strings.Repeat("s", 64), []string{"HS256", "HS512"}},
		// The secret only matters for the HMAC algorithms.
		{"short", []string{"RS256"}},
	} {
		srv, err := server.New(server.Config{JWT: server.JWT{Secret: []byte(c.secret), Algorithms: c.algorithms}, Logger: testkit.Logger(t)})
		if err != nil {
			t.Errorf("%d-byte secret, %v: %v", len(c.secret), c.algorithms, err)
			continue
		}
		_ = srv.Close(testkit.Context(t))
	}
}

// JWT.AllowShortSecret lets a test run with a short secret, which then
// verifies tokens as any secret does.
func TestAllowShortSecret(t *testing.T) {
	secret := []byte("short")
	srv, url := startServer(t, server.Config{JWT: server.JWT{Secret: secret, AllowShortSecret: true}})
	tok, err := jwt.NewWithClaims(jwt.SigningMethodHS256, expiring(jwt.MapClaims{"id": 3})).SignedString(secret)
	if err != nil {
		t.Fatal(err)
	}
	c := testkit.Dial(t, url, sioclient.Options{})
	if ack, err := c.EmitAck(testkit.Context(t), "auth", tok); err != nil || !testkit.AckSuccess(ack) {
		t.Fatalf("auth with the short secret: ack %v, err %v", ack, err)
	}
	if !testkit.Online(t, srv, 3) {
		t.Fatal("user 3 not online")
	}
}
