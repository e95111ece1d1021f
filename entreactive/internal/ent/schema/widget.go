package schema

import (
	"time"

	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/edge"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"
)

// Widget has a field of every kind the event data encodes: zero values,
// nillable fields, enums, times, JSON, UUIDs, a Sensitive field, a renamed
// JSON key (by the field's struct tag and by annotation), and edges to reactive (its parent and children) and
// non-reactive (Part) entities. Its target function resolves user ids of
// several kinds.
type Widget struct {
	ent.Schema
}

// Mixin of the Widget.
func (Widget) Mixin() []ent.Mixin {
	return []ent.Mixin{widgetReactive()}
}

// Fields of the Widget.
func (Widget) Fields() []ent.Field {
	return []ent.Field{
		field.String("name"),
		field.Bool("done").Default(false),
		field.Int8("rank").Optional(),
		field.Uint16("size").Default(0),
		field.Float("score").Default(0),
		field.Enum("status").Values("todo", "doing", "done").Default("todo"),
		field.Int("owner_id").Optional().Nillable(),
		field.String("note").Optional(),
		field.String("nick").Optional().StructTag(`json:"nickname,omitempty"`),
		field.Time("due").Optional().Nillable(),
		field.JSON("meta", map[string]any{}).Optional(),
		field.UUID("token", uuid.UUID{}).Default(uuid.New),
		field.UUID("reviewer", uuid.UUID{}).Optional().Nillable(),
		field.String("secret").Optional().Sensitive(),
		field.Int("parent_id").Optional().Nillable(),
		field.Time("created_at").Default(time.Now).Immutable(),
	}
}

// Annotations of the Widget: a struct tag set by annotation renames "note".
func (Widget) Annotations() []schema.Annotation {
	return []schema.Annotation{field.Annotation{StructTag: map[string]string{"note": `json:"memo,omitempty"`}}}
}

// Edges of the Widget.
func (Widget) Edges() []ent.Edge {
	return []ent.Edge{
		edge.To("children", Widget.Type).From("parent").Unique().Field("parent_id"),
		edge.To("parts", Part.Type),
	}
}

// Part is not reactive: as an edge of a Widget it is encoded with its ent
// JSON.
type Part struct {
	ent.Schema
}

// Fields of the Part.
func (Part) Fields() []ent.Field {
	return []ent.Field{
		field.String("name"),
		field.Bool("spare").Default(false),
	}
}
