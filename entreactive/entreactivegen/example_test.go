package entreactivegen_test

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"

	"github.com/entreactive/reactive/entreactive/entreactivegen"
)

// An ent/entc.go that also writes the payload types for a web client beside
// the ent/ directory: a TypeScript module and a JSON Schema.
func ExampleWithTypeScript() {
	ex, err := entreactivegen.NewExtension(
		entreactivegen.WithTypeScript("../web/src/reactive.ts"),
		entreactivegen.WithJSONSchema("../web/reactive.schema.json"),
	)
	if err != nil {
		log.Fatalf("creating entreactive extension: %v", err)
	}
	if err := entc.Generate("./schema", &gen.Config{}, entc.Extensions(ex)); err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
