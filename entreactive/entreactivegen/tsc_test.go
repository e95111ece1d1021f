package entreactivegen_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// tscDir holds the pinned TypeScript and socket.io-client (npm ci --prefix
// entreactive/entreactivegen/testdata/tsc) and the consumers of ent/reactive.ts.
const tscDir = "testdata/tsc"

// tsc runs tsc --noEmit -p project and returns its output and whether it
// type-checked. It skips the test locally, and fails it in CI (CI=true),
// when node or the npm packages are not installed.
func tsc(t *testing.T, project string) (string, bool) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		missing(t, "node is not installed")
	}
	bin, err := filepath.Abs(filepath.Join(tscDir, "node_modules", "typescript", "bin", "tsc"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(bin); err != nil {
		missing(t, "typescript is not installed: run `npm ci --prefix entreactive/entreactivegen/testdata/tsc`")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, bin, "--noEmit", "--pretty", "false", "-p", project)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return string(out), true
	case errors.As(err, &exit) && ctx.Err() == nil:
		return string(out), false
	}
	t.Fatalf("tsc -p %s: %v\n%s", project, err, out)
	return "", false
}

// missing skips the test locally, or fails it in CI (CI=true), when a tool
// it needs is not installed.
func missing(t *testing.T, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatal(why)
	}
	t.Skip(why)
}

func TestTypeScriptConsumerTypeChecks(t *testing.T) {
	if out, ok := tsc(t, filepath.Join(tscDir, "tsconfig.json")); !ok {
		t.Fatalf("consumer.ts does not type-check against ent/reactive.ts:\n%s", out)
	}
}

// tscError matches one error of tsc --pretty false.
var tscError = regexp.MustCompile(`(?m)^(?:.*/)?misuse\.ts\((\d+),\d+\): error (TS\d+):`)

func TestTypeScriptRefusesMisuse(t *testing.T) {
	src, err := os.ReadFile(filepath.Join(tscDir, "misuse.ts"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for i, line := range strings.Split(string(src), "\n") {
		if _, code, ok := strings.Cut(line, "// want "); ok {
			code, _, _ = strings.Cut(code, ":")
			want = append(want, strconv.Itoa(i+1)+" "+code)
		}
	}
	if len(want) == 0 {
		t.Fatal("misuse.ts marks no error")
	}
	out, ok := tsc(t, filepath.Join(tscDir, "tsconfig.misuse.json"))
	if ok {
		t.Fatalf("misuse.ts type-checks: the types do not bite\n%s", out)
	}
	var got []string
	for _, m := range tscError.FindAllStringSubmatch(out, -1) {
		got = append(got, m[1]+" "+m[2])
	}
	if !slices.Equal(got, want) {
		t.Errorf("tsc errors (line code):\n got %q\nwant %q\n%s", got, want, out)
	}
}

func TestTypeScriptOfEveryFieldKindTypeChecks(t *testing.T) {
	files := clientTypes(t, kindGraph(t, false), typeScriptIn("reactive.ts"))
	dir := t.TempDir()
	base, err := filepath.Abs(filepath.Join(tscDir, "tsconfig.base.json"))
	if err != nil {
		t.Fatal(err)
	}
	config := `{"extends": ` + strconv.Quote(base) + `, "files": ["reactive.ts", "use.ts"]}`
	// use.ts pins a few types the way a consumer meets them.
	use := `import type { KindData, LabelData, ReactiveEventOf } from "./reactive";
export function use(d: KindData, e: ReactiveEventOf<"Label", "update">): string {
  const parent: LabelData | null | undefined = d.edges?.parent;
  const tags: string[] = d.tags ?? [];
  return [d.status, d.priority ?? "none", d.due_at, parent?.name, tags.join(), e.changed.join()].join(" ");
}
`
	for name, content := range map[string][]byte{
		"reactive.ts":   files["reactive.ts"],
		"use.ts":        []byte(use),
		"tsconfig.json": []byte(config),
	} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, ok := tsc(t, filepath.Join(dir, "tsconfig.json")); !ok {
		t.Fatalf("the module of every field kind does not type-check:\n%s", out)
	}
}

// TestREADMETypedClientLinesAreTypeChecked keeps the React lines of the
// typed clients' page (docs/typed-clients.md, which the README links) and
// consumer.ts, which tsc checks, the same.
func TestREADMETypedClientLinesAreTypeChecked(t *testing.T) {
	const page = "docs/typed-clients.md"
	doc, err := os.ReadFile(filepath.Join("..", "..", filepath.FromSlash(page)))
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), "]("+page+")") {
		t.Errorf("README.md does not link %s", page)
	}
	consumer, err := os.ReadFile(filepath.Join(tscDir, "consumer.ts"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(string(doc), "# Typed clients\n") {
		t.Fatalf(`%s does not start with the heading "# Typed clients"`, page)
	}
	_, block, ok := strings.Cut(string(doc), "```tsx\n")
	if !ok {
		t.Fatalf("%s has no tsx block", page)
	}
	block, _, _ = strings.Cut(block, "```")
	checked := 0
	for line := range strings.Lines(block) {
		if strings.HasPrefix(line, "import ") {
			continue // consumer.ts imports the module by its path in the repository
		}
		if strings.TrimSpace(line) == "" {
			continue
		}
		checked++
		if !strings.Contains(string(consumer), line) {
			t.Errorf("%s line %q is not in consumer.ts", page, strings.TrimSpace(line))
		}
	}
	if checked == 0 {
		t.Errorf("%s's tsx block has no line to check", page)
	}
}
