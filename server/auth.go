package server

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// JWT configures how tokens sent with the "auth" event or in the handshake's
// auth.token are verified.
type JWT struct {
	// Secret is the HMAC key for the default key function. Either Secret or
	// KeyFunc must be set. It must be at least as long as the hash of every
	// HMAC algorithm in Algorithms (RFC 7518 §3.2): 32 bytes for HS256, 48
	// for HS384, 64 for HS512; New refuses a shorter one unless
	// AllowShortSecret is set. Use random bytes (openssl rand -hex 32).
	Secret []byte
	// AllowShortSecret accepts a Secret shorter than its algorithm's hash.
	// A short secret can be found from a single token by brute force, and
	// then anyone can mint tokens for any user: this is for tests only.
	AllowShortSecret bool
	// KeyFunc, when set, returns the key that verifies a token (see
	// jwt.Keyfunc); it replaces Secret. Use it for RS256, ES256, EdDSA or key
	// rotation (return a jwt.VerificationKeySet). The server still enforces
	// Algorithms and checks that the key's type matches the token's
	// algorithm family; of a key set, only the fitting keys are tried.
	KeyFunc jwt.Keyfunc
	// Algorithms lists the accepted "alg" values. Default: ["HS256"].
	// "none" is never accepted.
	Algorithms []string
	// UserIDClaims are the claims tried, in order, for the user id. The first
	// one present decides: it must be a string or an integer. Default:
	// ["id", "user_id", "sub"].
	UserIDClaims []string
	// Leeway is the clock skew tolerated on exp, nbf and iat. Default: 0.
	Leeway time.Duration
	// MaxTokenBytes bounds the token's length; longer tokens are refused
	// before parsing. Default: 8192.
	MaxTokenBytes int
	// AllowNoExpiry accepts tokens without an "exp" claim. Such a token
	// never expires: whoever holds it is that user for good. By default it
	// is refused.
	AllowNoExpiry bool
	// AllowNonPositiveIDs accepts numeric user ids below 1. By default a
	// user id that is a JSON number must be 1 or more: 0 is refused too,
	// as it is the zero value of an unset id field (a token minted from an
	// uninitialised struct would otherwise log its holder in as "user 0"),
	// and databases number rows from 1. String ids are not affected.
	AllowNonPositiveIDs bool
	// Validate, when set, runs after a token has verified (signature,
	// algorithm, time claims, user id); an error refuses the token as
	// invalid. Use it for the application's own rules, e.g. a range of ids,
	// so that Server.VerifyToken and the sockets refuse the same tokens.
	Validate func(u User) error
}

// Defaults of JWT.
const (
	DefaultMaxTokenBytes = 8192
)

// DefaultUserIDClaims are the claims tried for the user id when
// JWT.UserIDClaims is empty.
var defaultUserIDClaims = []string{"id", "user_id", "sub"}

// User is the identity of an authenticated socket.
type User struct {
	// ID is the user id from the token, in plain decimal for numbers.
	ID string
	// Claims are the token's verified claims. Numbers are json.Number.
	Claims map[string]any
	// ExpiresAt is the token's exp, or the zero time when it has none.
	ExpiresAt time.Time

	// raw is the id as found in the token (string or json.Number), sent
	// back in "authenticated".
	raw any
}

// verifier checks tokens against one JWT configuration.
type verifier struct {
	parser         *jwt.Parser
	keyFunc        jwt.Keyfunc
	claims         []string
	maxBytes       int
	nonPositiveIDs bool
	validate       func(User) error
}

func newVerifier(c JWT) (*verifier, error) {
	if len(c.Secret) == 0 && c.KeyFunc == nil {
		return nil, errors.New("server: JWT.Secret or JWT.KeyFunc is required")
	}
	algs := c.Algorithms
	if len(algs) == 0 {
		algs = []string{jwt.SigningMethodHS256.Alg()}
	}
	for _, a := range algs {
		if a == "" || a == "none" || jwt.GetSigningMethod(a) == nil {
			return nil, fmt.Errorf("server: JWT algorithm %q is not supported", a)
		}
	}
	if c.KeyFunc == nil && !c.AllowShortSecret {
		if err := checkSecretLength(c.Secret, algs); err != nil {
			return nil, err
		}
	}
	claims := c.UserIDClaims
	if len(claims) == 0 {
		claims = defaultUserIDClaims
	}
	maxBytes := c.MaxTokenBytes
	if maxBytes <= 0 {
		maxBytes = DefaultMaxTokenBytes
	}
	userKey := c.KeyFunc
	if userKey == nil {
		secret := append([]byte(nil), c.Secret...)
		userKey = func(*jwt.Token) (any, error) { return secret, nil }
	}
	opts := []jwt.ParserOption{
		jwt.WithValidMethods(algs),
		jwt.WithJSONNumber(),
		jwt.WithIssuedAt(),
	}
	if c.Leeway > 0 {
		opts = append(opts, jwt.WithLeeway(c.Leeway))
	}
	if !c.AllowNoExpiry {
		opts = append(opts, jwt.WithExpirationRequired())
	}
	return &verifier{
		parser:         jwt.NewParser(opts...),
		keyFunc:        matchingKey(userKey),
		claims:         claims,
		maxBytes:       maxBytes,
		nonPositiveIDs: c.AllowNonPositiveIDs,
		validate:       c.Validate,
	}, nil
}

// checkSecretLength refuses an HMAC secret shorter than the hash of the
// strongest HMAC algorithm of algs (RFC 7518 §3.2).
func checkSecretLength(secret []byte, algs []string) error {
	need, alg := 0, ""
	for _, a := range algs {
		m, ok := jwt.GetSigningMethod(a).(*jwt.SigningMethodHMAC)
		if ok && m.Hash.Size() > need {
			need, alg = m.Hash.Size(), a
		}
	}
	if len(secret) < need {
		return fmt.Errorf("server: JWT.Secret is %d bytes; %s needs at least %d (RFC 7518 §3.2): "+
			"use a longer random secret (openssl rand -hex 32), or set JWT.AllowShortSecret in tests", len(secret), alg, need)
	}
	return nil
}

// matchingKey wraps a key function so that the key's type must fit the
// token's algorithm family: an RSA public key can never be used as an HMAC
// secret (the RS/HS confusion attack), whatever the key function returns.
// From a jwt.VerificationKeySet (key rotation) only the fitting keys are
// kept.
func matchingKey(kf jwt.Keyfunc) jwt.Keyfunc {
	return func(t *jwt.Token) (any, error) {
		key, err := kf(t)
		if err != nil {
			return nil, err
		}
		if set, ok := key.(jwt.VerificationKeySet); ok {
			var fitting jwt.VerificationKeySet
			for _, k := range set.Keys {
				if keyFits(t.Method, k) {
					fitting.Keys = append(fitting.Keys, k)
				}
			}
			if len(fitting.Keys) == 0 {
				return nil, fmt.Errorf("no key of the set fits algorithm %s", t.Method.Alg())
			}
			return fitting, nil
		}
		if !keyFits(t.Method, key) {
			return nil, fmt.Errorf("key of type %T does not fit algorithm %s", key, t.Method.Alg())
		}
		return key, nil
	}
}

// keyFits reports whether key's type belongs to the algorithm family of m.
func keyFits(m jwt.SigningMethod, key any) bool {
	ok := false
	switch m.(type) {
	case *jwt.SigningMethodHMAC:
		_, ok = key.([]byte)
	case *jwt.SigningMethodRSA, *jwt.SigningMethodRSAPSS:
		_, ok = key.(*rsa.PublicKey)
	case *jwt.SigningMethodECDSA:
		_, ok = key.(*ecdsa.PublicKey)
	case *jwt.SigningMethodEd25519:
		_, ok = key.(ed25519.PublicKey)
	}
	return ok
}

// verify checks a token as received from a client (any JSON value).
func (v *verifier) verify(raw any) (User, error) {
	token, ok := raw.(string)
	if !ok {
		return User{}, fmt.Errorf("%w: token is a %T, not a string", ErrInvalidToken, raw)
	}
	if token == "" || len(token) > v.maxBytes {
		return User{}, fmt.Errorf("%w: token length %d", ErrInvalidToken, len(token))
	}
	claims := jwt.MapClaims{}
	if _, err := v.parser.ParseWithClaims(token, claims, v.keyFunc); err != nil {
		return User{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	id, raw, err := v.userID(claims)
	if err != nil {
		return User{}, err
	}
	u := User{ID: id, Claims: claims, raw: raw}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		u.ExpiresAt = exp.Time
	}
	if v.validate != nil {
		if err := v.validate(u); err != nil {
			return User{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
		}
	}
	return u, nil
}

func (v *verifier) userID(claims jwt.MapClaims) (id string, raw any, err error) {
	for _, name := range v.claims {
		val, ok := claims[name]
		if !ok || val == nil {
			continue
		}
		switch val.(type) {
		case string, json.Number:
		default:
			return "", nil, fmt.Errorf("%w: claim %q is a %T", ErrInvalidToken, name, val)
		}
		id, ok := FormatID(val)
		if !ok {
			return "", nil, fmt.Errorf("%w: claim %q is not a usable id", ErrInvalidToken, name)
		}
		if _, number := val.(json.Number); number && !v.nonPositiveIDs && !positive(id) {
			return "", nil, fmt.Errorf("%w: claim %q is %s, not a positive id", ErrInvalidToken, name, id)
		}
		return id, val, nil
	}
	return "", nil, fmt.Errorf("%w: no user id claim (%v)", ErrInvalidToken, v.claims)
}

// positive reports whether id, an integer in plain decimal (see
// FormatID), is 1 or more.
func positive(id string) bool {
	return !strings.HasPrefix(id, "-") && strings.Trim(id, "0") != ""
}

// VerifyToken verifies a token exactly as the server verifies the tokens
// of sockets ("auth" and the handshake's auth.token), so that an app's
// HTTP API can accept and refuse the same bearer tokens. The error wraps
// ErrInvalidToken and, when there is one, the jwt package's reason (e.g.
// errors.Is(err, jwt.ErrTokenExpired)). It does not count in
// Stats.AuthFailures, which counts sockets' refused tokens.
func (s *Server) VerifyToken(token string) (User, error) {
	return s.verifier.verify(token)
}

type userKey struct{}

// WithUser returns a copy of ctx that carries u.
func WithUser(ctx context.Context, u User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFromContext returns the user carried by ctx. Contexts passed to join
// authorizers, event handlers and hooks carry the socket's user when it is
// authenticated.
func UserFromContext(ctx context.Context) (User, bool) {
	u, ok := ctx.Value(userKey{}).(User)
	return u, ok
}
