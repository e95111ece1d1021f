// Package entreactivetest helps test code that uses reactive schemas,
// without sockets: a Recorder is an Emitter that keeps every event.
//
//	rec := &entreactivetest.Recorder{}
//	client := enttest.Open(t, "sqlite3", dsn, enttest.WithOptions(ent.Emitter(rec)))
//	client.Message.Create().SetRecipientID(7)...SaveX(ctx)
//	if got := rec.ToUser(7); len(got) != 1 {
//		t.Fatalf("user 7 got %d events, want 1", len(got))
//	}
package entreactivetest

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/entreactive/reactive/entreactive"
)

// Delivery is one event and the target it was emitted to.
type Delivery struct {
	Target entreactive.Target
	Event  entreactive.Event
}

// Recorder is an entreactive.Emitter that records what it is given. It is
// safe for concurrent use. The zero value is ready to use.
type Recorder struct {
	mu         sync.Mutex
	deliveries []Delivery
	failures   []entreactive.Failure
	published  map[string]bool // the EventIDs Publish recorded
}

// Emit records the event and its target.
func (r *Recorder) Emit(_ context.Context, to entreactive.Target, ev entreactive.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries = append(r.deliveries, Delivery{Target: to, Event: ev})
	return nil
}

// Publish records the event and its target once: an event whose EventID
// was published before is dropped. With it a Recorder is an
// entreactive.Publisher, to test the durable path (package outbox).
func (r *Recorder) Publish(_ context.Context, to entreactive.Target, ev entreactive.Event) error {
	if ev.EventID == "" {
		return fmt.Errorf("entreactivetest: Publish of %s %s %v without an EventID", ev.Model, ev.Action, ev.ID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.published[ev.EventID] {
		return nil
	}
	if r.published == nil {
		r.published = make(map[string]bool)
	}
	r.published[ev.EventID] = true
	r.deliveries = append(r.deliveries, Delivery{Target: to, Event: ev})
	return nil
}

// ReportFailure records an event that could not be produced.
func (r *Recorder) ReportFailure(_ context.Context, f entreactive.Failure) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, f)
}

// Deliveries returns every recorded delivery, in emit order.
func (r *Recorder) Deliveries() []Delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.deliveries)
}

// Events returns every recorded event, in emit order.
func (r *Recorder) Events() []entreactive.Event {
	return r.filter(func(Delivery) bool { return true })
}

// ToRoom returns the events emitted to room, in emit order.
func (r *Recorder) ToRoom(room string) []entreactive.Event {
	return r.filter(func(d Delivery) bool { return slices.Contains(d.Target.Rooms, room) })
}

// ToAll returns the events emitted to every connected socket (the room
// entreactive.RoomAll, as entreactive.ToAll targets), in emit order.
func (r *Recorder) ToAll() []entreactive.Event {
	return r.ToRoom(entreactive.RoomAll)
}

// ToUser returns the events emitted to the user with the given id, in emit
// order. Ids match as the server resolves them: 7, int64(7) and a *int
// holding 7 are one user; a nil pointer is nobody.
func (r *Recorder) ToUser(id any) []entreactive.Event {
	want, ok := userKey(id)
	if !ok {
		return nil
	}
	return r.filter(func(d Delivery) bool {
		return slices.ContainsFunc(d.Target.Users, func(u any) bool {
			got, ok := userKey(u)
			return ok && got == want
		})
	})
}

// userKey resolves a user id as the hook and the server do (pointers
// followed, see entreactive.UserID) and formats it, so that 7, int64(7)
// and a *int holding 7 name the same user.
func userKey(id any) (string, bool) {
	resolved, err := entreactive.UserID(id)
	if err != nil || resolved == nil {
		return "", false
	}
	return fmt.Sprint(resolved), true
}

// Failures returns the events that were lost, in report order.
func (r *Recorder) Failures() []entreactive.Failure {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures)
}

// Reset forgets everything recorded so far.
func (r *Recorder) Reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.deliveries, r.failures, r.published = nil, nil, nil
}

// filter returns the events of the deliveries keep accepts.
func (r *Recorder) filter(keep func(Delivery) bool) []entreactive.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	var events []entreactive.Event
	for _, d := range r.deliveries {
		if keep(d) {
			events = append(events, d.Event)
		}
	}
	return events
}

var (
	_ entreactive.Emitter         = (*Recorder)(nil)
	_ entreactive.FailureReporter = (*Recorder)(nil)
)
