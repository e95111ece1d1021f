//go:build entreactivegen

package schema

import (
	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive"
)

// Stand-ins for the mixins of reactive.go while entc loads this package.

func notificationReactive() ent.Mixin { return entreactive.Placeholder() }

func messageReactive() ent.Mixin { return entreactive.Placeholder() }
