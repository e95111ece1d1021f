package entreactivegen

import (
	"fmt"
	"os"
	"path/filepath"

	"entgo.io/ent/entc/gen"
)

// writeClientTypes writes the TypeScript module and the JSON Schema that
// were asked for, once the Go code is generated, creating their folders.
func (e *Extension) writeClientTypes(next gen.Generator) gen.Generator {
	return gen.GenerateFunc(func(g *gen.Graph) error {
		if err := next.Generate(g); err != nil {
			return err
		}
		p := payloadsOf(g)
		if err := checkNames(p); err != nil {
			return err
		}
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
			// The folder may not exist yet, e.g. that of a web client
			// created after the ent code.
			if err := os.MkdirAll(filepath.Dir(out.path), 0o755); err != nil {
				return fmt.Errorf("entreactivegen: writing client types: %w", err)
			}
			if err := os.WriteFile(out.path, b, 0o644); err != nil {
				return fmt.Errorf("entreactivegen: writing client types: %w", err)
			}
		}
		return nil
	})
}

// moduleNames are the names the TypeScript module declares whatever the
// schemas are.
var moduleNames = []string{
	"ReactiveAction", "ReactiveEvent", "ReactiveModel", "ReactiveEventOf", "ReactiveAck",
	"ReactiveServerToClientEvents", "ReactiveClientToServerEvents", "ReactiveSocket",
	"onReactive", "onModel", "isModel",
}

// checkNames fails when two of the names the client types declare are the
// same, e.g. for a schema named Reactive (ReactiveEvent) or two schemas
// named Message and MessageCreate (MessageCreateEvent).
func checkNames(p payloads) error {
	owner := make(map[string]string)
	for _, name := range moduleNames {
		owner[name] = "the module"
	}
	for _, m := range p.Models {
		for _, suffix := range []string{"Data", "Edges", "Field", "CreateEvent", "UpdateEvent", "DeleteEvent", "Event"} {
			name := m.Name + suffix
			if other, ok := owner[name]; ok {
				return fmt.Errorf("entreactivegen: client types: schema %s declares %s, as %s does: rename one of them", m.Name, name, other)
			}
			owner[name] = "schema " + m.Name
		}
	}
	return nil
}
