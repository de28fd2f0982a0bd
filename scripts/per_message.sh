#!/usr/bin/env bash
# What a server costs per echoed message, in counts that repeat on a loaded
# machine (no times): one client sends MESSAGES messages of 64 bytes, one at
# a time, each after the previous echo came back (ping-pong), then closes.
# Made for the servers whose calls an event library makes (libraries/), and
# that therefore count none themselves; run epoll_server beside them.
#
#   scripts/per_message.sh [--callgrind] [MESSAGES] SERVER...
#   scripts/per_message.sh 10000 epoll_server libuv_server libevent_server asio_coro_server
#   BIN=build/perf/bin scripts/per_message.sh --callgrind 6000 epoll_server libuv_server
#
# Default: the system calls, counted by strace -f -c; printed, per server,
# each call made at least MESSAGES/2 times (the ones that grow with the
# messages, not with the connection) and its count per message.
# --callgrind: the user-space instructions per message, counted by valgrind's
# callgrind: two runs, of MESSAGES/3 and of MESSAGES messages, and the
# difference divided by the difference in messages (start-up and exit cancel
# out). The kernel's work (the system calls) is not in it. Use a release
# build for it (the dev build is -O0): cmake --preset release -B build/perf.
#
# SERVER is a binary of build/dev/bin (or of $BIN).
set -euo pipefail
cd "$(dirname "$0")/.."
tool=strace messages=10000
usage() { sed -n '2,/^set/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
if [ "${1:-}" = -h ] || [ "${1:-}" = --help ]; then usage; exit 0; fi
if [ "${1:-}" = --callgrind ]; then tool=callgrind; shift; fi
if [[ ${1:-} =~ ^[0-9]+$ ]]; then messages=$1; shift; fi
bin=${BIN:-build/dev/bin}
[ $# -gt 0 ] || { usage >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# run SERVER N OUT: the server under the tool, N ping-pong messages, SIGTERM.
run() {
  local server=$1 n=$2 out=$3 tracer port
  if [ "$tool" = strace ]; then
    strace -f -c -o "$out" "$bin/$server" --port 0 > "$work/ready" 2> /dev/null &
  else
    valgrind --tool=callgrind --callgrind-out-file="$out" "$bin/$server" --port 0 > "$work/ready" 2> /dev/null &
  fi
  tracer=$!
  for _ in $(seq 300); do grep -q listening "$work/ready" && break; sleep 0.1; done
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/ready")
  [ -n "$port" ] || { echo "$server: no ready line" >&2; kill "$tracer"; exit 1; }
  python3 - "$port" "$n" <<'EOF'
import socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
s = socket.create_connection(("127.0.0.1", port))
s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
msg = b"x" * 64
for _ in range(n):
    s.sendall(msg)
    got = 0
    while got < len(msg):
        chunk = s.recv(len(msg) - got)
        if not chunk:
            sys.exit("the server closed early")
        got += len(chunk)
s.close()
EOF
  if [ "$tool" = strace ]; then kill -TERM "$(pgrep -P "$tracer")"; else kill -TERM "$tracer"; fi  # the server
  wait "$tracer" || true
}

for server in "$@"; do
  if [ "$tool" = strace ]; then
    run "$server" "$messages" "$work/$server.strace"
    echo "== $server: strace -f -c, one client, $messages ping-pong messages of 64 B"
    awk -v n="$messages" '$4 ~ /^[0-9]+$/ && $4 >= n / 2 {
        printf "  %-14s %8d  %.2f per message%s\n", $NF, $4, $4 / n, ($5 ~ /^[0-9]+$/ ? "  (" $5 " errors)" : "") }' \
        "$work/$server.strace"
  else
    few=$((messages / 3))
    run "$server" "$few" "$work/$server.few"
    run "$server" "$messages" "$work/$server.many"
    a=$(sed -n 's/^summary: //p' "$work/$server.few")
    b=$(sed -n 's/^summary: //p' "$work/$server.many")
    echo "== $server: callgrind, one client, $few then $messages ping-pong messages of 64 B"
    echo "  user-space instructions: $a, then $b: $(( (b - a) / (messages - few) )) per message"
  fi
done
