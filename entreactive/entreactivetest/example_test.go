package entreactivetest_test

import (
	"context"
	"fmt"
	"log"

	"entgo.io/ent/dialect"
	_ "github.com/mattn/go-sqlite3"

	"github.com/entreactive/reactive/ent"
	_ "github.com/entreactive/reactive/ent/runtime"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
)

// A Recorder is the emitter of an ent client in tests: it keeps every event
// with its target, without sockets. In a test, use enttest.Open with
// enttest.WithOptions(ent.Emitter(rec)).
func ExampleRecorder() {
	rec := &entreactivetest.Recorder{}
	client, err := ent.Open(dialect.SQLite, "file:recorder?mode=memory&cache=shared&_fk=1", ent.Emitter(rec))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	ctx := context.Background()
	if err := client.Schema.Create(ctx); err != nil {
		log.Fatal(err)
	}
	alice := client.User.Create().SetID(1).SetName("alice").SaveX(ctx)
	bob := client.User.Create().SetID(2).SetName("bob").SaveX(ctx)
	conv := client.Conversation.Create().AddMembers(alice, bob).SaveX(ctx)

	m := client.Message.Create().SetConversation(conv).SetSender(alice).SetRecipient(bob).SetText("hi bob").SaveX(ctx)
	client.Message.UpdateOne(m).SetText("hi Bob").ExecX(ctx)

	for _, ev := range rec.ToUser(2) { // the recipient hears about the create
		fmt.Println("user 2:", ev.Action, ev.Model, ev.Data.(*ent.Message).Text)
	}
	for _, ev := range rec.ToRoom("conversation_1") { // the room about the edit
		fmt.Println("conversation_1:", ev.Action, ev.Model, ev.Changed)
	}
	fmt.Println("to all:", len(rec.ToAll()), "failures:", len(rec.Failures()))
	// Output:
	// user 2: create Message hi bob
	// conversation_1: update Message [text updated_at]
	// to all: 0 failures: 0
}
