package servertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	_ "github.com/mattn/go-sqlite3"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/ent/enttest"
	_ "github.com/entreactive/reactive/ent/runtime"
	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/internal/testkit"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/servertest"
)

// secret is the JWT secret of the servers startApp starts.
var secret = []byte(testkit.Secret)

// app is a real server.Server mounted on an HTTP test server, and an ent
// client on SQLite whose events it sends.
type app struct {
	srv    *server.Server
	url    string
	client *ent.Client
}

// startApp starts an app; cfg's JWT secret and logger are filled in
// unless set.
func startApp(t *testing.T, cfg server.Config) *app {
	t.Helper()
	s := testkit.Serve(t, cfg)
	dsn := fmt.Sprintf("file:%s?mode=memory&cache=shared&_fk=1", strings.ReplaceAll(t.Name(), "/", "_"))
	client := enttest.Open(t, dialect.SQLite, dsn, enttest.WithOptions(ent.Emitter(s.Server)))
	t.Cleanup(func() { client.Close() }) // before the server's Close
	return &app{srv: s.Server, url: s.URL, client: client}
}

// dial connects a client for user (0: a guest), closed when the test ends.
func (a *app) dial(t *testing.T, user int) *servertest.Client {
	t.Helper()
	var opts servertest.Options
	if user != 0 {
		token, err := servertest.Token(secret, user, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		opts.Token = token
	}
	c, err := servertest.Dial(testkit.Context(t), a.url, opts)
	if err != nil {
		t.Fatalf("dial as user %d: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// done returns a context that is already done: a Wait with it only looks
// at what has arrived.
func done() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func TestClientsReceiveTheEventsTargetedAtThem(t *testing.T) {
	a := startApp(t, server.Config{})
	ctx := t.Context()
	alice := a.client.User.Create().SetID(1).SetName("alice").SaveX(ctx)
	bob := a.client.User.Create().SetID(2).SetName("bob").SaveX(ctx)
	conv := a.client.Conversation.Create().AddMembers(alice, bob).SaveX(ctx)
	aliceC, bobC, guest := a.dial(t, 1), a.dial(t, 2), a.dial(t, 0)

	m := a.client.Message.Create().SetConversationID(conv.ID).SetSenderID(1).SetRecipientID(2).SetText("hi bob").SaveX(ctx)
	a.client.Notification.Create().SetMessage("to every user").ExecX(ctx)

	ev, err := bobC.WaitReactive(testkit.Context(t), func(ev servertest.Reactive) bool { return ev.Model == "Message" })
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		t.Fatal(err)
	}
	if ev.Action != "create" || string(ev.ID) != fmt.Sprint(m.ID) || data["text"] != "hi bob" || data["recipient_id"] != 2.0 {
		t.Errorf("bob got %v; want the create of message %d", ev, m.ID)
	}
	if s := ev.String(); !strings.HasPrefix(s, fmt.Sprintf(`create Message %d {"id":%d,`, m.ID, m.ID)) {
		t.Errorf("String() = %s", s)
	}
	for name, c := range map[string]*servertest.Client{"alice": aliceC, "bob": bobC} {
		if _, err := c.WaitReactive(testkit.Context(t), func(ev servertest.Reactive) bool { return ev.Model == "Notification" }); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	// Events arrive in commit order: once the notification is in, the
	// message would be too.
	if ev, err := aliceC.WaitReactive(done(), func(ev servertest.Reactive) bool { return ev.Model == "Message" }); err == nil {
		t.Errorf("alice, the sender, got the message meant for bob: %+v", ev)
	}
	if _, err := bobC.WaitReactive(done(), nil); err == nil {
		t.Error("a Wait returned an event an earlier Wait had returned")
	}
	a.srv.EmitTo(ctx, entreactive.ToRooms("all"), "ping", "after")
	if _, err := guest.WaitEvent(testkit.Context(t), "ping", nil); err != nil {
		t.Fatal(err)
	}
	if ev, err := guest.WaitReactive(done(), nil); err == nil {
		t.Errorf("a guest got %+v", ev)
	}
}

func TestDialRefusesTokensTheServerRefuses(t *testing.T) {
	a := startApp(t, server.Config{})
	expired, _ := servertest.Token(secret, 1, -time.Minute)
	forged, _ := servertest.Token([]byte("another-secret-another-secret-32b"), 1, time.Hour)
	for name, token := range map[string]string{"expired": expired, "other secret": forged} {
		c, err := servertest.Dial(testkit.Context(t), a.url, servertest.Options{Token: token})
		if err == nil {
			c.Close()
			t.Errorf("%s token: Dial succeeded", name)
		} else if !strings.Contains(err.Error(), "Invalid token") {
			t.Errorf("%s token: err = %v, want the server's refusal", name, err)
		}
	}
	if _, err := servertest.Token(secret, make(chan int), time.Hour); err == nil {
		t.Error("Token of an id JSON cannot encode succeeded")
	}
}

func TestWaitTellsWhatArrivedWhenNothingMatches(t *testing.T) {
	a := startApp(t, server.Config{})
	c := a.dial(t, 3)
	a.srv.EmitTo(t.Context(), entreactive.ToRooms("all"), "hello")
	if _, err := c.WaitEvent(testkit.Context(t), "hello", nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.WaitReactive(ctx, nil)
	if err == nil || !strings.Contains(err.Error(), "received: connected, authenticated, hello") {
		t.Errorf("err = %v, want the events received so far listed", err)
	}
	c.Close()
	if _, err := c.WaitEvent(testkit.Context(t), "hello again", nil); err == nil || !strings.Contains(err.Error(), "connection ended") {
		t.Errorf("wait on a closed client: err = %v", err)
	}
}

func TestJoinIsDecidedByTheAuthorizer(t *testing.T) {
	a := startApp(t, server.Config{Authorize: func(_ context.Context, req server.JoinRequest) (bool, error) {
		return req.Room == "open", nil
	}})
	c := a.dial(t, 4)
	if err := c.Join(testkit.Context(t), "closed"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("join closed: err = %v, want forbidden", err)
	}
	if err := c.Join(testkit.Context(t), "open"); err != nil {
		t.Fatalf("join open: %v", err)
	}
	a.srv.EmitTo(t.Context(), entreactive.ToRooms("closed", "open"), "news", 1)
	args, err := c.WaitEvent(testkit.Context(t), "news", nil)
	if err != nil || !slices.Equal([]string{string(args[0])}, []string{"1"}) {
		t.Errorf("news = %s (%v)", args, err)
	}
}

// A ttl of 0 is the default hour, not a token that is already expired.
func TestTokenWithoutTTLLastsAnHour(t *testing.T) {
	secret := []byte("a-test-secret-of-at-least-32-bytes!")
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: secret}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close(context.Background())
	token, err := servertest.Token(secret, 3, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := srv.VerifyToken(token)
	if err != nil {
		t.Fatalf("a token minted with ttl 0 is refused: %v", err)
	}
	if left := time.Until(u.ExpiresAt); left < 59*time.Minute || left > time.Hour {
		t.Errorf("the token expires in %v, want an hour", left)
	}
}
