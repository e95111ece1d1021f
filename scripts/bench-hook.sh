#!/usr/bin/env bash
# Hook overhead: Create on in-memory SQLite with the reactive mixin (no-op
# emitter) against the same fields without it; and, on a SQLite file in
# WAL mode, with the durable path (package outbox, a no-op publisher), its
# creates stored by their transaction or recorded by a trigger
# (Outbox.Capture), against the same fields without it; the same on
# PostgreSQL and MariaDB when ENTREACTIVE_POSTGRES_DSN and
# ENTREACTIVE_MARIADB_DSN are set (there
# the wall time is the figure: the database's own CPU is another
# process's). Runs ROUNDS alternating
# rounds (reactive, plain, reactive, plain, ...) and prints the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${ROUNDS:-8}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
go test -c -o "$out.test" ./entreactive/ >/dev/null
trap 'rm -f "$out" "$out.test"' EXIT
for _ in $(seq 1 "$rounds"); do
	(cd entreactive && "$out.test" -test.run '^$' -test.bench 'BenchmarkCreate' -test.benchtime 1s) | grep '^Benchmark' >>"$out"
done
cat "$out"
awk '
function median(arr, n,   i, j, t) {
	for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (arr[j] < arr[i]) { t = arr[i]; arr[i] = arr[j]; arr[j] = t }
	return n % 2 ? arr[(n + 1) / 2] : (arr[n / 2] + arr[n / 2 + 1]) / 2
}
{
	name = $1; sub(/-[0-9]+$/, "", name); sub(/^BenchmarkCreate\//, "", name)
	for (i = 3; i < NF; i++) {
		if ($(i + 1) == "ns/op") ns[name, ++nn[name]] = $i
		if ($(i + 1) == "cpu-ns/op") cpu[name, ++nc[name]] = $i
		if ($(i + 1) == "B/op") bytes[name] = $i
		if ($(i + 1) == "allocs/op") allocs[name] = $i
	}
}
END {
	for (k in nn) { delete a; for (i = 1; i <= nn[k]; i++) a[i] = ns[k, i]; mns[k] = median(a, nn[k]) }
	for (k in nc) { delete a; for (i = 1; i <= nc[k]; i++) a[i] = cpu[k, i]; mcpu[k] = median(a, nc[k]) }
	printf "\n| schema | ns/op (median of %d) | CPU ns/op | B/op | allocs/op |\n|---|---|---|---|---|\n", nn["plain"]
	for (k in nn) printf "| %s | %.0f | %.0f | %s | %s |\n", k, mns[k], mcpu[k], bytes[k], allocs[k]
	printf "\nreactive/plain: %.3f in CPU time, %.3f in wall time\n", mcpu["reactive"] / mcpu["plain"], mns["reactive"] / mns["plain"]
	printf "durable/plain (SQLite file, WAL): %.3f in CPU time, %.3f in wall time\n", mcpu["file-durable"] / mcpu["file-plain"], mns["file-durable"] / mns["file-plain"]
	if ("postgres-plain" in nn) printf "durable/plain (PostgreSQL): %.3f in wall time (%.3f in the CPU time of this process)\n", mns["postgres-durable"] / mns["postgres-plain"], mcpu["postgres-durable"] / mcpu["postgres-plain"]
	if ("mariadb-plain" in nn) printf "durable/plain (MariaDB): %.3f in wall time (%.3f in the CPU time of this process)\n", mns["mariadb-durable"] / mns["mariadb-plain"], mcpu["mariadb-durable"] / mcpu["mariadb-plain"]
	printf "captured/plain (Outbox.Capture): SQLite %.3f", mns["file-captured"] / mns["file-plain"]
	if ("postgres-plain" in nn) printf ", PostgreSQL %.3f", mns["postgres-captured"] / mns["postgres-plain"]
	if ("mariadb-plain" in nn) printf ", MariaDB %.3f", mns["mariadb-captured"] / mns["mariadb-plain"]
	printf " in wall time\n"
	printf "inside an application transaction, durable/plain: SQLite %.3f (CPU %.3f)", mns["file-durable-tx"] / mns["file-plain-tx"], mcpu["file-durable-tx"] / mcpu["file-plain-tx"]
	if ("postgres-plain-tx" in nn) printf ", PostgreSQL %.3f", mns["postgres-durable-tx"] / mns["postgres-plain-tx"]
	if ("mariadb-plain-tx" in nn) printf ", MariaDB %.3f", mns["mariadb-durable-tx"] / mns["mariadb-plain-tx"]
	printf " in wall time\n"
}' "$out"
