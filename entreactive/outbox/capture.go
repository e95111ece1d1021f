package outbox

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/entreactive/reactive/entreactive"
)

// captured is what Capture installed: the client's Capture, and the models
// whose creates the database records.
type captured struct {
	capture entreactive.Capture
	models  map[string]bool
}

// Capture has the database record the creates of the reactive schemas of
// c, the generated client's ReactiveCapture, by itself: a trigger on each
// of their tables writes the create's record into the outbox table in the
// INSERT statement itself. A create made outside of a transaction then
// runs in none, and costs one row more in the same statement rather than
// a transaction with a second statement; the relay builds its event when
// it reads the record, from the row as stored then.
//
//	ob, _ := outbox.New(ctx, drv, srv, outbox.Config{})
//	client := ent.NewClient(ent.Driver(drv), ent.Emitter(ob))
//	// after client.Schema.Create
//	if err := ob.Capture(ctx, client.ReactiveCapture()); err != nil { ... }
//
// What changes for the creates of those schemas:
//
//   - Their target functions run in the relay, after the commit, with a
//     context of the relay's: not the mutation's, whose values (a viewer, a
//     tenant) they do not see. Target functions that only look at the row,
//     as most do, are unaffected.
//   - The event carries the row as stored when the relay reads it: an
//     update committed in between is in it, and the update's event
//     follows. A row deleted by then is sent as its next event in the
//     table carries it, to the create's audience; one with no later event
//     sends nothing.
//   - The guarantees of the package hold as before: a committed create has
//     its record; one row's events reach clients in commit order, whichever
//     relay publishes them.
//
// Every process on the database must run Capture with the same client
// before it serves: a process that does not stores the creates it makes
// twice (its own event, and the trigger's record, with other event ids),
// and its relay publishes nothing while a trigger's record waits (it logs
// why). Triggers are created when missing and never dropped: Uncapture
// drops them. Run Capture after the schema migration: a migration that
// rebuilds a table (SQLite does, for some changes) drops its trigger, and
// Capture creates it again. A migration that runs beside the processes (a
// rolling deploy, a migration tool) drops it under them: their relays
// create it again at their next Poll and log a warning, and the creates
// made in between send no event. SQLite, PostgreSQL (9.6 or later) and
// MySQL/MariaDB are supported; on MySQL with binary logging, creating a
// trigger needs the TRIGGER privilege and log_bin_trust_function_creators
// (or SUPER). On SQLite, turn on go-sqlite3's statement cache
// (_stmt_cache_size=64 in the DSN): SQLite compiles the trigger into every
// INSERT it prepares, and without the cache every create is prepared
// again.
func (o *Outbox) Capture(ctx context.Context, c entreactive.Capture) error {
	o.triggers.Lock()
	defer o.triggers.Unlock()
	models := map[string]bool{}
	for _, t := range c.Tables() {
		if err := o.createTrigger(ctx, t); err != nil {
			return fmt.Errorf("outbox: capture the creates of %s: %w", t.Model, err)
		}
		models[t.Model] = true
	}
	o.captured.Store(&captured{capture: c, models: models})
	return nil
}

// Uncapture drops the triggers Capture created for the tables of c: the
// creates of those schemas are then stored by their transaction, as
// without Capture. The records the triggers left are still published, with
// c. Stop every other process that captures creates first: their creates
// would go unrecorded until their relays create the triggers again, at
// their next Poll.
func (o *Outbox) Uncapture(ctx context.Context, c entreactive.Capture) error {
	o.triggers.Lock()
	defer o.triggers.Unlock()
	// No model captured from now on, and c kept for the records left. A
	// create made before the trigger is dropped may be stored twice (two
	// events, with different ids), never lost.
	o.captured.Store(&captured{capture: c})
	for _, t := range c.Tables() {
		var q string
		switch o.drv.Dialect() {
		case dialect.Postgres:
			q = "DROP TRIGGER IF EXISTS " + quote(dialect.Postgres, o.table+"_capture") + " ON " + quote(dialect.Postgres, t.Table)
		default:
			q = "DROP TRIGGER IF EXISTS " + quote(o.drv.Dialect(), o.triggerName(t))
		}
		if err := o.drv.Exec(ctx, q, []any{}, nil); err != nil {
			return fmt.Errorf("outbox: drop the trigger of %s: %w", t.Table, err)
		}
	}
	return nil
}

// CapturesCreates reports whether the database records the creates of
// model (Capture). It implements entreactive.CreateCapturer.
func (o *Outbox) CapturesCreates(model string) bool {
	c := o.captured.Load()
	return c != nil && c.models[model]
}

// triggerName returns the name of the trigger on t's table (SQLite,
// MySQL: trigger names are per database there).
func (o *Outbox) triggerName(t entreactive.CaptureTable) string {
	return o.table + "_" + t.Table
}

// createTrigger creates the trigger of t's table when it does not exist.
func (o *Outbox) createTrigger(ctx context.Context, t entreactive.CaptureTable) error {
	d := o.drv.Dialect()
	if !plainName(t.Model) {
		return fmt.Errorf("model name %q is not an identifier", t.Model)
	}
	table, id := quote(d, t.Table), quote(d, t.IDColumn)
	var create string
	switch d {
	case dialect.SQLite:
		return o.drv.Exec(ctx, "CREATE TRIGGER IF NOT EXISTS "+quote(d, o.triggerName(t))+" AFTER INSERT ON "+table+
			" BEGIN INSERT INTO "+o.quoted+" (created_at, body) VALUES (-CAST((julianday('now') - 2440587.5) * 86400000.0 AS INTEGER), "+
			"'{\"capture\":\""+t.Model+"\",\"id\":' || json_quote(NEW."+id+") || '}'); END", []any{}, nil)
	case dialect.MySQL:
		create = "CREATE TRIGGER " + quote(d, o.triggerName(t)) + " AFTER INSERT ON " + table + " FOR EACH ROW INSERT INTO " + o.quoted +
			" (created_at, body) VALUES (-CAST(UNIX_TIMESTAMP(NOW(3)) * 1000 AS SIGNED), JSON_OBJECT('capture', '" + t.Model + "', 'id', CAST(NEW." + id + " AS CHAR)))"
	case dialect.Postgres:
		fn := quote(d, o.table+"_capture")
		if err := o.drv.Exec(ctx, "CREATE OR REPLACE FUNCTION "+fn+"() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "+
			"INSERT INTO "+o.quoted+" (created_at, body) VALUES (-(extract(epoch FROM clock_timestamp()) * 1000)::bigint, "+
			"convert_to(json_build_object('capture', TG_ARGV[0], 'id', to_jsonb(NEW) ->> TG_ARGV[1])::text, 'UTF8')); RETURN NULL; END $$", []any{}, nil); err != nil {
			return err
		}
		create = "CREATE TRIGGER " + fn + " AFTER INSERT ON " + table + " FOR EACH ROW EXECUTE PROCEDURE " + fn + "('" + t.Model + "', '" + strings.ReplaceAll(t.IDColumn, "'", "''") + "')"
	default:
		return fmt.Errorf("dialect %q is not supported", d)
	}
	exists, err := o.triggerExists(ctx, t)
	if err != nil || exists {
		return err
	}
	if err := o.drv.Exec(ctx, create, []any{}, nil); err != nil {
		// Unless another process created it first.
		if exists, qerr := o.triggerExists(ctx, t); qerr != nil || !exists {
			return err
		}
	}
	return nil
}

// triggerExists reports whether the trigger of t's table exists.
func (o *Outbox) triggerExists(ctx context.Context, t entreactive.CaptureTable) (bool, error) {
	switch d := o.drv.Dialect(); d {
	case dialect.SQLite:
		return o.exists(ctx, "SELECT COUNT(*) FROM sqlite_master WHERE type = 'trigger' AND name = ?", o.triggerName(t))
	case dialect.MySQL:
		return o.exists(ctx, "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = DATABASE() AND TRIGGER_NAME = ?", o.triggerName(t))
	default:
		return o.exists(ctx, "SELECT COUNT(*) FROM pg_trigger WHERE tgname = $1 AND tgrelid = to_regclass($2)", o.table+"_capture", quote(d, t.Table))
	}
}

// restoreTriggers creates again the triggers of the captured tables that
// are gone, and returns those tables: a migration that rebuilds a table
// (SQLite does, for some changes) drops its trigger, and the creates made
// until then are not recorded. The relay runs it at every Poll.
func (o *Outbox) restoreTriggers(ctx context.Context) ([]string, error) {
	o.triggers.Lock()
	defer o.triggers.Unlock()
	c := o.captured.Load()
	if c == nil || len(c.models) == 0 {
		return nil, nil
	}
	var restored []string
	for _, t := range c.capture.Tables() {
		if !c.models[t.Model] {
			continue
		}
		exists, err := o.triggerExists(ctx, t)
		if err == nil && !exists {
			err = o.createTrigger(ctx, t)
			restored = append(restored, t.Table)
		}
		if err != nil {
			return restored, fmt.Errorf("restore the trigger of %s: %w", t.Table, err)
		}
	}
	return restored, nil
}

// exists runs a COUNT(*) query and reports whether it counted a row.
func (o *Outbox) exists(ctx context.Context, query string, args ...any) (bool, error) {
	var rows entsql.Rows
	if err := o.drv.Query(ctx, query, args, &rows); err != nil {
		return false, err
	}
	defer rows.Close()
	var n int
	if rows.Next() {
		if err := rows.Scan(&n); err != nil {
			return false, err
		}
	}
	return n > 0, rows.Err()
}

// plainName reports whether s is made of ASCII letters, digits and
// underscores, as the names of ent schemas are: it is written into the
// trigger's text.
func plainName(s string) bool {
	for _, c := range s {
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return s != ""
}

// captureEventID returns the event id of the record id of the table,
// stored at createdAt: the same in every relay, so that the publisher
// drops the repeats.
func captureEventID(table string, id, createdAt int64) string {
	name := append([]byte("entreactive/outbox/"), table...)
	name = strconv.AppendInt(append(name, '/'), id, 10)
	name = strconv.AppendInt(append(name, '/'), createdAt, 10)
	return uuid.NewSHA1(uuid.NameSpaceOID, name).String()
}
