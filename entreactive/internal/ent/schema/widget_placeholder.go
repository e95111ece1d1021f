//go:build entreactivegen

package schema

import (
	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive"
)

func widgetReactive() ent.Mixin { return entreactive.Placeholder() }
