#!/usr/bin/env bash
# Installs the Socket.IO browser client and starts the example app:
#
#   bash example/run.sh            # http://127.0.0.1:8080
#   bash example/run.sh -db :memory: -addr 127.0.0.1:9000
#
# Needs Go, a C compiler (SQLite) and Node.js with npm. Flags are passed to
# the app (go run ./example -h lists them); JWT_SECRET sets the token secret.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in go npm; do
	if ! command -v "$tool" >/dev/null; then
		echo "example/run.sh: $tool is required" >&2
		exit 1
	fi
done

echo "Installing socket.io-client (npm ci --prefix example/web)…"
npm ci --prefix example/web --no-audit --no-fund --loglevel=error

bin=${TMPDIR:-/tmp}/entreactive-example-$(id -u)
echo "Building the app…"
go build -o "$bin" ./example
exec "$bin" -static example/web/node_modules/socket.io-client/dist "$@"
