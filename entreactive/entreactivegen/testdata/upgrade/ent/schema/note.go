// Package schema holds the schema of the upgrade fixture: one reactive
// schema with a privacy policy written as ent's documentation writes them,
// through the generated privacy package.
package schema

import (
	"entgo.io/ent"
	"entgo.io/ent/schema/field"

	"example.com/upgrade/ent/privacy"
)

// Note holds the schema definition for the Note entity.
type Note struct {
	ent.Schema
}

// Fields of the Note.
func (Note) Fields() []ent.Field {
	return []ent.Field{
		field.String("text").NotEmpty(),
	}
}

// Mixin of the Note: the reactive mixin.
func (Note) Mixin() []ent.Mixin {
	return []ent.Mixin{noteReactive()}
}

// Policy of the Note: everyone may read and write notes.
func (Note) Policy() ent.Policy {
	return privacy.Policy{
		Mutation: privacy.MutationPolicy{privacy.AlwaysAllowRule()},
		Query:    privacy.QueryPolicy{privacy.AlwaysAllowRule()},
	}
}
