package outbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
)

// relay publishes the stored events of an Outbox in id order and deletes
// them afterwards. Its state lives in its goroutine alone.
//
// It reads past a cursor, the highest id it has read, so that a pass costs
// what is new rather than what waits to be deleted. An id below the cursor
// that it never read is a gap: the transaction that took it may commit
// later (on PostgreSQL and MariaDB, ids are taken in one order and
// committed in another; SQLite runs one writer at a time), or it rolled
// back, or another relay published and deleted it first. Gaps are read
// again for gapTimeout, after which only the pass of every Poll, from the
// first id, would find their event. The events of one row cannot fall in
// such a gap and be overtaken: the row's next change waits for the row
// lock, so the earlier event committed before the later one was even
// stored, and any read that finds the later one finds it too.
type relay struct {
	*Outbox
	// cursor is the highest id read; gaps are the ids below it never
	// read, oldest first, each until its deadline.
	cursor int64
	gaps   []gap
	// pending are the ids published and not yet deleted, which flush
	// deletes in batches (deleteBatch, deleteDelay).
	pending map[int64]struct{}
}

// gap is a range of ids below the cursor, from lo, that a relay never
// read.
type gap struct {
	lo       int64
	deadline time.Time
}

// run publishes the stored events whenever a commit tells it, and every
// Poll from the first id, until ctx ends.
func (r *relay) run(ctx context.Context) {
	defer close(r.done)
	defer r.flushOnExit(ctx)
	tick := time.NewTicker(r.cfg.Poll)
	defer tick.Stop()
	retry := time.Duration(0)
	var flush <-chan time.Time
	// The start and the duration of the last drain, whether commits told
	// the relay during it, and whether it read more than one record: under
	// a stream of commits, the next drain waits (lingerAfter).
	var last time.Time
	var took time.Duration
	busy, batched := false, false
	for {
		// While a retry waits, neither commits nor the poll bring it
		// forward: a publisher that is down, or a record that cannot be
		// built, would otherwise be tried (and logged) at every commit.
		var wait <-chan time.Time
		wake, poll := r.wake, tick.C
		if retry > 0 {
			wait, wake, poll = time.After(retry), nil, nil
		}
		full := false
		select {
		case <-ctx.Done():
			return
		case <-wake:
			// Under a stream: the last drain found commits waiting for
			// it, and more were told during it, or sooner after it than
			// it took. A client that commits again as soon as it has its
			// event (one record a drain) is not held back.
			stream := batched && (busy || time.Since(last) < 2*took)
			if hold := time.Until(last.Add(lingerAfter(took))); stream && hold > 0 {
				t := time.NewTimer(hold)
				select {
				case <-ctx.Done():
					t.Stop()
					return
				case <-t.C:
				}
			}
		case <-wait:
		case <-poll:
			full = true
		case <-flush:
			flush = nil
			if err := r.flush(ctx); err != nil && ctx.Err() == nil {
				r.log.Error("outbox: relay", "err", err)
			}
			continue
		}
		if full {
			r.checkTriggers(ctx)
		}
		last = time.Now()
		read, err := r.drain(ctx, full)
		took = time.Since(last)
		busy, batched = len(r.wake) > 0, read > 1
		if len(r.pending) > 0 && flush == nil {
			flush = time.After(deleteDelay)
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			retry = min(max(2*retry, 50*time.Millisecond), maxRetry)
			r.log.Error("outbox: relay", "err", err, "retry_in", retry)
			continue
		}
		retry = 0
	}
}

// checkTriggers creates again the capture triggers a migration dropped
// (restoreTriggers), and logs it: the creates made since were not
// recorded, and send no event.
func (r *relay) checkTriggers(ctx context.Context) {
	restored, err := r.restoreTriggers(ctx)
	if len(restored) > 0 {
		r.log.Warn("outbox: capture triggers were gone (a migration rebuilt their tables?), created again: the creates made meanwhile send no event", "tables", restored)
	}
	if err != nil && ctx.Err() == nil {
		r.log.Error("outbox: relay", "err", err)
	}
}

// lingerAfter returns how long after the start of a drain that took d the
// next one waits to start under a stream of commits (the drain read more
// than one record, and commits told the relay during it, or sooner after
// it than it took): the relay then drains at most a tenth of the time,
// each drain taking what committed meanwhile, rather than one commit
// each. A commit that finds the relay idle is published at once.
func lingerAfter(d time.Duration) time.Duration {
	return min(10*d, maxLinger)
}

// drain publishes the stored events in id order, a batch at a time, until
// none is left or one fails to publish: the later ones wait for it. A full
// drain starts from the first id rather than the cursor. It returns how
// many records it read.
func (r *relay) drain(ctx context.Context, full bool) (int, error) {
	total := 0
	for {
		read, more, err := r.pass(ctx, full)
		total += read
		// Below a gap, a pass reads the pending events again: with gaps,
		// they are deleted sooner.
		if len(r.pending) >= deleteBatch || len(r.gaps) > 0 && len(r.pending) >= gapDeleteBatch {
			err = errors.Join(err, r.flush(ctx))
		}
		if err != nil || !more {
			return total, err
		}
		full = false
	}
}

// pass publishes one batch of the events above the cursor and in the gaps
// (above the first id when full). It returns how many records it read
// that were not published already, and whether there may be more.
func (r *relay) pass(ctx context.Context, full bool) (read int, more bool, err error) {
	now := time.Now()
	for len(r.gaps) > 0 && now.After(r.gaps[0].deadline) {
		r.gaps = r.gaps[1:]
	}
	floor := r.cursor
	if full {
		floor = 0
	} else if len(r.gaps) > 0 {
		floor = min(floor, r.gaps[0].lo-1)
	}
	// Pending events above the floor come back: read enough for a batch
	// of others.
	limit := r.cfg.Batch + len(r.pending)
	// Integers in the text, not parameters: one round trip (see Store).
	query := fmt.Sprintf("SELECT id, created_at, body FROM %s WHERE id > %d ORDER BY id LIMIT %d", r.quoted, floor, limit)
	var rows entsql.Rows
	if err := r.drv.Query(ctx, query, []any{}, &rows); err != nil {
		return 0, false, fmt.Errorf("read %s: %w", r.table, err)
	}
	var batch []row
	for rows.Next() {
		var rec row
		if err := rows.Scan(&rec.id, &rec.createdAt, &rec.body); err != nil {
			rows.Close()
			return 0, false, fmt.Errorf("read %s: %w", r.table, err)
		}
		batch = append(batch, rec)
	}
	if err := rows.Close(); err != nil {
		return 0, false, fmt.Errorf("read %s: %w", r.table, err)
	}
	if err := rows.Err(); err != nil {
		return 0, false, fmt.Errorf("read %s: %w", r.table, err)
	}
	var fresh []row
	for _, rec := range batch {
		if _, ok := r.pending[rec.id]; !ok {
			fresh = append(fresh, rec)
		}
	}
	events, err := r.resolve(ctx, fresh)
	// Publish in id order, up to the first record that cannot be resolved
	// (err): the later ones wait for it.
	for i := 0; i < len(events); {
		if events[i] == nil {
			// Nothing to publish: unreadable (logged), or a recorded
			// create that sends nothing.
			r.published(fresh[i].id, now)
			i++
			continue
		}
		var run []entreactive.Outgoing
		for j := i; j < len(events) && events[j] != nil && len(run) < publishBatch; j++ {
			run = append(run, *events[j])
		}
		n, perr := r.publish(ctx, run)
		for _, rec := range fresh[i : i+n] {
			r.published(rec.id, now)
		}
		if perr != nil && n < len(run) {
			ev := run[n].Event
			return 0, false, fmt.Errorf("publish %s %s %v: %w", ev.Model, ev.Action, ev.ID, perr)
		}
		if perr != nil {
			return 0, false, fmt.Errorf("publish: %w", perr)
		}
		i += n
	}
	if err != nil {
		return 0, false, err
	}
	return len(fresh), len(batch) == limit, nil
}

// row is a row of the outbox table. A trigger's record (Capture) has a
// negative created_at.
type row struct {
	id, createdAt int64
	body          []byte
}

// captured reports whether r is a trigger's record.
func (r row) captured() bool { return r.createdAt < 0 }

// resolve returns the event of each record, nil for one with nothing to
// publish: an event stored by a mutation, or the create a trigger recorded
// (Capture), built now from its row. When a recorded create cannot be
// built, it returns the events before it and the error.
//
// Every relay publishes a record's event at the record's place, so that
// one row's events keep their order whichever relay publishes first; but
// relays build a recorded create at different times, and one may find its
// row already deleted where another found it. Such a create is then built
// from the row as its first later event in the table carries it (which
// every relay finds), by the create's target function; only when the row
// has no later event does its create send nothing, and nothing of the row
// can follow it then.
func (r *relay) resolve(ctx context.Context, recs []row) ([]*entreactive.Outgoing, error) {
	events := make([]*entreactive.Outgoing, len(recs))
	byModel := map[string][]int{}
	var models []string
	rowIDs := make([]string, len(recs))
	for i, rec := range recs {
		d, err := decode(rec.body)
		switch {
		case err != nil:
			r.log.Error("outbox: dropping an event that cannot be read", "id", rec.id, "err", err)
		case rec.captured() && d.capture != "":
			if byModel[d.capture] == nil {
				models = append(models, d.capture)
			}
			byModel[d.capture] = append(byModel[d.capture], i)
			rowIDs[i] = d.rowID
		case d.ev.Model != "":
			events[i] = &entreactive.Outgoing{To: d.to, Event: d.ev}
		default:
			r.log.Error("outbox: dropping a record that is no event", "id", rec.id)
		}
	}
	if len(models) == 0 {
		return events, nil
	}
	stop, failed := len(recs), error(nil)
	c := r.captured.Load()
	for _, model := range models {
		idx := byModel[model]
		if c == nil {
			stop, failed = min(stop, idx[0]), fmt.Errorf("the creates of %s are recorded by a trigger, and this Outbox does not capture them: call Outbox.Capture (or Uncapture)", model)
			continue
		}
		ids := make([]string, len(idx))
		for k, i := range idx {
			ids[k] = rowIDs[i]
		}
		out, err := c.capture.Created(ctx, model, ids)
		if err == nil && len(out) != len(ids) {
			err = fmt.Errorf("%d events for %d rows", len(out), len(ids))
		}
		var gone []goneRow
		for k, i := range idx {
			if err == nil && out[k].Event.Model == "" {
				gone = append(gone, goneRow{rec: recs[i], id: rowIDs[i], k: k})
			}
		}
		if len(gone) > 0 {
			var later []entreactive.Outgoing
			if later, err = r.fromLater(ctx, c.capture, model, gone); err == nil {
				for j, g := range gone {
					out[g.k] = later[j]
				}
			}
		}
		for k, i := range idx {
			if err != nil {
				break
			}
			rec, o := recs[i], out[k]
			if !o.To.Empty() {
				o.Event.EventID = captureEventID(r.table, rec.id, -rec.createdAt)
				o.Event.Timestamp = time.UnixMilli(-rec.createdAt)
				events[i] = &o
			}
		}
		if err != nil {
			stop, failed = min(stop, idx[0]), fmt.Errorf("build the recorded creates of %s: %w", model, err)
		}
	}
	return events[:stop], failed
}

// goneRow is a create a trigger recorded in rec whose row, of id, no longer
// exists; k is its place among the rows of its model (resolve).
type goneRow struct {
	rec row
	id  string
	k   int
}

// fromLaterChunk is the most gone rows whose later events one query reads.
const fromLaterChunk = 100

// fromLater returns the create of each gone row of model, built by c from
// the row as its first later event in the table carries it, or a zero
// Outgoing for a row that has none (see resolve). One query reads the
// later events of up to fromLaterChunk rows.
func (r *relay) fromLater(ctx context.Context, c entreactive.Capture, model string, gone []goneRow) ([]entreactive.Outgoing, error) {
	out := make([]entreactive.Outgoing, len(gone))
	for start := 0; start < len(gone); start += fromLaterChunk {
		chunk := gone[start:min(len(gone), start+fromLaterChunk)]
		bodies, err := r.laterEvents(ctx, model, chunk)
		if err != nil {
			return nil, fmt.Errorf("read the later events of %s: %w", model, err)
		}
		for j, body := range bodies {
			if body == nil {
				continue
			}
			d, err := decode(body)
			if err != nil {
				continue
			}
			data, ok := d.ev.Data.(json.RawMessage)
			if !ok {
				continue
			}
			// The create's own target, run on the row as the later event
			// has it: not the later event's audience, which may be
			// another.
			if out[start+j], err = c.CreatedFrom(ctx, model, data); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// laterEvents returns the body of the first event stored after the record
// of each row of chunk, nil for a row that has none.
func (r *relay) laterEvents(ctx context.Context, model string, chunk []goneRow) ([][]byte, error) {
	// A stored event holds `"model":"<model>","id":<id>,` (Event's JSON),
	// the id a number or a string.
	forms := make([][2][]byte, len(chunk))
	lowest := chunk[0].rec.id
	var q strings.Builder
	for k, g := range chunk {
		quoted, _ := json.Marshal(g.id)
		forms[k] = [2][]byte{
			[]byte(`"model":"` + model + `","id":` + g.id + `,`),
			[]byte(`"model":"` + model + `","id":` + string(quoted) + `,`),
		}
		lowest = min(lowest, g.rec.id)
		for _, f := range forms[k] {
			if q.Len() > 0 {
				q.WriteString(" OR ")
			}
			r.writeContains(&q, f)
		}
	}
	query := "SELECT id, body FROM " + r.quoted + " WHERE id > " + strconv.FormatInt(lowest, 10) + " AND created_at > 0 AND (" + q.String() + ") ORDER BY id"
	var rows entsql.Rows
	if err := r.drv.Query(ctx, query, []any{}, &rows); err != nil {
		return nil, err
	}
	defer rows.Close()
	found, left := make([][]byte, len(chunk)), len(chunk)
	for left > 0 && rows.Next() {
		var id int64
		var body []byte
		if err := rows.Scan(&id, &body); err != nil {
			return nil, err
		}
		for k, g := range chunk {
			if found[k] == nil && id > g.rec.id && (bytes.Contains(body, forms[k][0]) || bytes.Contains(body, forms[k][1])) {
				found[k] = body
				left--
			}
		}
	}
	return found, rows.Err()
}

// writeContains writes to q the condition that the body column holds f.
func (r *relay) writeContains(q *strings.Builder, f []byte) {
	switch r.drv.Dialect() {
	case dialect.Postgres:
		q.WriteString("position(")
		r.writeBytes(q, f)
		q.WriteString(" in body) > 0")
	case dialect.MySQL:
		q.WriteString("LOCATE(")
		r.writeBytes(q, f)
		q.WriteString(", body) > 0")
	default:
		q.WriteString("instr(body, ")
		r.writeBytes(q, f)
		q.WriteString(") > 0")
	}
}

// publish publishes events in order, in one call when the Publisher is an
// entreactive.BatchPublisher; it returns how many, from the first, it
// published.
func (r *relay) publish(ctx context.Context, events []entreactive.Outgoing) (int, error) {
	if bp, ok := r.pub.(entreactive.BatchPublisher); ok {
		n, err := bp.PublishBatch(ctx, events)
		if err == nil && n < len(events) {
			err = errors.New("the publisher stopped without an error")
		}
		return n, err
	}
	for i, e := range events {
		if err := r.pub.Publish(ctx, e.To, e.Event); err != nil {
			return i, err
		}
	}
	return len(events), nil
}

// published notes that the event id, read at now, was published (or
// dropped): it is deleted with the next flush, and the cursor moves past
// it.
func (r *relay) published(id int64, now time.Time) {
	r.pending[id] = struct{}{}
	r.advance(id, now)
}

// advance moves the cursor to id, read at now, and keeps the ids it skips
// as a gap.
func (r *relay) advance(id int64, now time.Time) {
	if id <= r.cursor {
		return
	}
	if id > r.cursor+1 {
		r.gaps = append(r.gaps, gap{lo: r.cursor + 1, deadline: now.Add(gapTimeout)})
	}
	r.cursor = id
}

// flush deletes the published events: runs of consecutive ids as
// ranges, in one transaction when it takes more than one statement. A
// writer of SQLite that finds the write lock taken sleeps a millisecond or
// more before it tries again, so the relay takes the lock as seldom as it
// can: once a flush.
func (r *relay) flush(ctx context.Context) error {
	if len(r.pending) == 0 {
		return nil
	}
	ids := make([]int64, 0, len(r.pending))
	for id := range r.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	stmts := deleteStatements(r.quoted, ids)
	if err := r.execAll(ctx, stmts); err != nil {
		return fmt.Errorf("delete published events from %s: %w", r.table, err)
	}
	clear(r.pending)
	return nil
}

// execAll runs stmts, in one transaction when there are several.
func (r *relay) execAll(ctx context.Context, stmts []string) error {
	if len(stmts) == 1 {
		return r.drv.Exec(ctx, stmts[0], []any{}, nil)
	}
	tx, err := r.drv.Tx(ctx)
	if err != nil {
		return err
	}
	for _, q := range stmts {
		if err := tx.Exec(ctx, q, []any{}, nil); err != nil {
			return errors.Join(err, tx.Rollback())
		}
	}
	return tx.Commit()
}

// deleteStatements returns the DELETE statements of table that delete ids
// (sorted, distinct): each run of consecutive ids as one range, at most
// deleteTerms ranges and ids a statement.
func deleteStatements(table string, ids []int64) []string {
	const deleteTerms = 500
	var stmts []string
	var ranges, singles []string
	emit := func() {
		if len(ranges)+len(singles) == 0 {
			return
		}
		terms := ranges
		if len(singles) > 0 {
			terms = append(terms, "id IN ("+strings.Join(singles, ",")+")")
		}
		stmts = append(stmts, "DELETE FROM "+table+" WHERE "+strings.Join(terms, " OR "))
		ranges, singles = nil, nil
	}
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j == i {
			singles = append(singles, strconv.FormatInt(ids[i], 10))
		} else {
			ranges = append(ranges, "id BETWEEN "+strconv.FormatInt(ids[i], 10)+" AND "+strconv.FormatInt(ids[j], 10))
		}
		if len(ranges)+len(singles) >= deleteTerms {
			emit()
		}
		i = j + 1
	}
	emit()
	return stmts
}

// flushOnExit deletes what was published before the relay stopped, for at
// most a second: what it leaves is published again by the next relay,
// with its EventID.
func (r *relay) flushOnExit(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if err := r.flush(ctx); err != nil {
		r.log.Warn("outbox: relay stopping", "err", err)
	}
}
