package entreactive

import "context"

// Emitter delivers events to their targets. The Socket.IO server in package
// server implements it; entreactivetest.Recorder records events in tests.
//
// Emit is called after the change has committed, on the goroutine that
// committed it, once per affected row and in commit order. It must not block
// on slow receivers. The target is never empty, its Instance has already
// been applied to ev.Data, and its user ids are resolved: integers,
// strings, no pointers (see Target.Users). An error is logged and
// reported; it never undoes or fails the database write.
type Emitter interface {
	Emit(ctx context.Context, to Target, ev Event) error
}

// Publisher is an Emitter that can publish an event once and say when it
// is safe: what the durable path (package outbox) needs. server.Server and
// redisbroker.Emitter implement it.
type Publisher interface {
	Emitter
	// Publish sends ev, whose EventID is set, to the target, once: an event
	// whose EventID was published before, within the publisher's window
	// (minutes), is dropped without error. It returns when this process
	// dying can no longer lose the event: it is in the cluster's stream
	// (with a broker) or queued for this node's sockets (without one). An
	// error means it was not published, and the caller tries again later.
	// Publish calls made one after the other reach every socket in that
	// order. The events of package outbox were read back from its table:
	// their Data is the row's wire JSON (json.RawMessage) and their ID a
	// json.Number.
	Publish(ctx context.Context, to Target, ev Event) error
}

// BatchPublisher is a Publisher that can publish several events at once,
// as one round trip to its broker: the relay of package outbox uses it
// when its Publisher has it. server.Server implements it.
type BatchPublisher interface {
	Publisher
	// PublishBatch publishes events as successive Publish calls would, in
	// order, and returns how many, from the first, were published. An
	// error means that the events from that index on were not: none after
	// a failed one is published, so the caller tries them again in order.
	PublishBatch(ctx context.Context, events []Outgoing) (int, error)
}

// EmitterFunc adapts a function to the Emitter interface.
//
//	client := ent.NewClient(ent.Emitter(entreactive.EmitterFunc(
//		func(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
//			log.Println(ev.Model, ev.Action, ev.ID)
//			return nil
//		})))
type EmitterFunc func(ctx context.Context, to Target, ev Event) error

// Emit calls f(ctx, to, ev).
func (f EmitterFunc) Emit(ctx context.Context, to Target, ev Event) error { return f(ctx, to, ev) }

// FailureReporter is an optional interface of an Emitter. When the emitter
// implements it, an event that could not be produced or emitted (a target
// function that panicked, an Emit error, rows that could not be loaded) is
// reported to it, so it can log and count it, instead of being logged with
// log/slog's default logger.
type FailureReporter interface {
	ReportFailure(ctx context.Context, f Failure)
}

// Failure describes an event that was lost after a successful write.
type Failure struct {
	// Model and Action name the mutation.
	Model  string
	Action Action
	// ID is the row's id, or nil when the rows could not be loaded.
	ID any
	// Err says what went wrong.
	Err error
}
