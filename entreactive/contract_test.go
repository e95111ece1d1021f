package entreactive_test

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/entreactive/reactive/entreactive"
)

// TestGeneratedCodeMarkers checks the markers of contract.go against
// GeneratedCodeVersion and MinGeneratedCodeVersion: a type for the current
// version, variables whose message names the right versions and command for
// the versions before the oldest one run (go generate) and for the next
// three (go get), and nothing else.
func TestGeneratedCodeMarkers(t *testing.T) {
	cur, lowest := entreactive.GeneratedCodeVersion, entreactive.MinGeneratedCodeVersion
	if lowest > cur {
		t.Fatalf("MinGeneratedCodeVersion %d > GeneratedCodeVersion %d", lowest, cur)
	}
	f, err := parser.ParseFile(token.NewFileSet(), "contract.go", nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	name := regexp.MustCompile(`^GeneratedCodeV(\d+)$`)
	types, vars := map[int]bool{}, map[int]string{}
	for _, decl := range f.Decls {
		gd, ok := decl.(*ast.GenDecl)
		if !ok {
			continue
		}
		for _, spec := range gd.Specs {
			switch s := spec.(type) {
			case *ast.TypeSpec:
				if m := name.FindStringSubmatch(s.Name.Name); m != nil {
					types[atoi(t, m[1])] = true
				}
			case *ast.ValueSpec:
				for _, id := range s.Names {
					if m := name.FindStringSubmatch(id.Name); m != nil {
						vars[atoi(t, m[1])] = markerMessage(t, id.Name, s.Type)
					}
				}
			}
		}
	}
	if !types[cur] {
		t.Errorf("no type GeneratedCodeV%d for the current version", cur)
	}
	for v := range types {
		if v < lowest || v > cur {
			t.Errorf("GeneratedCodeV%d is a type, but this package runs versions %d to %d", v, lowest, cur)
		}
		if _, ok := vars[v]; ok {
			t.Errorf("GeneratedCodeV%d is a type and a variable", v)
		}
	}
	for v := cur + 1; v <= cur+3; v++ {
		if _, ok := vars[v]; !ok {
			t.Errorf("no variable GeneratedCodeV%d for code generated for a newer version", v)
		}
	}
	for v, msg := range vars {
		want := []string{
			fmt.Sprintf("generated for version %d of entreactive's generated-code contract", v),
			fmt.Sprintf("runs versions %d to %d", lowest, cur),
			"go generate ./...",
		}
		switch {
		case v > cur:
			want = append(want, "go get github.com/entreactive/reactive@latest")
		case v >= lowest:
			t.Errorf("GeneratedCodeV%d is a variable, but this package runs versions %d to %d", v, lowest, cur)
		}
		for _, w := range want {
			if !strings.Contains(msg, w) {
				t.Errorf("the message of GeneratedCodeV%d does not say %q: %s", v, w, msg)
			}
		}
	}
}

// markerMessage returns the message of a marker variable: the tag of the
// one field of its struct type.
func markerMessage(t *testing.T, name string, typ ast.Expr) string {
	t.Helper()
	st, ok := typ.(*ast.StructType)
	if !ok || len(st.Fields.List) != 1 || st.Fields.List[0].Tag == nil {
		t.Fatalf("%s is not a struct with one tagged field", name)
	}
	tag, err := strconv.Unquote(st.Fields.List[0].Tag.Value)
	if err != nil {
		t.Fatal(err)
	}
	msg, ok := strings.CutPrefix(tag, `entreactive:"`)
	if !ok || !strings.HasSuffix(msg, `"`) || strings.Contains(strings.TrimSuffix(msg, `"`), `"`) {
		t.Fatalf("the tag of %s is not entreactive:\"message\": %s", name, tag)
	}
	return strings.TrimSuffix(msg, `"`)
}

// atoi parses a version number.
func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// emission is an Emission that appends its name to a log.
type emission struct {
	name string
	log  *[]string
}

// Emit appends the emission's name to its log.
func (e emission) Emit() { *e.log = append(*e.log, e.name) }

// TestDeprecatedBatchAddRunsCodeOfVersion1 runs Batch.Add as the Schedule
// of code generated for version 1 does, with funcs: the rows of a
// three-row statement report in reverse order, and the last to report gets
// the function that emits them all, in row order.
func TestDeprecatedBatchAddRunsCodeOfVersion1(t *testing.T) {
	var log []string
	b := entreactive.NewBatch(3)
	var scheduled []func()
	for i := 2; i >= 0; i-- {
		emit := func() { log = append(log, strconv.Itoa(i)) }
		// The Schedule of version 1's glue.
		if emit = b.Add(i, emit); emit == nil {
			continue
		}
		scheduled = append(scheduled, emit)
	}
	if len(scheduled) != 1 {
		t.Fatalf("%d functions scheduled, want 1", len(scheduled))
	}
	scheduled[0]()
	if want := []string{"0", "1", "2"}; !slices.Equal(log, want) {
		t.Errorf("emitted %v, want %v", log, want)
	}
}

// TestDeprecatedBatchAddRunsCodeOfVersion2 runs Batch.Add as the Schedule
// of code generated for version 2 does, with Emissions: the rows that are
// not the last to report schedule emissions of nothing, and the last one
// emits them all, in row order.
func TestDeprecatedBatchAddRunsCodeOfVersion2(t *testing.T) {
	var log []string
	b := entreactive.NewBatch(3)
	var scheduled []entreactive.Emission
	for i := 2; i >= 0; i-- {
		var e entreactive.Emission = emission{name: strconv.Itoa(i), log: &log}
		// The Schedule of version 2's glue, whose comparison with nil is
		// never true since Add's result became a func type.
		//lint:ignore SA4023 the shape of version 2's generated code
		if e = b.Add(i, e); e == nil {
			continue
		}
		scheduled = append(scheduled, e)
	}
	for _, e := range scheduled {
		e.Emit()
	}
	if want := []string{"0", "1", "2"}; !slices.Equal(log, want) {
		t.Errorf("emitted %v, want %v", log, want)
	}
}

// TestDeprecatedAfterCommitTakesFuncsAndEmissions nests AfterCommit as the
// commit hooks of code generated for versions 1 and 2 do, and checks that
// the emissions run after the commit in registration order, and not at all
// when the commit fails.
func TestDeprecatedAfterCommitTakesFuncsAndEmissions(t *testing.T) {
	var log []string
	commit := func(context.Context) error {
		log = append(log, "commit")
		return nil
	}
	inner := func(ctx context.Context) error {
		return entreactive.AfterCommit(ctx, commit, emission{name: "second", log: &log})
	}
	err := entreactive.AfterCommit(context.Background(), inner, func() { log = append(log, "first") })
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"commit", "first", "second"}; !slices.Equal(log, want) {
		t.Errorf("ran %v, want %v", log, want)
	}

	log = nil
	refused := errors.New("refused")
	err = entreactive.AfterCommit(context.Background(), func(context.Context) error { return refused }, func() { log = append(log, "emitted") })
	if !errors.Is(err, refused) || len(log) != 0 {
		t.Errorf("a refused commit: err %v, ran %v", err, log)
	}
}
