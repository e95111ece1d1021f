//go:build entreactivegen

package schema

import (
	"context"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"entgo.io/ent/schema/mixin"
)

// SoftDeleteMixin is what entc sees of the soft-delete mixin while it loads
// the schema: the same field, hook and interceptor counts.
type SoftDeleteMixin struct {
	mixin.Schema
}

// Fields of the SoftDeleteMixin.
func (SoftDeleteMixin) Fields() []ent.Field {
	return []ent.Field{
		field.Time("delete_time").Optional(),
	}
}

// Interceptors of the SoftDeleteMixin.
func (SoftDeleteMixin) Interceptors() []ent.Interceptor {
	return []ent.Interceptor{ent.TraverseFunc(func(context.Context, ent.Query) error { return nil })}
}

// Hooks of the SoftDeleteMixin.
func (SoftDeleteMixin) Hooks() []ent.Hook {
	return []ent.Hook{func(next ent.Mutator) ent.Mutator { return next }}
}
