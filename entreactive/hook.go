package entreactive

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent"
)

// hook is the mixin's hook. It runs the mutation, collects the rows it
// touched (loading them first for deletes and bulk updates), and schedules
// their events for after the commit. It never fails a mutation that
// succeeded: problems with the events are reported, not returned.
func (m reactiveMixin[T]) hook(next ent.Mutator) ent.Mutator {
	return ent.MutateFunc(func(ctx context.Context, mut ent.Mutation) (ent.Value, error) {
		rm, ok := mut.(Mutation[T])
		if !ok {
			return nil, fmt.Errorf("entreactive: %T has no reactive glue: regenerate the ent code with the entreactivegen extension", mut)
		}
		glue := rm.Reactive()
		action := actionOf(mut.Op())
		emitter, target := glue.Emitter(), m.rules.target(action)
		if emitter == nil || target == nil {
			return next.Mutate(ctx, mut)
		}
		s := &sender[T]{glue: glue, emitter: emitter, action: action, target: target}
		if action == ActionUpdate {
			s.changed = glue.Changed()
		}

		var before []T
		var loadErr error
		if mut.Op().Is(ent.OpUpdate | ent.OpDelete | ent.OpDeleteOne) {
			before, loadErr = glue.Load(ctx)
		}
		v, err := next.Mutate(ctx, mut)
		if err != nil {
			return v, err
		}
		if loadErr != nil {
			s.fail(ctx, nil, fmt.Errorf("entreactive: load affected rows: %w", loadErr))
			return v, nil
		}

		switch op := mut.Op(); {
		case op.Is(ent.OpCreate | ent.OpUpdateOne):
			row, ok := v.(T)
			if !ok {
				s.fail(ctx, nil, fmt.Errorf("entreactive: %s returned %T", op, v))
				return v, nil
			}
			s.one[0] = row
			s.rows = s.one[:]
		case op.Is(ent.OpUpdate):
			if s.rows, err = glue.Reload(ctx, before); err != nil {
				s.fail(ctx, nil, fmt.Errorf("entreactive: reload updated rows: %w", err))
				return v, nil
			}
		case op.Is(ent.OpDelete | ent.OpDeleteOne):
			if n, ok := v.(int); ok && n == 0 {
				return v, nil
			}
			s.rows = before
		}
		if len(s.rows) > 0 {
			glue.Schedule(func() { s.emit(ctx) })
		}
		return v, nil
	})
}

// emitContext is the context target functions and the emitter get: the
// mutation's values without its cancellation (the commit is done; the
// events must not be lost to a finished request), plus the action for
// ActionFromContext. It is context.WithoutCancel and context.WithValue in
// one allocation.
type emitContext struct {
	parent context.Context
	action Action
}

// Deadline reports no deadline.
func (*emitContext) Deadline() (time.Time, bool) { return time.Time{}, false }

// Done returns nil: the context is never canceled.
func (*emitContext) Done() <-chan struct{} { return nil }

// Err returns nil: the context is never canceled.
func (*emitContext) Err() error { return nil }

// Value returns the action for actionKey, and the parent's values otherwise.
func (c *emitContext) Value(key any) any {
	if key != (actionKey{}) {
		return c.parent.Value(key)
	}
	switch c.action { // constants convert to any without allocating
	case ActionCreate:
		return ActionCreate
	case ActionUpdate:
		return ActionUpdate
	case ActionDelete:
		return ActionDelete
	}
	return c.action
}

// actionOf maps an ent operation to the action it reports.
func actionOf(op ent.Op) Action {
	switch {
	case op.Is(ent.OpCreate):
		return ActionCreate
	case op.Is(ent.OpUpdate | ent.OpUpdateOne):
		return ActionUpdate
	default:
		return ActionDelete
	}
}

// sender emits the events of the rows of one committed mutation.
type sender[T any] struct {
	glue    Glue[T]
	emitter Emitter
	action  Action
	target  TargetFunc[T]
	changed []string
	rows    []T
	one     [1]T        // backs rows for single-row mutations
	ctx     emitContext // the context of emit, allocated with the sender
}

// emit sends one event per row, in order. It runs after the commit; the
// mutation's context may be done by then, so its values are kept but its
// cancellation is not.
func (s *sender[T]) emit(ctx context.Context) {
	s.ctx = emitContext{parent: ctx, action: s.action}
	ctx = &s.ctx
	now := time.Now()
	for _, row := range s.rows {
		s.emitRow(ctx, now, row)
	}
}

// emitRow computes the target of one row and emits its event. A panic in
// the target function or the emitter is recovered and reported.
func (s *sender[T]) emitRow(ctx context.Context, now time.Time, row T) {
	id := s.glue.ID(row)
	defer func() {
		if r := recover(); r != nil {
			s.fail(ctx, id, fmt.Errorf("entreactive: panic: %v", r))
		}
	}()
	to, err := s.target(ctx, row).withUserIDs()
	if err != nil {
		s.fail(ctx, id, err)
	}
	if to.Empty() {
		return
	}
	var data any = row
	if to.Instance != nil {
		data, to.Instance = to.Instance, nil
	}
	ev := Event{
		Action:    s.action,
		Model:     s.glue.Model(),
		ID:        id,
		Data:      data,
		Changed:   s.changed,
		Timestamp: now,
	}
	if err := s.emitter.Emit(ctx, to, ev); err != nil {
		s.fail(ctx, id, fmt.Errorf("entreactive: emit: %w", err))
	}
}

// fail reports a lost event to the emitter when it is a FailureReporter,
// and logs it with slog's default logger otherwise.
func (s *sender[T]) fail(ctx context.Context, id any, err error) {
	f := Failure{Model: s.glue.Model(), Action: s.action, ID: id, Err: err}
	if r, ok := s.emitter.(FailureReporter); ok {
		r.ReportFailure(ctx, f)
		return
	}
	slog.ErrorContext(ctx, "entreactive: event lost",
		slog.String("model", f.Model), slog.String("action", string(f.Action)),
		slog.Any("id", f.ID), slog.Any("err", f.Err))
}
