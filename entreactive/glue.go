package entreactive

import (
	"context"
	"fmt"

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

	// The glue also has a Schedule method, left out of this interface so
	// that code generated for version 1 of the contract still compiles (see
	// GeneratedCodeVersion): Schedule(e Emission) runs e once the mutation's
	// change is committed, at the end of the transaction it belongs to or at
	// once outside of one, the rows of one CreateBulk statement together and
	// in row order; version 1's Schedule(emit func()) does the same with a
	// func. It returns to the interface when version 1 is dropped.
}

// scheduler is the Schedule method of the glue of generated code of
// versions 2 and later.
type scheduler interface {
	Schedule(e Emission)
}

// funcScheduler is the Schedule method of the glue of generated code of
// version 1.
type funcScheduler interface {
	Schedule(emit func())
}

// scheduleWith hands e to the Schedule method of glue, whichever version of
// the contract the glue was generated for.
func scheduleWith[T any](glue Glue[T], e Emission) {
	if g, ok := glue.(scheduler); ok {
		g.Schedule(e)
		return
	}
	glue.(funcScheduler).Schedule(e.Emit)
}

// Emission sends the events of the rows of one committed mutation. The
// mixin's hook hands one to the glue's Schedule method; it is an interface
// rather than a func so that the hook's own record of the mutation is the
// emission, with no closure allocated per mutation.
type Emission interface {
	// Emit sends the events. It runs once, after the commit.
	Emit()
}

// Batch gathers the emissions of the rows of one CreateBulk statement. ent
// runs the hooks of such a statement nested, so they finish in reverse row
// order; Batch restores row order. The generated code creates one per
// statement; it is used by one goroutine.
type Batch struct {
	emissions []Emission
	left      int
}

// NewBatch returns a batch for a statement of n rows.
func NewBatch(n int) *Batch {
	return &Batch{emissions: make([]Emission, n), left: n}
}

// Record records the emission of row i. When every row has reported, it
// returns the batch, which emits all rows in order; before that, nil.
func (b *Batch) Record(i int, e Emission) Emission {
	b.emissions[i] = e
	b.left--
	if b.left > 0 {
		return nil
	}
	return b
}

// Add records the emission of row i, a func() (code generated for version 1
// of the contract) or an Emission (version 2). When every row has reported,
// it returns a function that emits all rows in order; before that, a nil
// one, which version 2's code schedules as an emission of nothing.
//
// Deprecated: Add is what code generated for versions 1 and 2 calls; code
// generated for version 3 calls Record. Regenerate with go generate ./...;
// Add goes when version 4 drops them.
func (b *Batch) Add(i int, e any) emitFunc {
	if b.Record(i, emissionOf(e)) == nil {
		return nil
	}
	return b.Emit
}

// emitFunc is a func() that is also an Emission, the result of the
// deprecated Batch.Add, so that the code of both versions that calls it
// compiles: version 1 assigns it to a func(), version 2 to an Emission.
// Calling the Emit of a nil emitFunc does nothing.
type emitFunc func()

// Emit calls f, if it is not nil.
func (f emitFunc) Emit() {
	if f != nil {
		f()
	}
}

// emissionOf returns e, an Emission or a func() that the deprecated
// AfterCommit and Batch.Add were given, as an Emission.
func emissionOf(e any) Emission {
	switch e := e.(type) {
	case Emission:
		return e
	case func():
		return emitFunc(e)
	}
	panic(fmt.Sprintf("entreactive: %T is neither an Emission nor a func()", e))
}

// Emit sends the events of every row, in row order.
func (b *Batch) Emit() {
	for _, e := range b.emissions {
		e.Emit()
	}
}

// durable returns the DurableEmitter of the batch's rows, or nil.
func (b *Batch) durable() DurableEmitter {
	for _, e := range b.emissions {
		if d := durableOf(e); d != nil {
			return d
		}
	}
	return nil
}

// outgoing appends the events of every row, in row order.
func (b *Batch) outgoing(out []Outgoing) []Outgoing {
	for _, e := range b.emissions {
		if d, ok := e.(durableEmission); ok {
			out = d.outgoing(out)
		}
	}
	return out
}

// afterCommitKey is the context key of the queue of a committing transaction.
type afterCommitKey struct{}

// afterCommitQueue collects the emissions of the inner commit hooks of one
// transaction.
type afterCommitQueue struct{ emissions []Emission }

// AfterCommit runs commit and, when it succeeds, emit: a func() (code
// generated for version 1 of the contract) or an Emission (version 2).
//
// Deprecated: AfterCommit is what code generated for versions 1 and 2
// calls; code generated for version 3 calls EmitAfterCommit. Regenerate
// with go generate ./...; AfterCommit goes when version 4 drops them.
func AfterCommit(ctx context.Context, commit func(context.Context) error, emit any) error {
	return EmitAfterCommit(ctx, commit, emissionOf(emit))
}

// EmitAfterCommit runs commit and, when it succeeds, e. The generated code
// calls it from one commit hook per reactive mutation of a transaction.
//
// ent runs commit hooks nested, the first registered outermost, so their
// code after the commit runs in reverse registration order. EmitAfterCommit
// passes a queue down the context from the outermost hook: inner hooks queue
// their emission, and the outermost runs its own and then the queued ones
// in registration order, so events leave in mutation order.
func EmitAfterCommit(ctx context.Context, commit func(context.Context) error, e Emission) error {
	if q, ok := ctx.Value(afterCommitKey{}).(*afterCommitQueue); ok {
		if err := commit(ctx); err != nil {
			return err
		}
		q.emissions = append(q.emissions, e)
		return nil
	}
	q := &afterCommitQueue{}
	if err := commit(context.WithValue(ctx, afterCommitKey{}, q)); err != nil {
		return err
	}
	e.Emit()
	for i := len(q.emissions) - 1; i >= 0; i-- {
		q.emissions[i].Emit()
	}
	return nil
}
