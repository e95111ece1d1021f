package entreactive_test

import (
	"context"
	"fmt"
	"github.com/entreactive/reactive/internal/testdb"
	"testing"

	"entgo.io/ent/dialect"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
	testent "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/internal/ent/tag"
)

// TestRulesForAnotherSchemaAreRefused plays a copy-paste slip that
// compiles: Tag's reactive mixin with the rules of Item. A client with an
// emitter is refused as it is created, and, without one, writes of Tag
// fail, both with a message that names the schema, the rules' type and the
// right one. Before, the client opened and every write of Tag failed with
// "*ent.TagMutation has no reactive glue: regenerate the ent code with the
// entreactivegen extension", which regenerating does not fix.
//
// It swaps Tag's hook, a package variable, so it must not run in parallel.
func TestRulesForAnotherSchemaAreRefused(t *testing.T) {
	const want = "entreactive: schema Tag's reactive mixin has rules for *ent.Item: use entreactive.Rules[*ent.Tag]"
	slip := entreactive.Mixin(func(r *entreactive.Rules[*testent.Item]) {
		r.OnCreate(func(context.Context, *testent.Item) entreactive.Target { return entreactive.ToAll() })
	})
	saved := tag.Hooks[0]
	tag.Hooks[0] = slip.Hooks()[0]
	t.Cleanup(func() { tag.Hooks[0] = saved })

	t.Run("a client with an emitter", func(t *testing.T) {
		drv := testdb.OpenDriver(t, dialect.SQLite, "file:wrongrules_emitter?mode=memory&cache=shared&_fk=1")
		defer func() {
			if r := recover(); fmt.Sprint(r) != want {
				t.Errorf("creating the client panicked with %v, want %s", r, want)
			}
		}()
		testent.NewClient(testent.Driver(drv), testent.Emitter(&entreactivetest.Recorder{}))
		t.Error("the client was created")
	})
	t.Run("a write without an emitter", func(t *testing.T) {
		drv := testdb.OpenDriver(t, dialect.SQLite, "file:wrongrules_plain?mode=memory&cache=shared&_fk=1")
		client := testent.NewClient(testent.Driver(drv))
		if err := client.Schema.Create(t.Context()); err != nil {
			t.Fatal(err)
		}
		_, err := client.Tag.Create().SetID("t1").SetName("go").Save(t.Context())
		if err == nil || err.Error() != want {
			t.Errorf("creating a tag: error %v, want %s", err, want)
		}
	})
	t.Run("a schema without glue", func(t *testing.T) {
		// Plain has no reactive mixin, hence no glue: the rules are right,
		// the code is not.
		hook := entreactive.Mixin(func(*entreactive.Rules[*testent.Plain]) {}).Hooks()[0]
		m := testent.NewClient().Plain.Create().Mutation()
		_, err := hook(nil).Mutate(t.Context(), m)
		const want = "entreactive: *ent.PlainMutation has no reactive glue: regenerate the ent code with the entreactivegen extension"
		if err == nil || err.Error() != want {
			t.Errorf("error %v, want %s", err, want)
		}
	})
	t.Run("the right rules", func(t *testing.T) {
		tag.Hooks[0] = saved
		drv := testdb.OpenDriver(t, dialect.SQLite, "file:wrongrules_right?mode=memory&cache=shared&_fk=1")
		rec := &entreactivetest.Recorder{}
		client := testent.NewClient(testent.Driver(drv), testent.Emitter(rec))
		if err := client.Schema.Create(t.Context()); err != nil {
			t.Fatal(err)
		}
		if _, err := client.Tag.Create().SetID("t1").SetName("go").Save(t.Context()); err != nil {
			t.Fatal(err)
		}
		if n := len(rec.Events()); n != 1 {
			t.Errorf("%d events, want 1", n)
		}
	})
}
