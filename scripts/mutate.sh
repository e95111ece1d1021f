#!/usr/bin/env bash
# Mutation testing: how many plausible bugs do the tests catch? Not run by
# CI: one package test run per mutant takes hours on a 2-core machine.
#
#   scripts/mutate.sh [flags] [package...]
#       Hand-written mutants (scripts/mutants/*.mutant, one plausible bug
#       each; see scripts/mutants/README). On a scratch copy of the tree,
#       never the tree itself, it applies one mutant at a time, runs the
#       tests of the mutant's packages (whole packages, -failfast; a
#       failure counts once it happens again) and
#       prints a line per mutant: killed, survived, timeout (counted as
#       caught), stale (its "from" text is no longer in the file: fix or
#       delete the mutant; not counted), broken (does not build; not
#       counted); then killed/total per package and the survivors.
#       Packages: server, server/redisbroker, entreactive, server/admin
#       (default: all). Flags:
#         --tree DIR       measure another tree (a worktree of an older
#                          commit, say); default: this one
#         --race           run the tests with -race (default: without)
#         --timeout 6m     time limit of one package test run
#         --only REGEXP    only the mutants whose id matches
#         --baseline=false skip the unmutated run of each package first (a
#                          package whose tests fail unmutated is skipped)
#         --check          only report which mutants apply to the tree and
#                          build (go build -overlay; about 2 min)
#         --list           list the mutants
#         --keep           keep the scratch copy (its logs/ has each run's
#                          go test output)
#
#   scripts/mutate.sh --gremlins [--tree DIR] package...
#       Runs github.com/go-gremlins/gremlins v0.6.0 (installed on first use
#       into ${XDG_CACHE_HOME:-~/.cache}/entreactive-mutate/bin, not into
#       the module) on the named packages and prints its killed/lived
#       summary. Extra gremlins flags go in GREMLINS_FLAGS, e.g.
#       GREMLINS_FLAGS=--dry-run.
#
# The tests see the environment as it is: set ENTREACTIVE_POSTGRES_DSN and
# ENTREACTIVE_MARIADB_DSN, start Redis on 127.0.0.1:6379 and run
# `npm ci --prefix server/testdata/node` and
# `npm ci --prefix server/redisbroker/testdata/node` in the measured tree
# (see .ci/run), or those tests skip and the figure is lower. The exit
# status is 0 whatever was measured. It is CPU-heavy: on a shared machine
# run it under `nice -n 10`. Example (about 2 to 3 hours on 2 busy cores):
#
#   ENTREACTIVE_POSTGRES_DSN='postgres://postgres@127.0.0.1:5432/test?sslmode=disable' \
#   ENTREACTIVE_MARIADB_DSN='root@tcp(127.0.0.1:3306)/test?parseTime=true' \
#   nice -n 10 scripts/mutate.sh server server/redisbroker entreactive | tee mutate.txt
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)

if [ "${1:-}" = "--gremlins" ]; then
	shift
	tree=$root
	if [ "${1:-}" = "--tree" ]; then
		tree=$(cd "$2" && pwd)
		shift 2
	fi
	[ $# -gt 0 ] || { echo "usage: $0 --gremlins [--tree DIR] package..." >&2; exit 2; }
	bin=${XDG_CACHE_HOME:-$HOME/.cache}/entreactive-mutate/bin
	if [ ! -x "$bin/gremlins" ]; then
		echo "installing gremlins v0.6.0 into $bin"
		mkdir -p "$bin"
		(cd /tmp && GOBIN=$bin GOFLAGS= go install github.com/go-gremlins/gremlins/cmd/gremlins@v0.6.0)
	fi
	for pkg in "$@"; do
		pkg=${pkg#./}
		pkg=${pkg%/}
		echo "== gremlins unleash $pkg ($(date +%T))"
		start=$(date +%s)
		# gremlins copies the module for its workers and runs `go test
		# -failfast` on each mutant's own package (only: a mutant of
		# internal/wire meets wire's tests, not redisbroker's) with a time
		# limit of the coverage run's time times the coefficient. That run
		# may come from the test cache and never counts compilation: at 3
		# a quick package's mutants time out while they build. One worker:
		# the tests use shared databases and ports.
		# shellcheck disable=SC2086
		(cd "$tree" && "$bin/gremlins" unleash --workers 1 --timeout-coefficient 10 \
			--output "${TMPDIR:-/tmp}/gremlins-${pkg//\//-}.json" ${GREMLINS_FLAGS:-} "$pkg") || true
		echo "== $pkg: $(( $(date +%s) - start )) s; results in ${TMPDIR:-/tmp}/gremlins-${pkg//\//-}.json"
	done
	exit 0
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$root" && go build -o "$work/mutate" ./scripts/mutate)
"$work/mutate" --mutants "$root/scripts/mutants" --tree "$root" "$@" || true
