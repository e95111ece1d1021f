package entreactivegen

import (
	"embed"
	"strings"
	"text/template"

	"entgo.io/ent/entc/gen"
)

// templateDir holds the extension's templates.
//
//go:embed template/*
var templateDir embed.FS

var (
	// ReactiveTemplate generates reactive.go: the Emitter option and the
	// typed glue of every reactive schema.
	ReactiveTemplate = parseT("template/reactive.tmpl")

	// HookPointsTemplate adds the extension's fields to ent's config and
	// mutations, its import, and the batching of CreateBulk statements.
	HookPointsTemplate = parseT("template/hookpoints.tmpl")

	// PayloadTemplate adds MarshalReactive and AppendReactive to the
	// entities of reactive schemas: the data of their events.
	PayloadTemplate = parseT("template/payload.tmpl")

	// AllTemplates holds every template of the extension.
	AllTemplates = []*gen.Template{
		ReactiveTemplate,
		HookPointsTemplate,
		PayloadTemplate,
	}
)

// templateFuncs are the functions the templates use beside ent's.
var templateFuncs = template.FuncMap{
	"isReactive":    isReactive,
	"sensitiveCase": sensitiveCase,
	"payloadKey":    payloadKey,
	"edgeKey":       edgeKey,
	"payloadWrite":  payloadWrite,
}

// sensitiveCase returns the constants of a type's Sensitive fields as the
// list of a switch case, e.g. "user.FieldPasswordHash", or "" when it has
// none.
func sensitiveCase(t *gen.Type) string {
	var names []string
	for _, f := range t.Fields {
		if f.Sensitive() {
			names = append(names, t.Package()+"."+f.Constant())
		}
	}
	return strings.Join(names, ", ")
}

// parseT parses one embedded template file.
func parseT(path string) *gen.Template {
	return gen.MustParse(gen.NewTemplate(path).
		Funcs(templateFuncs).
		ParseFS(templateDir, path))
}
