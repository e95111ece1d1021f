package entreactivegen

import (
	"fmt"
	"os"

	"entgo.io/ent/entc/gen"
)

// writeClientTypes writes the TypeScript module and the JSON Schema that
// were asked for, once the Go code is generated.
func (e *Extension) writeClientTypes(next gen.Generator) gen.Generator {
	return gen.GenerateFunc(func(g *gen.Graph) error {
		if err := next.Generate(g); err != nil {
			return err
		}
		p := payloadsOf(g)
		for _, out := range []struct {
			path   string
			encode func(payloads) ([]byte, error)
		}{
			{e.typescriptPath, typescript},
			{e.jsonSchemaPath, jsonSchema},
		} {
			if out.path == "" {
				continue
			}
			b, err := out.encode(p)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out.path, b, 0o644); err != nil {
				return fmt.Errorf("entreactivegen: writing client types: %w", err)
			}
		}
		return nil
	})
}
