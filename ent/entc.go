//go:build ignore

// entc.go runs entc with the entreactive extension; go generate calls it.
package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/entreactive/reactive/entreactive/entreactivegen"
)

func main() {
	ex, err := entreactivegen.NewExtension(
		// The types of the "reactive" events, for the example's web clients
		// and any other; scripts/check-codegen.sh keeps them current.
		entreactivegen.WithTypeScript("reactive.ts"),
		entreactivegen.WithJSONSchema("reactive.schema.json"),
	)
	if err != nil {
		log.Fatalf("creating entreactive extension: %v", err)
	}
	if err := entc.Generate("./schema", &gen.Config{}, entc.Extensions(ex)); err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
