package glue

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"entgo.io/ent/dialect"
)

// Emission sends the events of the rows of one committed mutation. The
// mixin's hook hands one to Glue.Schedule; it is an interface
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

// Emissions returns the emissions recorded so far, by row.
func (b *Batch) Emissions() []Emission { return b.emissions }

// Emit sends the events of every row, in row order.
func (b *Batch) Emit() {
	for _, e := range b.emissions {
		e.Emit()
	}
}

// Durable is an Emission of the durable path (an entreactive.DurableEmitter
// is the client's emitter): its events are stored in the committing
// transaction, before the commit, rather than sent after it.
type Durable interface {
	Emission
	// StoreWith stores the events of the emission, and those of others
	// that are Durable too (the other rows of a CreateBulk statement), in
	// tx, the transaction being committed; it returns the emission to run
	// once the commit succeeded. It returns nil and no error when the
	// events are not stored (the emitter is not durable): the emission runs
	// after the commit as usual. An error fails the commit.
	StoreWith(ctx context.Context, tx dialect.ExecQuerier, others []Emission) (after Emission, err error)
}

// StoreWith stores the events of the batch's rows when they are Durable:
// see Durable.
func (b *Batch) StoreWith(ctx context.Context, tx dialect.ExecQuerier, others []Emission) (Emission, error) {
	for i, e := range b.emissions {
		if d, ok := e.(Durable); ok {
			rest := make([]Emission, 0, len(b.emissions)-1+len(others))
			rest = append(append(append(rest, b.emissions[:i]...), b.emissions[i+1:]...), others...)
			return d.StoreWith(ctx, tx, rest)
		}
	}
	return nil, nil
}

// afterCommitKey is the context key of the queue of a committing transaction.
type afterCommitKey struct{}

// afterCommitQueue collects the emissions of the inner commit hooks of one
// transaction.
type afterCommitQueue struct{ emissions []Emission }

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

// EmitAfterCommitIn runs commit and, when it succeeds, e, as
// EmitAfterCommit does; tx is the transaction being committed. When e is
// Durable, its events are stored in tx before commit runs, and what it
// returned runs after the commit instead. The generated code calls it from
// one commit hook per reactive mutation of a transaction.
func EmitAfterCommitIn(ctx context.Context, tx dialect.ExecQuerier, commit func(context.Context) error, e Emission) error {
	if d, ok := e.(Durable); ok {
		after, err := d.StoreWith(ctx, tx, nil)
		if err != nil {
			return fmt.Errorf("entreactive: store the events of the transaction: %w", err)
		}
		if after != nil {
			e = after
		}
	}
	return EmitAfterCommit(ctx, commit, e)
}

// TxEnd ends the transaction Glue.InTx opens for a mutation made outside
// of one, when the client's emitter is an entreactive.DurableEmitter.
// Commit runs the transaction's commit hooks, which store the events, then
// commits.
type TxEnd interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// LazyTx is a dialect.Tx that begins its transaction on the driver when
// it is first used: the transaction Glue.InTx opens for a mutation made
// outside of one costs nothing until the mutation runs a statement. Commit
// and Rollback of a transaction never begun do nothing. It is used by one
// goroutine at a time.
type LazyTx struct {
	drv dialect.Driver
	mu  sync.Mutex
	tx  dialect.Tx
}

// NewLazyTx returns a transaction of drv, to begin when first used.
func NewLazyTx(drv dialect.Driver) *LazyTx { return &LazyTx{drv: drv} }

// begun returns the transaction, begun now if it was not.
func (t *LazyTx) begun(ctx context.Context) (dialect.Tx, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tx == nil {
		tx, err := t.drv.Tx(ctx)
		if err != nil {
			return nil, err
		}
		t.tx = tx
	}
	return t.tx, nil
}

// Exec runs a statement in the transaction.
func (t *LazyTx) Exec(ctx context.Context, query string, args, v any) error {
	tx, err := t.begun(ctx)
	if err != nil {
		return err
	}
	return tx.Exec(ctx, query, args, v)
}

// Query runs a query in the transaction.
func (t *LazyTx) Query(ctx context.Context, query string, args, v any) error {
	tx, err := t.begun(ctx)
	if err != nil {
		return err
	}
	return tx.Query(ctx, query, args, v)
}

// ExecContext runs a statement in the transaction, for ent's sql.ExecQuerier
// users (sqlgraph's bulk paths and custom SQL through the client).
func (t *LazyTx) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := tx.(interface {
		ExecContext(context.Context, string, ...any) (sql.Result, error)
	})
	if !ok {
		return nil, fmt.Errorf("entreactive: %T does not support ExecContext", tx)
	}
	return ex.ExecContext(ctx, query, args...)
}

// QueryContext runs a query in the transaction (see ExecContext).
func (t *LazyTx) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	tx, err := t.begun(ctx)
	if err != nil {
		return nil, err
	}
	q, ok := tx.(interface {
		QueryContext(context.Context, string, ...any) (*sql.Rows, error)
	})
	if !ok {
		return nil, fmt.Errorf("entreactive: %T does not support QueryContext", tx)
	}
	return q.QueryContext(ctx, query, args...)
}

// Commit commits the transaction, if it was begun.
func (t *LazyTx) Commit() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tx == nil {
		return nil
	}
	return t.tx.Commit()
}

// Rollback rolls the transaction back, if it was begun.
func (t *LazyTx) Rollback() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.tx == nil {
		return nil
	}
	return t.tx.Rollback()
}
