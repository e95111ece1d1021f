#!/usr/bin/env bash
# Side-by-side benchmarks: the example app (entreactive) against the Node
# socket.io baseline, in one command. Builds everything, runs each scenario
# against both servers alternately (A B A B, ROUNDS rounds, a fresh server
# for every run), adds the raw websocket floors (one write per frame, and
# coalescing per connection with writev) and the hook-overhead pair,
# and writes the generated section of BENCHMARKS.md plus bench/latency.png.
#
#   bash bench/run.sh                 # full run, publishes when the box was quiet
#   QUICK=1 bash bench/run.sh         # small smoke run, never publishes
#   SLOW_ROUNDS=3 bash bench/run.sh   # the slow-consumer cases 3 rounds too (default 1; +5 min a round)
#   TARGETS="node floor" QUICK=1 bash bench/run.sh   # without the Go example app
#   REPORT_ONLY=1 bash bench/run.sh   # re-render BENCHMARKS.md and the plot from
#                                     # bench/latest-results.jsonl (no new figures)
#
# Only loopback: BENCH_HOST must be 127.x.x.x or localhost. Every run is
# bounded (loadgen -timeout, servers killed after each run, MAX_MINUTES
# overall). Runs during which other processes took more than BUSY cores are
# repeated (up to 3 attempts, then up to MAKEUP make-up runs after the
# rounds) and never published.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
QUICK=${QUICK:-0}
TARGETS=${TARGETS:-go node floor floor-coalesced}
BUSY=${BUSY:-0.15}
MAX_MINUTES=${MAX_MINUTES:-75}
HOOK=${HOOK:-1}
MAKEUP=${MAKEUP:-2}
REPORT_ONLY=${REPORT_ONLY:-0}
BENCH_HOST=${BENCH_HOST:-127.0.0.1}
PORT_GO=${PORT_GO:-18080}
PORT_NODE=${PORT_NODE:-18081}
PORT_FLOOR=${PORT_FLOOR:-18082}
PORT_FLOOR_COALESCED=${PORT_FLOOR_COALESCED:-18083}
SLOW_ROUNDS=${SLOW_ROUNDS:-1}
SLOW_LIMIT_MIB=${SLOW_LIMIT_MIB:-1} # the example server's per-connection pending-bytes limit, for the report
export JWT_SECRET=${JWT_SECRET:-bench-secret-not-for-production-0123456789}
# The command the report names (REPORT_ONLY=1 needs the SLOW_ROUNDS of the run).
command="$([ "$SLOW_ROUNDS" = 1 ] || echo "SLOW_ROUNDS=$SLOW_ROUNDS ")bash bench/run.sh"

case "$BENCH_HOST" in
127.*.*.* | localhost) ;;
*)
	echo "bench/run.sh: BENCH_HOST=$BENCH_HOST is not a loopback address: refused" >&2
	exit 1
	;;
esac

say() { printf '\n== %s\n' "$*" >&2; }
has_target() { [[ " $TARGETS " == *" $1 "* ]]; }

script=bench/run.sh
. bench/lib.sh
bench_require go node npm taskset timeout
bench_two_cores
bench_open_files 12000 "5,000 sockets"

bench_scratch
started=$(date +%s)

results_dir=bench/results # scratch (git-ignored)
mkdir -p "$results_dir"
if [ "$REPORT_ONLY" = 1 ]; then
	say "report only, from bench/latest-results.jsonl"
	go build -o "$work/benchreport" ./bench/cmd/benchreport
	"$work/benchreport" -results bench/latest-results.jsonl -md BENCHMARKS.md -png bench/latency.png -require "go node" \
		-draft "$results_dir/BENCHMARKS.draft.md" -rounds "$ROUNDS" -slow-rounds "$SLOW_ROUNDS" -machine "$(cat bench/latest-machine.txt)" \
		-versions "$(cat bench/latest-versions.txt)" -command "$command" -hook bench/latest-hook.txt
	exit $?
fi

# ---------------------------------------------------------------- build
say "build"
go build -o "$work/loadgen" ./bench/cmd/loadgen
go build -o "$work/floor" ./bench/cmd/floor
go build -o "$work/benchreport" ./bench/cmd/benchreport
if has_target go; then
	go build -o "$work/example" ./example
fi
if has_target node || has_target node-hook; then
	nb=bench/node-baseline
	if [ ! -f "$nb/node_modules/sqlite3/build/Release/node_sqlite3.node" ] || [ "$nb/package-lock.json" -nt "$nb/node_modules/.package-lock.json" ]; then
		npm ci --prefix "$nb" --no-audit --no-fund # builds sqlite3 from source when no prebuilt binary can be fetched (about a minute)
	fi
fi

# ---------------------------------------------------------------- servers
port_of() {
	case "$1" in
	go) echo "$PORT_GO" ;;
	node | node-hook) echo "$PORT_NODE" ;;
	floor) echo "$PORT_FLOOR" ;;
	floor-coalesced) echo "$PORT_FLOOR_COALESCED" ;;
	esac
}

# start_server TARGET CPUS [DB]: starts the server (pinned to CPUS when not
# empty) on the SQLite database DB (default :memory:) and waits up to 30 s
# for its port.
start_server() {
	local target=$1 cpus=$2 db=${3:-:memory:} port pin=()
	port=$(port_of "$target")
	if (exec 3<>"/dev/tcp/$BENCH_HOST/$port") 2>/dev/null; then
		echo "bench/run.sh: port $port is already in use by another process; set PORT_GO/PORT_NODE/PORT_FLOOR/PORT_FLOOR_COALESCED" >&2
		return 1
	fi
	if [ -n "$cpus" ]; then pin=(taskset -c "$cpus"); fi
	case "$target" in
	go) "${pin[@]}" "$work/example" -addr "$BENCH_HOST:$port" -db "$db" >"$work/server.log" 2>&1 & ;;
	node) "${pin[@]}" node bench/node-baseline/server.js --addr "$BENCH_HOST:$port" --emit aftercommit --db "$db" >"$work/server.log" 2>&1 & ;;
	node-hook) "${pin[@]}" node bench/node-baseline/server.js --addr "$BENCH_HOST:$port" --emit hook >"$work/server.log" 2>&1 & ;;
	floor) "${pin[@]}" "$work/floor" -addr "$BENCH_HOST:$port" >"$work/server.log" 2>&1 & ;;
	floor-coalesced) "${pin[@]}" "$work/floor" -addr "$BENCH_HOST:$port" -coalesce >"$work/server.log" 2>&1 & ;;
	esac
	server_pid=$!
	for _ in $(seq 1 300); do
		if (exec 3<>"/dev/tcp/$BENCH_HOST/$port") 2>/dev/null; then return 0; fi
		if ! kill -0 "$server_pid" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "bench/run.sh: $target did not start:" >&2
	cat "$work/server.log" >&2
	return 1
}

stop_server() {
	[ -n "$server_pid" ] || return 0
	kill -TERM "$server_pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$server_pid" 2>/dev/null || break
		sleep 0.1
	done
	kill -KILL "$server_pid" 2>/dev/null || true
	wait "$server_pid" 2>/dev/null || true
	server_pid=
}

# ---------------------------------------------------------------- cases
# name | loadgen arguments | pinned (1 = saturation: server cpu 0, loadgen cpu 1)
if [ "$QUICK" = 1 ]; then
	ROUNDS=${QUICK_ROUNDS:-1}
	cases=(
		"fanout-100-rate|-scenario fanout -clients 100 -n 40 -rate 20|0"
		"fanout-300-sat|-scenario fanout -clients 300 -n 40 -rate 0|1"
		"targeted|-scenario targeted -clients 50 -n 100 -rate 100|0"
		"rollback|-scenario rollback -n 20|0"
		"slow-0|-scenario slow -clients 20 -stalled 0 -rate 25 -duration 5s -drain 10s|0"
		"slow-5|-scenario slow -clients 20 -stalled 5 -rate 25 -duration 5s -drain 10s|0"
	)
else
	cases=(
		# Paced: 20,000 deliveries/s for 10 s, a load both servers sustain,
		# to compare latency. Saturation: 250,000 deliveries posted at once.
		"fanout-1000-rate|-scenario fanout -clients 1000 -n 200 -rate 20|0"
		"fanout-1000-sat|-scenario fanout -clients 1000 -n 250 -rate 0 -drain 60s|1"
		"fanout-5000-rate|-scenario fanout -clients 5000 -n 40 -rate 4|0"
		"fanout-5000-sat|-scenario fanout -clients 5000 -n 50 -rate 0 -drain 60s|1"
		"targeted|-scenario targeted -clients 200 -n 500 -rate 100|0"
		"rollback|-scenario rollback -n 100|0"
		# Slow consumers: 100 healthy sockets, 25 notifications/s of 16 KiB
		# for 40 s, without (control) and with 5 sockets that stop reading
		# but keep sending heartbeats; SLOW_ROUNDS rounds (default 1).
		"slow-0|-scenario slow -clients 100 -stalled 0 -rate 25 -duration 40s -payload 16384 -drain 20s|0"
		"slow-5|-scenario slow -clients 100 -stalled 5 -rate 25 -duration 40s -payload 16384 -drain 20s|0"
	)
fi
results="$results_dir/latest.jsonl"
: >"$results"
rm -f "$results_dir/hook.txt"

# run_case CASE TARGET ROUND PINNED ARGS: up to 3 attempts until a quiet one.
run_case() {
	local name=$1 target=$2 round=$3 pinned=$4 args=$5 attempt note="" lg_pin=() srv_cpus="" db=:memory:
	if [ "$pinned" = 1 ]; then
		note="server on cpu 0, load tool on cpu 1 (taskset)"
		srv_cpus=0
		lg_pin=(taskset -c 1)
	fi
	if [[ $name == slow-* ]]; then
		# A database file, not :memory:, so that the 16 MB of notifications
		# posted are the database's (on disk) and not counted as growth.
		db="$work/slow.db"
		case "$target" in
		go) args+=" -pending-limit-mib $SLOW_LIMIT_MIB" ;;
		floor-coalesced) args+=" -pending-limit-mib 1" ;; # floor.DefaultMaxPending
		esac
	fi
	for attempt in 1 2 3; do
		if (($(date +%s) - started > MAX_MINUTES * 60)); then
			echo "bench/run.sh: over MAX_MINUTES=$MAX_MINUTES, stopping" >&2
			return 2
		fi
		"$work/loadgen" quiet -threshold "$BUSY" -wait 90s || echo "box still busy; measuring anyway (the run will say so)" >&2
		rm -f "$work/slow.db" "$work/slow.db-journal" "$work/slow.db-wal" "$work/slow.db-shm"
		start_server "$target" "$srv_cpus" "$db" || return 1
		rm -f "$work/one.json"
		# shellcheck disable=SC2086
		if ! "${lg_pin[@]}" "$work/loadgen" $args -target "http://$BENCH_HOST:$(port_of "$target")" -pid "$server_pid" \
			-label "$target" -case "$name" -round "$round" -pinned "$note" -busy "$BUSY" -timeout 4m -out "$work/one.json"; then
			stop_server
			echo "bench/run.sh: $name against $target failed; server log:" >&2
			tail -20 "$work/server.log" >&2
			return 1
		fi
		stop_server
		cat "$work/one.json" >>"$results"
		if ! grep -q '"busy":true' "$work/one.json"; then return 0; fi
		echo "bench/run.sh: $name/$target round $round attempt $attempt: box busy, repeating" >&2
	done
}

failed=()
for round in $(seq 1 "$ROUNDS"); do
	for c in "${cases[@]}"; do
		IFS='|' read -r name args pinned <<<"$c"
		if [[ $name == slow-* ]] && [ "$round" -gt "$SLOW_ROUNDS" ]; then continue; fi
		for target in go node floor floor-coalesced node-hook; do
			case "$target" in
			floor) [[ $name == fanout-* ]] || continue ;;
			floor-coalesced) [[ $name == fanout-* || $name == slow-* ]] || continue ;;
			node-hook) [[ $name == rollback ]] && has_target node || continue ;;
			esac
			if [ "$target" != node-hook ]; then has_target "$target" || continue; fi
			say "round $round/$ROUNDS: $name against $target"
			rc=0
			run_case "$name" "$target" "$round" "$pinned" "$args" || rc=$?
			if [ $rc -eq 2 ]; then break 3; fi
			if [ $rc -ne 0 ]; then failed+=("$name/$target/round $round"); fi
		done
	done
done

# Make-up runs: where busy attempts left a case with fewer than ROUNDS quiet
# runs for a server, run it again (at most MAKEUP more times, 3 attempts each).
quiet_runs() {
	grep -F "\"case\":\"$1\"," "$results" | grep -F "\"target\":\"$2\"," | grep -c '"busy":false' || true
}
for c in "${cases[@]}"; do
	IFS='|' read -r name args pinned <<<"$c"
	want=$ROUNDS
	if [[ $name == slow-* ]]; then want=$((SLOW_ROUNDS < ROUNDS ? SLOW_ROUNDS : ROUNDS)); fi
	for target in go node; do
		has_target "$target" || continue
		extra=0
		while [ "$(quiet_runs "$name" "$target")" -lt "$want" ] && [ "$extra" -lt "$MAKEUP" ]; do
			extra=$((extra + 1))
			say "make-up $extra/$MAKEUP: $name against $target"
			rc=0
			run_case "$name" "$target" "$((ROUNDS + extra))" "$pinned" "$args" || rc=$?
			if [ $rc -eq 2 ]; then break 3; fi
			if [ $rc -ne 0 ]; then failed+=("$name/$target/make-up $extra"); fi
		done
	done
done
if [ ${#failed[@]} -gt 0 ]; then echo "bench/run.sh: failed runs: ${failed[*]}" >&2; fi

# ---------------------------------------------------------------- hook overhead and report
if [ "$HOOK" = 1 ] && [ "$QUICK" != 1 ]; then
	say "hook overhead (scripts/bench-hook.sh)"
	bash scripts/bench-hook.sh | tee "$results_dir/hook.txt" >&2
fi

say "report"
machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
sio_version=$(node -p 'require("./bench/node-baseline/node_modules/socket.io/package.json").version' 2>/dev/null || echo '?')
versions="$(go version | awk '{print $3}'), Node $(node --version), socket.io $sio_version"
publish=(-md BENCHMARKS.md -png bench/latency.png -require "go node")
if [ "$QUICK" = 1 ] || ! has_target go || ! has_target node; then
	# A smoke run: a separate file, never BENCHMARKS.md.
	publish=(-md "$results_dir/quick.md" -png "$results_dir/quick.png" -require "")
fi
set +e
"$work/benchreport" -results "$results" "${publish[@]}" -draft "$results_dir/BENCHMARKS.draft.md" -rounds "$ROUNDS" -slow-rounds "$SLOW_ROUNDS" \
	-machine "$machine" -versions "$versions" \
	-command "$command" -hook "$([ -f "$results_dir/hook.txt" ] && echo "$results_dir/hook.txt")"
rc=$?
set -e
if [ $rc -eq 0 ] && [ "${publish[1]}" = BENCHMARKS.md ]; then
	# The raw results behind the published figures, for REPORT_ONLY=1.
	cp "$results" bench/latest-results.jsonl
	if [ -f "$results_dir/hook.txt" ]; then cp "$results_dir/hook.txt" bench/latest-hook.txt; else rm -f bench/latest-hook.txt; fi
	echo "$machine" >bench/latest-machine.txt
	echo "$versions" >bench/latest-versions.txt
	echo "bench/run.sh: published BENCHMARKS.md, bench/latency.png and bench/latest-*.{jsonl,txt}" >&2
fi
if [ $rc -eq 2 ]; then
	echo "bench/run.sh: not published (see $results_dir/BENCHMARKS.draft.md); run again on a quiet machine" >&2
fi
echo "bench/run.sh: results in $results; took $(($(date +%s) - started)) s" >&2
exit $rc
