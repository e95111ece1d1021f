package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/entreactive/reactive/example/internal/app"
	"github.com/entreactive/reactive/internal/testkit"
)

func TestLogin(t *testing.T) {
	e := start(t, app.Config{})
	for _, id := range []int64{1, 42, app.MaxID} {
		t.Run(strconv.FormatInt(id, 10), func(t *testing.T) {
			before := time.Now().Add(-time.Second)
			tok := e.login(id)
			again := e.login(id) // the user exists now: still fine
			if again == "" {
				t.Fatal("second login: empty token")
			}
			claims := jwt.MapClaims{}
			_, err := jwt.NewParser(jwt.WithValidMethods([]string{"HS256"}), jwt.WithJSONNumber()).
				ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return testSecret, nil })
			if err != nil {
				t.Fatalf("token does not verify with the secret: %v", err)
			}
			if got := claims["id"]; got != json.Number(strconv.FormatInt(id, 10)) {
				t.Errorf("claim id = %#v, want the number %d", got, id)
			}
			exp, err := claims.GetExpirationTime()
			if err != nil || exp == nil {
				t.Fatalf("exp: %v %v", exp, err)
			}
			if d := exp.Sub(before); d < time.Hour || d > time.Hour+time.Minute {
				t.Errorf("exp is %v after login, want 1h", d)
			}

			// The socket server accepts the token and names the user exactly.
			c := e.socket(tok)
			ev := c.Events("authenticated")
			if len(ev) != 1 || len(ev[0]) != 1 {
				t.Fatalf("authenticated events: %v", ev)
			}
			if m, _ := ev[0][0].(map[string]any); idString(m["userId"]) != strconv.FormatInt(id, 10) {
				t.Errorf("authenticated %v, want userId %d", ev[0], id)
			}
			// And the API too.
			e.must(http.StatusOK, "GET", "/api/conversations", tok, nil, nil)
		})
	}
}

func TestNotificationsReachUsersOnly(t *testing.T) {
	e := start(t, app.Config{})
	alice := e.connect(1)
	guest := e.dial()

	var n1 struct {
		ID      int    `json:"id"`
		Message string `json:"message"`
	}
	e.must(http.StatusCreated, "POST", "/api/notifications", "", map[string]string{"message": "hello users"}, &n1)
	if n1.ID == 0 || n1.Message != "hello users" {
		t.Fatalf("row %+v", n1)
	}
	ev := nextEvent(t, alice.sock)
	if ev.Action != "create" || ev.Model != "Notification" || ev.ID.String() != strconv.Itoa(n1.ID) {
		t.Fatalf("alice got %+v, want the create of notification %d", ev, n1.ID)
	}
	var data map[string]any
	if err := json.Unmarshal(ev.Data, &data); err != nil || data["message"] != "hello users" || data["created_at"] == nil {
		t.Fatalf("event data %s: want the row", ev.Data)
	}

	// The guest logs in now: its first event must be the next
	// notification, so it never got the first.
	guestUser := &user{id: 2, token: e.login(2), sock: guest}
	if ack, err := guest.EmitAck(testkit.Context(t), "auth", guestUser.token); err != nil || !testkit.AckSuccess(ack) {
		t.Fatalf("auth: %v %v", ack, err)
	}
	if _, err := guest.Next(testkit.Context(t), "authenticated"); err != nil {
		t.Fatal(err)
	}
	before := e.barrier(guestUser, alice)
	if len(before[0]) != 0 || len(before[1]) != 0 {
		t.Fatalf("events before the barrier: guest %+v, alice %+v; want none", before[0], before[1])
	}

	var list []struct {
		Message string `json:"message"`
	}
	e.must(http.StatusOK, "GET", "/api/notifications", "", nil, &list)
	if len(list) != 2 || list[0].Message != "barrier 1" || list[1].Message != "hello users" {
		t.Fatalf("GET /api/notifications = %+v, want the two, newest first", list)
	}
}

func TestMessageReachesOnlyItsRecipient(t *testing.T) {
	e := start(t, app.Config{})
	alice, bob, carol := e.connect(1), e.connect(2), e.connect(3)
	conv := e.conversation(alice, bob.id)
	// Alice and Bob joined the conversation's room: creates still go to
	// the recipient only.
	for _, u := range []*user{alice, bob} {
		if !e.join(u, fmt.Sprintf("conversation_%d", conv)) {
			t.Fatalf("user %d may not join its conversation", u.id)
		}
	}

	m := e.send(alice, conv, bob.id, "hi bob")
	if m.SenderID != alice.id || m.RecipientID != bob.id || m.ConversationID != conv || m.Text != "hi bob" {
		t.Fatalf("row %+v", m)
	}
	got := e.barrier(alice, bob, carol)
	if len(got[0]) != 0 || len(got[2]) != 0 {
		t.Errorf("sender got %+v, outsider got %+v; want nothing", got[0], got[2])
	}
	if len(got[1]) != 1 || got[1][0].Action != "create" || got[1][0].Model != "Message" || got[1][0].message(t) != m {
		t.Fatalf("recipient got %+v, want the create of %+v", got[1], m)
	}

	var rows []message
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/messages?conversation_id=%d", conv), bob.token, nil, &rows)
	if len(rows) != 1 || rows[0] != m {
		t.Fatalf("GET messages = %+v", rows)
	}

	// The API's rows are the objects the events carry (DESIGN §6).
	listed := e.do("GET", fmt.Sprintf("/api/messages?conversation_id=%d", conv), bob.token, nil)
	var apiRows []map[string]any
	listed.decode(t, &apiRows)
	var data map[string]any
	if err := json.Unmarshal(got[1][0].Data, &data); err != nil {
		t.Fatal(err)
	}
	if len(apiRows) != 1 || !reflect.DeepEqual(apiRows[0], data) {
		t.Errorf("the API's row %s and the event's data %s differ", listed.body, got[1][0].Data)
	}
}

func TestEditsAndDeletesReachJoinedMembers(t *testing.T) {
	e := start(t, app.Config{})
	alice, bob, carol, dave := e.connect(1), e.connect(2), e.connect(3), e.connect(4)
	conv := e.conversation(alice, bob.id, dave.id)
	room := fmt.Sprintf("conversation_%d", conv)
	for _, u := range []*user{alice, bob} {
		if !e.join(u, room) {
			t.Fatalf("member %d may not join %s", u.id, room)
		}
	}
	// Carol is not a member: refused. Dave is a member who did not join.
	if e.join(carol, room) {
		t.Fatalf("non-member joined %s", room)
	}
	for _, r := range []string{"conversation_999", "conversation_0" + strconv.Itoa(conv), "users", "user_1", "lobby"} {
		if e.join(carol, r) {
			t.Errorf("join %s allowed, want refused", r)
		}
	}

	m := e.send(alice, conv, bob.id, "first")
	e.barrier(alice, bob, carol, dave) // consume bob's create

	var edited message
	e.must(http.StatusOK, "PATCH", fmt.Sprintf("/api/messages/%d", m.ID), alice.token, map[string]string{"text": "first, edited"}, &edited)
	if edited.ID != m.ID || edited.Text != "first, edited" || edited.CreatedAt != m.CreatedAt {
		t.Fatalf("edited row %+v", edited)
	}
	e.must(http.StatusNoContent, "DELETE", fmt.Sprintf("/api/messages/%d", m.ID), alice.token, nil, nil)

	got := e.barrier(alice, bob, carol, dave)
	for i, u := range []*user{alice, bob} {
		evs := got[i]
		if len(evs) != 2 {
			t.Fatalf("member %d got %d events, want update and delete: %+v", u.id, len(evs), evs)
		}
		if evs[0].Action != "update" || evs[0].message(t) != edited || !slices.Contains(evs[0].Changed, "text") {
			t.Errorf("member %d: first event %+v, want the update with changed [text ...]", u.id, evs[0])
		}
		if evs[1].Action != "delete" || evs[1].ID.String() != strconv.Itoa(m.ID) || evs[1].message(t).Text != "first, edited" {
			t.Errorf("member %d: second event %+v, want the delete of the row as it was", u.id, evs[1])
		}
	}
	if len(got[2]) != 0 || len(got[3]) != 0 {
		t.Errorf("outsider got %+v, member who did not join got %+v; want nothing", got[2], got[3])
	}
	var rows []message
	e.must(http.StatusOK, "GET", fmt.Sprintf("/api/messages?conversation_id=%d", conv), bob.token, nil, &rows)
	if len(rows) != 0 {
		t.Fatalf("after delete: %+v", rows)
	}
}

func TestBatch(t *testing.T) {
	e := start(t, app.Config{})
	alice, bob := e.connect(1), e.connect(2)
	conv := e.conversation(alice, bob.id)
	item := func(text string) map[string]any {
		return map[string]any{"conversation_id": conv, "recipient_id": bob.id, "text": text}
	}

	t.Run("one invalid item stores and emits nothing", func(t *testing.T) {
		r := e.do("POST", "/api/messages/batch", alice.token, []any{item("one"), item(""), item("three")})
		if r.status != http.StatusUnprocessableEntity {
			t.Fatalf("status %d, want 422; body %s", r.status, r.body)
		}
		t.Logf("422: %s", r.errorMessage(t))
		var rows []message
		e.must(http.StatusOK, "GET", fmt.Sprintf("/api/messages?conversation_id=%d", conv), alice.token, nil, &rows)
		if len(rows) != 0 {
			t.Fatalf("stored %+v, want nothing", rows)
		}
		if got := e.barrier(bob); len(got[0]) != 0 {
			t.Fatalf("recipient got %+v, want nothing", got[0])
		}
	})

	t.Run("valid batch", func(t *testing.T) {
		var rows []message
		e.must(http.StatusCreated, "POST", "/api/messages/batch", alice.token, []any{item("a"), item("b"), item("c")}, &rows)
		if len(rows) != 3 {
			t.Fatalf("rows %+v", rows)
		}
		got := e.barrier(bob)[0]
		if len(got) != 3 {
			t.Fatalf("recipient got %d events, want 3: %+v", len(got), got)
		}
		for i, ev := range got {
			if ev.Action != "create" || ev.message(t) != rows[i] {
				t.Errorf("event %d: %+v, want the create of %+v (in order)", i, ev, rows[i])
			}
		}
	})
}

// TestConcurrentUsersPrivacy runs three users who write to each other at
// once, in three private conversations, and checks that each one receives
// exactly the messages addressed to it and the edits of its own
// conversations, and nothing else.
func TestConcurrentUsersPrivacy(t *testing.T) {
	e := start(t, app.Config{})
	users := []*user{e.connect(1), e.connect(2), e.connect(3)}
	convOf := map[[2]int64]int{}
	pair := func(a, b int64) [2]int64 { return [2]int64{min(a, b), max(a, b)} }
	for i, a := range users {
		for _, b := range users[i+1:] {
			c := e.conversation(a, b.id)
			convOf[pair(a.id, b.id)] = c
			for _, u := range []*user{a, b} {
				if !e.join(u, fmt.Sprintf("conversation_%d", c)) {
					t.Fatalf("user %d may not join conversation %d", u.id, c)
				}
			}
		}
	}
	// Nobody may join the conversation of the two others.
	for _, u := range users {
		for p, c := range convOf {
			if p[0] != u.id && p[1] != u.id && e.join(u, fmt.Sprintf("conversation_%d", c)) {
				t.Fatalf("user %d joined conversation %d of users %v", u.id, c, p)
			}
		}
	}

	const perPeer = 8
	var wg sync.WaitGroup
	for _, u := range users {
		wg.Go(func() {
			for i := range perPeer {
				for _, peer := range users {
					if peer == u {
						continue
					}
					conv := convOf[pair(u.id, peer.id)]
					text := fmt.Sprintf("secret %d from %d to %d", i, u.id, peer.id)
					body := map[string]any{"conversation_id": conv, "recipient_id": peer.id, "text": text}
					r := e.do("POST", "/api/messages", u.token, body)
					if r.status != http.StatusCreated {
						t.Errorf("send: %d %s", r.status, r.body)
						return
					}
					if i%4 == 0 { // edit some: updates go to the conversation room
						var m message
						r.decode(t, &m)
						r := e.do("PATCH", fmt.Sprintf("/api/messages/%d", m.ID), u.token, map[string]string{"text": text + " (edited)"})
						if r.status != http.StatusOK {
							t.Errorf("edit: %d %s", r.status, r.body)
							return
						}
					}
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}

	got := e.barrier(users...)
	for i, u := range users {
		creates, updates := 0, 0
		for _, ev := range got[i] {
			m := ev.message(t)
			if ev.Model != "Message" {
				t.Fatalf("user %d got %+v", u.id, ev)
			}
			if m.SenderID != u.id && m.RecipientID != u.id {
				t.Fatalf("user %d saw a private message of users %d and %d: %+v", u.id, m.SenderID, m.RecipientID, m)
			}
			switch ev.Action {
			case "create":
				creates++
				if m.RecipientID != u.id {
					t.Errorf("user %d got the create of a message to %d", u.id, m.RecipientID)
				}
			case "update":
				updates++
			default:
				t.Errorf("user %d got %s", u.id, ev.Action)
			}
		}
		// 2 peers × perPeer messages in; edits of i%4==0 in both directions.
		wantCreates := 2 * perPeer
		wantUpdates := 2 * 2 * ((perPeer + 3) / 4)
		if creates != wantCreates || updates != wantUpdates {
			t.Errorf("user %d: %d creates and %d updates, want %d and %d", u.id, creates, updates, wantCreates, wantUpdates)
		}
	}
}

// idString prints a JSON id (a number decoded as float64, or a string) in
// plain decimal.
func idString(v any) string {
	if f, ok := v.(float64); ok {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}
