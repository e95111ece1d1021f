package app

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"

	"github.com/entreactive/reactive/entreactive"
)

// apiError is a failure the client caused or may see: it is answered with
// its status and {"error": msg}.
type apiError struct {
	status int
	msg    string
}

func (e *apiError) Error() string { return e.msg }

// errorf returns an apiError with status and a formatted message.
func errorf(status int, format string, args ...any) error {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// handlerFunc is an HTTP handler that returns its failure instead of
// writing it; see (*App).handle.
type handlerFunc func(w http.ResponseWriter, r *http.Request) error

// writeJSON answers status with v encoded as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status is sent: a failed write only means the client is gone.
	_ = json.NewEncoder(w).Encode(v)
}

// writeRows answers status with rows as a JSON array, each row encoded as
// the data of its reactive events (entreactive.Marshaler), so that the API
// and the socket send the same objects.
func writeRows[T entreactive.Marshaler](w http.ResponseWriter, status int, rows []T) error {
	body := append(make([]byte, 0, 256*len(rows)+2), '[')
	for i, row := range rows {
		if i > 0 {
			body = append(body, ',')
		}
		var err error
		if body, err = row.AppendReactive(body); err != nil {
			return fmt.Errorf("encode row: %w", err)
		}
	}
	writeBody(w, status, append(body, ']', '\n'))
	return nil
}

// writeRow answers status with one row encoded as the data of its reactive
// events.
func writeRow(w http.ResponseWriter, status int, row entreactive.Marshaler) error {
	body, err := row.MarshalReactive()
	if err != nil {
		return fmt.Errorf("encode row: %w", err)
	}
	writeBody(w, status, append(body, '\n'))
	return nil
}

// writeBody answers status with a JSON body.
func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status is sent: a failed write only means the client is gone.
	_, _ = w.Write(body)
}

// writeError answers err: an apiError with its own status and message,
// anything else as a 500 whose details stay in the log.
func writeError(w http.ResponseWriter, r *http.Request, log *slog.Logger, err error) {
	var ae *apiError
	if errors.As(err, &ae) {
		writeJSON(w, ae.status, map[string]string{"error": ae.msg})
		return
	}
	log.ErrorContext(r.Context(), "request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "internal error"})
}

// decodeJSON reads exactly one JSON value from the request body into v,
// which must be a pointer. Unknown object keys, values of the wrong type,
// trailing data and bodies over limit bytes are refused with a 4xx
// apiError that names the problem.
func decodeJSON(w http.ResponseWriter, r *http.Request, limit int64, v any) error {
	body := http.MaxBytesReader(w, r.Body, limit)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return decodeError(err, limit)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		if err == nil {
			return errorf(http.StatusBadRequest, "request body has data after the JSON value")
		}
		return decodeError(err, limit)
	}
	return nil
}

// decodeError turns a decoding failure into an apiError.
func decodeError(err error, limit int64) error {
	var (
		tooLarge *http.MaxBytesError
		syntax   *json.SyntaxError
		wrong    *json.UnmarshalTypeError
	)
	switch {
	case errors.As(err, &tooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "request body is larger than %d bytes", limit)
	case errors.Is(err, io.EOF):
		return errorf(http.StatusBadRequest, "request body is empty: a JSON value is required")
	case errors.Is(err, io.ErrUnexpectedEOF):
		return errorf(http.StatusBadRequest, "malformed JSON: unexpected end of input")
	case errors.As(err, &syntax):
		return errorf(http.StatusBadRequest, "malformed JSON at byte %d: %v", syntax.Offset, syntax)
	case errors.As(err, &wrong):
		what := "the request body"
		if wrong.Field != "" {
			what = fmt.Sprintf("%q", wrong.Field)
		}
		return errorf(http.StatusBadRequest, "%s must be %s, not %s", what, kindName(wrong.Type), valueName(wrong.Value))
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return errorf(http.StatusBadRequest, "unknown field %s", strings.TrimPrefix(err.Error(), "json: unknown field "))
	default:
		return errorf(http.StatusBadRequest, "invalid JSON: %v", err)
	}
}

// kindName describes a Go type the way a JSON client would.
func kindName(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.Pointer:
		return kindName(t.Elem())
	default:
		return "another type"
	}
}

// valueName describes the JSON value of an UnmarshalTypeError: "a string",
// "an object", or the number itself.
func valueName(v string) string {
	switch v {
	case "bool":
		return "a boolean"
	case "object", "array":
		return "an " + v
	case "string", "number":
		return "a " + v
	}
	return strings.TrimPrefix(v, "number ")
}
