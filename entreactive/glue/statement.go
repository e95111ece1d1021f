package glue

import (
	"context"

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
	// Captured is set by the hook on a create whose event the database
	// records itself (a trigger of the durable emitter's, see
	// entreactive.CreateCapturer): the hook opens no transaction for it.
	// The statement code of an insert with ON CONFLICT, whose updates are
	// stored as usual, opens one then (Glue.InTx), in UpsertTx.
	Captured bool
	// UpsertTx is the end of the transaction the statement code opened
	// for a captured insert with ON CONFLICT, or nil.
	UpsertTx TxEnd
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

// Claim reports whether the calling run of the mixin's hook is the one
// that reports the mutation: no outer run of the hook claimed it.
func (s *Statement[T]) Claim() bool {
	if s.claimed {
		return false
	}
	s.claimed = true
	return true
}
