//go:build !entreactivegen

package schema

import (
	"context"

	"entgo.io/ent"

	gen "example.com/upgrade/ent"
	"github.com/entreactive/reactive/entreactive"
)

// noteReactive sends every new note to the room "notes". This file imports
// the generated package, so entc loads reactive_placeholder.go instead.
func noteReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Note]) {
		r.OnCreate(func(context.Context, *gen.Note) entreactive.Target {
			return entreactive.ToRooms("notes")
		})
	})
}
