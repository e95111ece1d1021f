package entreactive

import (
	"context"
	"time"

	"entgo.io/ent"
)

// Mutation is implemented by the generated mutation of every reactive
// schema (e.g. *ent.MessageMutation). The mixin's hook reaches the typed
// glue through it.
type Mutation[T any] interface {
	ent.Mutation
	// Reactive returns the glue of this mutation.
	Reactive() Glue[T]
}

// Glue is the typed, generated half of a reactive schema: what the generic
// hook cannot do without knowing the schema. The code generator in package
// entreactivegen writes one per reactive schema; applications do not
// implement it.
type Glue[T any] interface {
	// Emitter returns the emitter set on the client with the generated
	// Emitter option, or nil when there is none.
	Emitter() Emitter
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
	// Schedule runs emit once the mutation's change is committed: at the
	// end of the transaction it belongs to, or at once outside of one. The
	// rows of one CreateBulk statement are emitted together, in row order.
	Schedule(emit func())
}

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
	// claimed is set by the outermost run of the mixin's hook.
	claimed bool
	// Ctx is the mutation's context, for the statement code that has none
	// (the create spec, where an upsert shows).
	Ctx context.Context
	// Before holds the rows loaded before the statement ran.
	Before []T
	// Err is the error of loading them.
	Err error
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
func HooksBefore[T any](hooks []ent.Hook) bool {
	for i, h := range hooks {
		if _, ok := h(nopMutator{}).(*mutator[T]); ok {
			return i > 0
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

// Batch gathers the emit functions of the rows of one CreateBulk statement.
// ent runs the hooks of such a statement nested, so they finish in reverse
// row order; Batch restores row order. The generated code creates one per
// statement; it is used by one goroutine.
type Batch struct {
	emits []func()
	left  int
}

// NewBatch returns a batch for a statement of n rows.
func NewBatch(n int) *Batch {
	return &Batch{emits: make([]func(), n), left: n}
}

// Add records the emit function of row i. When every row has reported, it
// returns one function that emits all rows in order; before that, nil.
func (b *Batch) Add(i int, emit func()) func() {
	b.emits[i] = emit
	b.left--
	if b.left > 0 {
		return nil
	}
	return func() {
		for _, emit := range b.emits {
			emit()
		}
	}
}

// afterCommitKey is the context key of the queue of a committing transaction.
type afterCommitKey struct{}

// afterCommitQueue collects the emit functions of the inner commit hooks of
// one transaction.
type afterCommitQueue struct{ emits []func() }

// AfterCommit runs commit and, when it succeeds, emit. The generated code
// calls it from one commit hook per reactive mutation of a transaction.
//
// ent runs commit hooks nested, the first registered outermost, so their
// code after the commit runs in reverse registration order. AfterCommit
// passes a queue down the context from the outermost hook: inner hooks queue
// their emit function, and the outermost runs its own and then the queued
// ones in registration order, so events leave in mutation order.
func AfterCommit(ctx context.Context, commit func(context.Context) error, emit func()) error {
	if q, ok := ctx.Value(afterCommitKey{}).(*afterCommitQueue); ok {
		if err := commit(ctx); err != nil {
			return err
		}
		q.emits = append(q.emits, emit)
		return nil
	}
	q := &afterCommitQueue{}
	if err := commit(context.WithValue(ctx, afterCommitKey{}, q)); err != nil {
		return err
	}
	emit()
	for i := len(q.emits) - 1; i >= 0; i-- {
		q.emits[i]()
	}
	return nil
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
// The generated code compares rows with it.
func SamePointee[V comparable](a, b *V) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
