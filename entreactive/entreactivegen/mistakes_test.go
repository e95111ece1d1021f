package entreactivegen_test

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"entgo.io/ent"
	"entgo.io/ent/schema/field"
	"github.com/google/uuid"

	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivegen"
)

// Settings is the Go type of JSON fields, declared in the package that
// the tests below take for the schema package.
type Settings struct {
	Theme string `json:"theme"`
}

// Profile is a reactive schema with fields whose Go types are declared in
// the schema package.
type Profile struct{ ent.Schema }

func (Profile) Mixin() []ent.Mixin { return []ent.Mixin{entreactive.Placeholder()} }

func (Profile) Fields() []ent.Field {
	return []ent.Field{
		field.String("name"),
		field.UUID("ref", uuid.UUID{}),
		field.JSON("settings", Settings{}),
		field.JSON("history", []*Settings{}).Optional(),
	}
}

// Preferences is not reactive, and has a field whose Go type is declared
// in the schema package.
type Preferences struct{ ent.Schema }

func (Preferences) Fields() []ent.Field {
	return []ent.Field{field.JSON("settings", Settings{})}
}

// TestFieldTypeOfTheSchemaPackageIsRefused: the generated package imports
// the package of a field's Go type, and the rules of reactive schemas, in
// the schema package, import the generated package. entc generated such
// code, which go build then refused ("import cycle not allowed"); the
// extension refuses it, and says where the type goes.
func TestFieldTypeOfTheSchemaPackageIsRefused(t *testing.T) {
	schemaPkg := reflect.TypeFor[Settings]().PkgPath()
	ex, err := entreactivegen.NewExtension()
	if err != nil {
		t.Fatal(err)
	}
	g := graphOf(t, Profile{}, Preferences{})
	g.Config.Schema = schemaPkg
	err = runHooks(ex, g)
	if err == nil {
		t.Fatal("the extension accepted field types of the schema package")
	}
	const cycle = ", declared in the schema package " + "%s: the generated package would import it, and the reactive rules import the generated package (an import cycle, which go build refuses): declare Settings in a package of its own, e.g. %s/types, and use it from there"
	want := []string{
		`entreactivegen: schema Profile: field "settings" has the Go type entreactivegen_test.Settings` + cycle,
		`entreactivegen: schema Profile: field "history" has the Go type []*entreactivegen_test.Settings` + cycle,
		`entreactivegen: schema Preferences: field "settings" has the Go type entreactivegen_test.Settings` + cycle,
	}
	for i := range want {
		want[i] = strings.ReplaceAll(want[i], "%s", schemaPkg)
	}
	if got := strings.Split(err.Error(), "\n"); !reflect.DeepEqual(got, want) {
		t.Errorf("error:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	t.Run("types of other packages", func(t *testing.T) {
		g := graphOf(t, Profile{}, Preferences{})
		g.Config.Schema = "example.com/app/ent/schema"
		if err := runHooks(ex, g); err != nil {
			t.Errorf("refused: %v", err)
		}
	})
	t.Run("no reactive schema", func(t *testing.T) {
		// Without rules, nothing in the schema package imports the
		// generated one.
		g := graphOf(t, Preferences{})
		g.Config.Schema = schemaPkg
		if err := runHooks(ex, g); err != nil {
			t.Errorf("refused: %v", err)
		}
	})
}

// TestGoGenerateRefusesAFieldTypeOfTheSchemaPackage plays the mistake in
// the application of testdata/upgrade: a JSON field whose Go type is
// declared in ent/schema. go generate fails, naming the field, the type and
// the fix, where it succeeded and left code that go build refused with
// "import cycle not allowed"; with the type moved as the message says, the
// code generates and builds.
func TestGoGenerateRefusesAFieldTypeOfTheSchemaPackage(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: generates and builds the app in testdata/upgrade with the go command")
	}
	dir, run := upgradeFixture(t)
	schemaDir := filepath.Join(dir, "ent", "schema")
	note := filepath.Join(schemaDir, "note.go")
	src := readFile(t, note)
	if !strings.Contains(src, `field.String("text").NotEmpty(),`) {
		t.Fatal("the fixture's Note has no text field")
	}
	writeFile(t, note, strings.Replace(src, `field.String("text").NotEmpty(),`,
		`field.String("text").NotEmpty(),
		field.JSON("meta", Meta{}).Optional(),`, 1))
	writeFile(t, filepath.Join(schemaDir, "meta.go"), "package schema\n\n// Meta is the Go type of Note's meta.\ntype Meta struct {\n\tColor string `json:\"color\"`\n}\n")

	out, err := run(t, "generate", "./...")
	if err == nil {
		out, err := run(t, "build", "./...")
		t.Fatalf("go generate accepted the field; go build: %v\n%s", err, out)
	}
	want := `entreactivegen: schema Note: field "meta" has the Go type schema.Meta, declared in the schema package example.com/upgrade/ent/schema: ` +
		`the generated package would import it, and the reactive rules import the generated package (an import cycle, which go build refuses): ` +
		`declare Meta in a package of its own, e.g. example.com/upgrade/ent/schema/types, and use it from there`
	if !strings.Contains(out, want) {
		t.Fatalf("go generate failed without saying\n%s\nit said:\n%s", want, out)
	}

	// The fix the message gives.
	if err := os.Remove(filepath.Join(schemaDir, "meta.go")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(schemaDir, "types"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(schemaDir, "types", "types.go"), "// Package types holds the Go types of the schema's fields.\npackage types\n\n// Meta is the Go type of Note's meta.\ntype Meta struct {\n\tColor string `json:\"color\"`\n}\n")
	src = readFile(t, note)
	src = strings.Replace(src, "field.JSON(\"meta\", Meta{})", "field.JSON(\"meta\", types.Meta{})", 1)
	src = strings.Replace(src, "\"example.com/upgrade/ent/privacy\"", "\"example.com/upgrade/ent/privacy\"\n\t\"example.com/upgrade/ent/schema/types\"", 1)
	writeFile(t, note, src)
	for _, args := range [][]string{{"generate", "./..."}, {"build", "./..."}} {
		if out, err := run(t, args...); err != nil {
			t.Fatalf("with the type in a package of its own, go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// entCLI is a stand-in for ent's CLI (go run entgo.io/ent/cmd/ent generate
// --feature privacy ./schema), which runs entc.Generate as this does:
// without the extension. It spares the test the CLI's own modules.
const entCLI = `//go:build ignore

package main

import (
	"log"

	"entgo.io/ent/entc"
	"entgo.io/ent/entc/gen"
)

func main() {
	cfg := &gen.Config{Features: []gen.Feature{gen.FeaturePrivacy}}
	if err := entc.Generate("./schema", cfg); err != nil {
		log.Fatalf("running ent codegen: %v", err)
	}
}
`

// TestCodeRegeneratedWithoutTheExtensionSaysWhatToRun plays, in the
// application of testdata/upgrade, a generation by ent's CLI (the
// generate.go of ent new) after one with entc.go: ent rewrites its files
// without the extension's additions and leaves reactive.go, so go build
// fails. Its first error names what happened and what to run, where it
// was "c.emitter undefined (type *config has no field or method emitter)";
// generating with entc.go again mends the package.
func TestCodeRegeneratedWithoutTheExtensionSaysWhatToRun(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped with -short: generates and builds the app in testdata/upgrade with the go command")
	}
	dir, run := upgradeFixture(t)
	must := func(t *testing.T, args ...string) {
		t.Helper()
		if out, err := run(t, args...); err != nil {
			t.Fatalf("go %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	must(t, "generate", "./...")
	must(t, "build", "./...")

	generate := filepath.Join(dir, "ent", "generate.go")
	withExtension := readFile(t, generate)
	writeFile(t, filepath.Join(dir, "ent", "entcli.go"), entCLI)
	writeFile(t, generate, "package ent\n\n//go:generate go run -mod=mod entcli.go\n")
	must(t, "generate", "./...")
	if _, err := os.Stat(filepath.Join(dir, "ent", "reactive.go")); err != nil {
		t.Fatalf("ent removed reactive.go: %v", err)
	}
	out, err := run(t, "build", "./...")
	if err == nil {
		t.Fatal("the code generated without the extension built")
	}
	var first string
	for line := range strings.Lines(out) {
		if !strings.HasPrefix(line, "#") {
			first = strings.TrimSpace(line)
			break
		}
	}
	want := regexp.MustCompile(`^ent/reactive\.go:\d+:\d+: undefined: ent_code_generated_without_entreactivegen__regenerate_with_go_run_entc_go_not_the_ent_CLI$`)
	if !want.MatchString(first) {
		t.Fatalf("the first error of go build does not say what to run:\n%s", out)
	}

	writeFile(t, generate, withExtension)
	must(t, "generate", "./...")
	must(t, "build", "./...")
}
