package entreactivegen

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"text/template"
)

// typescriptTemplate writes the TypeScript module from payloads.
var typescriptTemplate = template.Must(template.New("typescript.tmpl").
	Funcs(template.FuncMap{
		"tsType":    tsType,
		"tsEdge":    tsEdge,
		"tsKey":     tsKey,
		"tsUnion":   tsUnion,
		"tsComment": tsComment,
	}).
	ParseFS(templateDir, "template/typescript.tmpl"))

// typescript returns the TypeScript module of p.
func typescript(p payloads) ([]byte, error) {
	var b bytes.Buffer
	if err := typescriptTemplate.Execute(&b, p); err != nil {
		return nil, fmt.Errorf("entreactivegen: typescript: %w", err)
	}
	return b.Bytes(), nil
}

// tsType returns the TypeScript spelling of t.
func tsType(t jsonType) string {
	var s string
	switch t.Kind {
	case kindUnknown:
		return "unknown"
	case kindString:
		s = "string"
		if len(t.Enum) > 0 {
			s = tsUnion(t.Enum)
		}
	case kindInteger, kindNumber:
		s = "number"
	case kindBoolean:
		s = "boolean"
	case kindArray:
		elem := tsType(*t.Elem)
		if strings.Contains(elem, " | ") {
			elem = "(" + elem + ")"
		}
		s = elem + "[]"
	case kindMap:
		s = "Record<string, " + tsType(*t.Elem) + ">"
	case kindObject:
		s = "Record<string, unknown>"
	}
	if t.Nullable {
		s += " | null"
	}
	return s
}

// tsEdge returns the TypeScript type of a loaded edge.
func tsEdge(e payloadEdge) string {
	row := "Record<string, unknown>"
	if e.Model != "" {
		row = e.Model + "Data"
	}
	if e.Unique {
		return row + " | null"
	}
	return row + "[]"
}

// identifier matches the property names TypeScript needs no quotes for.
var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// tsKey returns key as a property name, quoted when it must be.
func tsKey(key string) string {
	if identifier.MatchString(key) {
		return key
	}
	return tsString(key)
}

// tsUnion returns the union of string literals of values.
func tsUnion(values []string) string {
	quoted := make([]string, len(values))
	for i, v := range values {
		quoted[i] = tsString(v)
	}
	return strings.Join(quoted, " | ")
}

// tsString returns s as a string literal. A JSON string is one.
func tsString(s string) string {
	b, _ := json.Marshal(s) // a string always encodes
	return string(b)
}

// tsComment returns s fit for one line of a /** */ comment.
func tsComment(s string) string {
	s = strings.ReplaceAll(s, "*/", "* /")
	return strings.Join(strings.Fields(s), " ")
}
