//go:build !entreactivegen

package schema

import (
	"context"
	"fmt"

	"entgo.io/ent"

	gen "github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/entreactive"
)

// This file holds the target functions of the reactive schemas. It imports
// the generated package, so entc loads reactive_placeholder.go instead.

// notificationReactive sends every new notification to all logged-in users.
func notificationReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Notification]) {
		r.OnCreate(func(context.Context, *gen.Notification) entreactive.Target {
			return entreactive.ToUsers()
		})
	})
}

// messageReactive sends a new message to its recipient, and edits and
// deletes to the members who joined the conversation's room.
func messageReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Message]) {
		r.OnCreate(func(_ context.Context, m *gen.Message) entreactive.Target {
			return entreactive.ToUserIDs(m.RecipientID)
		})
		conversation := func(_ context.Context, m *gen.Message) entreactive.Target {
			return entreactive.ToRooms(ConversationRoom(m.ConversationID))
		}
		r.OnUpdate(conversation)
		r.OnDelete(conversation)
	})
}

// ConversationRoom names the room of a conversation's members.
func ConversationRoom(id int) string {
	return fmt.Sprintf("conversation_%d", id)
}
