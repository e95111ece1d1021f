package entreactive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"time"

	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive/glue"
)

// hook is the mixin's hook. It runs the mutation, collects the rows it
// touched (loaded right before the statement for deletes and bulk updates),
// and schedules their events for after the commit. It reports what the
// caller asked for: a delete that an inner hook turned into an update (soft
// delete) is a delete, and the runs of this hook inside such a re-entry
// send nothing. It never fails a mutation that succeeded: problems with the
// events are reported, not returned.
func (m reactiveMixin[T]) hook(next ent.Mutator) ent.Mutator {
	return &mutator[T]{mixin: m, next: next}
}

// mutator is what the mixin's hook returns. It is a type of its own, not a
// MutateFunc, so that the generated code finds it among a schema's hooks
// (glue.HooksBefore, glue.NotifyUpdated).
type mutator[T any] struct {
	mixin reactiveMixin[T]
	next  ent.Mutator
}

// Mutate runs the mutation and schedules its events.
func (mu *mutator[T]) Mutate(ctx context.Context, mut ent.Mutation) (ent.Value, error) {
	m, next := mu.mixin, mu.next
	g, err := glueOf[T](mut)
	if err != nil {
		return nil, err
	}
	emitter, _ := g.Emitter().(Emitter)
	if emitter == nil {
		return next.Mutate(ctx, mut)
	}
	st := g.Statement()
	started := st.Start(mut.Op())
	if !st.Claim() {
		return next.Mutate(ctx, mut)
	}
	if started {
		defer st.Reset()
	}
	op := st.Op
	action := actionOf(op)
	target := m.rules.target(action)
	if target == nil && (action != ActionCreate || m.rules.update == nil) {
		return next.Mutate(ctx, mut)
	}
	st.Ctx = ctx
	st.Load = m.load(op)
	var tx glue.TxEnd
	if _, ok := emitter.(DurableEmitter); ok {
		tx = g.InTx()
	}
	v, err := next.Mutate(ctx, mut)
	if err != nil {
		if tx != nil {
			if rerr := tx.Rollback(ctx); rerr != nil {
				err = errors.Join(err, fmt.Errorf("entreactive: rollback: %w", rerr))
			}
		}
		return v, err
	}
	s := &sender[T]{glue: g, emitter: emitter, action: action, target: target}
	m.schedule(ctx, s, st, v)
	if tx != nil {
		// The commit hooks store the events first: a commit that fails
		// leaves neither the change nor its events.
		if err := tx.Commit(ctx); err != nil {
			if rerr := tx.Rollback(ctx); rerr != nil && !errors.Is(rerr, sql.ErrTxDone) {
				err = errors.Join(err, fmt.Errorf("entreactive: rollback: %w", rerr))
			}
			return nil, fmt.Errorf("entreactive: commit %s: %w", op, err)
		}
	}
	return v, nil
}

// ReactiveRules returns T, the type of the mixin's rules (glue.Hook).
func (*mutator[T]) ReactiveRules() reflect.Type { return reflect.TypeFor[T]() }

// glueOf returns the glue of mut, a mutation of a schema with a reactive
// mixin whose rules are for T, or the error of noGlue. Code generated for
// version 4 of the contract has glue of the deprecated Glue interface.
func glueOf[T any](mut ent.Mutation) (glue.Glue[T], error) {
	switch m := mut.(type) {
	case glue.Mutation[T]:
		return m.Reactive(), nil
	case Mutation[T]:
		return v4Glue[T]{m.Reactive()}, nil
	}
	return nil, noGlue[T](mut)
}

// noGlue returns the error of a mutation that is not a Mutation[T], T being
// the type of the rules of the reactive mixin of its schema: the rules are
// for another type than the schema's entity (Rules[*ent.Board] in Label's
// mixin, a copy-paste slip), or the mutation has no glue, the ent code
// having been generated without the extension.
func noGlue[T any](mut ent.Mutation) error {
	rules, mt := reflect.TypeFor[T](), reflect.TypeOf(mut)
	if mt.Kind() == reflect.Pointer {
		mt = mt.Elem()
	}
	if rules.Kind() != reflect.Pointer || rules.Elem().Name() != mut.Type() || rules.Elem().PkgPath() != mt.PkgPath() {
		pkg, _, _ := strings.Cut(mt.String(), ".")
		return fmt.Errorf("entreactive: schema %s's reactive mixin has rules for %s: use entreactive.Rules[*%s.%s]", mut.Type(), rules, pkg, mut.Type())
	}
	return fmt.Errorf("entreactive: %T has no reactive glue: regenerate the ent code with the entreactivegen extension", mut)
}

// schedule collects the rows of a statement that succeeded, v being what
// it returned, and schedules their events with s.
func (m reactiveMixin[T]) schedule(ctx context.Context, s *sender[T], st *glue.Statement[T], v ent.Value) {
	if err := st.Err(); err != nil {
		s.fail(ctx, nil, fmt.Errorf("entreactive: load affected rows: %w", err))
		return
	}
	g, op := s.glue, st.Op
	var err error
	switch {
	case op.Is(ent.OpCreate):
		row, ok := v.(T)
		if !ok {
			s.fail(ctx, nil, fmt.Errorf("entreactive: %s returned %T", op, v))
			return
		}
		if st.Upsert {
			m.scheduleUpsert(ctx, s, row)
			return
		}
		if s.target == nil {
			// Rules without a create target get here for the updates of
			// upserts only: an insert sends nothing.
			return
		}
		s.one[0] = row
		s.rows = s.one[:]
	case op.Is(ent.OpUpdateOne):
		row, ok := v.(T)
		if !ok {
			s.fail(ctx, nil, fmt.Errorf("entreactive: %s returned %T", op, v))
			return
		}
		s.one[0] = row
		s.rows = s.one[:]
		if st.Partial {
			if s.rows, err = g.Reload(ctx, s.rows); err != nil {
				s.fail(ctx, g.ID(row), fmt.Errorf("entreactive: reload updated row: %w", err))
				return
			}
		}
		if before := st.Before(); m.rules.previous && len(before) == 1 {
			s.previous = []any{before[0]}
		}
	case op.Is(ent.OpUpdate):
		if s.rows, err = g.Reload(ctx, st.Before()); err != nil {
			s.fail(ctx, nil, fmt.Errorf("entreactive: reload updated rows: %w", err))
			return
		}
		if m.rules.previous {
			s.previous = previousOf(g, st.Before(), s.rows)
		}
	case op.Is(ent.OpDelete | ent.OpDeleteOne):
		if n, ok := v.(int); ok && n == 0 {
			return
		}
		s.rows = st.Before()
	}
	if s.action == ActionUpdate {
		var onlySensitive bool
		s.upd.changed, onlySensitive = g.Changed()
		if onlySensitive && !m.rules.sensitive {
			return
		}
	}
	if len(s.rows) > 0 {
		s.ctx = ctx
		g.Schedule(s)
	}
}

// NotifyUpdated sends an update of each row of after, with changed as the
// changed fields, to the update target function of the rules; before holds
// the same rows as they were, for rules that load previous rows. The
// generated code calls it through glue.NotifyUpdated for the rows whose
// foreign key a mutation of another schema changed, e.g.
// team.Update().AddTaskIDs(...) for tasks; loadErr, when not nil, is the
// error of loading them, reported as a lost event.
func (mu *mutator[T]) NotifyUpdated(ctx context.Context, g glue.Glue[T], before, after []T, changed []string, loadErr error) {
	emitter, _ := g.Emitter().(Emitter)
	rules := mu.mixin.rules
	if emitter == nil || rules.update == nil {
		return
	}
	s := &sender[T]{glue: g, emitter: emitter, action: ActionUpdate, target: rules.update, rows: after}
	s.upd.changed = changed
	if loadErr != nil {
		s.fail(ctx, nil, fmt.Errorf("entreactive: load rows whose foreign key changed: %w", loadErr))
		return
	}
	if rules.previous {
		s.previous = previousOf(g, before, after)
	}
	if len(after) > 0 {
		s.ctx = ctx
		g.Schedule(s)
	}
}

// load returns what the statement code of op loads before it runs.
func (m reactiveMixin[T]) load(op ent.Op) glue.Load {
	switch {
	case op.Is(ent.OpDelete | ent.OpDeleteOne):
		return glue.LoadRows
	case op.Is(ent.OpUpdate):
		if m.rules.previous {
			return glue.LoadRows
		}
		return glue.LoadIDs
	case op.Is(ent.OpUpdateOne):
		if m.rules.previous {
			return glue.LoadRows
		}
		return glue.LoadNone
	}
	// A create loads the rows an ON CONFLICT clause may update, if it has one.
	return glue.LoadRows
}

// scheduleUpsert schedules the events of an insert with ON CONFLICT: a
// create for an inserted row, an update for a row a conflict changed, and
// nothing for a row it left as it was.
func (m reactiveMixin[T]) scheduleUpsert(ctx context.Context, s *sender[T], created T) {
	changes, err := s.glue.Upserted(ctx, created)
	if err != nil {
		s.fail(ctx, nil, fmt.Errorf("entreactive: load upserted rows: %w", err))
		return
	}
	var list senders[T]
	for _, c := range changes {
		action := ActionUpdate
		if c.Created {
			action = ActionCreate
		}
		target := m.rules.target(action)
		if target == nil {
			continue
		}
		cs := &sender[T]{glue: s.glue, emitter: s.emitter, action: action, target: target}
		cs.upd.changed = c.Changed
		cs.one[0] = c.Row
		cs.rows = cs.one[:]
		if action == ActionUpdate && m.rules.previous {
			cs.previous = []any{c.Previous}
		}
		cs.ctx = ctx
		list = append(list, cs)
	}
	s.glue.Schedule(list)
}

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
