package glue

import (
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"
)

// appender is entreactive.Marshaler's AppendReactive: the generated
// entities of reactive schemas append themselves.
type appender interface {
	AppendReactive(b []byte) ([]byte, error)
}

// Object writes a JSON object key by key. The generated AppendReactive
// methods build the data of events with it.
//
//	o := glue.NewObject(b)
//	o.Int("id", int64(m.ID))
//	o.String("text", m.Text)
//	return o.Bytes()
//
// The first error of a value (a time out of range, a failing
// json.Marshaler) is kept and returned by Bytes.
type Object struct {
	buf   []byte
	depth int  // objects opened by Open and not yet closed
	first bool // no key written yet in the innermost object
	err   error
}

// NewObject returns an Object that appends to b.
func NewObject(b []byte) Object {
	return Object{buf: append(b, '{'), first: true}
}

// Int writes an integer field.
func (o *Object) Int(key string, v int64) {
	o.key(key)
	o.buf = strconv.AppendInt(o.buf, v, 10)
}

// Uint writes an unsigned integer field.
func (o *Object) Uint(key string, v uint64) {
	o.key(key)
	o.buf = strconv.AppendUint(o.buf, v, 10)
}

// Bool writes a boolean field.
func (o *Object) Bool(key string, v bool) {
	o.key(key)
	o.buf = strconv.AppendBool(o.buf, v)
}

// String writes a string field, escaped as encoding/json escapes it.
func (o *Object) String(key, v string) {
	o.key(key)
	o.buf = appendString(o.buf, v)
}

// Time writes a time field as encoding/json does: an RFC 3339 string with
// nanoseconds. A year outside [0, 9999] is an error.
func (o *Object) Time(key string, v time.Time) {
	o.key(key)
	o.buf = append(o.buf, '"')
	var err error
	if o.buf, err = v.AppendText(o.buf); err != nil {
		o.fail(key, err)
	}
	o.buf = append(o.buf, '"')
}

// Null writes a null field.
func (o *Object) Null(key string) {
	o.key(key)
	o.buf = append(o.buf, "null"...)
}

// Value writes a field encoded as entreactive.MarshalData encodes it:
// entities of reactive schemas with AppendReactive, anything else with
// encoding/json.
func (o *Object) Value(key string, v any) {
	o.key(key)
	o.appendData(key, v)
}

// Strings writes a field holding an array of strings; nil is [].
func (o *Object) Strings(key string, v []string) {
	o.key(key)
	o.buf = append(o.buf, '[')
	for i, s := range v {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.buf = appendString(o.buf, s)
	}
	o.buf = append(o.buf, ']')
}

// Open writes key and starts a nested object, which Close ends.
func (o *Object) Open(key string) {
	o.key(key)
	o.buf = append(o.buf, '{')
	o.depth++
	o.first = true
}

// Close ends the innermost object started by Open.
func (o *Object) Close() {
	if o.depth == 0 {
		return
	}
	o.buf = append(o.buf, '}')
	o.depth--
	o.first = false
}

// Bytes ends the object and returns it, or the first error of its values.
// The Object must not be used afterwards.
func (o *Object) Bytes() ([]byte, error) {
	if o.err != nil {
		return nil, o.err
	}
	for ; o.depth > 0; o.depth-- {
		o.buf = append(o.buf, '}')
	}
	return append(o.buf, '}'), nil
}

// List writes a field holding items as an array, each item encoded as
// Object.Value encodes it; a nil or empty slice is []. The generated code uses it for
// the loaded edges of an entity that are not unique.
func List[T any](o *Object, key string, items []T) {
	o.key(key)
	o.buf = append(o.buf, '[')
	for i, item := range items {
		if i > 0 {
			o.buf = append(o.buf, ',')
		}
		o.appendData(key, item)
	}
	o.buf = append(o.buf, ']')
}

// key writes the separator, if any, and "key":.
func (o *Object) key(key string) {
	if !o.first {
		o.buf = append(o.buf, ',')
	}
	o.first = false
	o.buf = appendString(o.buf, key)
	o.buf = append(o.buf, ':')
}

// appendData appends v encoded as entreactive.MarshalData encodes it, or
// null and an error. An
// entity of a reactive schema appends itself to the buffer directly.
func (o *Object) appendData(key string, v any) {
	switch v := v.(type) { // the common ids, without encoding/json
	case int:
		o.buf = strconv.AppendInt(o.buf, int64(v), 10)
		return
	case int64:
		o.buf = strconv.AppendInt(o.buf, v, 10)
		return
	case string:
		o.buf = appendString(o.buf, v)
		return
	}
	if m, ok := v.(appender); ok {
		b, err := m.AppendReactive(o.buf)
		if err != nil {
			o.fail(key, err)
			o.buf = append(o.buf, "null"...)
			return
		}
		o.buf = b
		return
	}
	b, err := json.Marshal(v)
	if err != nil {
		o.fail(key, err)
		b = []byte("null")
	}
	o.buf = append(o.buf, b...)
}

// fail keeps the first error.
func (o *Object) fail(key string, err error) {
	if o.err == nil {
		o.err = fmt.Errorf("entreactive: encode %q: %w", key, err)
	}
}

// appendString appends s as a JSON string, exactly as encoding/json encodes
// it. Printable ASCII that needs no escape is copied as is; anything else
// goes through encoding/json.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // a string always encodes
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
