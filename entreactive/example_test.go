package entreactive_test

import (
	"context"
	"fmt"

	entgo "entgo.io/ent"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/entreactive"
)

// A schema's rules: who hears about each action. The function lives in a
// file of the schema package built with the tag !entreactivegen, because
// it imports the generated package (here github.com/entreactive/reactive/ent);
// a twin built with the tag entreactivegen returns entreactive.Placeholder()
// while entc loads the schema. The schema returns it from its Mixin method:
//
//	func (Message) Mixin() []ent.Mixin { return []ent.Mixin{messageReactive()} }
func ExampleMixin() {
	messageReactive := func() entgo.Mixin {
		return entreactive.Mixin(func(r *entreactive.Rules[*ent.Message]) {
			// A new message reaches its recipient's sockets.
			r.OnCreate(func(_ context.Context, m *ent.Message) entreactive.Target {
				return entreactive.ToUserIDs(m.RecipientID)
			})
			// Edits and deletes reach the conversation's room.
			conversation := func(_ context.Context, m *ent.Message) entreactive.Target {
				return entreactive.ToRooms(fmt.Sprintf("conversation_%d", m.ConversationID))
			}
			r.OnUpdate(conversation)
			r.OnDelete(conversation)
		})
	}
	_ = messageReactive
}

// OnAll serves the three actions with one function, which can still tell
// them apart. An optional Nillable field (a *int) can be passed to
// ToUserIDs as it is: nil targets nobody.
func ExampleRules_OnAll() {
	_ = entreactive.Mixin(func(r *entreactive.Rules[*ent.Message]) {
		r.OnAll(func(ctx context.Context, m *ent.Message) entreactive.Target {
			if action, _ := entreactive.ActionFromContext(ctx); action == entreactive.ActionDelete {
				return entreactive.Skip()
			}
			return entreactive.ToUserIDs(m.SenderID, m.RecipientID)
		})
	})
}
