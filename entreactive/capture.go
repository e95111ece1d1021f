package entreactive

import (
	"context"
	"time"

	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive/glue"
)

// CreateCapturer is a DurableEmitter that can have the database record
// creates by itself: package outbox's Outbox, once Outbox.Capture ran. The
// creates of a model it captures store nothing from Go: a trigger writes
// their record in the INSERT statement itself, so that a create made
// outside of a transaction runs in none, and the relay builds the event
// from the row as stored when it reads the record (Capture.Created), the
// target function running then. Updates, deletes and the updates of an
// insert with ON CONFLICT are stored as by any DurableEmitter.
type CreateCapturer interface {
	DurableEmitter
	// CapturesCreates reports whether the database records the creates of
	// model.
	CapturesCreates(model string) bool
}

// Capture is what the generated client's ReactiveCapture method returns
// for a CreateCapturer (Outbox.Capture): the tables of the reactive
// schemas whose rules send creates, and the events of the rows a trigger
// recorded.
type Capture interface {
	// Tables returns the tables of the reactive schemas whose rules send
	// creates.
	Tables() []CaptureTable
	// Created returns the create event of each row of model whose id is
	// given, as text, in the order of ids. The rows are read as stored
	// now, and the target function runs with ctx: a row that no longer
	// exists, or whose target sends nothing, has an Outgoing whose To is
	// empty.
	Created(ctx context.Context, model string, ids []string) ([]Outgoing, error)
	// CreatedFrom returns the create event of the row of model whose JSON,
	// as events carry it (Sensitive fields left out), is data: the relay
	// builds a create whose row is gone from the row's next event. The
	// target function runs with ctx.
	CreatedFrom(ctx context.Context, model string, data []byte) (Outgoing, error)
}

// CaptureTable is one table whose creates a CreateCapturer records.
type CaptureTable struct {
	// Model is the schema's name, e.g. "Message".
	Model string
	// Table is the table's name.
	Table string
	// IDColumn is the name of its id column.
	IDColumn string
}

// creator is implemented by the mutator of a reactive mixin's hook whose
// rules are for T: the generated Capture reaches the rules through it.
type creator[T any] interface {
	glue.Hook
	// createdEvents returns the create event of each row.
	createdEvents(ctx context.Context, g glue.Glue[T], rows []T) []Outgoing
	// sendsCreates reports whether the rules have a create target.
	sendsCreates() bool
}

// creatorOf returns the reactive mixin's hook among hooks, the hooks of a
// schema whose entity is T, or nil.
func creatorOf[T any](hooks []ent.Hook) creator[T] {
	c, _ := glue.ReactiveHook(hooks).(creator[T])
	return c
}

// SendsCreates reports whether the rules of the schema whose hooks are
// given, the entity being T, have a create target. The generated Capture
// lists the schemas that do.
func SendsCreates[T any](hooks []ent.Hook) bool {
	c := creatorOf[T](hooks)
	return c != nil && c.sendsCreates()
}

// CreatedEvents returns the create event of each row, built by the rules
// of the schema whose hooks are given, the target functions running with
// ctx; a row whose target sends nothing has an Outgoing with an empty To.
// The generated Capture calls it for the rows a trigger recorded.
func CreatedEvents[T any](ctx context.Context, hooks []ent.Hook, g glue.Glue[T], rows []T) []Outgoing {
	c := creatorOf[T](hooks)
	if c == nil {
		s := &sender[T]{glue: g, rows: rows}
		return s.created()
	}
	return c.createdEvents(ctx, g, rows)
}

// sendsCreates reports whether the rules have a create target.
func (mu *mutator[T]) sendsCreates() bool { return mu.mixin.rules.create != nil }

// createdEvents returns the create event of each row.
func (mu *mutator[T]) createdEvents(ctx context.Context, g glue.Glue[T], rows []T) []Outgoing {
	emitter, _ := g.Emitter().(Emitter)
	s := &sender[T]{glue: g, emitter: emitter, action: ActionCreate, target: mu.mixin.rules.create, rows: rows, ctx: ctx}
	return s.created()
}

// created returns the create event of each row of s, in order; a row whose
// target sends nothing has an Outgoing with an empty To and the row's
// model and id.
func (s *sender[T]) created() []Outgoing {
	out := make([]Outgoing, len(s.rows))
	for i, row := range s.rows {
		out[i].Event = Event{Action: ActionCreate, Model: s.glue.Model(), ID: s.glue.ID(row)}
	}
	if s.target == nil {
		return out
	}
	ctx, now := ruleContext(s.ctx, ActionCreate, nil), time.Now()
	for i, row := range s.rows {
		s.eachRow(ctx, now, row, func(_ context.Context, _ any, to Target, ev Event) {
			out[i] = Outgoing{To: to, Event: ev}
		})
	}
	return out
}
