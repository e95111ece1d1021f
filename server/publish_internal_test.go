package server

import (
	"strconv"
	"testing"
	"time"
)

// The set of published EventIDs forgets an id when its window ends and
// the oldest ids past its bound, never one noted again since, and its
// memory stays bounded however many ids go through it.
func TestOnceSetExpiresAndIsBounded(t *testing.T) {
	const window = time.Minute
	o := newOnceSet(window, 3)
	t0 := time.Now()
	o.add("a", t0)
	if !o.seen("a", t0.Add(window-time.Nanosecond)) || o.seen("a", t0.Add(window)) || o.seen("b", t0) {
		t.Fatal("seen does not follow the window")
	}
	// a is noted again after its window: its first note, popped later,
	// must not forget it.
	t1 := t0.Add(window)
	o.add("a", t1)
	o.add("b", t1.Add(time.Second))
	if !o.seen("a", t1.Add(2*time.Second)) {
		t.Fatal("a noted again is forgotten")
	}
	o.add("c", t1.Add(2*time.Second))
	o.add("d", t1.Add(3*time.Second)) // four ids: a, the oldest, goes
	if o.seen("a", t1.Add(3*time.Second)) || !o.seen("b", t1.Add(3*time.Second)) || o.len() != 3 {
		t.Fatalf("past the bound: a seen %v, b seen %v, %d ids", o.seen("a", t1), o.seen("b", t1), o.len())
	}
	// Every note expires.
	o.add("e", t1.Add(2*window))
	if o.len() != 1 || o.seen("d", t1.Add(2*window)) {
		t.Fatalf("after the window %d ids remembered", o.len())
	}

	big := newOnceSet(window, 1000)
	now := time.Now()
	for i := range 100_000 {
		big.add(strconv.Itoa(i), now.Add(time.Duration(i)*time.Millisecond))
	}
	if big.len() != 1000 || len(big.order)-big.head != 1000 || cap(big.order) > 4*1000 {
		t.Fatalf("bounded set holds %d ids, %d notes (capacity %d)", big.len(), len(big.order)-big.head, cap(big.order))
	}
}
