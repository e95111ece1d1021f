//go:build !entreactivegen

package schema

import (
	"context"

	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive"
	gen "github.com/entreactive/reactive/entreactive/internal/ent"
	"github.com/entreactive/reactive/entreactive/internal/ent/memo"
)

// itemReactive targets by the item's audience field. Updates of its
// secret alone are sent too.
func itemReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Item]) {
		r.SendSensitiveUpdates()
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

// SettingsRoom is the room that hears about changed settings.
const SettingsRoom = "settings"

// settingReactive sends updated settings to their room; creates and
// deletes send nothing.
func settingReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Setting]) {
		r.OnUpdate(func(context.Context, *gen.Setting) entreactive.Target {
			return entreactive.ToRooms(SettingsRoom)
		})
	})
}

// TasksRoom is the room that hears about every task.
const TasksRoom = "tasks"

// taskReactive sends every change of a task to the tasks room, and an
// update to its assignee and, when the update changed the assignee, to the
// old assignee too.
func taskReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Task]) {
		r.LoadPrevious()
		all := func(context.Context, *gen.Task) entreactive.Target {
			return entreactive.ToRooms(TasksRoom)
		}
		r.OnCreate(all)
		r.OnDelete(all)
		r.OnUpdate(func(ctx context.Context, t *gen.Task) entreactive.Target {
			to := entreactive.ToRooms(TasksRoom)
			if t.AssigneeID != nil {
				to.Users = append(to.Users, *t.AssigneeID)
			}
			if old, ok := entreactive.Previous[*gen.Task](ctx); ok && old.AssigneeID != nil &&
				(t.AssigneeID == nil || *old.AssigneeID != *t.AssigneeID) {
				to.Users = append(to.Users, *old.AssigneeID)
			}
			return to
		})
	})
}

// MemosRoom is the room that hears about memos.
const MemosRoom = "memos"

// memoReactive sends memos to the memos room; an update only when it
// changed the text.
func memoReactive() ent.Mixin {
	return entreactive.Mixin(func(r *entreactive.Rules[*gen.Memo]) {
		r.OnAll(func(ctx context.Context, _ *gen.Memo) entreactive.Target {
			if action, _ := entreactive.ActionFromContext(ctx); action == entreactive.ActionUpdate &&
				!entreactive.HasChanged(ctx, memo.FieldText) {
				return entreactive.Skip()
			}
			return entreactive.ToRooms(MemosRoom)
		})
	})
}
