package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/server"
)

// MaxID is the largest user id the app accepts: 2^53, the largest integer
// every JSON client (JavaScript included) reads exactly.
const MaxID = 1 << 53

// claims are the claims of the app's tokens: the user id in "id" (a JSON
// number) and the expiry in "exp".
type claims struct {
	ID int64 `json:"id"`
	jwt.RegisteredClaims
}

// signToken returns an HS256 token for user id, valid for ttl.
func (a *App) signToken(id int64, now time.Time) (string, error) {
	c := claims{
		ID: id,
		RegisteredClaims: jwt.RegisteredClaims{
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(a.cfg.TokenTTL)),
		},
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodHS256, c).SignedString(a.cfg.JWTSecret)
	if err != nil {
		return "", fmt.Errorf("sign token: %w", err)
	}
	return s, nil
}

// bearer returns the user id of the request's "Authorization: Bearer"
// token, or a 401 apiError. The token is verified by the Socket.IO server
// (Server.VerifyToken), so the API and the sockets accept and refuse the
// same tokens.
func (a *App) bearer(r *http.Request) (int64, error) {
	h := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(h, " ")
	if h == "" {
		return 0, errorf(http.StatusUnauthorized, "missing Authorization: Bearer token (POST /api/login gives one)")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return 0, errorf(http.StatusUnauthorized, "the Authorization header must be \"Bearer <token>\"")
	}
	u, err := a.srv.VerifyToken(strings.TrimSpace(token))
	switch {
	case errors.Is(err, jwt.ErrTokenExpired):
		return 0, errorf(http.StatusUnauthorized, "token expired: log in again")
	case err != nil:
		return 0, errorf(http.StatusUnauthorized, "invalid token")
	}
	id, err := userID(u)
	if err != nil { // validateUser has passed: cannot happen
		return 0, errorf(http.StatusUnauthorized, "invalid token")
	}
	return id, nil
}

// jwtConfig is how the Socket.IO server verifies the app's tokens, for the
// sockets and for the API (bearer): HS256 with the app's secret, an "exp"
// required (the server's default), the user id in "id" and validateUser.
func jwtConfig(secret []byte) server.JWT {
	return server.JWT{
		Secret:       secret,
		Algorithms:   []string{jwt.SigningMethodHS256.Alg()},
		UserIDClaims: []string{"id"},
		Validate:     validateUser,
	}
}

// validateUser accepts the user ids the app hands out: a JSON number from
// 1 to MaxID in the "id" claim.
func validateUser(u server.User) error {
	_, err := userID(u)
	return err
}

// userID returns the user id of a verified token: its "id" claim, which
// must be a JSON number from 1 to MaxID.
func userID(u server.User) (int64, error) {
	n, ok := u.Claims["id"].(json.Number)
	if !ok {
		return 0, fmt.Errorf("app: claim \"id\" is not a number")
	}
	id, err := strconv.ParseInt(string(n), 10, 64)
	if err != nil || id < 1 || id > MaxID {
		return 0, fmt.Errorf("app: user id %s is not an integer from 1 to %d", n, int64(MaxID))
	}
	return id, nil
}

// authed adapts a handler that needs the caller's user id.
func (a *App) authed(h func(w http.ResponseWriter, r *http.Request, uid int64) error) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		uid, err := a.bearer(r)
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="entreactive-example"`)
			return err
		}
		return h(w, r, uid)
	}
}

// checkID refuses ids outside 1..MaxID with a 400 naming the field.
func checkID(field string, id int64) error {
	if id < 1 || id > MaxID {
		return errorf(http.StatusBadRequest, "%q must be an integer from 1 to %d, not %d", field, int64(MaxID), id)
	}
	return nil
}

// pathID parses the {name} path value as an id, or returns a 400.
func pathID(r *http.Request, name string) (int, error) {
	s := r.PathValue(name)
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || id > MaxID {
		return 0, errorf(http.StatusBadRequest, "%s %q is not an integer from 1 to %d", name, s, int64(MaxID))
	}
	return int(id), nil
}

// queryID parses the query parameter name as an id, or returns a 400.
func queryID(r *http.Request, name string) (int, error) {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0, errorf(http.StatusBadRequest, "query parameter %q is required", name)
	}
	id, err := strconv.ParseInt(s, 10, 64)
	if err != nil || id < 1 || id > MaxID {
		return 0, errorf(http.StatusBadRequest, "query parameter %s=%q is not an integer from 1 to %d", name, s, int64(MaxID))
	}
	return int(id), nil
}
