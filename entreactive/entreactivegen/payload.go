package entreactivegen

import (
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"entgo.io/ent/entc/gen"
	"entgo.io/ent/schema/field"
)

// The template functions of payload.tmpl, which generates the
// AppendReactive method of every reactive entity (see
// entreactive.Marshaler).

// payloadKey returns the JSON name of a field of t as the entity's struct
// tag spells it, or "" when the field is not sent: it is Sensitive, or its
// tag is json:"-". The ID field is passed as f too.
func payloadKey(t *gen.Type, f *gen.Field) string {
	if f.Sensitive() {
		return ""
	}
	tag := f.StructTag
	if override, ok := fieldTagAnnotation(t, f.Name); ok {
		tag = override
	}
	return jsonName(tag, f.StructField())
}

// edgeKey returns the JSON name of an edge as the Edges struct's tag spells
// it, or "" when the edge is not encoded (json:"-").
func edgeKey(e *gen.Edge) string {
	return jsonName(e.StructTag, e.StructField())
}

// jsonName returns the name encoding/json gives a struct field with the
// given tag: the tag's name, the Go name when the tag names none, or ""
// for json:"-".
func jsonName(tag, goName string) string {
	v, ok := reflect.StructTag(tag).Lookup("json")
	if !ok {
		return goName
	}
	name, _, _ := strings.Cut(v, ",")
	switch name {
	case "-":
		if v == "-" {
			return ""
		}
	case "":
		return goName
	}
	return name
}

// fieldTagAnnotation returns the struct tag a field.Annotation of the
// schema sets for the field name, as ent's model template applies it.
func fieldTagAnnotation(t *gen.Type, name string) (string, bool) {
	fields, ok := t.Annotations["Fields"].(map[string]any)
	if !ok {
		return "", false
	}
	tags, ok := fields["StructTag"].(map[string]any)
	if !ok {
		return "", false
	}
	tag, ok := tags[name].(string)
	return tag, ok
}

// payloadWrite returns the statements that write field f, whose value is
// the Go expression expr, under key to the entreactive.Object o.
func payloadWrite(f *gen.Field, key, expr string) string {
	k := strconv.Quote(key)
	if f.NillableValue() {
		return fmt.Sprintf("if %s == nil {\n\to.Null(%s)\n} else {\n\t%s\n}", expr, k, payloadValue(f, k, "*"+expr))
	}
	return payloadValue(f, k, expr)
}

// payloadValue returns the call that writes the (non-pointer) value expr
// of field f under the quoted key k.
func payloadValue(f *gen.Field, k, expr string) string {
	if f.HasGoType() { // a custom type may have its own MarshalJSON
		return fmt.Sprintf("o.Value(%s, %s)", k, expr)
	}
	switch t := f.Type.Type; {
	case t == field.TypeBool:
		return fmt.Sprintf("o.Bool(%s, %s)", k, expr)
	case t == field.TypeString:
		return fmt.Sprintf("o.String(%s, %s)", k, expr)
	case t == field.TypeEnum:
		return fmt.Sprintf("o.String(%s, string(%s))", k, expr)
	case t == field.TypeTime:
		return fmt.Sprintf("o.Time(%s, %s)", k, expr)
	case t.Integer() && strings.HasPrefix(t.String(), "uint"):
		return fmt.Sprintf("o.Uint(%s, uint64(%s))", k, expr)
	case t.Integer():
		return fmt.Sprintf("o.Int(%s, int64(%s))", k, expr)
	}
	return fmt.Sprintf("o.Value(%s, %s)", k, expr)
}
