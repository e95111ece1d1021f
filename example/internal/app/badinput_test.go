package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/example/internal/app"
)

// TestBadInput sends malformed, mistyped, incomplete, unknown, forbidden
// and oversized requests to every endpoint: each gets the documented 4xx
// with {"error":"..."}, and nothing is stored.
func TestBadInput(t *testing.T) {
	e := start(t, app.Config{})
	alice, bob, carol := e.login(1), e.login(2), e.login(3)
	conv := e.conversation(&user{id: 1, token: alice}, 2)
	other := e.conversation(&user{id: 2, token: bob}, 3) // alice is not a member
	var aliceMsg message
	e.must(http.StatusCreated, "POST", "/api/messages", alice, map[string]any{"conversation_id": conv, "recipient_id": 2, "text": "mine"}, &aliceMsg)
	msgPath := fmt.Sprintf("/api/messages/%d", aliceMsg.ID)

	sign := func(claims jwt.MapClaims, method jwt.SigningMethod, key any) string {
		s, err := jwt.NewWithClaims(method, claims).SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hour := time.Now().Add(time.Hour).Unix()
	expired := sign(jwt.MapClaims{"id": 1, "exp": time.Now().Add(-time.Minute).Unix()}, jwt.SigningMethodHS256, testSecret)
	wrongKey := sign(jwt.MapClaims{"id": 1, "exp": hour}, jwt.SigningMethodHS256, []byte("another-secret-another-secret-!!"))
	noExp := sign(jwt.MapClaims{"id": 1}, jwt.SigningMethodHS256, testSecret)
	stringID := sign(jwt.MapClaims{"id": "1", "exp": hour}, jwt.SigningMethodHS256, testSecret)
	noneAlg := sign(jwt.MapClaims{"id": 1, "exp": hour}, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType)
	gone := sign(jwt.MapClaims{"id": 77, "exp": hour}, jwt.SigningMethodHS256, testSecret) // never logged in

	big := `{"message":"` + strings.Repeat("x", app.DefaultMaxBodyBytes) + `"}`
	msg := func(fields string) string { return fmt.Sprintf(`{%s}`, fields) }
	convField := fmt.Sprintf(`"conversation_id":%d`, conv)

	cases := []struct {
		name         string
		method, path string
		token        string
		body         string
		want         int
	}{
		// POST /api/login
		{"login: no body", "POST", "/api/login", "", "", 400},
		{"login: malformed", "POST", "/api/login", "", `{"user_id":`, 400},
		{"login: not JSON", "POST", "/api/login", "", `user_id=1`, 400},
		{"login: id as string", "POST", "/api/login", "", `{"user_id":"1"}`, 400},
		{"login: fractional id", "POST", "/api/login", "", `{"user_id":1.5}`, 400},
		{"login: zero", "POST", "/api/login", "", `{"user_id":0}`, 400},
		{"login: negative", "POST", "/api/login", "", `{"user_id":-4}`, 400},
		{"login: above 2^53", "POST", "/api/login", "", `{"user_id":9007199254740993}`, 400},
		{"login: beyond int64", "POST", "/api/login", "", `{"user_id":99999999999999999999}`, 400},
		{"login: missing", "POST", "/api/login", "", `{}`, 400},
		{"login: null", "POST", "/api/login", "", `{"user_id":null}`, 400},
		{"login: unknown field", "POST", "/api/login", "", `{"user_id":1,"admin":true}`, 400},
		{"login: array", "POST", "/api/login", "", `[1]`, 400},
		{"login: trailing data", "POST", "/api/login", "", `{"user_id":1} {"user_id":2}`, 400},
		{"login: oversized", "POST", "/api/login", "", `{"user_id":1,"x":"` + strings.Repeat("x", app.DefaultMaxBodyBytes) + `"}`, 413},
		{"login: GET", "GET", "/api/login", "", "", 405},

		// POST /api/notifications, GET /api/notifications
		{"notification: malformed", "POST", "/api/notifications", "", `{"message":"x"`, 400},
		{"notification: number", "POST", "/api/notifications", "", `{"message":42}`, 400},
		{"notification: missing", "POST", "/api/notifications", "", `{}`, 400},
		{"notification: empty", "POST", "/api/notifications", "", `{"message":""}`, 422},
		{"notification: blank", "POST", "/api/notifications", "", `{"message":"   "}`, 422},
		{"notification: oversized", "POST", "/api/notifications", "", big, 413},
		{"notifications: DELETE", "DELETE", "/api/notifications", "", "", 405},

		// POST and GET /api/conversations
		{"conversation: no token", "POST", "/api/conversations", "", `{"member_ids":[2]}`, 401},
		{"conversation: garbage token", "POST", "/api/conversations", "garbage", `{"member_ids":[2]}`, 401},
		{"conversation: expired token", "POST", "/api/conversations", expired, `{"member_ids":[2]}`, 401},
		{"conversation: token of another secret", "POST", "/api/conversations", wrongKey, `{"member_ids":[2]}`, 401},
		{"conversation: token without exp", "POST", "/api/conversations", noExp, `{"member_ids":[2]}`, 401},
		{"conversation: token with a string id", "POST", "/api/conversations", stringID, `{"member_ids":[2]}`, 401},
		{"conversation: alg none", "POST", "/api/conversations", noneAlg, `{"member_ids":[2]}`, 401},
		{"conversation: user who never logged in", "POST", "/api/conversations", gone, `{"member_ids":[2]}`, 401},
		{"conversation: malformed", "POST", "/api/conversations", alice, `{"member_ids":[2,}`, 400},
		{"conversation: not an array", "POST", "/api/conversations", alice, `{"member_ids":2}`, 400},
		{"conversation: string ids", "POST", "/api/conversations", alice, `{"member_ids":["2"]}`, 400},
		{"conversation: missing", "POST", "/api/conversations", alice, `{}`, 400},
		{"conversation: zero id", "POST", "/api/conversations", alice, `{"member_ids":[0]}`, 400},
		{"conversation: unknown user", "POST", "/api/conversations", alice, `{"member_ids":[2,999]}`, 422},
		{"conversation: too many members", "POST", "/api/conversations", alice, `{"member_ids":[` + idList(2, 150) + `]}`, 422},
		{"conversation: unknown field", "POST", "/api/conversations", alice, `{"member_ids":[2],"name":"x"}`, 400},
		{"conversations: no token", "GET", "/api/conversations", "", "", 401},

		// POST /api/messages
		{"message: no token", "POST", "/api/messages", "", msg(convField + `,"recipient_id":2,"text":"x"`), 401},
		{"message: malformed", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":2,"text":"x"`)[:20], 400},
		{"message: text as number", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":2,"text":5`), 400},
		{"message: recipient as string", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":"2","text":"x"`), 400},
		{"message: conversation as object", "POST", "/api/messages", alice, msg(`"conversation_id":{},"recipient_id":2,"text":"x"`), 400},
		{"message: missing text", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":2`), 400},
		{"message: missing recipient", "POST", "/api/messages", alice, msg(convField + `,"text":"x"`), 400},
		{"message: missing conversation", "POST", "/api/messages", alice, msg(`"recipient_id":2,"text":"x"`), 400},
		{"message: empty text", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":2,"text":""`), 422},
		{"message: unknown conversation", "POST", "/api/messages", alice, msg(`"conversation_id":9999,"recipient_id":2,"text":"x"`), 404},
		{"message: not a member", "POST", "/api/messages", alice, msg(fmt.Sprintf(`"conversation_id":%d,"recipient_id":2,"text":"x"`, other)), 403},
		{"message: recipient not a member", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":3,"text":"x"`), 422},
		{"message: unknown recipient", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":888,"text":"x"`), 422},
		{"message: sender field", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":2,"text":"x","sender_id":2`), 400},
		{"message: oversized", "POST", "/api/messages", alice, msg(convField + `,"recipient_id":2,"text":"` + strings.Repeat("x", app.DefaultMaxBodyBytes) + `"`), 413},

		// GET /api/messages
		{"messages: no token", "GET", fmt.Sprintf("/api/messages?conversation_id=%d", conv), "", "", 401},
		{"messages: no conversation", "GET", "/api/messages", alice, "", 400},
		{"messages: bad conversation", "GET", "/api/messages?conversation_id=abc", alice, "", 400},
		{"messages: unknown conversation", "GET", "/api/messages?conversation_id=9999", alice, "", 404},
		{"messages: not a member", "GET", fmt.Sprintf("/api/messages?conversation_id=%d", other), alice, "", 403},

		// POST /api/messages/batch
		{"batch: no token", "POST", "/api/messages/batch", "", `[]`, 401},
		{"batch: malformed", "POST", "/api/messages/batch", alice, `[{"text":"x"`, 400},
		{"batch: an object", "POST", "/api/messages/batch", alice, msg(convField + `,"recipient_id":2,"text":"x"`), 400},
		{"batch: null", "POST", "/api/messages/batch", alice, `null`, 400},
		{"batch: empty", "POST", "/api/messages/batch", alice, `[]`, 400},
		{"batch: wrong type in an item", "POST", "/api/messages/batch", alice, `[` + msg(convField+`,"recipient_id":2,"text":"x"`) + `,` + msg(convField+`,"recipient_id":2,"text":7`) + `]`, 400},
		{"batch: too many", "POST", "/api/messages/batch", alice, `[` + strings.Repeat(msg(convField+`,"recipient_id":2,"text":"x"`)+`,`, 100) + msg(convField+`,"recipient_id":2,"text":"x"`) + `]`, 400},
		{"batch: empty text", "POST", "/api/messages/batch", alice, `[` + msg(convField+`,"recipient_id":2,"text":"x"`) + `,` + msg(convField+`,"recipient_id":2,"text":""`) + `]`, 422},
		{"batch: null item", "POST", "/api/messages/batch", alice, `[` + msg(convField+`,"recipient_id":2,"text":"x"`) + `,null]`, 422},
		{"batch: missing field", "POST", "/api/messages/batch", alice, `[` + msg(convField+`,"recipient_id":2,"text":"x"`) + `,` + msg(convField+`,"text":"x"`) + `]`, 422},
		{"batch: unknown conversation", "POST", "/api/messages/batch", alice, `[` + msg(convField+`,"recipient_id":2,"text":"x"`) + `,` + msg(`"conversation_id":9999,"recipient_id":2,"text":"x"`) + `]`, 422},
		{"batch: not a member", "POST", "/api/messages/batch", alice, `[` + msg(convField+`,"recipient_id":2,"text":"x"`) + `,` + msg(fmt.Sprintf(`"conversation_id":%d,"recipient_id":2,"text":"x"`, other)) + `]`, 422},
		{"batch: recipient not a member", "POST", "/api/messages/batch", alice, `[` + msg(convField+`,"recipient_id":3,"text":"x"`) + `]`, 422},

		// PATCH and DELETE /api/messages/{id}
		{"edit: no token", "PATCH", msgPath, "", `{"text":"y"}`, 401},
		{"edit: someone else's", "PATCH", msgPath, bob, `{"text":"y"}`, 403},
		{"edit: an outsider", "PATCH", msgPath, carol, `{"text":"y"}`, 403},
		{"edit: unknown", "PATCH", "/api/messages/9999", alice, `{"text":"y"}`, 404},
		{"edit: bad id", "PATCH", "/api/messages/abc", alice, `{"text":"y"}`, 400},
		{"edit: zero id", "PATCH", "/api/messages/0", alice, `{"text":"y"}`, 400},
		{"edit: huge id", "PATCH", "/api/messages/99999999999999999999", alice, `{"text":"y"}`, 400},
		{"edit: malformed", "PATCH", msgPath, alice, `{"text":`, 400},
		{"edit: number", "PATCH", msgPath, alice, `{"text":1}`, 400},
		{"edit: missing", "PATCH", msgPath, alice, `{}`, 400},
		{"edit: empty", "PATCH", msgPath, alice, `{"text":""}`, 422},
		{"edit: other fields", "PATCH", msgPath, alice, `{"text":"y","recipient_id":3}`, 400},
		{"edit: oversized", "PATCH", msgPath, alice, `{"text":"` + strings.Repeat("x", app.DefaultMaxBodyBytes) + `"}`, 413},
		{"delete: no token", "DELETE", msgPath, "", "", 401},
		{"delete: someone else's", "DELETE", msgPath, bob, "", 403},
		{"delete: unknown", "DELETE", "/api/messages/9999", alice, "", 404},
		{"delete: bad id", "DELETE", "/api/messages/-1", alice, "", 400},
		{"messages/{id}: GET", "GET", msgPath, alice, "", 405},

		// Elsewhere under /api/
		{"unknown endpoint", "GET", "/api/nothing", "", "", 404},
		{"batch: GET", "GET", "/api/messages/batch", alice, "", 405},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any
			if tc.body != "" {
				body = tc.body
			}
			r := e.do(tc.method, tc.path, tc.token, body)
			if r.status != tc.want {
				t.Fatalf("%s %s: status %d, want %d; body %.200s", tc.method, tc.path, r.status, tc.want, r.body)
			}
			msg := r.errorMessage(t)
			if r.status == http.StatusMethodNotAllowed && r.header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
			if testing.Verbose() {
				t.Logf("%d %s", r.status, msg)
			}
		})
	}

	// Nothing of the above was stored: alice's one message is all there is.
	var rows []message
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/messages?conversation_id=%d", conv), alice, nil, &rows)
	if len(rows) != 1 || rows[0] != aliceMsg {
		t.Errorf("messages after the bad requests: %+v, want only %+v", rows, aliceMsg)
	}
	var convs []struct{ ID int }
	e.must(http.StatusOK, "GET", "/api/conversations", alice, nil, &convs)
	if len(convs) != 1 {
		t.Errorf("alice's conversations after the bad requests: %+v, want one", convs)
	}
	var notes []struct{ ID int }
	e.must(http.StatusOK, "GET", "/api/notifications", "", nil, &notes)
	if len(notes) != 0 {
		t.Errorf("notifications after the bad requests: %+v, want none", notes)
	}
}

// idList returns "from,from+1,...,from+n-1".
func idList(from, n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprint(from + i)
	}
	return strings.Join(s, ",")
}
