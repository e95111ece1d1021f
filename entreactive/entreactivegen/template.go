package entreactivegen

import (
	"embed"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/glue"
)

// templateDir holds the extension's templates.
//
//go:embed template/*
var templateDir embed.FS

var (
	// ReactiveTemplate generates reactive.go: the Emitter option, the typed
	// glue of every reactive schema and the data of its events. It is the
	// one generated file that calls package entreactive, and it is built
	// with the tag !entreactivegen (entreactive.BuildTag).
	ReactiveTemplate = parseT("template/reactive.tmpl")

	// PlaceholderTemplate generates reactive_placeholder.go, which stands in
	// for reactive.go while entc loads the schema (tag entreactivegen), so
	// that regenerating never needs the old reactive.go to compile.
	PlaceholderTemplate = parseT("template/placeholder.tmpl")

	// HookPointsTemplate adds the extension's fields to ent's config and
	// mutations, and the calls of its statement code: the loads before
	// updates, deletes and upserts, and the batching of CreateBulk
	// statements. They name only what reactive.go and
	// reactive_placeholder.go both declare. They also declare in client.go
	// the constant reactive.go refers to, whose name, in the compile error
	// of a reactive.go left behind by a generation without the extension
	// (ent's CLI), says what to run.
	HookPointsTemplate = parseT("template/hookpoints.tmpl")

	// PayloadTemplate defines MarshalReactive and AppendReactive of the
	// entities of reactive schemas, the data of their events, which
	// ReactiveTemplate writes into reactive.go.
	PayloadTemplate = parseT("template/payload.tmpl")

	// AllTemplates holds every template of the extension.
	AllTemplates = []*gen.Template{
		ReactiveTemplate,
		PlaceholderTemplate,
		HookPointsTemplate,
		PayloadTemplate,
	}
)

// templateFuncs are the functions the templates use beside ent's.
var templateFuncs = template.FuncMap{
	"isReactive":           isReactive,
	"sensitiveCase":        sensitiveCase,
	"updateDefaultCase":    updateDefaultCase,
	"changedEdges":         changedEdges,
	"uniqueIndexes":        uniqueIndexes,
	"differs":              differs,
	"refEdges":             refEdges,
	"capturable":           capturable,
	"hasCapture":           hasCapture,
	"refTarget":            refTarget,
	"payloadKey":           payloadKey,
	"edgeKey":              edgeKey,
	"payloadWrite":         payloadWrite,
	"buildTag":             func() string { return entreactive.BuildTag },
	"generatedCodeVersion": func() int { return glue.GeneratedCodeVersion },
}

// capturable reports whether the creates of a reactive type can be
// recorded by a database trigger (entreactive.Capture): its id is an
// integer, a string or a UUID, which the trigger records as text and
// glue.ParseID reads back.
func capturable(t *gen.Type) bool {
	if !isReactive(t.Annotations) || t.ID == nil || t.ID.Type == nil {
		return false
	}
	switch t.ID.Type.Type {
	case field.TypeInt, field.TypeInt8, field.TypeInt16, field.TypeInt32, field.TypeInt64,
		field.TypeUint, field.TypeUint8, field.TypeUint16, field.TypeUint32, field.TypeUint64,
		field.TypeString, field.TypeUUID:
		return true
	}
	return false
}

// hasCapture reports whether a reactive type of the graph is capturable.
func hasCapture(g *gen.Graph) bool {
	return slices.ContainsFunc(g.Nodes, capturable)
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
		if changedAsEdge(e) {
			names = append(names, t.Package()+"."+e.Constant())
		}
	}
	return strings.Join(names, ", ")
}

// changedAsEdge reports whether an update's "changed" names the edge e
// itself: every edge without a field of its own — M2M edges, unique edges
// whose foreign key has no field, and the edges whose foreign key is in the
// other table (the O2M side of a user's cards, user.AddCards(card): the
// user's update says "cards", the card's own update names its key).
func changedAsEdge(e *gen.Edge) bool {
	return e.Field() == nil
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
		return fmt.Sprintf("!glue.SameTime(%s, %s)", x, y)
	case f.IsTime():
		return fmt.Sprintf("!%s.Equal(%s)", x, y)
	case goComparable(f) && f.NillableValue():
		return fmt.Sprintf("!glue.SamePointee(%s, %s)", x, y)
	case goComparable(f):
		return fmt.Sprintf("%s != %s", x, y)
	}
	return fmt.Sprintf("!reflect.DeepEqual(%s, %s)", x, y)
}

// refEdge is an edge of a schema whose foreign key lives in the table of a
// reactive schema: changing it from this side changes rows of the other.
type refEdge struct {
	// Edge is the edge of the mutated schema.
	Edge *gen.Edge
	// Target is the reactive schema whose table holds the foreign key.
	Target *gen.Type
	// Changed is the Go expression of the name the events list in changed:
	// the foreign key's field, or its column when it has no field.
	Changed string
	// Field reports that the foreign key is a field of Target, so that only
	// rows whose field changed are sent.
	Field bool
}

// refEdges returns the edges of t whose foreign key lives in the table of a
// reactive schema (O2M edges, and O2O edges that do not own the key).
func refEdges(t *gen.Type) []refEdge {
	var edges []refEdge
	for _, e := range t.Edges {
		if e.M2M() || e.OwnFK() || !isReactive(e.Type.Annotations) {
			continue
		}
		r := refEdge{Edge: e, Target: e.Type, Changed: strconv.Quote(e.Rel.Column())}
		if e.Ref != nil && e.Ref.Field() != nil {
			r.Changed, r.Field = e.Type.Package()+"."+e.Ref.Field().Constant(), true
		}
		edges = append(edges, r)
	}
	return edges
}

// refTarget reports whether t is the target of an edge refEdges returns
// for one of nodes: whether the code of one of them reloads t's rows when
// it changes their foreign key.
func refTarget(nodes []*gen.Type, t *gen.Type) bool {
	for _, n := range nodes {
		for _, r := range refEdges(n) {
			if r.Target == t {
				return true
			}
		}
	}
	return false
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
