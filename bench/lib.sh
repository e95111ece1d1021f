# bench/lib.sh: the checks every bench script starts with. Source it after
# setting script (the name used in messages, e.g. "bench/run.sh").

# bench_require TOOL...: exits unless every TOOL is on PATH.
bench_require() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || {
			echo "$script: $tool is required" >&2
			exit 1
		}
	done
}

# bench_two_cores: exits on a machine with fewer than 2 cores (the server
# and the load tool are pinned apart).
bench_two_cores() {
	if [ "$(nproc)" -lt 2 ]; then
		echo "$script: needs at least 2 cores (server and load tool are pinned apart)" >&2
		exit 1
	fi
}

# bench_open_files NEED WHAT: exits when the hard open-file limit is below
# NEED (WHAT says who needs them), then raises the soft limit as far as it
# goes, up to 65536.
bench_open_files() {
	local need=$1 what=$2 hard
	hard=$(ulimit -Hn)
	if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
		echo "$script: open-file limit $hard is below the $need that $what need" >&2
		exit 1
	fi
	ulimit -n "$([ "$hard" = unlimited ] && echo 65536 || echo $((hard < 65536 ? hard : 65536)))"
}

# bench_scratch: makes the scratch directory $work and clears $server_pid;
# on exit (or interrupt) the server in $server_pid, if any, is killed and
# $work removed.
bench_scratch() {
	work=$(mktemp -d)
	server_pid=
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	if [ -n "$server_pid" ]; then kill -KILL "$server_pid" 2>/dev/null || true; fi
	rm -rf "$work"
}
