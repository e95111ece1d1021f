//go:build ignore

// entc.go runs entc with the entreactive extension and the ent features a
// real app switches on (privacy, interceptors, upsert, raw
// statements); go generate calls it.
package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/entreactive/reactive/entreactive/entreactivegen"
)

func main() {
	ex, err := entreactivegen.NewExtension(
		// The payload tests of package entreactive validate the events of
		// these schemas against it.
		entreactivegen.WithJSONSchema("reactive.schema.json"),
	)
	if err != nil {
		log.Fatalf("creating entreactive extension: %v", err)
	}
	cfg := &gen.Config{
		Features: []gen.Feature{gen.FeaturePrivacy, gen.FeatureIntercept, gen.FeatureUpsert, gen.FeatureExecQuery},
	}
	if err := entc.Generate("./schema", cfg, entc.Extensions(ex)); err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
