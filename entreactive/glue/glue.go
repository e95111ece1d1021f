package glue

import (
	"context"
	"fmt"
	"reflect"

	"entgo.io/ent"
)

// Mutation is implemented by the generated mutation of every reactive
// schema (e.g. *ent.MessageMutation). The reactive mixin's hook reaches the
// typed glue through it.
type Mutation[T any] interface {
	ent.Mutation
	// Reactive returns the glue of this mutation.
	Reactive() Glue[T]
}

// Glue is the typed, generated half of a reactive schema: what the generic
// hook of package entreactive cannot do without knowing the schema. The
// code generator writes one per reactive schema.
type Glue[T any] interface {
	// Emitter returns the entreactive.Emitter set on the client with the
	// generated Emitter option, or nil when there is none.
	Emitter() any
	// Model returns the schema's name, e.g. "Message".
	Model() string
	// ID returns the id of row.
	ID(row T) any
	// Statement returns the hook's record of the mutation.
	Statement() *Statement[T]
	// Changed returns the fields the mutation sets, adds to or clears, and
	// the names of the edges without a field that it changes (M2M edges),
	// without Sensitive fields. It is called after the mutation ran, so it
	// includes what inner hooks set. onlySensitive reports that the
	// mutation set a Sensitive field and nothing else a client may see: the
	// other fields it sets, if any, are ones ent updates by itself
	// (UpdateDefault, e.g. update_time).
	Changed() (changed []string, onlySensitive bool)
	// Reload returns the current state of rows, by id and in the same order;
	// rows that no longer exist are left out. It reads like the statement
	// code does: without privacy rules or query interceptors.
	Reload(ctx context.Context, rows []T) ([]T, error)
	// Upserted returns what an insert with ON CONFLICT did, row by row: the
	// rows it created, and the rows it changed with their fields before.
	// Rows a conflict left as they were are left out. created is the row
	// the create builder returned.
	Upserted(ctx context.Context, created T) ([]Change[T], error)
	// Schedule runs e once the mutation's change is committed: at the end
	// of the transaction it belongs to, or at once outside of one; the rows
	// of one CreateBulk statement together and in row order (Batch).
	Schedule(e Emission)
	// InTx makes the mutation run in a transaction of its own, unless it
	// runs in one: it returns the transaction's end, or nil when the
	// mutation is in a transaction already. The durable path calls it.
	InTx() TxEnd
}

// Change is what an upsert did to one row.
type Change[T any] struct {
	// Created is true for an inserted row, false for a row a conflict
	// updated.
	Created bool
	// Row is the row as stored.
	Row T
	// Previous is the row before an update.
	Previous T
	// Changed lists the fields an update changed, Sensitive fields left out.
	Changed []string
}

// Hook is implemented by the mutator of a reactive mixin's hook (package
// entreactive's), for any entity type: HooksBefore finds it among the hooks
// of a schema.
type Hook interface {
	// ReactiveRules returns T of the mixin's entreactive.Rules[T].
	ReactiveRules() reflect.Type
}

// UpdateNotifier is implemented by the mutator of a reactive mixin's hook
// whose rules are for T: NotifyUpdated hands it the rows to send.
type UpdateNotifier[T any] interface {
	Hook
	// NotifyUpdated sends an update of each row of after with changed as
	// the changed fields; see the function NotifyUpdated.
	NotifyUpdated(ctx context.Context, g Glue[T], before, after []T, changed []string, loadErr error)
}

// HooksBefore reports whether a schema hook runs before the reactive
// mixin's hook among hooks, the hooks of a schema. The generated Emitter
// option then adds the client hook that starts the Statement of the
// schema's mutations. The hooks are found by building each one's mutator,
// which runs none of them.
//
// It panics when the schema's reactive mixin has rules for another type
// than T, the schema's entity (Rules[*ent.Board] in Label's mixin, a
// copy-paste slip that compiles), so that the client with an emitter is
// refused as it is created, rather than failing every write of the schema.
func HooksBefore[T any](hooks []ent.Hook) bool {
	i, mu := reactiveHook(hooks)
	if mu == nil {
		return true
	}
	if rules := mu.ReactiveRules(); rules != reflect.TypeFor[T]() {
		panic(wrongRules(reflect.TypeFor[T](), rules))
	}
	return i > 0
}

// ReactiveHook returns the mutator of the reactive mixin's hook among
// hooks, the hooks of a schema, or nil when none is. The hooks are found
// by building each one's mutator, which runs none of them.
func ReactiveHook(hooks []ent.Hook) Hook {
	_, mu := reactiveHook(hooks)
	return mu
}

// reactiveHook returns the index and the mutator of the reactive mixin's
// hook among hooks, or -1 and nil.
func reactiveHook(hooks []ent.Hook) (int, Hook) {
	for i, h := range hooks {
		if mu, ok := h(nopMutator{}).(Hook); ok {
			return i, mu
		}
	}
	return -1, nil
}

// wrongRules returns the error of the reactive mixin of the schema whose
// entity type is entity (e.g. *ent.Label) and whose rules are for the type
// rules instead.
func wrongRules(entity, rules reflect.Type) error {
	schema := entity.Name()
	if entity.Kind() == reflect.Pointer {
		schema = entity.Elem().Name()
	}
	return fmt.Errorf("entreactive: schema %s's reactive mixin has rules for %s: use entreactive.Rules[%s]", schema, rules, entity)
}

// NotifyUpdated sends an update of each row of after, with changed as the
// changed fields, to the update target function of the schema whose hooks
// are given (its reactive mixin's hook is found among them); before holds
// the same rows as they were, for rules that load previous rows. The
// generated code calls it for the rows whose foreign key a mutation of
// another schema changed, e.g. team.Update().AddTaskIDs(...) for tasks;
// loadErr, when not nil, is the error of loading them, reported as a lost
// event.
func NotifyUpdated[T any](ctx context.Context, hooks []ent.Hook, g Glue[T], before, after []T, changed []string, loadErr error) {
	if n, ok := ReactiveHook(hooks).(UpdateNotifier[T]); ok {
		n.NotifyUpdated(ctx, g, before, after, changed, loadErr)
	}
}

// nopMutator is the next mutator of hooks built only to be recognised.
type nopMutator struct{}

// Mutate does nothing.
func (nopMutator) Mutate(context.Context, ent.Mutation) (ent.Value, error) { return nil, nil }
