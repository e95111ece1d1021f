package entreactivegen

import (
	"embed"
	"fmt"
	"reflect"
	"strings"
	"text/template"

	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"
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

	// AllTemplates holds every template of the extension.
	AllTemplates = []*gen.Template{
		ReactiveTemplate,
		HookPointsTemplate,
	}
)

// templateFuncs are the functions the templates use beside ent's.
var templateFuncs = template.FuncMap{
	"isReactive":        isReactive,
	"sensitiveCase":     sensitiveCase,
	"updateDefaultCase": updateDefaultCase,
	"changedEdges":      changedEdges,
	"uniqueIndexes":     uniqueIndexes,
	"differs":           differs,
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

// updateDefaultCase returns the constants of a type's fields that ent
// updates by itself (UpdateDefault, e.g. update_time) as the list of a
// switch case, or "" when it has none.
func updateDefaultCase(t *gen.Type) string {
	var names []string
	for _, f := range t.Fields {
		if f.UpdateDefault && !f.Sensitive() {
			names = append(names, t.Package()+"."+f.Constant())
		}
	}
	return strings.Join(names, ", ")
}

// changedEdges returns the constants of a type's edges that Changed names:
// those without a field of their own whose change is a change of the row
// (M2M edges, and unique edges whose foreign key has no field), as the list
// of a switch case, or "" when it has none.
func changedEdges(t *gen.Type) string {
	var names []string
	for _, e := range t.Edges {
		if e.Field() == nil && (e.M2M() || (e.Unique && e.OwnFK())) {
			names = append(names, t.Package()+"."+e.Constant())
		}
	}
	return strings.Join(names, ", ")
}

// uniqueIndexes returns the fields of a type's unique indexes whose columns
// are all fields: the other keys, beside unique fields and the id, an
// upsert may conflict on.
func uniqueIndexes(t *gen.Type) [][]*gen.Field {
	var indexes [][]*gen.Field
	for _, idx := range t.Indexes {
		if !idx.Unique {
			continue
		}
		var fields []*gen.Field
		for _, c := range idx.Columns {
			for _, f := range t.Fields {
				if f.StorageKey() == c {
					fields = append(fields, f)
				}
			}
		}
		if len(fields) == len(idx.Columns) {
			indexes = append(indexes, fields)
		}
	}
	return indexes
}

// differs returns a Go expression that reports whether field f of the
// entities a and b differs.
func differs(f *gen.Field, a, b string) string {
	x, y := a+"."+f.StructField(), b+"."+f.StructField()
	switch {
	case f.IsTime() && f.NillableValue():
		return fmt.Sprintf("!entreactive.SameTime(%s, %s)", x, y)
	case f.IsTime():
		return fmt.Sprintf("!%s.Equal(%s)", x, y)
	case goComparable(f) && f.NillableValue():
		return fmt.Sprintf("!entreactive.SamePointee(%s, %s)", x, y)
	case goComparable(f):
		return fmt.Sprintf("%s != %s", x, y)
	}
	return fmt.Sprintf("!reflect.DeepEqual(%s, %s)", x, y)
}

// goComparable reports whether the Go values of field f compare with ==.
func goComparable(f *gen.Field) bool {
	t := f.Type
	switch {
	case t.Type == field.TypeOther || t.Type == field.TypeJSON || t.Type == field.TypeBytes:
		return false
	case t.RType != nil && (t.RType.Kind == reflect.Slice || t.RType.Kind == reflect.Map || t.RType.Kind == reflect.Func):
		return false
	}
	return t.Comparable()
}

// parseT parses one embedded template file.
func parseT(path string) *gen.Template {
	return gen.MustParse(gen.NewTemplate(path).
		Funcs(templateFuncs).
		ParseFS(templateDir, path))
}
