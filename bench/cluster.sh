#!/usr/bin/env bash
# Cluster fan-out: the example app (entreactive, server/redisbroker) against
# the Node baseline on @socket.io/redis-streams-adapter, with 1, 2 and 3
# nodes on one private Redis, beside one node without Redis (the reference:
# what the Redis hop adds). One command:
#
#   bash bench/cluster.sh              # full run, writes the cluster section of BENCHMARKS.md when the box was quiet
#   QUICK=1 bash bench/cluster.sh      # smoke run (about 2 min); writes bench/results/cluster-quick.md only
#   REPORT_ONLY=1 bash bench/cluster.sh   # re-render the section from bench/latest-cluster.jsonl
#   RESUME=1 bash bench/cluster.sh     # keep bench/results/cluster.jsonl and only make up the
#                                      # configurations that lack ROUNDS quiet runs in it, then report
#
# For every run: a fresh private redis-server (its own port, no persistence;
# the shared Redis on 6379 is never touched), N fresh server processes on N
# ports, each joined to it (Go: -redis URL; Node: --redis URL, with
# connection state recovery on in both). The load tool logs in and connects
# CLIENTS authenticated sockets spread evenly over the nodes (socket i on
# node i mod N), posts notifications to random nodes, and measures every
# delivery (POST sent to event received), split into sockets on the node
# that took the POST and sockets on another node: that difference is the
# Redis hop. CPU and RSS are summed over the servers and Redis. All servers
# and Redis are pinned to cpu 0, the load tool to cpu 1 (taskset).
#
# Loopback only; every run bounded (loadgen -timeout, processes killed after
# each run, MAX_MINUTES overall); runs during which other processes took
# more than BUSY cores are repeated (3 attempts, then up to MAKEUP make-up
# runs after the rounds) and never published.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-3}
QUICK=${QUICK:-0}
TARGETS=${TARGETS:-go node}
NODES=${NODES:-0 1 2 3} # 0 = one node without Redis (the reference)
CLIENTS=${CLIENTS:-1000}
BUSY=${BUSY:-0.15}
MAX_MINUTES=${MAX_MINUTES:-60}
REPORT_ONLY=${REPORT_ONLY:-0}
MAKEUP=${MAKEUP:-2}
RESUME=${RESUME:-0}
BENCH_HOST=127.0.0.1
PORT_BASE=${PORT_BASE:-18090} # nodes listen on PORT_BASE .. PORT_BASE+2
REDIS_PORT=${REDIS_PORT:-16390}
export JWT_SECRET=${JWT_SECRET:-bench-secret-not-for-production-0123456789}

say() { printf '\n== %s\n' "$*" >&2; }
has() { [[ " $1 " == *" $2 "* ]]; }

results_dir=bench/results # scratch (git-ignored)
mkdir -p "$results_dir"
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
started=$(date +%s)

report() { # report RESULTS MD: the cluster section of MD from RESULTS
	"$work/benchreport" -cluster -results "$1" -md "$2" -rounds "$ROUNDS" -require "$TARGETS" \
		-draft "$results_dir/BENCHMARKS.cluster-draft.md" -machine "$3" -versions "$4" -command "bash bench/cluster.sh"
}

if [ "$REPORT_ONLY" = 1 ]; then
	go build -o "$work/benchreport" ./bench/cmd/benchreport
	report bench/latest-cluster.jsonl BENCHMARKS.md "$(cat bench/latest-cluster-machine.txt)" "$(cat bench/latest-cluster-versions.txt)"
	exit $?
fi

script=bench/cluster.sh
. bench/lib.sh
bench_require go node npm taskset timeout redis-server
bench_two_cores
bench_open_files 4096 "$CLIENTS sockets"

# ---------------------------------------------------------------- build
say "build"
go build -o "$work/loadgen" ./bench/cmd/loadgen
go build -o "$work/benchreport" ./bench/cmd/benchreport
if has "$TARGETS" go; then go build -o "$work/example" ./example; fi
if has "$TARGETS" node; then
	nb=bench/node-baseline
	if [ ! -f "$nb/node_modules/sqlite3/build/Release/node_sqlite3.node" ] || [ ! -d "$nb/node_modules/@socket.io/redis-streams-adapter" ] ||
		[ "$nb/package-lock.json" -nt "$nb/node_modules/.package-lock.json" ]; then
		npm ci --prefix "$nb" --no-audit --no-fund
	fi
fi

# ---------------------------------------------------------------- processes
port_free() { ! (exec 3<>"/dev/tcp/$BENCH_HOST/$1") 2>/dev/null; }

# wait_port PORT PID LOG: up to 30 s for PID to listen on PORT.
wait_port() {
	for _ in $(seq 1 300); do
		if ! port_free "$1"; then return 0; fi
		if ! kill -0 "$2" 2>/dev/null; then break; fi
		sleep 0.1
	done
	echo "bench/cluster.sh: process $2 did not listen on port $1:" >&2
	tail -20 "$3" >&2
	return 1
}

redis_pid=
node_pids=()
urls=()
# start_cluster TARGET N: a private Redis (N > 0) and N nodes (one plain
# node for N = 0), all on cpu 0.
start_cluster() {
	local target=$1 n=$2 count i port redis_url=""
	redis_pid= node_pids=() urls=()
	count=$((n == 0 ? 1 : n))
	for port in "$REDIS_PORT" $(seq "$PORT_BASE" $((PORT_BASE + count - 1))); do
		if ! port_free "$port"; then
			echo "bench/cluster.sh: port $port is in use by another process; set PORT_BASE / REDIS_PORT" >&2
			return 1
		fi
	done
	if [ "$n" -gt 0 ]; then
		taskset -c 0 redis-server --port "$REDIS_PORT" --bind "$BENCH_HOST" --save '' --appendonly no \
			--protected-mode yes --daemonize no --loglevel warning >"$work/redis.log" 2>&1 &
		redis_pid=$!
		pids+=("$redis_pid")
		wait_port "$REDIS_PORT" "$redis_pid" "$work/redis.log" || return 1
		redis_url="redis://$BENCH_HOST:$REDIS_PORT"
	fi
	for i in $(seq 0 $((count - 1))); do
		port=$((PORT_BASE + i))
		case "$target" in
		go)
			local extra=()
			if [ -n "$redis_url" ]; then extra=(-redis "$redis_url/0"); fi
			taskset -c 0 "$work/example" -addr "$BENCH_HOST:$port" -db :memory: "${extra[@]}" >"$work/node$i.log" 2>&1 &
			;;
		node)
			local extra=(--recovery)
			if [ -n "$redis_url" ]; then extra=(--redis "$redis_url"); fi
			taskset -c 0 node bench/node-baseline/server.js --addr "$BENCH_HOST:$port" --emit aftercommit "${extra[@]}" >"$work/node$i.log" 2>&1 &
			;;
		esac
		node_pids+=($!)
		pids+=($!)
		urls+=("http://$BENCH_HOST:$port")
	done
	for i in $(seq 0 $((count - 1))); do
		wait_port $((PORT_BASE + i)) "${node_pids[$i]}" "$work/node$i.log" || return 1
	done
}

stop_cluster() {
	local p
	for p in "${node_pids[@]}" $redis_pid; do kill -TERM "$p" 2>/dev/null || true; done
	for p in "${node_pids[@]}" $redis_pid; do
		for _ in $(seq 1 50); do
			kill -0 "$p" 2>/dev/null || break
			sleep 0.1
		done
		kill -KILL "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	pids=() node_pids=() redis_pid=
}

# ---------------------------------------------------------------- cases
# name | loadgen arguments
if [ "$QUICK" = 1 ]; then
	ROUNDS=1
	CLIENTS=${QUICK_CLIENTS:-200}
	cases=(
		"cluster-$CLIENTS-rate|-clients $CLIENTS -n 40 -rate 20 -drain 10s"
		"cluster-$CLIENTS-sat|-clients $CLIENTS -n 50 -rate 0 -drain 20s"
	)
else
	cases=(
		# Paced: 10 notifications/s to 1,000 sockets (10,000 deliveries/s)
		# for 15 s, to compare latency and cost below saturation: a smoke run
		# (busy box) measured three Node processes at about 0.05 CPU s per
		# 1,000 deliveries, a whole core at the 20,000/s of run.sh's
		# fanout-1000-rate, and they fell behind. Saturation: 250 notifications posted
		# at once by 4 posters, to compare throughput.
		"cluster-$CLIENTS-rate|-clients $CLIENTS -n 150 -rate 10 -drain 20s"
		"cluster-$CLIENTS-sat|-clients $CLIENTS -n 250 -rate 0 -drain 60s"
	)
fi
results="$results_dir/cluster.jsonl"
if [ "$RESUME" = 1 ]; then
	[ -s "$results" ] || {
		echo "bench/cluster.sh: RESUME=1 needs $results from an earlier run" >&2
		exit 1
	}
else
	: >"$results"
fi

# run_case CASE TARGET N ROUND ARGS: up to 3 attempts until a quiet one.
run_case() {
	local name=$1 target=$2 n=$3 round=$4 args=$5 attempt label extra
	for attempt in 1 2 3; do
		if (($(date +%s) - started > MAX_MINUTES * 60)); then
			echo "bench/cluster.sh: over MAX_MINUTES=$MAX_MINUTES, stopping" >&2
			return 2
		fi
		"$work/loadgen" quiet -threshold "$BUSY" -wait 90s || echo "box still busy; measuring anyway (the run will say so)" >&2
		start_cluster "$target" "$n" || {
			stop_cluster
			return 1
		}
		extra=()
		if [ -n "$redis_pid" ]; then extra=(-redis-pid "$redis_pid"); fi
		rm -f "$work/one.json"
		# shellcheck disable=SC2086
		if ! taskset -c 1 "$work/loadgen" -scenario fanout $args -urls "$(
			IFS=,
			echo "${urls[*]}"
		)" -pids "$(
			IFS=,
			echo "${node_pids[*]}"
		)" "${extra[@]}" -seed "$round" -label "$target" -case "$name" -round "$round" \
			-pinned "servers and Redis on cpu 0, load tool on cpu 1 (taskset)" -busy "$BUSY" -timeout 4m -out "$work/one.json"; then
			stop_cluster
			echo "bench/cluster.sh: $name against $target with $n node(s) failed; logs:" >&2
			tail -n 20 "$work"/node*.log "$work/redis.log" 2>/dev/null >&2 || true
			return 1
		fi
		stop_cluster
		cat "$work/one.json" >>"$results"
		if ! grep -q '"busy":true' "$work/one.json"; then return 0; fi
		echo "bench/cluster.sh: $name/$target/$n node(s) round $round attempt $attempt: box busy, repeating" >&2
	done
}

failed=()
for round in $(seq 1 "$([ "$RESUME" = 1 ] && echo 0 || echo "$ROUNDS")"); do
	for c in "${cases[@]}"; do
		IFS='|' read -r name args <<<"$c"
		for n in $NODES; do
			for target in $TARGETS; do
				say "round $round/$ROUNDS: $name, $target, $n node(s)$([ "$n" = 0 ] && echo ' (no Redis)')"
				rc=0
				run_case "$name" "$target" "$n" "$round" "$args" || rc=$?
				if [ $rc -eq 2 ]; then break 4; fi
				if [ $rc -ne 0 ]; then failed+=("$name/$target/$n/round $round"); fi
			done
		done
	done
done

# Make-up runs: where busy attempts left a configuration with fewer than
# ROUNDS quiet runs, run it again (at most MAKEUP more times, 3 attempts
# each), numbered after the rounds.
quiet_runs() { # quiet_runs CASE TARGET N
	local nodes=$(($3 == 0 ? 1 : $3)) redis=$(($3 == 0 ? 0 : 1))
	grep -F "\"case\":\"$1\"," "$results" | grep -F "\"target\":\"$2\"," | grep -F "\"nodes\":$nodes," |
		if [ $redis = 1 ]; then grep -F '"redis":true'; else grep -vF '"redis":true'; fi | grep -c '"busy":false' || true
}
for c in "${cases[@]}"; do
	IFS='|' read -r name args <<<"$c"
	for n in $NODES; do
		for target in $TARGETS; do
			extra=0
			while [ "$(quiet_runs "$name" "$target" "$n")" -lt "$ROUNDS" ] && [ "$extra" -lt "$MAKEUP" ]; do
				extra=$((extra + 1))
				say "make-up $extra/$MAKEUP: $name, $target, $n node(s)"
				rc=0
				run_case "$name" "$target" "$n" "$((ROUNDS + extra))" "$args" || rc=$?
				if [ $rc -eq 2 ]; then break 4; fi
				if [ $rc -ne 0 ]; then failed+=("$name/$target/$n/make-up $extra"); fi
			done
		done
	done
done
if [ ${#failed[@]} -gt 0 ]; then echo "bench/cluster.sh: failed runs: ${failed[*]}" >&2; fi

# ---------------------------------------------------------------- report
say "report"
machine="$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
nb=bench/node-baseline/node_modules
versions="$(go version | awk '{print $3}'), Node $(node --version), socket.io $(node -p "require('./$nb/socket.io/package.json').version" 2>/dev/null || echo '?'), @socket.io/redis-streams-adapter $(node -p "require('./$nb/@socket.io/redis-streams-adapter/package.json').version" 2>/dev/null || echo '?'), node-redis $(node -p "require('./$nb/redis/package.json').version" 2>/dev/null || echo '?'), $(redis-server --version | awk '{print $1, $3}' | sed 's/v=//')"
md=BENCHMARKS.md
if [ "$QUICK" = 1 ]; then md="$results_dir/cluster-quick.md"; fi
set +e
report "$results" "$md" "$machine" "$versions"
rc=$?
set -e
if [ $rc -eq 0 ] && [ "$md" = BENCHMARKS.md ]; then
	cp "$results" bench/latest-cluster.jsonl
	echo "$machine" >bench/latest-cluster-machine.txt
	echo "$versions" >bench/latest-cluster-versions.txt
	echo "bench/cluster.sh: published the cluster section of BENCHMARKS.md and bench/latest-cluster*.{jsonl,txt}" >&2
fi
if [ $rc -eq 2 ]; then
	echo "bench/cluster.sh: not published (see $results_dir/BENCHMARKS.cluster-draft.md); run again on a quiet machine" >&2
fi
echo "bench/cluster.sh: results in $results; took $(($(date +%s) - started)) s" >&2
exit $rc
