package entreactivegen

import (
	"go/ast"
	"go/parser"
	"reflect"
	"slices"
	"strings"

	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"
)

// This file describes the payloads of "reactive" events as the wire carries
// them, from the graph entc loaded. The TypeScript and JSON Schema writers
// both render this description; neither reads the graph itself.

// payloads is what the client types are written from: every reactive
// schema's payload, ordered by schema name.
type payloads struct {
	Models []payloadModel
}

// payloadModel is the payload of one reactive schema.
type payloadModel struct {
	// Name is the schema's name, the event's "model".
	Name string
	// ID is the type of the row id, the event's "id".
	ID jsonType
	// Fields are the keys of "data": the id first, then every non-Sensitive
	// field, in schema order.
	Fields []payloadField
	// Changed are the names an update's "changed" may list: the
	// non-Sensitive fields of the schema, then the edges it names itself
	// (M2M edges, unique edges whose foreign key has no field).
	Changed []string
	// Edges are the edges "data.edges" may hold when they were loaded.
	Edges []payloadEdge
}

// payloadField is one key of "data".
type payloadField struct {
	// Key is the JSON name, as in ent's struct tag.
	Key string
	// Comment is the schema's comment of the field, if any.
	Comment string
	// Type is the JSON type of the value.
	Type jsonType
}

// payloadEdge is one key of "data.edges".
type payloadEdge struct {
	// Key is the JSON name, as in ent's struct tag.
	Key string
	// Model is the target schema's name when it is reactive: the edge then
	// holds that schema's payload. It is "" otherwise, and the edge holds
	// an object the client types do not describe.
	Model string
	// Unique is true for edges to at most one row (null when loaded and
	// absent); other edges hold an array.
	Unique bool
}

// jsonKind is the JSON type of a value.
type jsonKind int

// The JSON types a payload value can have.
const (
	// kindUnknown is any JSON value: the Go type encodes itself in a way
	// the generator cannot see (a json.Marshaler, a named struct, ...).
	kindUnknown jsonKind = iota
	kindString
	kindInteger
	kindNumber
	kindBoolean
	// kindArray has the element type Elem.
	kindArray
	// kindMap is an object with arbitrary keys and values of type Elem.
	kindMap
	// kindObject is an object whose keys are not known.
	kindObject
)

// jsonType is the type of one JSON value.
type jsonType struct {
	Kind jsonKind
	// Format is the string format: "date-time", "uuid" or "base64".
	Format string
	// Enum lists the values of a string enum.
	Enum []string
	// Elem is the element type of an array or the value type of a map.
	Elem *jsonType
	// Nullable is true when the value may be null.
	Nullable bool
}

// nullable returns t that may also be null.
func (t jsonType) nullable() jsonType {
	t.Nullable = true
	return t
}

// payloadsOf describes the payloads of the reactive schemas of g.
func payloadsOf(g *gen.Graph) payloads {
	reactive := make(map[string]bool)
	for _, n := range g.Nodes {
		reactive[n.Name] = isReactive(n.Annotations)
	}
	var p payloads
	for _, n := range g.Nodes {
		if reactive[n.Name] && n.HasOneFieldID() {
			p.Models = append(p.Models, modelOf(n, reactive))
		}
	}
	slices.SortFunc(p.Models, func(a, b payloadModel) int { return strings.Compare(a.Name, b.Name) })
	return p
}

// modelOf describes the payload of the reactive schema n; reactive tells
// which schemas are reactive.
func modelOf(n *gen.Type, reactive map[string]bool) payloadModel {
	m := payloadModel{Name: n.Name, ID: typeOf(n.ID)}
	// The keys are those of the generated AppendReactive (payload.go).
	if key := payloadKey(n, n.ID); key != "" {
		m.Fields = append(m.Fields, payloadField{Key: key, Comment: n.ID.Comment(), Type: m.ID})
	}
	for _, f := range n.Fields {
		if f.Sensitive() {
			continue
		}
		m.Changed = append(m.Changed, f.Name)
		if key := payloadKey(n, f); key != "" {
			m.Fields = append(m.Fields, payloadField{Key: key, Comment: f.Comment(), Type: typeOf(f)})
		}
	}
	for _, e := range n.Edges {
		if changedAsEdge(e) {
			m.Changed = append(m.Changed, e.Name)
		}
	}
	for _, e := range n.Edges {
		key := edgeKey(e)
		if key == "" {
			continue
		}
		pe := payloadEdge{Key: key, Unique: e.Unique}
		if reactive[e.Type.Name] && e.Type.HasOneFieldID() {
			pe.Model = e.Type.Name
		}
		m.Edges = append(m.Edges, pe)
	}
	return m
}

// typeOf returns the JSON type encoding/json gives the field's Go value.
func typeOf(f *gen.Field) jsonType {
	t := fieldType(f)
	if f.Nillable {
		t.Nullable = true
	}
	return t
}

// fieldType returns the JSON type of the field's value, before Nillable.
func fieldType(f *gen.Field) jsonType {
	info := f.Type
	if info == nil {
		return jsonType{}
	}
	if rt := info.RType; rt != nil {
		// A custom Go type may encode itself.
		if _, ok := rt.Methods["MarshalJSON"]; ok {
			return jsonType{Kind: kindUnknown, Nullable: rt.Kind == reflect.Pointer}
		}
		if _, ok := rt.Methods["MarshalText"]; ok && info.Type != field.TypeUUID {
			return jsonType{Kind: kindString, Nullable: rt.Kind == reflect.Pointer}
		}
	}
	switch info.Type {
	case field.TypeBool:
		return jsonType{Kind: kindBoolean}
	case field.TypeTime:
		return jsonType{Kind: kindString, Format: "date-time"}
	case field.TypeUUID:
		return jsonType{Kind: kindString, Format: "uuid"}
	case field.TypeBytes:
		// encoding/json writes a nil []byte as null.
		return jsonType{Kind: kindString, Format: "base64", Nullable: true}
	case field.TypeEnum:
		return jsonType{Kind: kindString, Enum: f.EnumValues()}
	case field.TypeString:
		return jsonType{Kind: kindString}
	case field.TypeJSON, field.TypeOther:
		return goType(info)
	}
	switch {
	case info.Type.Integer():
		return jsonType{Kind: kindInteger}
	case info.Type.Float():
		return jsonType{Kind: kindNumber}
	}
	return jsonType{}
}

// goType returns the JSON type of a JSON or Other field's Go type. Unnamed
// types ([]string, map[string]*int, ...) are read from their spelling; a
// named type is known by its kind only, and a pointer to one not at all.
func goType(info *field.TypeInfo) jsonType {
	rt := info.RType
	if rt == nil {
		return jsonType{}
	}
	if rt.Name == "" {
		if expr, err := parser.ParseExpr(info.Ident); err == nil {
			return exprType(expr)
		}
	}
	switch rt.Kind {
	case reflect.Slice:
		return jsonType{Kind: kindArray, Elem: &jsonType{}, Nullable: true}
	case reflect.Array:
		return jsonType{Kind: kindArray, Elem: &jsonType{}}
	case reflect.Map:
		return jsonType{Kind: kindMap, Elem: &jsonType{}, Nullable: true}
	case reflect.Struct:
		return jsonType{Kind: kindObject}
	case reflect.Pointer, reflect.Interface:
		return jsonType{}
	}
	return basicType(rt.Kind.String())
}

// exprType returns the JSON type of a Go type expression, as
// reflect.Type.String spells it.
func exprType(expr ast.Expr) jsonType {
	switch e := expr.(type) {
	case *ast.Ident:
		return basicType(e.Name)
	case *ast.ParenExpr:
		return exprType(e.X)
	case *ast.StarExpr:
		return exprType(e.X).nullable()
	case *ast.ArrayType:
		if id, ok := e.Elt.(*ast.Ident); ok && e.Len == nil && (id.Name == "byte" || id.Name == "uint8") {
			return jsonType{Kind: kindString, Format: "base64", Nullable: true}
		}
		elem := exprType(e.Elt)
		return jsonType{Kind: kindArray, Elem: &elem, Nullable: e.Len == nil}
	case *ast.MapType:
		elem := exprType(e.Value)
		return jsonType{Kind: kindMap, Elem: &elem, Nullable: true}
	case *ast.SelectorExpr:
		if pkg, ok := e.X.(*ast.Ident); ok {
			switch pkg.Name + "." + e.Sel.Name {
			case "time.Time":
				return jsonType{Kind: kindString, Format: "date-time"}
			case "uuid.UUID":
				return jsonType{Kind: kindString, Format: "uuid"}
			}
		}
	case *ast.StructType:
		return jsonType{Kind: kindObject}
	}
	return jsonType{}
}

// basicType returns the JSON type of a predeclared Go type.
func basicType(name string) jsonType {
	switch name {
	case "bool":
		return jsonType{Kind: kindBoolean}
	case "string":
		return jsonType{Kind: kindString}
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "uintptr", "byte", "rune":
		return jsonType{Kind: kindInteger}
	case "float32", "float64":
		return jsonType{Kind: kindNumber}
	}
	return jsonType{}
}
