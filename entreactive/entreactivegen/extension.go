// Package entreactivegen is the entc extension of entreactive. It generates
// the typed glue that the reactive mixin's hook reaches through glue.Glue
// (package entreactive/glue), and the client option that sets the emitter:
//
//	// ent/entc.go
//	ex, err := entreactivegen.NewExtension()
//	if err != nil {
//		log.Fatalf("creating entreactive extension: %v", err)
//	}
//	err = entc.Generate("./schema", &gen.Config{}, entc.Extensions(ex))
//
// Asked with WithTypeScript and WithJSONSchema, it also writes the types of
// the "reactive" payloads for clients: a TypeScript module with typed
// helpers for socket.io-client, and a JSON Schema of the same payloads.
//
// The extension also sets the build tag entreactive.BuildTag while entc
// loads the schema, so that rule files importing the generated package are
// swapped for their placeholders, and so is the generated glue: reactive.go,
// the one generated file that calls packages entreactive and glue, is built
// with !entreactivegen, and reactive_placeholder.go stands in for it, so
// that go generate never needs the old glue to compile against a newer (or
// older) runtime. reactive.go names the version of the contract it was
// written for; see glue.GeneratedCodeVersion. The tag is merged into the -tags flag of
// any entc.BuildTags option given before the extension; give such options
// before entc.Extensions.
package entreactivegen

import (
	"errors"
	"fmt"
	"path"
	"regexp"
	"strings"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"

	"github.com/entreactive/reactive/entreactive"
)

// Extension implements entc.Extension for entreactive.
type Extension struct {
	entc.DefaultExtension
	templates []*gen.Template
	// typescriptPath and jsonSchemaPath are where the client types are
	// written; "" writes none.
	typescriptPath string
	jsonSchemaPath string
}

// ExtensionOption configures an Extension.
type ExtensionOption func(*Extension) error

// WithTemplates adds templates that are rendered beside the extension's
// own, e.g. to override one of them.
func WithTemplates(templates ...*gen.Template) ExtensionOption {
	return func(e *Extension) error {
		e.templates = append(e.templates, templates...)
		return nil
	}
}

// WithTypeScript writes, at path, a TypeScript module of the payloads of the
// "reactive" events: an interface per reactive schema's data, a union of
// the events discriminated by model and action, and typed helpers for
// socket.io-client. A relative path is relative to the directory entc runs
// in (that of ent/entc.go under go generate); missing folders on the path
// are created.
//
//	ex, err := entreactivegen.NewExtension(
//		entreactivegen.WithTypeScript("../web/src/reactive.ts"),
//	)
func WithTypeScript(path string) ExtensionOption {
	return func(e *Extension) error {
		if path == "" {
			return errors.New("entreactivegen: WithTypeScript: empty path")
		}
		e.typescriptPath = path
		return nil
	}
}

// WithJSONSchema writes, at path, a JSON Schema (draft 2020-12) of the same
// payloads as WithTypeScript, for clients in other languages. Its $defs use
// the names of the TypeScript module (MessageData, MessageUpdateEvent, ...).
// A relative path is relative to the directory entc runs in; missing
// folders on the path are created.
func WithJSONSchema(path string) ExtensionOption {
	return func(e *Extension) error {
		if path == "" {
			return errors.New("entreactivegen: WithJSONSchema: empty path")
		}
		e.jsonSchemaPath = path
		return nil
	}
}

// NewExtension returns the entreactive extension configured by opts.
func NewExtension(opts ...ExtensionOption) (*Extension, error) {
	e := &Extension{templates: AllTemplates}
	for _, opt := range opts {
		if err := opt(e); err != nil {
			return nil, err
		}
	}
	return e, nil
}

// Templates returns the extension's templates.
func (e *Extension) Templates() []*gen.Template {
	return e.templates
}

// Hooks returns the code generation hooks: a check that every reactive
// schema can be glued and that no field's Go type is declared in the schema
// package (an import cycle), and the writer of the client types when they
// are asked for.
func (e *Extension) Hooks() []gen.Hook {
	hooks := []gen.Hook{checkSchemas}
	if e.typescriptPath != "" || e.jsonSchemaPath != "" {
		hooks = append(hooks, e.writeClientTypes)
	}
	return hooks
}

// Options returns the entc options the extension needs: the build tag that
// swaps rule files for their placeholders while entc loads the schema.
func (e *Extension) Options() []entc.Option {
	return []entc.Option{withBuildTag(entreactive.BuildTag)}
}

// checkSchemas rejects reactive schemas the generated glue cannot serve,
// and field types that would make the generated package and the schema
// package import each other.
func checkSchemas(next gen.Generator) gen.Generator {
	return gen.GenerateFunc(func(g *gen.Graph) error {
		var errs []error
		reactive := false
		for _, n := range g.Nodes {
			if !isReactive(n.Annotations) {
				continue
			}
			reactive = true
			if n.IsView() || !n.HasOneFieldID() {
				errs = append(errs, fmt.Errorf("entreactivegen: schema %s: a reactive schema needs a single id field", n.Name))
			}
		}
		if reactive {
			errs = append(errs, importCycles(g)...)
		}
		if err := errors.Join(errs...); err != nil {
			return err
		}
		return next.Generate(g)
	})
}

// importCycles reports the fields whose Go type is declared in the schema
// package. The generated package imports the package of each field's Go
// type, and the rules of reactive schemas, which live in the schema package
// (or in a package it imports), import the generated package: entc
// generates such code, and go build refuses it ("import cycle not
// allowed"). The type belongs in a package of its own.
func importCycles(g *gen.Graph) []error {
	schema := g.Config.Schema
	if schema == "" {
		return nil
	}
	var errs []error
	for _, n := range g.Nodes {
		fields := n.Fields
		if n.ID != nil {
			fields = append([]*gen.Field{n.ID}, fields...)
		}
		for _, f := range fields {
			if f.Type == nil || f.Type.PkgPath != schema {
				continue
			}
			errs = append(errs, fmt.Errorf("entreactivegen: schema %s: field %q has the Go type %s, declared in the schema package %s: "+
				"the generated package would import it, and the reactive rules import the generated package (an import cycle, which go build refuses): "+
				"declare %s in a package of its own, e.g. %s/types, and use it from there",
				n.Name, f.Name, f.Type, schema, declaredName(f.Type, schema), schema))
		}
	}
	return errs
}

// qualifiedIdent matches the qualified identifiers of a Go type, e.g.
// schema.Meta in map[string][]*schema.Meta.
var qualifiedIdent = regexp.MustCompile(`([\pL_][\pL\pN_]*)\.([\pL_][\pL\pN_]*)`)

// declaredName returns the name of the type declared in package pkg that
// t, the type of a field, is or is made of: Meta for []*schema.Meta.
func declaredName(t *field.TypeInfo, pkg string) string {
	name := t.PkgName
	if name == "" {
		name = path.Base(pkg)
	}
	for _, m := range qualifiedIdent.FindAllStringSubmatch(t.String(), -1) {
		if m[1] == name {
			return m[2]
		}
	}
	return t.String()
}

// withBuildTag adds tag to the build flags entc loads the schema with. An
// existing -tags flag is extended rather than followed by a second one,
// which would replace it.
func withBuildTag(tag string) entc.Option {
	return func(cfg *gen.Config) error {
		cfg.BuildFlags = mergeBuildTag(cfg.BuildFlags, tag)
		return nil
	}
}

// mergeBuildTag returns flags with tag added to its -tags flag, adding the
// flag when there is none.
func mergeBuildTag(flags []string, tag string) []string {
	out := make([]string, 0, len(flags)+2)
	var tags []string
	for i := 0; i < len(flags); i++ {
		switch f := flags[i]; {
		case f == "-tags" || f == "--tags":
			if i+1 < len(flags) {
				tags = append(tags, splitTags(flags[i+1])...)
				i++
			}
		case strings.HasPrefix(f, "-tags=") || strings.HasPrefix(f, "--tags="):
			tags = append(tags, splitTags(f[strings.Index(f, "=")+1:])...)
		default:
			out = append(out, f)
		}
	}
	for _, t := range tags {
		if t == tag {
			return append(out, "-tags", strings.Join(tags, ","))
		}
	}
	return append(out, "-tags", strings.Join(append(tags, tag), ","))
}

// splitTags splits a -tags value, which is comma separated (or, in old
// releases of the go command, space separated).
func splitTags(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == ',' || r == ' ' })
}

// isReactive reports whether a schema's annotations mark it as reactive.
func isReactive(annotations gen.Annotations) bool {
	a, ok := annotations[entreactive.AnnotationName].(map[string]any)
	return ok && a["reactive"] == true
}

var _ entc.Extension = (*Extension)(nil)
