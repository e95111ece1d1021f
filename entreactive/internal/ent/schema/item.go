// Package schema holds schemas that exercise entreactive's corners: OnAll,
// Skip, empty targets, Instance, panicking target functions, Sensitive
// fields, non-integer ids and rules without a create target function.
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

// Setting is reactive on update only, and has a unique key: an upsert that
// conflicts sends an update though the rules have no create target.
type Setting struct {
	ent.Schema
}

// Mixin of the Setting.
func (Setting) Mixin() []ent.Mixin {
	return []ent.Mixin{settingReactive()}
}

// Fields of the Setting.
func (Setting) Fields() []ent.Field {
	return []ent.Field{
		field.String("key").Unique(),
		field.String("value"),
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
