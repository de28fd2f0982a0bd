#!/usr/bin/env bash
# The main job, for now: build (release), start every server of the suite on
# a free port, and show ioclient driving each: the conformance check and a
# short load. Usage: scripts/demo.sh [seconds-of-load-per-server]  (default 2)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-2}
scripts/install-deps.sh
cmake --workflow --preset release >/dev/null
bin=build/release/bin

for server in "$bin"/*_server; do
  name=$(basename "$server")
  out=$(mktemp)
  "$server" --port 0 >"$out" 2>/dev/null &
  pid=$!
  # Wait for the ready line, "listening on HOST:PORT" (bounded: 10 s).
  for _ in $(seq 100); do grep -q '^listening on ' "$out" && break; sleep 0.1; done
  if ! grep -q '^listening on ' "$out"; then
    echo "== $name: did not start"; kill "$pid" 2>/dev/null || true; continue
  fi
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$out")
  echo "== $name on port $port"
  "$bin/ioclient" check --port "$port" || true
  # One connection for a server that serves one client at a time, 50 otherwise.
  conns=50; [ "$name" = bio_server ] && conns=1
  "$bin/ioclient" bench --port "$port" --connections "$conns" --duration "$seconds" --warmup 0.5 \
    --server-pid "$pid" || true
  kill -TERM "$pid"; wait "$pid" || true
  rm -f "$out"
  echo
done
