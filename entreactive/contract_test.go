package entreactive_test

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/entreactive/reactive/entreactive/glue"
)

// TestGeneratedCodeMarkers checks the markers of package glue (versions 5
// and later) and of this package (versions 1 to 4, whose code imported it)
// against glue.GeneratedCodeVersion and glue.MinGeneratedCodeVersion: a
// type for each version run, variables whose message names the right
// versions and command for the versions before the oldest one run (go
// generate) and for the next three (go get), and nothing else.
func TestGeneratedCodeMarkers(t *testing.T) {
	cur, lowest := glue.GeneratedCodeVersion, glue.MinGeneratedCodeVersion
	if lowest > cur {
		t.Fatalf("MinGeneratedCodeVersion %d > GeneratedCodeVersion %d", lowest, cur)
	}
	name := regexp.MustCompile(`^GeneratedCodeV(\d+)$`)
	types, vars := map[int]bool{}, map[int]string{}
	var afterCommit string
	for _, file := range []string{"contract.go", "compat_v4.go", "glue/doc.go"} {
		f, err := parser.ParseFile(token.NewFileSet(), file, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
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
						if id.Name == "AfterCommit" {
							afterCommit = markerMessage(t, id.Name, s.Type)
						}
					}
				}
			}
		}
	}
	for v := lowest; v <= cur; v++ {
		if !types[v] {
			t.Errorf("no type GeneratedCodeV%d for version %d, which this module runs", v, v)
		}
	}
	// Versions 1 and 2 had no marker: their code calls AfterCommit first.
	for _, w := range []string{"version 1 or 2 of entreactive's generated-code contract", fmt.Sprintf("runs versions %d to %d", lowest, cur), "go get github.com/entreactive/reactive@d67a8ae", "go generate ./..."} {
		if !strings.Contains(afterCommit, w) {
			t.Errorf("the message of AfterCommit does not say %q: %q", w, afterCommit)
		}
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
