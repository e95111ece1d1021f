package glue

import "time"

// SameTime reports whether two optional times are both nil or the same
// instant. The generated code compares rows with it.
func SameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

// SamePointee reports whether two optional values are both nil or equal.
// The generated code compares rows with it (target functions use
// entreactive.SamePointee, the same function).
func SamePointee[V comparable](a, b *V) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}
