// Package entreactive makes ent schemas real-time.
//
// A schema adds one mixin and declares, per action, a target function that
// names who hears about the change:
//
//	func (Message) Mixin() []ent.Mixin {
//		return []ent.Mixin{messageReactive()}
//	}
//
//	// In a file built with the tag !entreactivegen (see Placeholder):
//	func messageReactive() ent.Mixin {
//		return entreactive.Mixin(func(r *entreactive.Rules[*gen.Message]) {
//			r.OnCreate(func(ctx context.Context, m *gen.Message) entreactive.Target {
//				return entreactive.ToUserIDs(m.RecipientID)
//			})
//		})
//	}
//
// The entc extension in package entreactivegen generates the typed glue the
// mixin's hook needs, and a client option that sets the Emitter:
//
//	client := ent.NewClient(ent.Driver(drv), ent.Emitter(srv))
//
// Once a mutation commits (at once outside a transaction, on Commit inside
// one), the hook sends one Event per affected row to the Emitter. A rolled
// back transaction sends nothing. A failing target function or emitter never
// fails the database write: it is logged and reported, see FailureReporter.
//
// The events describe what the statements did, whatever the app's ent setup:
// the rows of deletes, bulk updates and upserts are read by the generated
// statement code with the statement's final predicates, inside its
// transaction, without privacy rules or query interceptors; a delete that a
// soft-delete hook turns into an update is reported as a delete; Changed is
// read after inner hooks ran; an upsert reports a create or an update per
// row, as the database did it. Target functions can read the change with
// ChangedFromContext, HasChanged and, for rules that call LoadPrevious,
// Previous.
//
// This package imports only ent and the standard library.
package entreactive
