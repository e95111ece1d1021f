package entreactive_test

import (
	"fmt"
	"strings"
	"testing"

	entsql "entgo.io/ent/dialect/sql"
	"github.com/google/uuid"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
)

func TestPointerUserIDsAreFollowedAndBadOnesReported(t *testing.T) {
	eachDatabase(t, func(t *testing.T, drv *entsql.Driver) {
		rec := &entreactivetest.Recorder{}
		client := newItems(t, drv, rec)
		ctx := t.Context()

		// Widgets target their owner (*int) and reviewer (*uuid.UUID).
		client.Widget.Create().SetName("nobody's").ExecX(ctx)
		d := rec.Deliveries()
		if len(d) != 1 || len(d[0].Target.Users) != 0 || len(rec.Failures()) != 0 {
			t.Fatalf("nil owner and reviewer: deliveries %+v, failures %+v; want the room only", d, rec.Failures())
		}

		rec.Reset()
		reviewer := uuid.New()
		w := client.Widget.Create().SetName("owned").SetOwnerID(7).SetReviewer(reviewer).SaveX(ctx)
		if got := rec.ToUser(7); len(got) != 1 || got[0].ID != w.ID {
			t.Errorf("owner 7 (a *int) got %+v, want the create", got)
		}
		if got := rec.ToUser(reviewer.String()); len(got) != 1 {
			t.Errorf("reviewer (a *uuid.UUID) got %d events, want 1", len(got))
		}
		for _, u := range rec.Deliveries()[0].Target.Users {
			if s := fmt.Sprint(u); strings.HasPrefix(s, "0x") || strings.HasPrefix(s, "&") {
				t.Errorf("the emitter got user id %s: a pointer", s)
			}
		}

		rec.Reset()
		bad := client.Widget.Create().SetName("bad id").SetOwnerID(8).SaveX(ctx)
		f := rec.Failures()
		if len(f) != 1 || f[0].ID != bad.ID || f[0].Model != "Widget" || f[0].Action != entreactive.ActionCreate ||
			!strings.Contains(f[0].Err.Error(), "float64") {
			t.Errorf("failures = %+v, want the float id reported for widget %d", f, bad.ID)
		}
		if len(rec.ToUser(8)) != 1 || len(rec.ToRoom("widgets")) != 1 {
			t.Errorf("a bad id kept the event from the owner or the room: %+v", rec.Deliveries())
		}
	})
}
