#!/usr/bin/env bash
# Frames per write at saturation: why entreactive spends more CPU per
# delivery than the coalescing floor at 5,000 sockets. For each server it
# runs the fanout-5000-sat case of bench/run.sh twice, with N and with one
# notification, and counts the server's write system calls (syscw in
# /proc/PID/io, read once the load tool has exited): the difference is the
# writes of N-1 broadcasts, so connecting and closing cancel out. It prints,
# per run, deliveries per write beside the server CPU per delivery and the
# p99 the load tool measured in the N run.
#
#   bash bench/writes.sh                      # go (-emit-backlog 4 and 0) and floor-coalesced, 3 rounds
#   CLIENTS=1000 N=250 bash bench/writes.sh   # the 1,000-socket case
#
# A diagnostic, not a published figure: BENCHMARKS.md quotes one run of it.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
CLIENTS=${CLIENTS:-5000}
N=${N:-50}
BACKLOGS=${BACKLOGS:-4 0}
PORT=${PORT:-18095}
export JWT_SECRET=${JWT_SECRET:-bench-secret-not-for-production-0123456789}

script=bench/writes.sh
. bench/lib.sh
bench_require go taskset timeout python3
bench_two_cores
bench_open_files $((CLIENTS * 2 + 2000)) "$CLIENTS sockets"

bench_scratch
go build -o "$work/example" ./example
go build -o "$work/floor" ./bench/cmd/floor
go build -o "$work/loadgen" ./bench/cmd/loadgen

# run SERVER BACKLOG NOTIFICATIONS: one pinned run; prints "writes cpu_s_per_1k p99_ms".
run() {
	local server=$1 backlog=$2 n=$3 writes
	case "$server" in
	go) taskset -c 0 "$work/example" -addr "127.0.0.1:$PORT" -db :memory: -emit-backlog "$backlog" >"$work/server.log" 2>&1 & ;;
	floor-coalesced) taskset -c 0 "$work/floor" -addr "127.0.0.1:$PORT" -coalesce >"$work/server.log" 2>&1 & ;;
	esac
	server_pid=$!
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then break; fi
		sleep 0.1
	done
	rm -f "$work/one.json"
	taskset -c 1 "$work/loadgen" -scenario fanout -clients "$CLIENTS" -n "$n" -rate 0 -drain 60s \
		-target "http://127.0.0.1:$PORT" -pid "$server_pid" -label "$server" -timeout 4m -out "$work/one.json" 2>/dev/null
	writes=$(awk '/^syscw/ {print $2}' "/proc/$server_pid/io")
	kill -TERM "$server_pid"
	wait "$server_pid" 2>/dev/null || true
	server_pid=
	python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(sys.argv[2], d["server"]["cpu_s_per_1k"], d["latency_ms"]["p99"])' "$work/one.json" "$writes"
}

printf '| round | server | writes of %d broadcasts | deliveries per write | server CPU µs per delivery | p99 ms |\n|---|---|---|---|---|---|\n' $((N - 1))
for round in $(seq 1 "$ROUNDS"); do
	configs=()
	for b in $BACKLOGS; do configs+=("go $b"); done
	configs+=("floor-coalesced 0")
	for cfg in "${configs[@]}"; do
		read -r server backlog <<<"$cfg"
		read -r w1 _ _ < <(run "$server" "$backlog" 1)
		read -r wn cpu p99 < <(run "$server" "$backlog" "$N")
		label=$server
		if [ "$server" = go ]; then label="go, -emit-backlog $backlog"; fi
		python3 -c 'import sys
r, label, w1, wn, cpu, p99, clients, n = sys.argv[1:]
writes = int(wn) - int(w1)
print(f"| {r} | {label} | {writes:,} | {int(clients) * (int(n) - 1) / max(writes, 1):.1f} | {float(cpu) * 1000:.1f} | {float(p99):.0f} |")' \
			"$round" "$label" "$w1" "$wn" "$cpu" "$p99" "$CLIENTS" "$N"
	done
done
