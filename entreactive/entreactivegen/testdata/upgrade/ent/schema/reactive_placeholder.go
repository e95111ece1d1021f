//go:build entreactivegen

package schema

import (
	"entgo.io/ent"

	"github.com/entreactive/reactive/entreactive"
)

// noteReactive stands in for the mixin of reactive.go while entc loads this
// package.
func noteReactive() ent.Mixin { return entreactive.Placeholder() }
