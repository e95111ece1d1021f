package glue

import (
	"database/sql"
	"encoding"
	"fmt"
	"strconv"
)

// ParseID returns the id of type T written as text by a trigger of the
// durable path (entreactive.Capture): an integer in base 10, a string, or
// a type that reads itself from text (a UUID).
func ParseID[T any](s string) (T, error) {
	var id T
	var err error
	switch p := any(&id).(type) {
	case *string:
		*p = s
	case *int:
		*p, err = strconv.Atoi(s)
	case *int8:
		err = parseInt(s, 8, p)
	case *int16:
		err = parseInt(s, 16, p)
	case *int32:
		err = parseInt(s, 32, p)
	case *int64:
		err = parseInt(s, 64, p)
	case *uint:
		err = parseUint(s, 0, p)
	case *uint8:
		err = parseUint(s, 8, p)
	case *uint16:
		err = parseUint(s, 16, p)
	case *uint32:
		err = parseUint(s, 32, p)
	case *uint64:
		err = parseUint(s, 64, p)
	case encoding.TextUnmarshaler:
		err = p.UnmarshalText([]byte(s))
	case sql.Scanner:
		err = p.Scan(s)
	default:
		err = fmt.Errorf("ids of type %T cannot be read from text", id)
	}
	return id, err
}

// parseInt parses s as a signed integer of bits into *p.
func parseInt[I int8 | int16 | int32 | int64](s string, bits int, p *I) error {
	n, err := strconv.ParseInt(s, 10, bits)
	*p = I(n)
	return err
}

// parseUint parses s as an unsigned integer of bits (0: uint's) into *p.
func parseUint[U uint | uint8 | uint16 | uint32 | uint64](s string, bits int, p *U) error {
	n, err := strconv.ParseUint(s, 10, bits)
	*p = U(n)
	return err
}
