package server

import (
	"sync"
	"time"
)

// record is one broadcast of the history.
type record struct {
	rooms  []string
	except []string
	frame  *frame // with its offset
}

// history is the server's recent broadcasts with their offsets, in order:
// the whole recovery history without a SessionStore broker; with one, the
// tail that covers the moment between the broker's history walk and a
// restored socket's return to its rooms. It is a ring of at most size
// records of at most maxBytes in all (the newest record is kept whatever
// its size).
type history struct {
	mu       sync.Mutex
	ring     []record
	start    int // index of the oldest record
	n        int
	last     offset
	bytes    int // the records' frames' sizes, summed
	maxBytes int
}

func newHistory(size, maxBytes int) *history {
	return &history{ring: make([]record, size), maxBytes: maxBytes}
}

// next returns the offset of a new broadcast at time now (without a
// broker): the stream id scheme, strictly increasing.
func (h *history) next(now time.Time) offset {
	ms := uint64(now.UnixMilli())
	if ms <= h.last.ms {
		return offset{h.last.ms, h.last.seq + 1}
	}
	return offset{ms, 0}
}

// add appends a broadcast whose frame carries its offset, dropping the
// oldest records when the ring is full or the bytes would pass maxBytes.
// h.mu must be held.
func (h *history) addLocked(r record) {
	if h.n == len(h.ring) {
		h.dropOldestLocked()
	}
	size := r.frame.size()
	for h.n > 0 && h.bytes+size > h.maxBytes {
		h.dropOldestLocked()
	}
	h.ring[(h.start+h.n)%len(h.ring)] = r
	h.n++
	h.bytes += size
	if r.frame.off.after(h.last) {
		h.last = r.frame.off
	}
}

// dropOldestLocked drops the oldest record, letting go of its frame.
func (h *history) dropOldestLocked() {
	h.bytes -= h.ring[h.start].frame.size()
	h.ring[h.start] = record{}
	h.start = (h.start + 1) % len(h.ring)
	h.n--
}

// holds reports whether from is in the history (or is its start: nothing
// was missed). h.mu must be held.
func (h *history) holdsLocked(from offset) bool {
	if h.n == 0 {
		return false
	}
	oldest := h.ring[h.start].frame.off
	return from == h.last || !from.after(h.last) && !oldest.after(from)
}

// sinceLocked returns the records after from whose rooms reach a socket in
// rooms (and not in except), in order. h.mu must be held.
func (h *history) sinceLocked(from offset, in func(r *record) bool) []*frame {
	var out []*frame
	for k := range h.n {
		r := &h.ring[(h.start+k)%len(h.ring)]
		if r.frame.off.after(from) && in(r) {
			out = append(out, r.frame)
		}
	}
	return out
}
