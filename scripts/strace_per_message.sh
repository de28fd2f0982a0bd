#!/usr/bin/env bash
# The system calls a server makes per echoed message, counted by strace: one
# client sends MESSAGES messages of 64 bytes, one at a time, each after the
# previous echo came back (ping-pong), then closes. For the servers whose
# calls an event library makes (libraries/), and that therefore count none
# themselves; run it on epoll_server beside them for the comparison.
# Counts, not times: they repeat on a loaded machine.
#
#   scripts/strace_per_message.sh [MESSAGES] SERVER...
#   scripts/strace_per_message.sh 10000 epoll_server libuv_server libevent_server asio_coro_server
#
# SERVER is a binary of build/dev/bin (or of $BIN). Prints, per server, each
# system call that strace -f -c counted at least MESSAGES/2 times (the ones
# that scale with messages, not with connections), and its count per message.
set -euo pipefail
cd "$(dirname "$0")/.."
messages=10000
if [[ ${1:-} =~ ^[0-9]+$ ]]; then messages=$1; shift; fi
bin=${BIN:-build/dev/bin}
[ $# -gt 0 ] || { sed -n '2,/^set/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

for server in "$@"; do
  strace -f -c -o "$work/$server.strace" "$bin/$server" --port 0 > "$work/ready" 2> /dev/null &
  tracer=$!
  for _ in $(seq 100); do grep -q listening "$work/ready" && break; sleep 0.1; done
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$work/ready")
  [ -n "$port" ] || { echo "$server: no ready line" >&2; kill "$tracer"; exit 1; }
  python3 - "$port" "$messages" <<'EOF'
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
  kill -TERM "$(pgrep -P "$tracer")"  # the server, not strace
  wait "$tracer" || true
  echo "== $server: strace -f -c, one client, $messages ping-pong messages of 64 B"
  awk -v n="$messages" '$4 ~ /^[0-9]+$/ && $4 >= n / 2 {
      printf "  %-14s %8d  %.2f per message%s\n", $NF, $4, $4 / n, ($5 ~ /^[0-9]+$/ ? "  (" $5 " errors)" : "") }' \
      "$work/$server.strace"
done
