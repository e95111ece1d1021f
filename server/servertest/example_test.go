package servertest_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"time"

	"entgo.io/ent/dialect"
	_ "github.com/mattn/go-sqlite3"

	"github.com/entreactive/reactive/ent"
	_ "github.com/entreactive/reactive/ent/runtime"
	"github.com/entreactive/reactive/server"
	"github.com/entreactive/reactive/server/servertest"
)

// The wiring of an application: the server is mounted on the HTTP mux and
// is the ent client's emitter. The test kit then connects as user 2 and
// receives the message created for them.
func Example() {
	secret := []byte("a secret of at least 32 bytes, from the environment")
	srv, err := server.New(server.Config{JWT: server.JWT{Secret: secret}})
	if err != nil {
		log.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(server.DefaultPath, srv) // "/socket.io/"
	hs := httptest.NewServer(mux)       // in production: http.ListenAndServe(addr, mux)
	defer hs.Close()
	defer srv.Close(context.Background())

	client, err := ent.Open(dialect.SQLite, "file:example?mode=memory&cache=shared&_fk=1", ent.Emitter(srv))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := client.Schema.Create(ctx); err != nil {
		log.Fatal(err)
	}

	token, err := servertest.Token(secret, 2, time.Hour)
	if err != nil {
		log.Fatal(err)
	}
	bob, err := servertest.Dial(ctx, hs.URL, servertest.Options{Token: token})
	if err != nil {
		log.Fatal(err)
	}
	defer bob.Close()

	alice := client.User.Create().SetID(1).SetName("alice").SaveX(ctx)
	bobUser := client.User.Create().SetID(2).SetName("bob").SaveX(ctx)
	conv := client.Conversation.Create().AddMembers(alice, bobUser).SaveX(ctx)
	client.Message.Create().SetConversation(conv).SetSender(alice).SetRecipient(bobUser).SetText("hi bob").ExecX(ctx)

	ev, err := bob.WaitReactive(ctx, func(ev servertest.Reactive) bool { return ev.Model == "Message" })
	if err != nil {
		log.Fatal(err)
	}
	var m struct {
		Text     string `json:"text"`
		SenderID int    `json:"sender_id"`
	}
	if err := json.Unmarshal(ev.Data, &m); err != nil {
		log.Fatal(err)
	}
	fmt.Println(ev.Action, ev.Model, m.SenderID, m.Text)
	// Output: create Message 1 hi bob
}
