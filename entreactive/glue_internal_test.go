package entreactive

import "testing"

// glueV1 is the glue of code generated for version 1 of the contract: its
// Schedule takes a func.
type glueV1 struct {
	Glue[int]
	scheduled []func()
}

// Schedule records emit.
func (g *glueV1) Schedule(emit func()) { g.scheduled = append(g.scheduled, emit) }

// glueV3 is the glue of code generated for versions 2 and 3: its Schedule
// takes an Emission.
type glueV3 struct {
	Glue[int]
	scheduled []Emission
}

// Schedule records e.
func (g *glueV3) Schedule(e Emission) { g.scheduled = append(g.scheduled, e) }

// countEmission counts its emits.
type countEmission struct{ n *int }

// Emit counts.
func (e countEmission) Emit() { *e.n++ }

// TestScheduleReachesTheGlueOfEveryVersion hands an emission to the
// Schedule of the glue of versions 1 and 3.
func TestScheduleReachesTheGlueOfEveryVersion(t *testing.T) {
	var n int
	v1, v3 := &glueV1{}, &glueV3{}
	scheduleWith[int](v1, countEmission{&n})
	scheduleWith[int](v3, countEmission{&n})
	if len(v1.scheduled) != 1 || len(v3.scheduled) != 1 {
		t.Fatalf("scheduled %d and %d emissions, want 1 and 1", len(v1.scheduled), len(v3.scheduled))
	}
	v1.scheduled[0]()
	v3.scheduled[0].Emit()
	if n != 2 {
		t.Errorf("%d emits, want 2", n)
	}
}
