package entreactive

import (
	"context"

	"entgo.io/ent/dialect"

	"github.com/entreactive/reactive/entreactive/glue"
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
//
// The events of a CreateBulk statement are stored with one call to Store.
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
	glue.Emission
	// durable returns the emitter of the emission when it is a
	// DurableEmitter, and nil otherwise.
	durable() DurableEmitter
	// outgoing builds the events of the emission and appends them to out;
	// the target functions run.
	outgoing(out []Outgoing) []Outgoing
}

// storeWith stores the events of e, and those of the emissions of others
// that are durable too, with e's DurableEmitter in tx (glue.Durable). It
// returns what runs after the commit, the emitter told that the events can
// be published, or nil when e's emitter is not durable.
func storeWith(ctx context.Context, tx dialect.ExecQuerier, e durableEmission, others []glue.Emission) (glue.Emission, error) {
	d := e.durable()
	if d == nil {
		return nil, nil
	}
	out := e.outgoing(nil)
	for _, o := range others {
		if od, ok := o.(durableEmission); ok {
			out = od.outgoing(out)
		}
	}
	if len(out) > 0 {
		if err := d.Store(ctx, tx, out); err != nil {
			return nil, err
		}
	}
	return committed{ctx: context.WithoutCancel(ctx), d: d}, nil
}

// StoreWith stores the sender's events when its emitter is durable
// (glue.Durable).
func (s *sender[T]) StoreWith(ctx context.Context, tx dialect.ExecQuerier, others []glue.Emission) (glue.Emission, error) {
	return storeWith(ctx, tx, s, others)
}

// StoreWith stores the senders' events when their emitter is durable
// (glue.Durable).
func (ss senders[T]) StoreWith(ctx context.Context, tx dialect.ExecQuerier, others []glue.Emission) (glue.Emission, error) {
	return storeWith(ctx, tx, ss, others)
}

// committed is the emission of a durable transaction after its commit: it
// tells the emitter, whose relay publishes what was stored.
type committed struct {
	ctx context.Context
	d   DurableEmitter
}

// Emit tells the emitter the transaction committed.
func (c committed) Emit() { c.d.Committed(c.ctx) }
