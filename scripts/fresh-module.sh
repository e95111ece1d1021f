#!/usr/bin/env bash
# Plays the README's first-time path in a fresh module outside the repo, so
# that a README or docs/ snippet or command that stops working is a red CI:
#   1. `go mod init example.com/app` in a temporary directory, with a replace
#      directive to this checkout;
#   2. the commands of the README's "Make a schema reactive" (its command
#      blocks: fenced without a language), as they are written;
#   3. every Go block of the README and of the pages of docs/ (the files
#      of soft delete and privacy are in docs/rules.md) whose first line
#      names a file (`// ent/schema/task.go`, optionally followed by
#      ` — a comment`), written to that path as it is, and a test of the
#      app (below);
#   4. the commands of the README's "Generate and wire", as they are
#      written, then `go build ./...` and the test: a task created in a
#      transaction reaches its assignee once committed; soft-deleting a
#      comment sends one delete event; the comment's privacy policy (which
#      imports the generated privacy package) denies an empty comment.
#
# The README's commands run without a shell (split on spaces; a command
# that is not a go command fails the script), with GOFLAGS as the
# environment has it less any -mod flag: the only -mod flags are the
# README's.
#
# github.com/entreactive/reactive is not on the module proxy as this
# checkout is: a file proxy, searched before GOPROXY, lists one version of
# it (this checkout's commit, as a pseudo-version) so that the README's
# `go get` resolves as it does for a user, and the replace directive gives
# that version this checkout's code. The checkout's go.sum is copied into the
# new module, so that no checksum the checkout already has is looked up
# again. Every other module comes from GOPROXY and the module cache (with
# warm caches it runs with GOPROXY=off too).
#
# Usage: bash scripts/fresh-module.sh [README [DOCS]]; README plays another
# copy of the README (a proposed change) against this checkout, DOCS another
# directory of pages (default: the checkout's docs/). KEEP=1 keeps the
# temporary directory.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
readme=$(realpath "${1:-$root/README.md}") # another README to play, to check a change of it
docs=$(realpath "${2:-$root/docs}")          # the pages whose file blocks are played too
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] && echo "kept $work" || rm -rf "$work"' EXIT
app=$work/app
start=$SECONDS
say() { printf '== %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

# The files every first-time app of the README has, and the ones the test
# needs: the snippets of "Make a schema reactive", "Generate and wire" and
# "Soft delete and privacy" (docs/rules.md).
required="ent/generate.go ent/entc.go ent/schema/task.go ent/schema/reactive.go
ent/schema/reactive_placeholder.go ent/schema/comment.go ent/schema/comment_rules.go
ent/schema/comment_placeholder.go ent/schema/softdelete.go ent/schema/softdelete_hooks.go"

say "snippets and commands of README.md and docs/"
python3 - "$readme" "$docs" "$work/files" "$work" <<'PY'
import pathlib, re, sys

readme, docs = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
files, work = pathlib.Path(sys.argv[3]), pathlib.Path(sys.argv[4])
marker = re.compile(r"^// (ent/[\w./-]+\.go)(?: — .*)?$")
sections = {"Make a schema reactive": "commands-1", "Generate and wire": "commands-2"}
commands = {name: [] for name in sections.values()}
written = {}

def play(page, name, with_commands):
    """Writes page's file blocks; collects its commands when with_commands."""
    lines = page.read_text().split("\n")
    section, i = None, 0
    while i < len(lines):
        line = lines[i]
        heading = re.match(r"^#{1,3} (.*)$", line)
        if heading:
            section = heading.group(1).strip()
        if not line.startswith("```"):
            i += 1
            continue
        lang, start = line[3:].strip(), i + 1
        i = start
        while i < len(lines) and not lines[i].startswith("```"):
            i += 1
        if i == len(lines):
            sys.exit(f"{name}:{start}: a fenced block is not closed")
        block = lines[start:i]
        i += 1
        if lang == "" and with_commands and section in sections:
            for line in block:
                cmd = re.sub(r"\s+#.*$", "", line).strip()
                if cmd:
                    commands[sections[section]].append(cmd)
            continue
        m = marker.match(block[0]) if lang == "go" and block else None
        if not m:
            continue
        path = m.group(1)
        if path in written:
            sys.exit(f"{name}:{start + 1}: a second block for {path} (the first is at {written[path]})")
        written[path] = f"{name}:{start + 1}"
        dest = files / path
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text("\n".join(block) + "\n")
        print(f"  {path} ({name}:{start + 1})")

play(readme, "README.md", True)
for page in sorted(docs.glob("*.md")):
    play(page, f"docs/{page.name}", False)
for name, cmds in commands.items():
    (work / name).write_text("".join(c + "\n" for c in cmds))
PY
for f in $required; do
	[ -f "$work/files/$f" ] || fail "neither README.md nor a page of docs/ has a block that starts with // $f"
done
unformatted=$(cd "$work/files" && gofmt -l .)
[ -z "$unformatted" ] || fail "gofmt would change the README's or docs/' $unformatted"
[ -s "$work/commands-1" ] || fail "README.md's \"Make a schema reactive\" has no commands"
[ -s "$work/commands-2" ] || fail "README.md's \"Generate and wire\" has no commands"

readme_commands() { # readme_commands FILE SECTION: run each command of FILE in $app
	local cmd words out
	while IFS= read -r cmd; do
		read -ra words <<<"$cmd"
		[ "${words[0]}" = go ] || fail "README.md's \"$2\" runs $cmd: the script runs go commands only"
		printf '$ %s\n' "$cmd"
		if ! out=$(cd "$app" && "${words[@]}" 2>&1 </dev/null); then
			printf '%s\n' "$out" | sed 's/^/  /'
			fail "\`$cmd\` (README.md, \"$2\") failed in a fresh module"
		fi
		[ -z "$out" ] || printf '%s\n' "$out" | sed 's/^/  /'
	done <"$1"
}

say "a fresh module in $app"
export GOWORK=off
GOFLAGS=$(printf ' %s ' "${GOFLAGS:-}" | sed -E 's/ -mod=[^ ]+/ /g; s/^ +//; s/ +$//')
export GOFLAGS
head=$(git -C "$root" rev-parse HEAD)
version=v0.0.0-$(TZ=UTC git -C "$root" log -1 --format=%cd --date=format-local:%Y%m%d%H%M%S "$head")-${head:0:12}
proxy=$work/proxy/github.com/entreactive/reactive/@v
mkdir -p "$proxy"
echo "$version" >"$proxy/list"
printf '{"Version":"%s"}\n' "$version" >"$proxy/$version.info"
export GOPROXY="file://$work/proxy,$(go env GOPROXY)"
echo "github.com/entreactive/reactive $version => $root"
mkdir -p "$app"
(cd "$app" && go mod init example.com/app 2>&1 | sed 's/^/  /' &&
	go mod edit -replace "github.com/entreactive/reactive=$root")
cp "$root/go.sum" "$app/go.sum"

say "README.md, \"Make a schema reactive\""
readme_commands "$work/commands-1" "Make a schema reactive"
cp -r "$work/files/." "$app"

# The app's own code: it imports the generated packages, as an app does.
cat >"$app/app_test.go" <<'GO'
package app_test

import (
	"errors"
	"fmt"
	"testing"

	_ "github.com/mattn/go-sqlite3"

	"example.com/app/ent"
	"example.com/app/ent/enttest"
	"example.com/app/ent/privacy"
	_ "example.com/app/ent/runtime"
	"example.com/app/ent/schema"
	"github.com/entreactive/reactive/entreactive"
	"github.com/entreactive/reactive/entreactive/entreactivetest"
)

func TestFreshModule(t *testing.T) {
	ctx := t.Context()
	rec := &entreactivetest.Recorder{}
	client := enttest.Open(t, "sqlite3", "file:fresh?mode=memory&cache=shared&_fk=1", enttest.WithOptions(ent.Emitter(rec)))
	defer client.Close()

	tx, err := client.Tx(ctx)
	if err != nil {
		t.Fatal(err)
	}
	task := tx.Task.Create().SetTitle("write docs").SetAssigneeID(7).SaveX(ctx)
	if got := rec.Events(); len(got) != 0 {
		t.Fatalf("%d events before the commit, want none", len(got))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	got := rec.ToUser(7)
	if len(got) != 1 || got[0].Action != entreactive.ActionCreate || got[0].Model != "Task" || fmt.Sprint(got[0].ID) != fmt.Sprint(task.ID) {
		t.Fatalf("user 7 got %+v, want the create of task %d", got, task.ID)
	}
	t.Logf("after the commit, user 7 got: %s %s %v", got[0].Action, got[0].Model, got[0].ID)

	c := client.Comment.Create().SetText("first").SaveX(ctx)
	rec.Reset()
	client.Comment.DeleteOneID(c.ID).ExecX(ctx)
	events := rec.Events()
	if len(events) != 1 || events[0].Action != entreactive.ActionDelete || events[0].Model != "Comment" || fmt.Sprint(events[0].ID) != fmt.Sprint(c.ID) {
		t.Fatalf("soft-deleting comment %d sent %+v, want one delete", c.ID, events)
	}
	if n := len(rec.ToRoom("comments")); n != 1 {
		t.Fatalf("room comments got %d events, want 1", n)
	}
	if n := client.Comment.Query().CountX(ctx); n != 0 {
		t.Fatalf("%d comments visible after the soft delete, want 0", n)
	}
	if n := client.Comment.Query().CountX(schema.SkipSoftDelete(ctx)); n != 1 {
		t.Fatalf("%d comments stored after the soft delete, want 1 (deleted for good?)", n)
	}
	t.Logf("soft-deleting comment %d sent: %s %s %v", c.ID, events[0].Action, events[0].Model, events[0].ID)

	rec.Reset()
	if _, err := client.Comment.Create().SetText("").Save(ctx); !errors.Is(err, privacy.Deny) {
		t.Fatalf("an empty comment: %v, want the policy's denial", err)
	}
	if got := rec.Events(); len(got) != 0 {
		t.Fatalf("a denied create sent %d events", len(got))
	}
	if f := rec.Failures(); len(f) != 0 {
		t.Fatalf("failures: %+v", f)
	}
}
GO

say "README.md, \"Generate and wire\""
readme_commands "$work/commands-2" "Generate and wire"

say "the app builds and its test passes"
out=$(cd "$app" && go build ./... 2>&1) || {
	printf '%s\n' "$out" | sed 's/^/  /'
	fail "the app does not build after the README's commands"
}
out=$(cd "$app" && go test -count=1 -v ./... 2>&1) || {
	printf '%s\n' "$out" | sed 's/^/  /'
	fail "the app's test failed"
}
printf '%s\n' "$out" | grep -E '^\s+app_test.go|^(ok|---)' | sed 's/^ */  /'

say "fresh module checks passed ($((SECONDS - start)) s)"
