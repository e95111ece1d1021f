//go:build !entreactivegen

package schema

import (
	"context"

	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive"
	gen "github.com/entreactive/reactive/entreactive/internal/ent"
)

// itemReactive targets by the item's audience field.
func itemReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Item]) {
		r.OnAll(func(ctx context.Context, it *gen.Item) entreactive.Target {
			action, _ := entreactive.ActionFromContext(ctx)
			switch it.Audience {
			case "skip":
				return entreactive.Target{Rooms: []string{"items"}, Skip: true}
			case "nobody":
				return entreactive.Target{}
			case "panic":
				panic("target function failed for " + it.Label)
			case "instance":
				return entreactive.Target{
					Rooms:    []string{"items"},
					Instance: map[string]string{"label": it.Label, "kind": "summary"},
				}
			case "users":
				return entreactive.ToUserIDs(1, 2)
			}
			return entreactive.ToRooms("items", "items_"+string(action))
		})
	})
}

// tagReactive sends created tags to everyone; updates and deletes send
// nothing.
func tagReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Tag]) {
		r.OnCreate(func(context.Context, *gen.Tag) entreactive.Target {
			return entreactive.ToAll()
		})
	})
}
