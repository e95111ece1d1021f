package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
)

// Message is a text from one member of a conversation to another.
type Message struct {
	ent.Schema
}

// Mixin of the Message: it is reactive.
func (Message) Mixin() []ent.Mixin {
	return []ent.Mixin{messageReactive()}
}

// Fields of the Message.
func (Message) Fields() []ent.Field {
	return []ent.Field{
		field.Int("conversation_id"),
		field.Int("sender_id"),
		field.Int("recipient_id"),
		field.String("text").NotEmpty(),
		field.Time("created_at").Default(time.Now).Immutable(),
		field.Time("updated_at").Default(time.Now).UpdateDefault(time.Now),
	}
}

// Edges of the Message.
func (Message) Edges() []ent.Edge {
	return []ent.Edge{
		edge.From("conversation", Conversation.Type).Ref("messages").
			Field("conversation_id").Unique().Required(),
		edge.To("sender", User.Type).Field("sender_id").Unique().Required(),
		edge.To("recipient", User.Type).Field("recipient_id").Unique().Required(),
	}
}
