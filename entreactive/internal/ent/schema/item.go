// Package schema holds schemas that exercise entreactive's corners: OnAll,
// Skip, empty targets, Instance, panicking target functions, Sensitive
// fields and non-integer ids.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"
)

// Item is reactive with one target function for all actions; its audience
// field picks what that function returns.
type Item struct {
	ent.Schema
}

// Mixin of the Item.
func (Item) Mixin() []ent.Mixin {
	return []ent.Mixin{itemReactive()}
}

// Fields of the Item.
func (Item) Fields() []ent.Field {
	return []ent.Field{
		field.String("label"),
		field.String("audience").Default("items"),
		field.String("secret").Optional().Sensitive(),
		field.Int("count").Default(0),
		field.String("note").Optional().Nillable(),
	}
}

// Tag is reactive on create only, and has string ids.
type Tag struct {
	ent.Schema
}

// Mixin of the Tag.
func (Tag) Mixin() []ent.Mixin {
	return []ent.Mixin{tagReactive()}
}

// Fields of the Tag.
func (Tag) Fields() []ent.Field {
	return []ent.Field{
		field.String("id").NotEmpty().Immutable(),
		field.String("name"),
	}
}

// Plain has the fields of Item without the reactive mixin: the baseline of
// the hook-overhead benchmark.
type Plain struct {
	ent.Schema
}

// Fields of the Plain.
func (Plain) Fields() []ent.Field {
	return Item{}.Fields()
}
