//go:build !entreactivegen

package schema

import (
	"context"

	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive"
	gen "github.com/entreactive/reactive/entreactive/internal/ent"
)

// widgetReactive sends every change to the room "widgets" and to the
// widget's owner (a *int: nobody when nil) and reviewer (a *uuid.UUID). A
// widget named "bad id" also targets a float, which is no user id.
func widgetReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Widget]) {
		r.OnAll(func(ctx context.Context, w *gen.Widget) entreactive.Target {
			to := entreactive.Target{Rooms: []string{"widgets"}, Users: []any{w.OwnerID, w.Reviewer}}
			if w.Name == "bad id" {
				to.Users = append(to.Users, 1.5)
			}
			return to
		})
	})
}
