// Package outbox is entreactive's durable path: a transactional outbox.
//
// Set an Outbox as the ent client's emitter, and the events of reactive
// schemas are written to a table of the application's database by the
// transaction of the change itself, right before it commits; a relay
// publishes them once it has, then deletes them. A process that dies
// between the commit and the publish leaves its events in the table, and
// the relay of any process sharing the database (the restarted one, or the
// surviving nodes) publishes them:
//
//	pub, _ := server.New(cfg)                     // or redisbroker.NewEmitter for a worker
//	ob, err := outbox.New(ctx, drv, pub, outbox.Config{})
//	client := ent.NewClient(ent.Driver(drv), ent.Emitter(ob))
//	defer ob.Close(ctx)                          // before the server's Close
//
// # What it guarantees
//
//   - A committed change has its events stored; a rolled-back one never. A
//     change whose events cannot be stored is not committed: the mutation
//     (or tx.Commit) returns the error.
//   - Every stored event is published at least once, as long as one process
//     with an Outbox on the database runs; the Publisher (server.Server,
//     redisbroker.Emitter) drops repeats by Event.EventID, so a client sees
//     each event once. Without Redis (one process), a client that was
//     connected when the process died may see an event again after the
//     restart; it carries the same "eventId".
//   - The events of one row reach every client in the order their changes
//     committed, across nodes and through recovery. Two transactions that
//     change one row are ordered by the database's row lock; the outbox
//     row of each is written after that lock is taken, so the ids of one
//     row's events increase in commit order, and relays publish in id
//     order, never an event before a lower id of the table still stored.
//     (A relay reads past the highest id it read, and reads again for 5 s
//     the ids it found missing below it, whose transactions may commit
//     late; a change whose commit takes longer than that, after its event
//     was stored, is published by the next poll, possibly after a later
//     change of another row.) Events of different rows may arrive in
//     another order than their commits.
//   - A relay deletes what it published in batches, within a second; a
//     process that dies before leaves those events to be published again,
//     with their EventID.
//
// # Relays
//
// Every Outbox runs a relay, and there is no leader: each publishes, in id
// order, whatever it finds in the table, and the Publisher drops the
// repeats by EventID. When the Publisher is an entreactive.BatchPublisher
// (server.Server, redisbroker.Emitter), the relay hands it up to 100
// events at once: with Redis, one round trip.
//
// # What changes for the application
//
// A mutation made outside of a transaction runs in one of its own. The
// target functions run inside the transaction, before the commit: a target
// function that queries the database through the client sees what was
// committed before (use the mutation's own client, ent.FromContext, to see
// the change), and with SQLite limited to one connection such a query
// waits for ever: target functions that only look at the row, as most do,
// are unaffected. Each mutation costs one more INSERT, in its transaction.
//
// # Creates recorded by the database
//
// Capture has a trigger record the creates of reactive schemas in the
// INSERT statement itself: a create made outside of a transaction then runs
// in none, and the relay builds its event from the row after the commit.
// See Capture for what changes.
package outbox

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"entgo.io/ent/dialect"
	"github.com/google/uuid"

	"github.com/entreactive/reactive/entreactive"
)

// DefaultTable is the name of the outbox table unless Config.Table says
// otherwise.
const DefaultTable = "entreactive_outbox"

// Config configures an Outbox. The zero value is ready to use.
type Config struct {
	// Table is the name of the table the events are kept in, created by New
	// when it does not exist. Default DefaultTable.
	Table string
	// Poll is how often the relay looks for events it was not told about:
	// those another process stored and did not publish (it died, or its
	// relay is behind). Default 1 s.
	Poll time.Duration
	// Batch is the most events the relay reads at once. Default 500.
	Batch int
	// Logger receives the relay's errors. Default slog.Default().
	Logger *slog.Logger
	// AfterCommit, when set, is called after each commit whose events were
	// stored, before the relay is told: a hook for tests that kill the
	// process between the commit and the publish.
	AfterCommit func()
}

// Outbox is the durable emitter: see the package documentation. It is
// safe for concurrent use.
type Outbox struct {
	drv   dialect.Driver
	pub   entreactive.Publisher
	cfg   Config
	log   *slog.Logger
	table string
	// quoted is table, quoted for the dialect.
	quoted string
	// stop ends the relay's context: Close calls it, and a publish or a
	// query in flight is abandoned.
	stop context.CancelFunc
	done chan struct{}
	wake chan struct{}
	// captured is what Capture installed, or nil.
	captured atomic.Pointer[captured]
	// triggers serializes Capture, Uncapture and the relay's
	// restoreTriggers: the relay does not create again a trigger that
	// Uncapture drops.
	triggers sync.Mutex
}

// Relay timing. A relay deletes what it published in batches, each one
// write: at the latest deleteDelay after the first, or once deleteBatch
// are waiting. A writer of SQLite that finds the lock taken sleeps a
// millisecond or more, so the fewer batches the better (against 100 ms and
// 256, captured creates on SQLite cost 3–5 % less in BENCHMARKS.md).
// It reads again, for gapTimeout, the ids it found missing below one it
// read: a transaction that took an id before another's commit may commit
// after it (PostgreSQL, MariaDB), and its event must not be skipped.
const (
	deleteDelay = time.Second
	deleteBatch = 2048
	// gapDeleteBatch is deleteBatch while the relay reads gaps again: its
	// passes then read the pending events above the lowest gap too.
	gapDeleteBatch = 256
	gapTimeout     = 5 * time.Second
	// publishBatch is the most events handed to a BatchPublisher at once.
	publishBatch = 100
	// maxLinger bounds how long a commit waits for the relay under a
	// stream of commits (lingerAfter). At 2 ms, captured creates on
	// PostgreSQL and MariaDB cost 1.2–1.9× the plain ones, against
	// 1.1–1.6× at 20 ms (BENCHMARKS.md).
	maxLinger = 20 * time.Millisecond
	// maxRetry bounds the wait of a relay that failed before it tries
	// again: from 50 ms, it doubles at each failure.
	maxRetry = 2 * time.Second
)

// New creates the outbox table on drv when it does not exist and starts
// the relay, which publishes the stored events through pub. drv is the
// driver of the ent client the Outbox is the emitter of (SQLite,
// PostgreSQL or MySQL/MariaDB). Close stops the relay.
func New(ctx context.Context, drv dialect.Driver, pub entreactive.Publisher, cfg Config) (*Outbox, error) {
	if drv == nil || pub == nil {
		return nil, errors.New("outbox: New needs a driver and a publisher")
	}
	if cfg.Table == "" {
		cfg.Table = DefaultTable
	}
	if cfg.Poll <= 0 {
		cfg.Poll = time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 500
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	ddl, err := createTable(drv.Dialect(), cfg.Table)
	if err != nil {
		return nil, err
	}
	if err := drv.Exec(ctx, ddl, []any{}, nil); err != nil {
		return nil, fmt.Errorf("outbox: create table %s: %w", cfg.Table, err)
	}
	relayCtx, stop := context.WithCancel(context.WithoutCancel(ctx))
	o := &Outbox{
		drv: drv, pub: pub, cfg: cfg, log: cfg.Logger, table: cfg.Table, quoted: quote(drv.Dialect(), cfg.Table),
		stop: stop, done: make(chan struct{}), wake: make(chan struct{}, 1),
	}
	r := &relay{Outbox: o, pending: map[int64]struct{}{}}
	go r.run(relayCtx)
	return o, nil
}

// createTable returns the DDL of the outbox table for a dialect.
func createTable(d, table string) (string, error) {
	// Ids are never reused: a relay deletes the ids it published, and one
	// that read an event another relay published and deleted meanwhile
	// must not delete a newer event given the same id. (SQLite reuses the
	// rowid of an emptied table without AUTOINCREMENT.)
	switch d {
	case dialect.SQLite:
		return "CREATE TABLE IF NOT EXISTS " + quote(d, table) + " (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at INTEGER NOT NULL, body BLOB NOT NULL)", nil
	case dialect.Postgres:
		return "CREATE TABLE IF NOT EXISTS " + quote(d, table) + " (id BIGSERIAL PRIMARY KEY, created_at BIGINT NOT NULL, body BYTEA NOT NULL)", nil
	case dialect.MySQL:
		return "CREATE TABLE IF NOT EXISTS " + quote(d, table) + " (id BIGINT AUTO_INCREMENT PRIMARY KEY, created_at BIGINT NOT NULL, body LONGBLOB NOT NULL)", nil
	}
	return "", fmt.Errorf("outbox: dialect %q is not supported (SQLite, PostgreSQL, MySQL/MariaDB are)", d)
}

// quote quotes an identifier for dialect d.
func quote(d, name string) string {
	if d == dialect.MySQL {
		return "`" + name + "`"
	}
	return strconv.Quote(name)
}

// record is the stored form of an event: its audience and its wire form.
type record struct {
	Rooms []string        `json:"rooms,omitempty"`
	Users []string        `json:"users,omitempty"`
	ID    string          `json:"eventId"`
	Event json.RawMessage `json:"event"`
}

// Store writes events in tx, before it commits. It implements
// entreactive.DurableEmitter; the generated code calls it from the commit
// hooks of reactive mutations.
//
// The INSERT carries its values in its text (an integer and hex), not as
// parameters: drivers that prepare a statement with parameters (lib/pq,
// go-sql-driver/mysql) then send it in one round trip instead of two.
func (o *Outbox) Store(ctx context.Context, tx dialect.ExecQuerier, events []entreactive.Outgoing) error {
	now := strconv.FormatInt(time.Now().UnixMilli(), 10)
	const chunk = 200
	var q strings.Builder
	for len(events) > 0 {
		n := min(len(events), chunk)
		q.Reset()
		q.WriteString("INSERT INTO " + o.quoted + " (created_at, body) VALUES ")
		for i, e := range events[:n] {
			body, err := encode(e)
			if err != nil {
				return err
			}
			if i > 0 {
				q.WriteByte(',')
			}
			q.WriteString("(" + now + ",")
			o.writeBytes(&q, body)
			q.WriteByte(')')
		}
		if err := tx.Exec(ctx, q.String(), []any{}, nil); err != nil {
			return fmt.Errorf("outbox: insert into %s: %w", o.table, err)
		}
		events = events[n:]
	}
	return nil
}

// writeBytes writes b to q as a literal of the dialect's binary type.
func (o *Outbox) writeBytes(q *strings.Builder, b []byte) {
	if o.drv.Dialect() == dialect.Postgres {
		q.WriteString("decode('")
		q.WriteString(hex.EncodeToString(b))
		q.WriteString("','hex')")
		return
	}
	q.WriteString("X'")
	q.WriteString(hex.EncodeToString(b))
	q.WriteByte('\'')
}

// encode returns the stored form of e, with a new event id.
func encode(e entreactive.Outgoing) ([]byte, error) {
	ev, err := e.Event.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("outbox: encode %s %s %v: %w", e.Event.Model, e.Event.Action, e.Event.ID, err)
	}
	r := record{Rooms: e.To.Rooms, ID: uuid.NewString(), Event: ev}
	for _, u := range e.To.Users {
		switch u := u.(type) {
		case string:
			r.Users = append(r.Users, u)
		default:
			r.Users = append(r.Users, fmt.Sprint(u))
		}
	}
	return json.Marshal(r)
}

// Committed tells the relay that events were stored and committed. It
// implements entreactive.DurableEmitter.
func (o *Outbox) Committed(context.Context) {
	if o.cfg.AfterCommit != nil {
		o.cfg.AfterCommit()
	}
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// Emit publishes an event at once, without storing it: the events of
// reactive mutations never come this way (they are stored), but what else
// an application hands the client's emitter does. It implements
// entreactive.Emitter.
func (o *Outbox) Emit(ctx context.Context, to entreactive.Target, ev entreactive.Event) error {
	return o.pub.Emit(ctx, to, ev)
}

// ReportFailure hands a lost event to the publisher when it is an
// entreactive.FailureReporter, and logs it otherwise.
func (o *Outbox) ReportFailure(ctx context.Context, f entreactive.Failure) {
	if r, ok := o.pub.(entreactive.FailureReporter); ok {
		r.ReportFailure(ctx, f)
		return
	}
	o.log.ErrorContext(ctx, "outbox: event lost", "model", f.Model, "action", string(f.Action), "id", f.ID, "err", f.Err)
}

// Close stops the relay; a pass in flight is abandoned. Events still
// stored are published by the next process with an Outbox on the database
// (one published but not yet deleted again, with its EventID: the
// publisher drops the repeat). Close the Outbox before the publisher.
func (o *Outbox) Close(ctx context.Context) error {
	o.stop()
	select {
	case <-o.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("outbox: close: %w", ctx.Err())
	}
}

// wireEvent is the wire form of an entreactive.Event, as stored.
type wireEvent struct {
	Action    entreactive.Action `json:"action"`
	Model     string             `json:"model"`
	ID        json.RawMessage    `json:"id"`
	Data      json.RawMessage    `json:"data"`
	Changed   []string           `json:"changed"`
	Timestamp int64              `json:"timestamp"`
}

// stored is a record of the outbox table as decoded: an event with its
// audience, or the create of a row a trigger recorded (Capture).
type stored struct {
	to entreactive.Target
	ev entreactive.Event
	// capture is the model of a trigger's record, and rowID the id of its
	// row, as text.
	capture, rowID string
}

// decodeCaptured decodes the record SQLite's capture trigger writes for an
// integer id, {"capture":"<model>","id":<id>}, without encoding/json (the
// relay reads one per create); ok is false for any other form, which
// decodeJSON reads.
func decodeCaptured(body []byte) (model, id string, ok bool) {
	rest, ok := bytes.CutPrefix(body, []byte(`{"capture":"`))
	if !ok {
		return "", "", false
	}
	end := bytes.IndexByte(rest, '"')
	if end < 0 || !plainName(string(rest[:end])) {
		return "", "", false
	}
	model = string(rest[:end])
	digits, ok := bytes.CutPrefix(rest[end:], []byte(`","id":`))
	if ok {
		digits, ok = bytes.CutSuffix(digits, []byte("}"))
	}
	if !ok || !isInteger(digits) {
		return "", "", false
	}
	return model, string(digits), true
}

// decode decodes a stored record: SQLite's capture record by hand,
// every other form with encoding/json.
func decode(body []byte) (stored, error) {
	if model, id, ok := decodeCaptured(body); ok {
		return stored{capture: model, rowID: id}, nil
	}
	return decodeJSON(body)
}

// decodeJSON decodes a stored record of any form with encoding/json.
func decodeJSON(body []byte) (stored, error) {
	// One pass over the record, its event included.
	var r struct {
		Rooms   []string        `json:"rooms"`
		Users   []string        `json:"users"`
		ID      string          `json:"eventId"`
		Event   wireEvent       `json:"event"`
		Capture string          `json:"capture"`
		RowID   json.RawMessage `json:"id"` // a string, or a number (SQLite's integer ids)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return stored{}, err
	}
	if r.Capture != "" {
		id := string(r.RowID)
		if len(r.RowID) > 0 && r.RowID[0] == '"' {
			if err := json.Unmarshal(r.RowID, &id); err != nil {
				return stored{}, fmt.Errorf("row id: %w", err)
			}
		}
		return stored{capture: r.Capture, rowID: id}, nil
	}
	w := r.Event
	id, err := decodeID(w.ID)
	if err != nil {
		return stored{}, fmt.Errorf("event id: %w", err)
	}
	to := entreactive.Target{Rooms: r.Rooms}
	if len(r.Users) > 0 {
		to.Users = make([]any, len(r.Users))
		for i, u := range r.Users {
			to.Users[i] = u
		}
	}
	ev := entreactive.Event{
		Action:    w.Action,
		Model:     w.Model,
		ID:        id,
		Data:      w.Data,
		Changed:   w.Changed,
		Timestamp: time.UnixMilli(w.Timestamp),
		EventID:   r.ID,
	}
	return stored{to: to, ev: ev}, nil
}

// isInteger reports whether b is a JSON integer: digits, after a minus.
func isInteger(b []byte) bool {
	if len(b) > 0 && b[0] == '-' {
		b = b[1:]
	}
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// decodeID returns a row id as stored: a string, a json.Number, or what
// else JSON holds (numbers in it as json.Number).
func decodeID(raw json.RawMessage) (any, error) {
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	}
	if isInteger(raw) {
		return json.Number(raw), nil
	}
	var id any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	err := dec.Decode(&id)
	return id, err
}
