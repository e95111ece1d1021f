#!/usr/bin/env bash
# Checks the code generation as a user meets it, in a scratch copy of the
# module:
#   1. the committed generated code is what `go generate` produces, the
#      client types (TypeScript module and JSON Schema) included;
#   2. `go generate ./ent` works from an ent/ directory that holds only
#      generate.go, entc.go and schema/;
#   3. adding a field and using it in a target function, in one edit,
#      regenerates with one `go generate ./ent`;
#   4. a program that forgets `import _ ".../ent/runtime"` is told exactly that.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

copy_module() { # copy the tracked files of the module to $1
	mkdir -p "$1"
	(cd "$root" && git ls-files -z --cached --others --exclude-standard) |
		(cd "$root" && xargs -0 cp --parents -t "$1" 2>/dev/null || true)
}

say "1. regenerating reproduces the committed code"
copy_module "$work/same"
(cd "$work/same" && go generate ./... >/dev/null)
client_types="ent/reactive.ts ent/reactive.schema.json entreactive/internal/ent/reactive.schema.json"
for f in $client_types; do
	[ -f "$work/same/$f" ] || fail "go generate did not write the client types $f"
	if ! cmp -s "$root/$f" "$work/same/$f"; then
		diff -u "$root/$f" "$work/same/$f" | head -40 || true
		fail "$f is not what go generate writes: run it and commit the result"
	fi
done
if ! diff -r -q "$root/ent" "$work/same/ent" >/dev/null ||
	! diff -r -q "$root/entreactive/internal/ent" "$work/same/entreactive/internal/ent" >/dev/null; then
	diff -r "$root/ent" "$work/same/ent" | head -40 || true
	diff -r "$root/entreactive/internal/ent" "$work/same/entreactive/internal/ent" | head -40 || true
	fail "go generate ./... changes the committed generated code: run it and commit the result"
fi

say "2. go generate ./ent from an ent/ directory without generated code"
copy_module "$work/fresh"
cd "$work/fresh/ent"
find . -mindepth 1 -maxdepth 1 ! -name schema ! -name generate.go ! -name entc.go -exec rm -rf {} +
cd "$work/fresh"
go generate ./ent || fail "go generate ./ent failed on an empty ent/ directory"
go build ./ent/... ./entreactive/... || fail "the freshly generated code does not build"
for f in ent/reactive.ts ent/reactive.schema.json; do
	cmp -s "$root/$f" "$f" || fail "go generate ./ent on an empty ent/ directory writes another $f"
done

say "3. a new field used in a target function, in the same edit"
python3 - "$work/fresh/ent/schema" <<'PY'
import sys, pathlib
d = pathlib.Path(sys.argv[1])
n = d / "notification.go"
s = n.read_text()
s = s.replace('field.String("message").NotEmpty(),',
              'field.String("message").NotEmpty(),\n\t\tfield.String("audience").Default("users"),')
n.write_text(s)
r = d / "reactive.go"
s = r.read_text()
s = s.replace('''		r.OnCreate(func(context.Context, *gen.Notification) entreactive.Target {
			return entreactive.ToUsers()
		})''', '''		r.OnCreate(func(_ context.Context, n *gen.Notification) entreactive.Target {
			return entreactive.ToRooms(n.Audience)
		})''')
r.write_text(s)
PY
grep -q 'n.Audience' ent/schema/reactive.go || fail "the edit of step 3 did not apply"
go generate ./ent || fail "go generate ./ent failed after adding a field used by a target function"
go build ./ent/... ./entreactive/... || fail "the code does not build after adding a field used by a target function"

say "4. forgetting the runtime import"
mkdir -p cmd/noruntime
cat > cmd/noruntime/main.go <<'GO'
package main

import (
	"context"
	"fmt"
	"os"

	_ "github.com/mattn/go-sqlite3"

	"github.com/entreactive/reactive/ent"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
)

func main() {
	defer func() {
		if r := recover(); r != nil {
			fmt.Println(r)
			os.Exit(3)
		}
	}()
	ctx := context.Background()
	if len(os.Args) > 1 && os.Args[1] == "plain" {
		client, err := ent.Open("sqlite3", "file:x?mode=memory&_fk=1")
		if err != nil {
			panic(err)
		}
		_ = client.Schema.Create(ctx)
		_, err = client.Notification.Create().SetMessage("hi").Save(ctx)
		fmt.Println(err)
		os.Exit(2)
	}
	client, err := ent.Open("sqlite3", "file:x?mode=memory&_fk=1", ent.Emitter(&entreactivetest.Recorder{}))
	if err != nil {
		panic(err)
	}
	_ = client
}
GO
out=$(go run ./cmd/noruntime 2>&1) && fail "a client with an emitter but without ent/runtime started: $out"
echo "$out"
case "$out" in
*'import _ "github.com/entreactive/reactive/ent/runtime"'*) ;;
*) fail "the message does not say which import is missing: $out" ;;
esac
out=$(go run ./cmd/noruntime plain 2>&1) && fail "a mutation without ent/runtime succeeded: $out"
echo "$out"
case "$out" in
*"forgotten import ent/runtime"*) ;;
*) fail "a mutation without ent/runtime does not say so: $out" ;;
esac

say "codegen checks passed"
