package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/sioclient"
	"github.com/entreactive/reactive/internal/testkit"
)

// testSecret is the JWT secret of the apps start starts.
var testSecret = []byte(testkit.Secret)

// env is a running app on a loopback port with an in-memory database.
type env struct {
	t    *testing.T
	app  *app.App
	url  string
	mark atomic.Int64
}

// start runs an app with cfg (DB, secret and logger filled in when unset)
// on a random loopback port, closed at the end of the test.
func start(t *testing.T, cfg app.Config) *env {
	t.Helper()
	if cfg.DB == "" {
		cfg.DB = app.MemoryDB
	}
	if cfg.JWTSecret == nil {
		cfg.JWTSecret = testSecret
	}
	if cfg.Logger == nil {
		cfg.Logger = testkit.Logger(t)
	}
	a, err := app.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("app.New: %v", err)
	}
	hs := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), testkit.Wait)
		defer cancel()
		if err := a.Close(ctx); err != nil {
			t.Errorf("Close: %v", err)
		}
		hs.Close()
	})
	return &env{t: t, app: a, url: hs.URL}
}

// response is an HTTP answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// decode decodes the body into v, failing the test if it is not JSON.
func (r response) decode(t *testing.T, v any) {
	t.Helper()
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("status %d: body %q is not the expected JSON: %v", r.status, r.body, err)
	}
}

// errorMessage returns the "error" of a JSON error body, failing the test
// if the body is not exactly {"error": "non-empty"}.
func (r response) errorMessage(t *testing.T) string {
	t.Helper()
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("status %d: Content-Type %q, want application/json", r.status, ct)
	}
	var body map[string]any
	r.decode(t, &body)
	msg, ok := body["error"].(string)
	if !ok || msg == "" || len(body) != 1 {
		t.Fatalf("status %d: body %s, want {\"error\":\"...\"}", r.status, r.body)
	}
	return msg
}

// do sends a request. body is sent as is when it is a string or []byte,
// encoded as JSON otherwise; nil sends no body.
func (e *env) do(method, path, token string, body any) response {
	e.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		if err != nil {
			e.t.Fatal(err)
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(testkit.Context(e.t), method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{status: res.StatusCode, header: res.Header, body: raw}
}

// must sends a request and fails the test unless the status is want; it
// decodes the body into out when out is not nil.
func (e *env) must(want int, method, path, token string, body, out any) {
	e.t.Helper()
	r := e.do(method, path, token, body)
	if r.status != want {
		e.t.Fatalf("%s %s: status %d, want %d; body %s", method, path, r.status, want, r.body)
	}
	if out != nil {
		r.decode(e.t, out)
	}
}

// login returns a token for user id.
func (e *env) login(id int64) string {
	e.t.Helper()
	var out struct{ Token string }
	e.must(http.StatusOK, "POST", "/api/login", "", map[string]any{"user_id": id}, &out)
	if out.Token == "" {
		e.t.Fatal("login: empty token")
	}
	return out.Token
}

// user is a logged-in user with an authenticated socket.
type user struct {
	id    int64
	token string
	sock  *sioclient.Client
}

// connect logs in user id and connects an authenticated socket for it.
func (e *env) connect(id int64) *user {
	e.t.Helper()
	u := &user{id: id, token: e.login(id)}
	u.sock = e.socket(u.token)
	return u
}

// dial connects a guest socket.
func (e *env) dial() *sioclient.Client {
	e.t.Helper()
	return e.socket("")
}

// socket connects a socket, authenticated with token unless it is empty,
// and returns it once a first request has had its answer.
func (e *env) socket(token string) *sioclient.Client {
	e.t.Helper()
	ctx := testkit.Context(e.t)
	// Websocket only: the Go client can lose packets sent while it upgrades
	// from polling (the Node and browser tests cover the upgrade).
	c, err := sioclient.Dial(ctx, e.url, sioclient.Options{Transport: sioclient.WebSocketOnly})
	if err != nil {
		e.t.Fatalf("socket: %v", err)
	}
	e.t.Cleanup(c.Close)
	if _, err := c.Next(ctx, "connected"); err != nil {
		e.t.Fatalf("socket: %v", err)
	}
	if token == "" {
		// A guest's first request: a join that is refused.
		if _, err := c.EmitAck(ctx, "join", "conversation_1"); err != nil {
			e.t.Fatalf("socket: first join: %v", err)
		}
		return c
	}
	ack, err := c.EmitAck(ctx, "auth", token)
	if err != nil {
		e.t.Fatalf("socket: auth: %v", err)
	}
	if !testkit.AckSuccess(ack) {
		e.t.Fatalf("auth: ack %v", ack)
	}
	if _, err := c.Next(ctx, "authenticated"); err != nil {
		e.t.Fatalf("socket: %v", err)
	}
	return c
}

// join asks for room on u's socket and reports whether it was allowed; a
// refusal must carry the error "forbidden".
func (e *env) join(u *user, room string) bool {
	e.t.Helper()
	ack, err := u.sock.EmitAck(testkit.Context(e.t), "join", room)
	if err != nil {
		e.t.Fatalf("join %s: %v", room, err)
	}
	if testkit.AckSuccess(ack) {
		return true
	}
	if m, _ := ack[0].(map[string]any); len(ack) != 1 || m["error"] != "forbidden" {
		e.t.Fatalf("join %s: ack %v, want success or {success:false, error:forbidden}", room, ack)
	}
	return false
}

// conversation creates a conversation of owner with others and returns its id.
func (e *env) conversation(owner *user, others ...int64) int {
	e.t.Helper()
	var out struct{ ID int }
	e.must(http.StatusCreated, "POST", "/api/conversations", owner.token, map[string]any{"member_ids": others}, &out)
	return out.ID
}

// message is a message row as the API and the events carry it.
type message struct {
	ID             int       `json:"id"`
	ConversationID int       `json:"conversation_id"`
	SenderID       int64     `json:"sender_id"`
	RecipientID    int64     `json:"recipient_id"`
	Text           string    `json:"text"`
	CreatedAt      time.Time `json:"created_at"`
	UpdatedAt      time.Time `json:"updated_at"`
}

// send posts a message from u and returns the row.
func (e *env) send(u *user, conv int, to int64, text string) message {
	e.t.Helper()
	var m message
	e.must(http.StatusCreated, "POST", "/api/messages", u.token,
		map[string]any{"conversation_id": conv, "recipient_id": to, "text": text}, &m)
	return m
}

// event is a "reactive" event as received by a socket.
type event struct {
	Action    string          `json:"action"`
	Model     string          `json:"model"`
	ID        json.Number     `json:"id"`
	Data      json.RawMessage `json:"data"`
	Changed   []string        `json:"changed"`
	Timestamp int64           `json:"timestamp"`
}

// message decodes the event's data as a message.
func (ev event) message(t *testing.T) message {
	t.Helper()
	var m message
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		t.Fatalf("event data %s: %v", ev.Data, err)
	}
	return m
}

// nextEvent returns the next "reactive" event c receives.
func nextEvent(t *testing.T, c *sioclient.Client) event {
	t.Helper()
	args, err := c.Next(testkit.Context(t), "reactive")
	if err != nil {
		t.Fatal(err)
	}
	// The event, then its offset (the app runs with connection state
	// recovery).
	if off, _ := args[len(args)-1].(string); len(args) != 2 || off == "" {
		t.Fatalf("reactive event with arguments %v, want the event and its offset", args)
	}
	raw, err := json.Marshal(args[0])
	if err != nil {
		t.Fatal(err)
	}
	var ev event
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		t.Fatalf("reactive event %s: %v", raw, err)
	}
	return ev
}

// barrier posts a notification, which reaches every authenticated socket,
// and returns, for each user, the events received before it. Events leave
// the server in commit order, so once the barrier has arrived every earlier
// event has too: what is missing from the result was never sent.
func (e *env) barrier(users ...*user) [][]event {
	e.t.Helper()
	text := fmt.Sprintf("barrier %d", e.mark.Add(1))
	e.must(http.StatusCreated, "POST", "/api/notifications", "", map[string]string{"message": text}, nil)
	out := make([][]event, len(users))
	for i, u := range users {
		for {
			ev := nextEvent(e.t, u.sock)
			var n struct{ Message string }
			if ev.Model == "Notification" && json.Unmarshal(ev.Data, &n) == nil && n.Message == text {
				break
			}
			out[i] = append(out[i], ev)
		}
	}
	return out
}
