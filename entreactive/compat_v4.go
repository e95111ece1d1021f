package entreactive

import (
	"context"
	"time"

	"entgo.io/ent"
	"entgo.io/ent/dialect"

	"github.com/entreactive/reactive/entreactive/glue"
)

// What code generated for version 4 of the contract calls: it imported this
// package for the plumbing that version 5 moved to package glue. Every name
// below goes with version 6 (see glue.GeneratedCodeVersion); regenerate the
// ent code with go generate ./... to stop using them.

// GeneratedCodeV4 is named by code generated for version 4 of the contract,
// which this module still runs.
//
// Deprecated: regenerate the ent code (go generate ./...): its reactive.go
// then names glue.GeneratedCodeV5.
type GeneratedCodeV4 struct{}

// Mutation is implemented by the mutations of code generated for version 4.
//
// Deprecated: the code of version 5 implements glue.Mutation.
type Mutation[T any] interface {
	ent.Mutation
	// Reactive returns the glue of this mutation.
	Reactive() Glue[T]
}

// Glue is the glue of code generated for version 4.
//
// Deprecated: the code of version 5 implements glue.Glue.
type Glue[T any] interface {
	Emitter() Emitter
	Model() string
	ID(row T) any
	Statement() *Statement[T]
	Changed() (changed []string, onlySensitive bool)
	Reload(ctx context.Context, rows []T) ([]T, error)
	Upserted(ctx context.Context, created T) ([]Change[T], error)
	Schedule(e Emission)
	InTx() TxEnd
}

// Change is what an upsert did to one row, for code generated for version 4.
//
// Deprecated: the code of version 5 uses glue.Change.
type Change[T any] struct {
	Action   Action
	Row      T
	Previous T
	Changed  []string
}

// Statement is glue.Statement.
//
// Deprecated: the code of version 5 uses glue.Statement.
type Statement[T any] = glue.Statement[T]

// Load is glue.Load.
//
// Deprecated: the code of version 5 uses glue.Load.
type Load = glue.Load

// What the statement code loads: glue.LoadNone, glue.LoadIDs, glue.LoadRows.
//
// Deprecated: the code of version 5 uses package glue's.
const (
	LoadNone = glue.LoadNone
	LoadIDs  = glue.LoadIDs
	LoadRows = glue.LoadRows
)

// Emission is glue.Emission.
//
// Deprecated: the code of version 5 uses glue.Emission.
type Emission = glue.Emission

// Batch is glue.Batch.
//
// Deprecated: the code of version 5 uses glue.Batch.
type Batch = glue.Batch

// NewBatch is glue.NewBatch.
//
// Deprecated: the code of version 5 calls glue.NewBatch.
func NewBatch(n int) *Batch { return glue.NewBatch(n) }

// TxEnd is glue.TxEnd.
//
// Deprecated: the code of version 5 uses glue.TxEnd.
type TxEnd = glue.TxEnd

// LazyTx is glue.LazyTx.
//
// Deprecated: the code of version 5 uses glue.LazyTx.
type LazyTx = glue.LazyTx

// NewLazyTx is glue.NewLazyTx.
//
// Deprecated: the code of version 5 calls glue.NewLazyTx.
func NewLazyTx(drv dialect.Driver) *LazyTx { return glue.NewLazyTx(drv) }

// EmitAfterCommit is glue.EmitAfterCommit.
//
// Deprecated: the code of version 5 calls glue.EmitAfterCommit.
func EmitAfterCommit(ctx context.Context, commit func(context.Context) error, e Emission) error {
	return glue.EmitAfterCommit(ctx, commit, e)
}

// EmitAfterCommitIn is glue.EmitAfterCommitIn.
//
// Deprecated: the code of version 5 calls glue.EmitAfterCommitIn.
func EmitAfterCommitIn(ctx context.Context, tx dialect.ExecQuerier, commit func(context.Context) error, e Emission) error {
	return glue.EmitAfterCommitIn(ctx, tx, commit, e)
}

// HooksBefore is glue.HooksBefore.
//
// Deprecated: the code of version 5 calls glue.HooksBefore.
func HooksBefore[T any](hooks []ent.Hook) bool { return glue.HooksBefore[T](hooks) }

// NotifyUpdated is glue.NotifyUpdated for the glue of version 4.
//
// Deprecated: the code of version 5 calls glue.NotifyUpdated.
func NotifyUpdated[T any](ctx context.Context, hooks []ent.Hook, g Glue[T], before, after []T, changed []string, loadErr error) {
	glue.NotifyUpdated(ctx, hooks, v4Glue[T]{g}, before, after, changed, loadErr)
}

// Object is glue.Object.
//
// Deprecated: the code of version 5 uses glue.Object.
type Object = glue.Object

// NewObject is glue.NewObject.
//
// Deprecated: the code of version 5 calls glue.NewObject.
func NewObject(b []byte) Object { return glue.NewObject(b) }

// List is glue.List.
//
// Deprecated: the code of version 5 calls glue.List.
func List[T any](o *Object, key string, items []T) { glue.List(o, key, items) }

// SameTime is glue.SameTime.
//
// Deprecated: the code of version 5 calls glue.SameTime.
func SameTime(a, b *time.Time) bool { return glue.SameTime(a, b) }

// v4Glue is the glue of code generated for version 4 as a glue.Glue.
type v4Glue[T any] struct{ g Glue[T] }

func (v v4Glue[T]) Emitter() any                  { return v.g.Emitter() }
func (v v4Glue[T]) Model() string                 { return v.g.Model() }
func (v v4Glue[T]) ID(row T) any                  { return v.g.ID(row) }
func (v v4Glue[T]) Statement() *glue.Statement[T] { return v.g.Statement() }
func (v v4Glue[T]) Changed() ([]string, bool)     { return v.g.Changed() }
func (v v4Glue[T]) Reload(ctx context.Context, rows []T) ([]T, error) {
	return v.g.Reload(ctx, rows)
}
func (v v4Glue[T]) Schedule(e glue.Emission) { v.g.Schedule(e) }
func (v v4Glue[T]) InTx() glue.TxEnd         { return v.g.InTx() }
func (v v4Glue[T]) Upserted(ctx context.Context, created T) ([]glue.Change[T], error) {
	changes, err := v.g.Upserted(ctx, created)
	if err != nil {
		return nil, err
	}
	out := make([]glue.Change[T], len(changes))
	for i, c := range changes {
		out[i] = glue.Change[T]{Created: c.Action == ActionCreate, Row: c.Row, Previous: c.Previous, Changed: c.Changed}
	}
	return out, nil
}
