package entreactivetest_test

import (
	"context"
	"errors"
	"testing"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
)

func TestRecorderFindsEventsByUserAndRoom(t *testing.T) {
	rec := &entreactivetest.Recorder{}
	ctx := context.Background()
	emit := func(to entreactive.Target, id int) {
		t.Helper()
		if err := rec.Emit(ctx, to, entreactive.Event{Action: entreactive.ActionCreate, Model: "Message", ID: id}); err != nil {
			t.Fatal(err)
		}
	}
	emit(entreactive.ToUserIDs(int64(7)), 1)
	emit(entreactive.ToRooms("conversation_3", "users"), 2)
	emit(entreactive.Target{Rooms: []string{"users"}, Users: []any{"7", 8}}, 3)
	emit(entreactive.ToAll(), 4)
	emit(entreactive.Target{Rooms: []string{"all_users", entreactive.RoomAll}}, 5)
	eight := 8
	var nobody *int
	emit(entreactive.Target{Users: []any{&eight, nobody}}, 6) // emitted directly, not through the hook
	rec.ReportFailure(ctx, entreactive.Failure{Model: "Message", Err: errors.New("boom")})

	ids := func(events []entreactive.Event) []any {
		var out []any
		for _, ev := range events {
			out = append(out, ev.ID)
		}
		return out
	}
	for _, tt := range []struct {
		name string
		got  []entreactive.Event
		want []any
	}{
		{"user 7, as an int", rec.ToUser(7), []any{1, 3}},
		{"user 8", rec.ToUser(8), []any{3, 6}},
		{"user 8, as a *int", rec.ToUser(&eight), []any{3, 6}},
		{"a nil *int", rec.ToUser(nobody), nil},
		{"user 9", rec.ToUser(9), nil},
		{"room users", rec.ToRoom("users"), []any{2, 3}},
		{"room all", rec.ToAll(), []any{4, 5}},
		{"every event", rec.Events(), []any{1, 2, 3, 4, 5, 6}},
	} {
		if got := ids(tt.got); len(got) != len(tt.want) || (len(got) > 0 && !equal(got, tt.want)) {
			t.Errorf("%s: ids %v, want %v", tt.name, got, tt.want)
		}
	}
	if f := rec.Failures(); len(f) != 1 || f[0].Err.Error() != "boom" {
		t.Errorf("failures = %+v", f)
	}

	rec.Reset()
	if len(rec.Deliveries()) != 0 || len(rec.Failures()) != 0 {
		t.Error("Reset kept records")
	}
}

func equal(a, b []any) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
