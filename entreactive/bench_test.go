package entreactive_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	"github.com/entreactive/reactive/entreactive"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/outbox"
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

	// The durable path on a database file in WAL mode, as applications run
	// SQLite (the shared cache above locks tables, which the relay's reads
	// would trip on), against the same file without it: the outbox's
	// INSERT and the relay publishing and deleting, to a publisher that
	// does nothing.
	path := filepath.Join(b.TempDir(), "bench.db")
	fileDB, err := sql.Open(dialect.SQLite, "file:"+path+"?_fk=1&_journal_mode=WAL&_busy_timeout=5000&_txlock=immediate&_synchronous=NORMAL")
	if err != nil {
		b.Fatal(err)
	}
	defer fileDB.Close()
	drv := entsql.OpenDB(dialect.SQLite, fileDB)
	ob, err := outbox.New(ctx, drv, nopPublisher{}, outbox.Config{})
	if err != nil {
		b.Fatal(err)
	}
	defer ob.Close(ctx)
	durable := testent.NewClient(testent.Driver(drv), testent.Emitter(ob))
	if err := durable.Schema.Create(ctx); err != nil {
		b.Fatal(err)
	}
	b.Run("file-durable", func(b *testing.B) {
		measureCPU(b, func() error { return durable.Item.Create().SetLabel("benchmark").Exec(ctx) })
	})
	b.Run("file-plain", func(b *testing.B) {
		measureCPU(b, func() error { return durable.Plain.Create().SetLabel("benchmark").Exec(ctx) })
	})
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
