package entreactive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"reflect"
	"strings"

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
	durable, _ := emitter.(DurableEmitter)
	if durable != nil {
		// A create the database records runs in no transaction of its
		// own; the statement code opens one for an upsert.
		if c, ok := durable.(CreateCapturer); ok && action == ActionCreate && c.CapturesCreates(g.Model()) {
			st.Captured = true
		} else {
			tx = g.InTx()
		}
	}
	v, err := next.Mutate(ctx, mut)
	if tx == nil {
		tx = st.UpsertTx
	}
	if err != nil {
		if tx != nil {
			if rerr := tx.Rollback(ctx); rerr != nil {
				err = errors.Join(err, fmt.Errorf("entreactive: rollback: %w", rerr))
			}
		}
		return v, err
	}
	if st.Captured && !st.Upsert {
		// A trigger recorded the create: the relay builds its event once
		// told that it committed.
		g.Schedule(committed{ctx: context.WithoutCancel(ctx), d: durable})
		return v, nil
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
	captured, inserted := s.glue.Statement().Captured, false
	for _, c := range changes {
		action := ActionUpdate
		if c.Created {
			action = ActionCreate
		}
		if c.Created && captured {
			// A trigger recorded the insert: the relay publishes it.
			inserted = true
			continue
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
	if d, ok := s.emitter.(DurableEmitter); ok && inserted && len(list) == 0 {
		// Nothing to store: the relay is only told of the commit (with
		// events to store, it is told once they are).
		s.glue.Schedule(committed{ctx: context.WithoutCancel(ctx), d: d})
		return
	}
	s.glue.Schedule(list)
}
