package entreactive

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"entgo.io/ent/dialect"
)

// DurableEmitter is an Emitter that keeps the events of a transaction in
// the database, written by the transaction itself right before it commits,
// and publishes them once it has: package outbox's Outbox. Set on the ent
// client (the generated Emitter option), it makes the events of reactive
// schemas survive a process that dies between the commit and the publish:
// a committed change always has its events stored, and a rolled-back one
// never.
//
// With a DurableEmitter, a mutation outside a transaction runs in one of
// its own, and the target functions run inside the transaction, before the
// commit (see the outbox package for what that changes).
type DurableEmitter interface {
	Emitter
	// Store writes the events in tx, the transaction of the mutations they
	// come from, before it commits. An error fails the commit: the change
	// is not made, as its events could not be kept.
	Store(ctx context.Context, tx dialect.ExecQuerier, events []Outgoing) error
	// Committed tells the emitter that a transaction whose events it stored
	// has committed: they can be published.
	Committed(ctx context.Context)
}

// Outgoing is one event and its audience, as the durable path stores it.
type Outgoing struct {
	To    Target
	Event Event
}

// durableEmission is implemented by the emissions of this package: the
// events of a durable emitter are built and stored before the commit.
type durableEmission interface {
	Emission
	// durable returns the emitter of the emission when it is a
	// DurableEmitter, and nil otherwise.
	durable() DurableEmitter
	// outgoing builds the events of the emission and appends them to out;
	// the target functions run.
	outgoing(out []Outgoing) []Outgoing
}

// durableOf returns the DurableEmitter of e, or nil when e's events are
// emitted after the commit as usual.
func durableOf(e Emission) DurableEmitter {
	if d, ok := e.(durableEmission); ok {
		return d.durable()
	}
	return nil
}

// EmitAfterCommitIn runs commit and, when it succeeds, e, as
// EmitAfterCommit does; tx is the transaction being committed. When e's
// emitter is a DurableEmitter, e's events are built and stored in tx
// before commit runs, and the emitter is told after it succeeded. The code
// generated for version 4 of the contract calls it from one commit hook
// per reactive mutation of a transaction.
func EmitAfterCommitIn(ctx context.Context, tx dialect.ExecQuerier, commit func(context.Context) error, e Emission) error {
	d := durableOf(e)
	if d == nil {
		return EmitAfterCommit(ctx, commit, e)
	}
	if out := e.(durableEmission).outgoing(nil); len(out) > 0 {
		if err := d.Store(ctx, tx, out); err != nil {
			return fmt.Errorf("entreactive: store the events of the transaction: %w", err)
		}
	}
	return EmitAfterCommit(ctx, commit, committed{ctx: context.WithoutCancel(ctx), d: d})
}

// committed is the emission of a durable transaction after its commit: it
// tells the emitter, whose relay publishes what was stored.
type committed struct {
	ctx context.Context
	d   DurableEmitter
}

// Emit tells the emitter the transaction committed.
func (c committed) Emit() { c.d.Committed(c.ctx) }

// TxEnd ends the transaction the glue of generated code (version 4) opens
// for a mutation made outside of one, when the client's emitter is a
// DurableEmitter. Commit runs the transaction's commit hooks, which store
// the events, then commits.
type TxEnd interface {
	Commit(ctx context.Context) error
	Rollback(ctx context.Context) error
}

// durableGlue is the part of the glue of generated code of version 4 and
// later that opens a transaction for a mutation made outside of one.
type durableGlue interface {
	// InTx makes the mutation run in a transaction of its own, unless it
	// runs in one: it returns the transaction's end, or nil when the
	// mutation is in a transaction already.
	InTx() TxEnd
}

// errOldGlue is the error of a mutation whose generated code predates the
// durable path.
var errOldGlue = errors.New("entreactive: the emitter is durable, and the ent code was generated before the durable path (contract version 4); regenerate it (go generate ./...)")

// LazyTx is a dialect.Tx that begins its transaction on the driver when
// it is first used: the transaction generated code (version 4) opens for
// a mutation made outside of one costs nothing until the mutation runs a
// statement. Commit and Rollback of a transaction never begun do nothing.
// It is for generated code; it is used by one goroutine at a time.
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
