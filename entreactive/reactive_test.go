package entreactive_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"testing"

	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/ent/message"
	_ "github.com/entreactive/reactive/ent/runtime"
	"github.com/entreactive/reactive/ent/schema"
	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
)

// chat is a client on the reference schemas with two users and a
// conversation between them.
type chat struct {
	client       *ent.Client
	rec          *entreactivetest.Recorder
	alice, bob   *ent.User
	conversation *ent.Conversation
}

// newChat migrates a new database and records its events; setting up the
// users and the conversation sends none (they are not reactive).
func newChat(t *testing.T, drv *entsql.Driver) *chat {
	t.Helper()
	ctx := t.Context()
	rec := &entreactivetest.Recorder{}
	client := ent.NewClient(ent.Driver(drv), ent.Emitter(rec), ent.Log(t.Log))
	if err := client.Schema.Create(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	c := &chat{client: client, rec: rec}
	c.alice = client.User.Create().SetID(1).SetName("alice").SetPasswordHash("secret-a").SaveX(ctx)
	c.bob = client.User.Create().SetID(2).SetName("bob").SetPasswordHash("secret-b").SaveX(ctx)
	c.conversation = client.Conversation.Create().AddMembers(c.alice, c.bob).SaveX(ctx)
	if got := rec.Events(); len(got) != 0 {
		t.Fatalf("users and conversations are not reactive, got %d events", len(got))
	}
	return c
}

// message creates a message from alice to bob.
func (c *chat) message(t *testing.T, client *ent.Client, text string) *ent.Message {
	t.Helper()
	return client.Message.Create().
		SetConversationID(c.conversation.ID).SetSenderID(c.alice.ID).SetRecipientID(c.bob.ID).
		SetText(text).SaveX(t.Context())
}

// room is the conversation's room.
func (c *chat) room() string {
	return schema.ConversationRoom(c.conversation.ID)
}

// want is what a test expects of one event.
type want struct {
	action entreactive.Action
	id     int
	text   string
}

// checkMessages compares message events with want, in order.
func checkMessages(t *testing.T, got []entreactive.Event, wants ...want) {
	t.Helper()
	if len(got) != len(wants) {
		t.Fatalf("got %d events, want %d: %+v", len(got), len(wants), got)
	}
	for i, w := range wants {
		ev := got[i]
		m, ok := ev.Data.(*ent.Message)
		if !ok {
			t.Fatalf("event %d: data is %T, want *ent.Message", i, ev.Data)
		}
		if ev.Model != "Message" || ev.Action != w.action || ev.ID != w.id || m.ID != w.id || m.Text != w.text {
			t.Errorf("event %d = %s %s id=%v data.id=%d text=%q; want %s Message id=%d text=%q",
				i, ev.Action, ev.Model, ev.ID, m.ID, m.Text, w.action, w.id, w.text)
		}
		if ev.Timestamp.IsZero() {
			t.Errorf("event %d has no timestamp", i)
		}
	}
}

func TestCreateSendsOneEventToTheTarget(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		ctx := t.Context()

		n := c.client.Notification.Create().SetMessage("deploy done").SaveX(ctx)
		m := c.message(t, c.client, "hi bob")

		d := c.rec.Deliveries()
		if len(d) != 2 {
			t.Fatalf("got %d deliveries, want 2", len(d))
		}
		if !slices.Equal(d[0].Target.Rooms, []string{"users"}) || len(d[0].Target.Users) != 0 {
			t.Errorf("notification target = %+v, want room users", d[0].Target)
		}
		if ev := d[0].Event; ev.Action != entreactive.ActionCreate || ev.Model != "Notification" || ev.ID != n.ID ||
			ev.Data.(*ent.Notification).Message != "deploy done" || ev.Changed != nil {
			t.Errorf("notification event = %+v", ev)
		}
		if got := c.rec.ToUser(c.bob.ID); len(got) != 1 || got[0].ID != m.ID {
			t.Errorf("bob got %+v, want the message", got)
		}
		if got := c.rec.ToUser(c.alice.ID); len(got) != 0 {
			t.Errorf("alice (the sender) got %d events, want none", len(got))
		}
	})
}

func TestUpdateOneReportsChangedFields(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		m := c.message(t, c.client, "first")
		c.rec.Reset()

		c.client.Message.UpdateOne(m).SetText("edited").ExecX(t.Context())

		got := c.rec.ToRoom(c.room())
		checkMessages(t, got, want{entreactive.ActionUpdate, m.ID, "edited"})
		if want := []string{message.FieldText, message.FieldUpdatedAt}; !slices.Equal(got[0].Changed, want) {
			t.Errorf("changed = %v, want %v", got[0].Changed, want)
		}
	})
}

func TestBulkUpdateSendsEveryRowWithNewData(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		ctx := t.Context()
		ms := []*ent.Message{c.message(t, c.client, "a"), c.message(t, c.client, "b"), c.message(t, c.client, "c")}
		other := c.client.Conversation.Create().AddMembers(c.alice, c.bob).SaveX(ctx)
		c.client.Message.Create().SetConversation(other).SetSenderID(1).SetRecipientID(2).SetText("elsewhere").SaveX(ctx)
		c.rec.Reset()

		n := c.client.Message.Update().Where(message.ConversationID(c.conversation.ID)).SetText("redacted").SaveX(ctx)
		if n != 3 {
			t.Fatalf("updated %d rows, want 3", n)
		}
		checkMessages(t, c.rec.Events(),
			want{entreactive.ActionUpdate, ms[0].ID, "redacted"},
			want{entreactive.ActionUpdate, ms[1].ID, "redacted"},
			want{entreactive.ActionUpdate, ms[2].ID, "redacted"})
		if got := c.rec.Events()[0].Changed; !slices.Equal(got, []string{message.FieldText, message.FieldUpdatedAt}) {
			t.Errorf("changed = %v", got)
		}
	})
}

func TestDeleteSendsRowsAsTheyWere(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		ctx := t.Context()
		a, b, d := c.message(t, c.client, "a"), c.message(t, c.client, "b"), c.message(t, c.client, "d")
		c.rec.Reset()

		c.client.Message.DeleteOne(a).ExecX(ctx)
		checkMessages(t, c.rec.ToRoom(c.room()), want{entreactive.ActionDelete, a.ID, "a"})

		c.rec.Reset()
		n := c.client.Message.Delete().Where(message.ConversationID(c.conversation.ID)).ExecX(ctx)
		if n != 2 {
			t.Fatalf("deleted %d rows, want 2", n)
		}
		checkMessages(t, c.rec.ToRoom(c.room()),
			want{entreactive.ActionDelete, b.ID, "b"},
			want{entreactive.ActionDelete, d.ID, "d"})
	})
}

func TestCreateBulkSendsOneEventPerRowInOrder(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		texts := []string{"one", "two", "three", "four"}
		builders := make([]*ent.MessageCreate, len(texts))
		for i, text := range texts {
			builders[i] = c.client.Message.Create().SetConversationID(c.conversation.ID).
				SetSenderID(1).SetRecipientID(2).SetText(text)
		}
		ms := c.client.Message.CreateBulk(builders...).SaveX(t.Context())

		var wants []want
		for i, m := range ms {
			wants = append(wants, want{entreactive.ActionCreate, m.ID, texts[i]})
		}
		checkMessages(t, c.rec.ToUser(2), wants...)
	})
}

func TestTransactionSendsOnlyAfterCommitInMutationOrder(t *testing.T) {
	clients := []struct {
		name     string
		clientOf func(*ent.Tx) *ent.Client
	}{
		{"tx.Client", (*ent.Tx).Client},
		{"tx.Client().Debug", func(tx *ent.Tx) *ent.Client { return tx.Client().Debug() }},
	}
	for _, tc := range clients {
		t.Run(tc.name, func(t *testing.T) {
			eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
				c := newChat(t, drv)
				ctx := t.Context()
				old := c.message(t, c.client, "old")
				c.rec.Reset()

				tx, err := c.client.Tx(ctx)
				if err != nil {
					t.Fatal(err)
				}
				txc := tc.clientOf(tx)
				first := c.message(t, txc, "first")
				txc.Message.UpdateOne(old).SetText("old, edited").ExecX(ctx)
				bulk := txc.Message.CreateBulk(
					txc.Message.Create().SetConversationID(c.conversation.ID).SetSenderID(1).SetRecipientID(2).SetText("bulk 1"),
					txc.Message.Create().SetConversationID(c.conversation.ID).SetSenderID(1).SetRecipientID(2).SetText("bulk 2"),
				).SaveX(ctx)
				txc.Message.DeleteOne(first).ExecX(ctx)
				if got := c.rec.Events(); len(got) != 0 {
					t.Fatalf("%d events before commit, want none", len(got))
				}
				if err := tx.Commit(); err != nil {
					t.Fatal(err)
				}
				checkMessages(t, c.rec.Events(),
					want{entreactive.ActionCreate, first.ID, "first"},
					want{entreactive.ActionUpdate, old.ID, "old, edited"},
					want{entreactive.ActionCreate, bulk[0].ID, "bulk 1"},
					want{entreactive.ActionCreate, bulk[1].ID, "bulk 2"},
					want{entreactive.ActionDelete, first.ID, "first"})
			})
		})
	}
}

func TestRollbackSendsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		ctx := t.Context()
		old := c.message(t, c.client, "old")
		c.rec.Reset()

		tx, err := c.client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		c.message(t, tx.Client(), "never")
		tx.Message.UpdateOne(old).SetText("never").ExecX(ctx)
		tx.Message.Update().SetText("never").ExecX(ctx)
		tx.Message.DeleteOne(old).ExecX(ctx)
		tx.Notification.Create().SetMessage("never").ExecX(ctx)
		if err := tx.Rollback(); err != nil {
			t.Fatal(err)
		}
		if got := c.rec.Events(); len(got) != 0 {
			t.Errorf("rollback sent %d events: %+v", len(got), got)
		}
		if got := c.client.Message.GetX(ctx, old.ID).Text; got != "old" {
			t.Errorf("after rollback text = %q", got)
		}
	})
}

func TestFailedStatementSendsNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		ctx := t.Context()
		m := c.message(t, c.client, "kept")
		c.rec.Reset()

		create := c.client.Message.Create().SetConversationID(c.conversation.ID).SetSenderID(1).SetRecipientID(2)
		if _, err := create.SetText("").Save(ctx); !ent.IsValidationError(err) {
			t.Errorf("empty text: err = %v, want a validation error", err)
		}
		if _, err := c.client.Message.Create().SetConversationID(404).SetSenderID(1).SetRecipientID(2).
			SetText("dangling").Save(ctx); !ent.IsConstraintError(err) {
			t.Errorf("unknown conversation: err = %v, want a constraint error", err)
		}
		if err := c.client.Message.UpdateOneID(m.ID + 100).SetText("x").Exec(ctx); !ent.IsNotFound(err) {
			t.Errorf("update of a missing row: err = %v, want not found", err)
		}
		if err := c.client.Message.DeleteOneID(m.ID + 100).Exec(ctx); !ent.IsNotFound(err) {
			t.Errorf("delete of a missing row: err = %v, want not found", err)
		}
		if n := c.client.Message.Update().Where(message.Text("no such text")).SetText("x").SaveX(ctx); n != 0 {
			t.Errorf("bulk update matched %d rows", n)
		}
		if got := c.rec.Events(); len(got) != 0 {
			t.Errorf("failed statements sent %d events: %+v", len(got), got)
		}
	})
}

func TestSchemaWithoutMixinAndClientWithoutEmitterSendNothing(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		ctx := t.Context()
		c.client.User.UpdateOne(c.alice).SetName("alice 2").ExecX(ctx)
		c.client.User.Create().SetID(3).SetName("carol").ExecX(ctx)
		c.client.User.DeleteOneID(3).ExecX(ctx)
		if got := c.rec.Events(); len(got) != 0 {
			t.Errorf("users are not reactive, got %d events", len(got))
		}

		plain := ent.NewClient(ent.Driver(drv))
		m := c.message(t, plain, "quiet")
		plain.Message.UpdateOne(m).SetText("still quiet").ExecX(ctx)
		plain.Message.DeleteOne(m).ExecX(ctx)
		if got := c.rec.Events(); len(got) != 0 {
			t.Errorf("a client without an emitter sent %d events", len(got))
		}
	})
}

func TestEventJSONIsTheWireFormat(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		c := newChat(t, drv)
		ctx := t.Context()
		big := int(1<<53 - 1)
		c.client.User.Create().SetID(big).SetName("big").ExecX(ctx)
		m := c.client.Message.Create().SetConversationID(c.conversation.ID).SetSenderID(1).SetRecipientID(big).
			SetText("hello").SaveX(ctx)
		c.client.Message.UpdateOne(m).SetText("hello again").ExecX(ctx)

		events := c.rec.Events()
		if len(events) != 2 {
			t.Fatalf("got %d events, want 2", len(events))
		}
		raw, err := json.Marshal(events[0])
		if err != nil {
			t.Fatal(err)
		}
		var wire map[string]json.RawMessage
		if err := json.Unmarshal(raw, &wire); err != nil {
			t.Fatal(err)
		}
		for _, key := range []string{"action", "model", "id", "data", "timestamp"} {
			if _, ok := wire[key]; !ok {
				t.Errorf("wire event lacks %q: %s", key, raw)
			}
		}
		if _, ok := wire["changed"]; ok {
			t.Errorf("a create carries changed: %s", raw)
		}
		var data map[string]any
		dec := json.NewDecoder(bytes.NewReader(wire["data"]))
		dec.UseNumber()
		if err := dec.Decode(&data); err != nil {
			t.Fatal(err)
		}
		if got := data["recipient_id"]; got != json.Number("9007199254740991") {
			t.Errorf("recipient_id = %v, want 9007199254740991 as a plain integer", got)
		}
		for _, key := range []string{"id", "conversation_id", "sender_id", "recipient_id", "text", "created_at", "updated_at"} {
			if _, ok := data[key]; !ok {
				t.Errorf("data lacks %q: %s", key, wire["data"])
			}
		}
		if ts := string(wire["timestamp"]); ts != strconv.FormatInt(events[0].Timestamp.UnixMilli(), 10) {
			t.Errorf("timestamp = %s, want milliseconds %d", ts, events[0].Timestamp.UnixMilli())
		}

		update, _ := json.Marshal(events[1])
		var upd struct{ Changed []string }
		if err := json.Unmarshal(update, &upd); err != nil || !slices.Equal(upd.Changed, []string{"text", "updated_at"}) {
			t.Errorf("update wire changed = %v (%v): %s", upd.Changed, err, update)
		}
	})
}

// failingEmitter fails every Emit; it is not a FailureReporter.
type failingEmitter struct{ calls int }

func (f *failingEmitter) Emit(context.Context, entreactive.Target, entreactive.Event) error {
	f.calls++
	return errors.New("socket server is down")
}
