package entreactive

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"entgo.io/ent"
	"github.com/entreactive/reactive/entreactive/glue"
)

// senders are the emissions of one insert with ON CONFLICT, one per action.
type senders[T any] []*sender[T]

// Emit sends the events of each sender in turn.
func (ss senders[T]) Emit() {
	for _, s := range ss {
		s.Emit()
	}
}

// durable returns the senders' emitter when it is a DurableEmitter.
func (ss senders[T]) durable() DurableEmitter {
	if len(ss) == 0 {
		return nil
	}
	return ss[0].durable()
}

// outgoing appends the events of each sender in turn.
func (ss senders[T]) outgoing(out []Outgoing) []Outgoing {
	for _, s := range ss {
		out = s.outgoing(out)
	}
	return out
}

// previousOf returns, for each row of after, the row of before with the
// same id, or nil.
func previousOf[T any](g glue.Glue[T], before, after []T) []any {
	byID := make(map[any]T, len(before))
	for _, row := range before {
		byID[g.ID(row)] = row
	}
	previous := make([]any, len(after))
	for i, row := range after {
		if old, ok := byID[g.ID(row)]; ok {
			previous[i] = old
		}
	}
	return previous
}

// ruleContext returns the context target functions and the emitter get:
// the mutation's values without its cancellation (the commit is done; the
// events must not be lost to a finished request), the action for
// ActionFromContext and, for an update, upd for ChangedFromContext and
// Previous.
func ruleContext(parent context.Context, action Action, upd *updateContext) context.Context {
	ctx := context.WithValue(context.WithoutCancel(parent), actionKey{}, actionValue(action))
	if upd != nil {
		ctx = context.WithValue(ctx, updateKey{}, upd)
	}
	return ctx
}

// actionValue returns a as an interface value; the constants convert
// without allocating.
func actionValue(a Action) any {
	switch a {
	case ActionCreate:
		return ActionCreate
	case ActionUpdate:
		return ActionUpdate
	case ActionDelete:
		return ActionDelete
	}
	return a
}

// updateContext is what the context of an update's target function adds.
type updateContext struct {
	changed  []string
	previous any // the row before the update, when the rules load it
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

// sender emits the events of the rows of one committed mutation: it is the
// Emission the hook schedules.
type sender[T any] struct {
	glue     glue.Glue[T]
	emitter  Emitter
	action   Action
	target   TargetFunc[T]
	rows     []T
	previous []any           // the rows before an update, by index of rows (nil: unknown); nil unless the rules load them
	one      [1]T            // backs rows for single-row mutations
	upd      updateContext   // changed fields, for updates
	ctx      context.Context // the mutation's context, set when scheduled
}

// Emit sends one event per row, in order. It runs after the commit; the
// mutation's context may be done by then, so its values are kept but its
// cancellation is not.
func (s *sender[T]) Emit() {
	s.each(func(ctx context.Context, id any, to Target, ev Event) {
		if err := s.emitter.Emit(ctx, to, ev); err != nil {
			s.fail(ctx, id, fmt.Errorf("entreactive: emit: %w", err))
		}
	})
}

// durable returns the sender's emitter when it is a DurableEmitter.
func (s *sender[T]) durable() DurableEmitter {
	d, _ := s.emitter.(DurableEmitter)
	return d
}

// outgoing appends the event of each row to out, in order: the durable
// path stores them before the commit.
func (s *sender[T]) outgoing(out []Outgoing) []Outgoing {
	s.each(func(_ context.Context, _ any, to Target, ev Event) {
		out = append(out, Outgoing{To: to, Event: ev})
	})
	return out
}

// each computes the target and the event of each row, in order, and
// hands them to use with the row's context and id.
func (s *sender[T]) each(use func(ctx context.Context, id any, to Target, ev Event)) {
	var upd *updateContext
	if s.action == ActionUpdate {
		upd = &s.upd
	}
	ctx := ruleContext(s.ctx, s.action, upd)
	now := time.Now()
	for i, row := range s.rows {
		if s.previous == nil {
			s.eachRow(ctx, now, row, use)
			continue
		}
		// Each row its own previous row, even for an emitter that keeps ctx.
		upd := &updateContext{changed: s.upd.changed, previous: s.previous[i]}
		s.eachRow(ruleContext(s.ctx, s.action, upd), now, row, use)
	}
}

// eachRow computes the target of one row and hands its event to use. A
// panic in the target function or in use is recovered and reported.
func (s *sender[T]) eachRow(ctx context.Context, now time.Time, row T, use func(ctx context.Context, id any, to Target, ev Event)) {
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
	use(ctx, id, to, Event{
		Action:    s.action,
		Model:     s.glue.Model(),
		ID:        id,
		Data:      data,
		Changed:   s.upd.changed,
		Timestamp: now,
	})
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
