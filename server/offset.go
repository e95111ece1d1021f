package server

import (
	"strconv"
	"strings"
)

// offset is a position in a history: a Redis stream entry id
// "<ms>-<seq>", which the in-memory history imitates so that offsets
// compare the same way everywhere. The zero offset is "none".
type offset struct{ ms, seq uint64 }

// parseOffset parses "<ms>-<seq>".
func parseOffset(s string) (offset, bool) {
	a, b, ok := strings.Cut(s, "-")
	if !ok {
		return offset{}, false
	}
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if err1 != nil || err2 != nil {
		return offset{}, false
	}
	return offset{ms, seq}, true
}

func (o offset) none() bool { return o == offset{} }

// after reports whether o comes after p.
func (o offset) after(p offset) bool {
	return o.ms > p.ms || (o.ms == p.ms && o.seq > p.seq)
}

func (o offset) String() string {
	return strconv.FormatUint(o.ms, 10) + "-" + strconv.FormatUint(o.seq, 10)
}
