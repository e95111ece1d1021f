package entreactive

import (
	"context"
	"reflect"
	"time"

	"entgo.io/ent"
)

// Load says what the generated statement code loads right before the
// statement runs.
type Load uint8

// What the statement code loads.
const (
	// LoadNone loads nothing.
	LoadNone Load = iota
	// LoadIDs loads the ids of the rows the statement matches (a bulk
	// update, reloaded after).
	LoadIDs
	// LoadRows loads the whole rows the statement matches (a delete, an
	// update whose rules want the previous rows), or, for an insert with ON
	// CONFLICT, the rows it may update.
	LoadRows
)

// Statement is the hook's record of one mutation while it runs. Every
// generated mutation of a reactive schema holds one.
//
// It starts with the operation the caller asked for. When a schema hook
// runs before the reactive mixin's (a privacy policy, ent's soft-delete
// mixin listed first), such a hook may change the operation before the
// reactive hook sees it (the soft-delete mixin turns a delete into an
// update and runs the mutation through the client again), so the Emitter
// option adds a client hook, outermost, that starts the statement; otherwise
// the reactive hook starts it. The reactive hook says what to load. The
// generated statement code loads it right before the statement runs: with
// the statement's final predicates (inner hooks included), on the
// statement's driver (inside its transaction), and without privacy rules
// or query interceptors, which filter what the app's queries see but not
// what its statements change.
//
// Applications do not use it.
type Statement[T any] struct {
	// Op is the operation the caller asked for; zero before the statement
	// starts.
	Op ent.Op
	// Load is what the statement code loads before it runs.
	Load Load
	// Upsert is set by the statement code of an insert with ON CONFLICT.
	Upsert bool
	// Partial is set by the statement code of an UpdateOne that selects
	// some fields only: the row it returns is reloaded whole.
	Partial bool
	// claimed is set by the outermost run of the mixin's hook.
	claimed bool
	// Ctx is the mutation's context, for the statement code that has none
	// (the create spec, where an upsert shows).
	Ctx context.Context
	// loaded is what the statement code loaded, nil until it did: kept
	// out of line, so that mutations that load nothing (creates) stay small.
	loaded *loaded[T]
}

// loaded is what the statement code loaded before the statement ran.
type loaded[T any] struct {
	rows []T
	err  error
}

// Loaded records what the statement code loaded before the statement ran:
// the rows, or the error of loading them.
func (s *Statement[T]) Loaded(rows []T, err error) {
	s.loaded = &loaded[T]{rows: rows, err: err}
}

// Before returns the rows loaded before the statement ran.
func (s *Statement[T]) Before() []T {
	if s.loaded == nil {
		return nil
	}
	return s.loaded.rows
}

// Err returns the error of loading the rows before the statement ran.
func (s *Statement[T]) Err() error {
	if s.loaded == nil {
		return nil
	}
	return s.loaded.err
}

// Start records op as the operation the caller asked for. It returns false
// when the statement was already started: the mutation re-entered the
// client (a hook ran it again), and the outer run reports it.
func (s *Statement[T]) Start(op ent.Op) bool {
	if s.Op != 0 {
		return false
	}
	s.Op = op
	return true
}

// Reset forgets the statement once the mutation returned to its caller.
func (s *Statement[T]) Reset() { *s = Statement[T]{} }

// claim reports whether the calling run of the mixin's hook is the one that
// reports the mutation: no outer run of the hook claimed it.
func (s *Statement[T]) claim() bool {
	if s.claimed {
		return false
	}
	s.claimed = true
	return true
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
	for i, h := range hooks {
		switch mu := h(nopMutator{}).(type) {
		case *mutator[T]:
			return i > 0
		case rulesTyped:
			entity := reflect.TypeFor[T]()
			schema := entity.Name()
			if entity.Kind() == reflect.Pointer {
				schema = entity.Elem().Name()
			}
			panic(wrongRules(schema, entity.String(), mu.rulesType()))
		}
	}
	return true
}

// Change is what an upsert did to one row.
type Change[T any] struct {
	// Action is ActionCreate for an inserted row, ActionUpdate for a row a
	// conflict updated.
	Action Action
	// Row is the row as stored.
	Row T
	// Previous is the row before an update.
	Previous T
	// Changed lists the fields an update changed, Sensitive fields left out.
	Changed []string
}

// SameTime reports whether two optional times are both nil or the same
// instant. The generated code compares rows with it.
func SameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// SamePointee reports whether two optional values are both nil or equal.
// The generated code compares rows with it, and target functions compare
// the Nillable fields of a row and its Previous with it:
//
//	if old, ok := entreactive.Previous[*ent.Task](ctx); ok && !entreactive.SamePointee(old.AssigneeID, t.AssigneeID) {
//		to.Users = append(to.Users, old.AssigneeID) // the old assignee hears it too
//	}
func SamePointee[V comparable](a, b *V) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
