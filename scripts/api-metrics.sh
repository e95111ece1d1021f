#!/usr/bin/env bash
# API metrics for issue 20's before/after: for each library package, the
# lines of `go doc -short` and the count of exported names (types, funcs,
# methods, consts, vars; struct fields not counted); the methods on *server.Server;
# the non-generated, non-test Go files over 400 lines; README lines; and,
# with STATICCHECK=path, staticcheck's findings.
set -euo pipefail
cd "$(dirname "$0")/.."
pkgs=$(go list ./entreactive/... ./server/... | grep -v '/internal/')
printf '| package | go doc -short lines | exported names | of which deprecated declarations |\n|---|---|---|---|\n'
total=0
for p in $pkgs; do
	short=$(go doc -short "$p" 2>/dev/null | wc -l)
	# Exported names: types, functions, methods of exported types, and
	# constants and variables.
	fn=$(go doc -all "$p" 2>/dev/null | grep -cE '^(func|type) ' || true)
	cv=$(go doc -short "$p" 2>/dev/null | grep -cE '^(const|var) ' || true)
	names=$((fn + cv))
	dep=$(go doc -all "$p" 2>/dev/null | grep -c 'Deprecated:' || true)
	total=$((total + names))
	printf '| %s | %s | %s | %s |\n' "${p#github.com/entreactive/reactive/}" "$short" "$names" "$dep"
done
printf '| all | | %s | |\n\n' "$total"
printf 'methods on *server.Server: %s\n' "$(go doc -all ./server Server | grep -c '^func (s \*Server)')"
printf 'non-test, non-generated Go files over 400 lines (library and example):\n'
git ls-files '*.go' | grep -v '_test.go$' | grep -v '^ent/\|/internal/ent/' | while read -r f; do
	if ! head -3 "$f" | grep -q 'Code generated'; then
		n=$(wc -l <"$f")
		if [ "$n" -gt 400 ]; then printf '  %s %s\n' "$n" "$f"; fi
	fi
done
printf 'README.md lines: %s\n' "$(wc -l <README.md)"
if [ -n "${STATICCHECK:-}" ]; then
	printf 'staticcheck findings: %s\n' "$("$STATICCHECK" ./... 2>&1 | grep -c '^[^	]' || true)"
fi
