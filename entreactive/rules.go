package entreactive

import "context"

// TargetFunc decides who receives the event of one row. T is the generated
// entity type, e.g. *ent.Message. It runs after the commit, once per row.
type TargetFunc[T any] func(ctx context.Context, row T) Target

// Rules holds the target functions of one schema, one per action. An action
// without a function sends nothing.
type Rules[T any] struct {
	create, update, delete TargetFunc[T]
}

// OnCreate sets the target function for created rows.
func (r *Rules[T]) OnCreate(f TargetFunc[T]) { r.create = f }

// OnUpdate sets the target function for updated rows. It receives the row
// as committed.
func (r *Rules[T]) OnUpdate(f TargetFunc[T]) { r.update = f }

// OnDelete sets the target function for deleted rows. It receives the row
// as it was before the delete.
func (r *Rules[T]) OnDelete(f TargetFunc[T]) { r.delete = f }

// OnAll sets one target function for all three actions. The action is
// available to it through ActionFromContext.
func (r *Rules[T]) OnAll(f TargetFunc[T]) {
	r.create, r.update, r.delete = f, f, f
}

// target returns the target function of action a, or nil.
func (r *Rules[T]) target(a Action) TargetFunc[T] {
	switch a {
	case ActionCreate:
		return r.create
	case ActionUpdate:
		return r.update
	case ActionDelete:
		return r.delete
	}
	return nil
}

// actionKey is the context key under which target functions find the action.
type actionKey struct{}

// ActionFromContext returns the action whose target is being computed. It
// lets a function registered with OnAll tell creates, updates and deletes
// apart.
func ActionFromContext(ctx context.Context) (Action, bool) {
	a, ok := ctx.Value(actionKey{}).(Action)
	return a, ok
}
