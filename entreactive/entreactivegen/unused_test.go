package entreactivegen_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestGeneratedFunctionsAreUsed checks the committed generated packages
// (the example app's, without ent's upsert feature, and the tests', with
// upsert, privacy and interceptors): every function and method the
// extension's templates declare (reactive.go, and the reactive* names of
// the other files) is used by the package. An app gets only the code its
// schemas and features call; a template that writes a function for every
// schema regardless fails here.
func TestGeneratedFunctionsAreUsed(t *testing.T) {
	for _, dir := range []string{"../../ent", "../internal/ent"} {
		t.Run(dir, func(t *testing.T) {
			fset := token.NewFileSet()
			files, err := filepath.Glob(filepath.Join(dir, "*.go"))
			if err != nil || len(files) == 0 {
				t.Fatalf("no generated files in %s: %v", dir, err)
			}
			var parsed []*ast.File
			for _, f := range files {
				if strings.HasSuffix(f, "_test.go") {
					continue
				}
				src, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				file, err := parser.ParseFile(fset, f, src, parser.SkipObjectResolution)
				if err != nil {
					t.Fatal(err)
				}
				parsed = append(parsed, file)
			}
			// Declared: the reactive functions and methods, by name, with
			// the identifier that declares them.
			declared := map[string][]*ast.Ident{}
			for _, file := range parsed {
				name := filepath.Base(fset.File(file.Pos()).Name())
				for _, d := range file.Decls {
					fn, ok := d.(*ast.FuncDecl)
					if !ok || name == "reactive_placeholder.go" {
						continue
					}
					if name == "reactive.go" && !fn.Name.IsExported() || strings.HasPrefix(fn.Name.Name, "reactive") {
						declared[fn.Name.Name] = append(declared[fn.Name.Name], fn.Name)
					}
				}
			}
			if len(declared) == 0 {
				t.Fatalf("%s declares no reactive function", dir)
			}
			uses := map[string]int{}
			for _, file := range parsed {
				if filepath.Base(fset.File(file.Pos()).Name()) == "reactive_placeholder.go" {
					continue
				}
				ast.Inspect(file, func(n ast.Node) bool {
					if id, ok := n.(*ast.Ident); ok {
						if _, ok := declared[id.Name]; ok {
							uses[id.Name]++
						}
					}
					return true
				})
			}
			for name, decls := range declared {
				// A method declared for several types is one name: each
				// declaration counts once, and a use anywhere keeps them all.
				if uses[name] <= len(decls) {
					t.Errorf("%s: %s is declared by the generated code and used nowhere in the package (%s)", dir, name, fset.Position(decls[0].Pos()))
				}
			}
		})
	}
}
