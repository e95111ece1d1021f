package entreactive

import (
	"context"
	"errors"

	"entgo.io/ent"
	"entgo.io/ent/schema"
	"entgo.io/ent/schema/mixin"
)

// Mixin returns the mixin that makes a schema reactive. configure registers
// the schema's target functions; T is the generated entity type of the
// schema that uses the mixin. Rules for another type (Rules[*gen.Board] in
// Label's mixin) compile, but a client with an emitter panics as it is
// created, and without one every write of the schema fails, both with a
// message that names the schema and the type to use.
//
//	func messageReactive() ent.Mixin {
//		return entreactive.Mixin(func(r *entreactive.Rules[*gen.Message]) {
//			r.OnCreate(func(ctx context.Context, m *gen.Message) entreactive.Target {
//				return entreactive.ToUserIDs(m.RecipientID)
//			})
//		})
//	}
//
// The file that calls Mixin imports the generated package, which does not
// exist yet while entc loads the schema. Build that file with the tag
// "!entreactivegen" and give the same function a Placeholder body in a file
// with the tag "entreactivegen"; the extension sets that tag for entc.
func Mixin[T any](configure func(r *Rules[T])) ent.Mixin {
	rules := &Rules[T]{}
	configure(rules)
	return reactiveMixin[T]{rules: rules}
}

// reactiveMixin is the mixin returned by Mixin.
type reactiveMixin[T any] struct {
	mixin.Schema
	rules *Rules[T]
}

// Hooks returns the hook that turns committed mutations into events.
func (m reactiveMixin[T]) Hooks() []ent.Hook {
	return []ent.Hook{m.hook}
}

// Annotations marks the schema as reactive for the code generator.
func (reactiveMixin[T]) Annotations() []schema.Annotation {
	return []schema.Annotation{Annotation{Reactive: true}}
}

// Placeholder returns the stand-in for a reactive mixin that entc sees while
// it loads the schema (build tag "entreactivegen"), before the generated
// package exists. It has the same hooks and annotations as Mixin; its hook
// fails if it ever runs, since it is never compiled into an application.
//
//	//go:build entreactivegen
//
//	func messageReactive() ent.Mixin { return entreactive.Placeholder() }
func Placeholder() ent.Mixin {
	return placeholderMixin{}
}

// placeholderMixin is the mixin returned by Placeholder.
type placeholderMixin struct{ mixin.Schema }

// errPlaceholder is returned by the placeholder's hook.
var errPlaceholder = errors.New("entreactive: placeholder mixin ran: the build tag entreactivegen is for entc only")

// Hooks returns one hook, like the real mixin.
func (placeholderMixin) Hooks() []ent.Hook {
	return []ent.Hook{func(ent.Mutator) ent.Mutator {
		return ent.MutateFunc(func(context.Context, ent.Mutation) (ent.Value, error) {
			return nil, errPlaceholder
		})
	}}
}

// Annotations marks the schema as reactive, like the real mixin.
func (placeholderMixin) Annotations() []schema.Annotation {
	return []schema.Annotation{Annotation{Reactive: true}}
}

// AnnotationName is the name of the schema annotation that marks reactive
// schemas for the code generator.
const AnnotationName = "EntReactive"

// Annotation marks a schema as reactive. The mixin adds it; schemas need not
// use it directly.
type Annotation struct {
	// Reactive is true on schemas that use the mixin.
	Reactive bool `json:"reactive,omitempty"`
}

// Name implements schema.Annotation.
func (Annotation) Name() string { return AnnotationName }

// BuildTag is the build tag the code generator sets while entc loads the
// schema package. Files that import the generated package are built with
// "!entreactivegen"; their Placeholder twins with "entreactivegen".
const BuildTag = "entreactivegen"
