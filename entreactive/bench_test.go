package entreactive_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/outbox"
	"github.com/entreactive/reactive/internal/testdb"
)

// BenchmarkCreate compares creating a row of a reactive schema, whose
// events go to a no-op emitter, with creating a row of the same fields
// without the mixin, on in-memory SQLite. BENCHMARKS.md holds the figures.
func BenchmarkCreate(b *testing.B) {
	noop := entreactive.EmitterFunc(func(context.Context, entreactive.Target, entreactive.Event) error { return nil })
	sqlDB, err := sql.Open(dialect.SQLite, "file:bench?mode=memory&cache=shared&_fk=1")
	if err != nil {
		b.Fatal(err)
	}
	defer sqlDB.Close()
	client := testent.NewClient(testent.Driver(entsql.OpenDB(dialect.SQLite, sqlDB)), testent.Emitter(noop))
	ctx := context.Background()
	if err := client.Schema.Create(ctx); err != nil {
		b.Fatal(err)
	}

	b.Run("reactive", func(b *testing.B) {
		measureCPU(b, func() error { return client.Item.Create().SetLabel("benchmark").Exec(ctx) })
	})
	b.Run("plain", func(b *testing.B) {
		measureCPU(b, func() error { return client.Plain.Create().SetLabel("benchmark").Exec(ctx) })
	})

	// The durable path against the same fields without the mixin, on each
	// database: SQLite on a file in WAL mode with go-sqlite3's statement
	// cache, as docs/durable.md recommends (the shared cache above locks
	// tables, which the relay's reads would trip on), PostgreSQL and
	// MariaDB when their DSN variables are set. The
	// durable create pays the outbox's INSERT in its own transaction, and
	// the relay reads, publishes to a publisher that does nothing and
	// deletes, in the same process.
	for _, db := range testdb.Databases() {
		var drv *entsql.Driver
		if db.Env == "" {
			path := filepath.Join(b.TempDir(), "bench.db")
			drv = testdb.OpenDriver(b, db.Dialect, "file:"+path+"?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_synchronous=NORMAL&_stmt_cache_size=64")
		} else {
			if os.Getenv(db.Env) == "" {
				continue
			}
			drv = testdb.Open(b, db)
		}
		name := db.Name
		if name == "sqlite" {
			name = "file"
		}
		ob, err := outbox.New(ctx, drv, nopPublisher{}, outbox.Config{})
		if err != nil {
			b.Fatal(err)
		}
		durable := testent.NewClient(testent.Driver(drv), testent.Emitter(ob))
		if err := durable.Schema.Create(ctx); err != nil {
			b.Fatal(err)
		}
		b.Run(name+"-durable", func(b *testing.B) {
			measureCPU(b, func() error { return durable.Item.Create().SetLabel("benchmark").Exec(ctx) })
		})
		b.Run(name+"-plain", func(b *testing.B) {
			measureCPU(b, func() error { return durable.Plain.Create().SetLabel("benchmark").Exec(ctx) })
		})
		// The same creates inside a transaction of the application's
		// own: the durable path then adds its INSERT, not a transaction.
		inTx := func(create func(tx *testent.Tx) error) func() error {
			return func() error {
				tx, err := durable.Tx(ctx)
				if err != nil {
					return err
				}
				if err := create(tx); err != nil {
					return errors.Join(err, tx.Rollback())
				}
				return tx.Commit()
			}
		}
		b.Run(name+"-durable-tx", func(b *testing.B) {
			measureCPU(b, inTx(func(tx *testent.Tx) error { return tx.Item.Create().SetLabel("benchmark").Exec(ctx) }))
		})
		b.Run(name+"-plain-tx", func(b *testing.B) {
			measureCPU(b, inTx(func(tx *testent.Tx) error { return tx.Plain.Create().SetLabel("benchmark").Exec(ctx) }))
		})
		// The durable path with the creates recorded by a trigger
		// (Outbox.Capture): no transaction, no second statement.
		if err := ob.Capture(ctx, durable.ReactiveCapture()); err != nil {
			b.Fatal(err)
		}
		b.Run(name+"-captured", func(b *testing.B) {
			measureCPU(b, func() error { return durable.Item.Create().SetLabel("benchmark").Exec(ctx) })
		})
		b.Run(name+"-captured-tx", func(b *testing.B) {
			measureCPU(b, inTx(func(tx *testent.Tx) error { return tx.Item.Create().SetLabel("benchmark").Exec(ctx) }))
		})
		if err := ob.Close(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// nopPublisher is a Publisher that does nothing.
type nopPublisher struct{}

func (nopPublisher) Emit(context.Context, entreactive.Target, entreactive.Event) error    { return nil }
func (nopPublisher) Publish(context.Context, entreactive.Target, entreactive.Event) error { return nil }

// measureCPU runs op b.N times and reports, beside the wall time, the
// process's CPU time per op (user + system, all threads, GC included).
func measureCPU(b *testing.B, op func() error) {
	b.ReportAllocs()
	start := cpuTime(b)
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime(b)-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// cpuTime returns the CPU time the process has used so far.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
