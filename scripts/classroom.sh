#!/usr/bin/env bash
# The classroom in one command: start every server of a build on its default
# port (the echo servers of bin/servers.txt, 9001-9032, and the two FTP
# servers, 2121 and 2122, anonymous and read-only), then open a tmux session
# with `ioclient top` in one pane and, in the other, a shell that prints the
# commands the class can run against them. Every server it started is
# stopped (SIGTERM) when the session ends, or when this script is stopped.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: scripts/classroom.sh [--build DIR] [--session NAME] [--host ADDR] [--no-attach]

  --build DIR     the build whose bin/ holds the servers and ioclient (default: build/release if
                  built, else build/dev)
  --session NAME  the tmux session's name (default: iomodels)
  --host ADDR     the address the servers listen on (default: 127.0.0.1; 0.0.0.0 lets the class
                  connect from their own laptops: anyone on the network can then)
  --no-attach     do not attach to the session: wait for it to end (tmux kill-session -t NAME)
  -h, --help      this help

In the session: q in the top pane quits top; `tmux kill-session` (or exiting both panes) ends the
class and stops the servers. A port already in use is reported and that server skipped.
EOF
}

root="$(cd "$(dirname "$0")/.." && pwd)"
build="" session="iomodels" host="127.0.0.1" attach=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build) build="$2"; shift 2 ;;
    --session) session="$2"; shift 2 ;;
    --host) host="$2"; shift 2 ;;
    --no-attach) attach=0; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "classroom.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
if [ -z "$build" ]; then
  build="$root/build/release"
  [ -x "$build/bin/ioclient" ] || build="$root/build/dev"
fi
bin="$build/bin"
[ -f "$bin/servers.txt" ] && [ -x "$bin/ioclient" ] || {
  echo "classroom.sh: no build in $build (cmake --workflow --preset release, or --build DIR)" >&2; exit 1; }
command -v tmux >/dev/null || { echo "classroom.sh: tmux is not installed (scripts/install-deps.sh)" >&2; exit 1; }
if tmux has-session -t "$session" 2>/dev/null; then
  echo "classroom.sh: a tmux session named $session already exists (--session NAME)" >&2; exit 1
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/iomodels-class.XXXXXX")"
pids=()
stop_servers() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap stop_servers EXIT
trap 'exit 130' INT TERM

# Start one server on its default port and wait for its ready line (or its exit).
start() {
  local name="$1"; shift
  "$bin/$name" --host "$host" "$@" </dev/null >"$work/$name.out" 2>"$work/$name.err" &
  local pid=$!
  for _ in $(seq 200); do
    if grep -q '^listening on' "$work/$name.out"; then
      pids+=("$pid")
      printf '  %-20s %s\n' "$name" "$(cut -d' ' -f3 "$work/$name.out")"
      return
    fi
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  echo "  $name: not started: $(tail -n 1 "$work/$name.err")" >&2
  kill -TERM "$pid" 2>/dev/null || true
}

echo "classroom.sh: starting the servers of $build"
while IFS=$'\t' read -r name _; do
  [ -n "$name" ] && start "$name"
done <"$bin/servers.txt"
mkdir -p "$work/ftp/pub"
echo "Hello from the iomodels FTP servers." >"$work/ftp/pub/hello.txt"
head -c 10000000 /dev/zero >"$work/ftp/pub/10MB.bin"
start epoll_ftp_server --root "$work/ftp" --anonymous
start uring_ftp_server --root "$work/ftp" --anonymous

cat >"$work/commands.txt" <<EOF
Servers are listening on $host (the top pane shows each with its port). Try:

  nc $host 9023                                  # type a line: it comes back upper-cased
  $bin/ioclient chat --port 9021
  $bin/ioclient bench --port 9023 -c 50 -d 10    # 50 clients, ping-pong, 10 s
  $bin/ioclient bench --port 9022 -c 1 -d 20 --idle 1000   # poll with 1,000 idle connections: watch FD/WT
  $bin/ioclient bench --port 9002 -c 200 -d 20   # thread per connection: watch THR
  $bin/ioclient bench --port 9031 -c 50 -d 10    # io_uring: watch SYS/M fall below 1
  $bin/ioclient ftp load --sessions 10 --get 10MB.bin ftp://$host:2121/    # 10 downloads at once
  curl -s ftp://$host:2122/hello.txt             # anonymous, read-only: ROOT/pub

In the top pane: s sort, p pause, h help, q quit. End the class: tmux kill-session -t $session
EOF

# top must look where the servers publish, whatever environment a running tmux server has.
live="${IOM_LIVE_DIR:-${XDG_RUNTIME_DIR:-/dev/shm}}"
tmux new-session -d -s "$session" -x 200 -y 50 -e "IOM_LIVE_DIR=$live" "$bin/ioclient top"
tmux split-window -t "$session" -v -l 14 "cat '$work/commands.txt'; exec \${SHELL:-bash}"
tmux select-pane -t "$session:0.0"
if [ "$attach" = 1 ] && [ -t 1 ]; then
  tmux attach -t "$session" || true
fi
# Detached (or never attached): the servers live as long as the session.
while tmux has-session -t "$session" 2>/dev/null; do sleep 1; done
echo "classroom.sh: the session has ended; stopping the servers"
