//go:build entreactivegen

package schema

import (
	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive"
)

func itemReactive() ent.Mixin { return entreactive.Placeholder() }

func tagReactive() ent.Mixin { return entreactive.Placeholder() }

func settingReactive() ent.Mixin { return entreactive.Placeholder() }

func taskReactive() ent.Mixin { return entreactive.Placeholder() }

func memoReactive() ent.Mixin { return entreactive.Placeholder() }
