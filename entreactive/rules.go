package entreactive

import (
	"context"

	"github.com/entreactive/reactive/entreactive/glue"
)

// TargetFunc decides who receives the event of one row. T is the generated
// entity type, e.g. *ent.Message. It runs after the commit, once per row.
type TargetFunc[T any] func(ctx context.Context, row T) Target

// Rules holds the target functions of one schema, one per action. An action
// without a function sends nothing.
type Rules[T any] struct {
	create, update, delete TargetFunc[T]
	previous, sensitive    bool
}

// LoadPrevious makes the rows as they were before an update available to
// the update target function, through Previous. They cost one more query
// per update statement, so only schemas that ask for them load them.
//
//	r.LoadPrevious()
//	r.OnUpdate(func(ctx context.Context, t *gen.Task) entreactive.Target {
//		to := entreactive.ToUserIDs(t.AssigneeID)
//		if old, ok := entreactive.Previous[*gen.Task](ctx); ok && old.AssigneeID != t.AssigneeID {
//			to.Users = append(to.Users, old.AssigneeID) // the old assignee hears too
//		}
//		return to
//	})
func (r *Rules[T]) LoadPrevious() { r.previous = true }

// SendSensitiveUpdates sends updates that change only Sensitive fields
// (and fields ent updates by itself, like update_time). By default they
// send nothing: nothing a client may see has changed.
func (r *Rules[T]) SendSensitiveUpdates() { r.sensitive = true }

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

// updateKey is the context key under which the target functions of
// updates find the changed fields and the previous row (an
// *updateContext).
type updateKey struct{}

// ChangedFromContext returns the fields an update changed, as in the
// event's Changed: what the mutation set, added to or cleared, inner hooks
// included, and the M2M edges it changed; Sensitive fields are left out.
// It returns nil outside an update's target function.
func ChangedFromContext(ctx context.Context) []string {
	if upd, _ := ctx.Value(updateKey{}).(*updateContext); upd != nil {
		return upd.changed
	}
	return nil
}

// HasChanged reports whether an update changed any of fields. In an update
// target function it says whether the event is worth sending:
//
//	r.OnUpdate(func(ctx context.Context, t *gen.Team) entreactive.Target {
//		if !entreactive.HasChanged(ctx, team.FieldName) {
//			return entreactive.Skip()
//		}
//		return entreactive.ToRooms("teams")
//	})
func HasChanged(ctx context.Context, fields ...string) bool {
	for _, f := range ChangedFromContext(ctx) {
		for _, want := range fields {
			if f == want {
				return true
			}
		}
	}
	return false
}

// Previous returns the row as it was before the update whose target is
// being computed. It is there when the schema's rules call LoadPrevious;
// otherwise, and outside an update's target function, ok is false.
func Previous[T any](ctx context.Context) (row T, ok bool) {
	if upd, _ := ctx.Value(updateKey{}).(*updateContext); upd != nil {
		row, ok = upd.previous.(T)
	}
	return row, ok
}

// SamePointee reports whether two optional values are both nil or equal.
// Target functions compare the Nillable fields of a row and its Previous
// with it:
//
//	if old, ok := entreactive.Previous[*ent.Task](ctx); ok && !entreactive.SamePointee(old.AssigneeID, t.AssigneeID) {
//		to.Users = append(to.Users, old.AssigneeID) // the old assignee hears it too
//	}
func SamePointee[V comparable](a, b *V) bool { return glue.SamePointee(a, b) }
