//go:build ignore

// entc.go runs entc with the entreactive extension and ent's privacy
// feature; go generate calls it.
package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/entreactive/reactive/entreactive/entreactivegen"
)

func main() {
	ex, err := entreactivegen.NewExtension()
	if err != nil {
		log.Fatalf("creating entreactive extension: %v", err)
	}
	cfg := &gen.Config{Features: []gen.Feature{gen.FeaturePrivacy}}
	if err := entc.Generate("./schema", cfg, entc.Extensions(ex)); err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
