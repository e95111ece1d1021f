package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// Notification is a message to every logged-in user.
type Notification struct {
	ent.Schema
}

// Mixin of the Notification: it is reactive.
func (Notification) Mixin() []ent.Mixin {
	return []ent.Mixin{notificationReactive()}
}

// Fields of the Notification.
func (Notification) Fields() []ent.Field {
	return []ent.Field{
		field.String("message").NotEmpty(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}
