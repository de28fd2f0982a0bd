#!/usr/bin/env bash
# Where the time goes: profiles epoll_server and uring_server under
# `ioclient bench -c 50 -s 64` (the load of bench/run.sh's first row), and
# measures what the counters cost. docs/performance.md shows a run.
#
#   bench/profile.sh                 all three parts (~4 minutes)
#   bench/profile.sh --perf-only     only the perf part
#   bench/profile.sh --callgrind-only
#   bench/profile.sh --counters-only only part 3
#
# 1. perf record -e cpu-clock -g on the server process for SECONDS (default 4)
#    while bench runs. (Hardware counters are not available on this VM;
#    cpu-clock sampling is.) Prints, per server: the share of samples in the
#    kernel and in each user-space object, the top symbols by self time,
#    and the top entry points by inclusive time (so "recv and everything it
#    calls" shows as one line).
# 2. valgrind --tool=callgrind on each server for a short bounded run (bench
#    -c 50 -s 64 -d 2): the user-space instructions executed on the source
#    lines that increment a counter (++k.recv_calls, k.send_bytes += n, ...),
#    against all user-space instructions. Needs the release flags plus -g, so
#    it builds its own copy into build/perf-g. Callgrind sees user space
#    only: the kernel's share of the CPU (part 1) is not in its total.
# 3. epoll_server built with counters and without (-DIOM_COUNTERS=OFF), each
#    under callgrind for 1 s and 3 s of the same load: the user-space
#    instructions per message of each build (the slope between the two runs).
#
# Installs linux-perf and valgrind with apt-get if missing. Loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build/perf seconds=4 do_perf=1 do_cg=1 do_ab=1
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --perf-only) do_cg=0 do_ab=0; shift ;;
    --callgrind-only) do_perf=0 do_ab=0; shift ;;
    --counters-only) do_perf=0 do_cg=0; shift ;;
    -h|--help) sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/profile.sh: unknown option $1" >&2; exit 2 ;;
  esac
done

missing=()
command -v perf >/dev/null || missing+=(linux-perf)
command -v valgrind >/dev/null || missing+=(valgrind)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

tmp=$(mktemp -d /tmp/iom-profile-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# start_server BIN NAME [wrapper...]: starts it on --port 0, sets $port and $spid.
start_server() {
  local bin=$1 name=$2; shift 2
  "$@" "$bin/$name" --port 0 --echo plain --stats-file "$tmp/$name.json" >"$tmp/$name.out" 2>"$tmp/$name.err" &
  spid=$!
  pids+=("$spid")
  for _ in $(seq 1 300); do  # up to 30 s: under valgrind start-up is slow
    grep -q '^listening on' "$tmp/$name.out" 2>/dev/null && break
    sleep 0.1
  done
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/$name.out")
  [ -n "$port" ] || { echo "profile: $name did not start: $(cat "$tmp/$name.err")" >&2; exit 1; }
}
stop_server() { kill -TERM "$spid"; wait "$spid" || true; }
# top DATA N perf-report-options...: the first N lines with a percentage.
top() {
  local data=$1 n=$2; shift 2
  perf report -i "$data" --stdio -g none "$@" >"$tmp/report.txt" 2>/dev/null || true
  grep '%' "$tmp/report.txt" | grep -v '^#' | head -n "$n" || true
}
cat >"$tmp/summary.py" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print(f"{r['messages_per_second']:.0f} msg/s, server {r['server_cpu_us_per_message']:.2f} us CPU/msg, errors {r['errors']}")
EOF

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "uptime at start: $(uptime)"

if [ "$do_perf" = 1 ]; then
  [ -x "$build_dir/bin/epoll_server" ] || cmake --preset release -B "$build_dir" >/dev/null
  cmake --build "$build_dir" -j "$(nproc)" >/dev/null
  bin=$build_dir/bin
  for name in epoll_server uring_server; do
    start_server "$bin" "$name"
    "$bin/ioclient" bench --port "$port" --echo plain -c 50 -s 64 -d "$seconds" --warmup 1 \
      --server-pid "$spid" --json >"$tmp/bench.json" &
    bpid=$!
    sleep 1  # the warm-up
    perf record -q -e cpu-clock -g -p "$spid" -o "$tmp/$name.data" -- sleep "$seconds" 2>/dev/null
    wait "$bpid"
    stop_server
    echo
    echo "=== $name, C=50 64 B: $(python3 "$tmp/summary.py" "$tmp/bench.json")"
    echo "--- samples by object (self)"
    top "$tmp/$name.data" 8 --no-children --sort dso
    echo "--- top 25 symbols, self time ([k] kernel, [.] user)"
    top "$tmp/$name.data" 25 --no-children --sort sym
    echo "--- top 25 symbols, inclusive (the time in a function and everything it calls)"
    top "$tmp/$name.data" 25 --children --sort sym
    echo "--- selected entry points, inclusive: each system call, the loopback receive path (softirq), scheduling"
    grep -E '\] (__send|__libc_recv|epoll_wait|__do_sys_io_uring_enter|io_send|io_recv|io_accept|io_cqring_wait|tcp_sendmsg|tcp_recvmsg|net_rx_action|schedule|__schedule|finish_task_switch[.a-z0-9]*|iom::nb::pump|_copy_to_iter|_copy_from_iter)$' \
      "$tmp/report.txt" || true
  done
fi

if [ "$do_cg" = 1 ]; then
  gdir=${build_dir}-g
  cmake --preset release -B "$gdir" -DCMAKE_CXX_FLAGS=-g >/dev/null
  cmake --build "$gdir" -j "$(nproc)" --target epoll_server uring_server ioclient >/dev/null
  # The fields of IOM_COUNTERS (common/counters.hpp): a source line counts as
  # a counter increment if it does ++X.field, X.field += ..., or X.field = max(...).
  fields=$(sed -n 's/^ *X(\([a-z_]*\),.*/\1/p' common/counters.hpp | paste -sd'|')
  for name in epoll_server uring_server; do
    start_server "$gdir/bin" "$name" valgrind --tool=callgrind --callgrind-out-file="$tmp/$name.cg"
    "$gdir/bin/ioclient" bench --port "$port" --echo plain -c 50 -s 64 -d 2 --warmup 0.5 --json >"$tmp/bench.json" &
    bpid=$!
    # Dump while the traffic runs (callgrind takes the request only while the
    # program executes), from the start to about 2 s in. Stopping the server
    # would dump too, but valgrind 3.19 can hold SIGTERM back while
    # uring_server sleeps in io_uring_enter, so the server may not stop.
    sleep 2
    callgrind_control -d "$spid" >/dev/null 2>&1
    wait "$bpid" || true
    kill -TERM "$spid"
    for _ in $(seq 1 100); do kill -0 "$spid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    [ -s "$tmp/$name.cg.1" ] || { echo "profile: no callgrind dump for $name" >&2; continue; }
    callgrind_annotate --auto=yes --threshold=100 --show-percs=no "$tmp/$name.cg.1" >"$tmp/$name.annot" 2>/dev/null
    echo
    echo "=== $name under callgrind, bench -c 50 -s 64 (dumped ~2 s in): user-space instructions on counter lines"
    python3 - "$tmp/$name.annot" "$fields" <<'EOF'
import json, re, sys
annot, fields = sys.argv[1], sys.argv[2]
inc = re.compile(r"(\+\+\s*\w+\.(%s)\b|\b\w+\.(%s)\s*(\+=|=\s*std::max))" % (fields, fields))
total = None
counter_ir, lines = 0, []
for line in open(annot, errors="replace"):
    m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?PROGRAM TOTALS", line)
    if m and total is None:
        total = int(m.group(1).replace(",", ""))
        continue
    # annotated source lines: "  1,234 (0.1%)  source" or "  1,234  source" or ".  source"
    m = re.match(r"^\s*([\d,]+)\s+(?:\(\s*[\d.]+%\)\s+)?(.*)$", line)
    if m and inc.search(m.group(2)) and not m.group(2).lstrip().startswith("//"):
        ir = int(m.group(1).replace(",", ""))
        counter_ir += ir
        lines.append((ir, m.group(2).strip()))
print(f"total user-space instructions (Ir): {total:,}")
print(f"on counter-increment lines: {counter_ir:,} Ir = {100 * counter_ir / total:.2f}% of user-space instructions")
for ir, src in sorted(lines, reverse=True)[:12]:
    print(f"  {ir:>12,}  {src[:100]}")
EOF
  done
fi
if [ "$do_ab" = 1 ]; then
  # 3. The same server built with counters and without (-DIOM_COUNTERS=OFF),
  # under callgrind: user-space instructions per message, which no load on the
  # machine can blur. Two runs per build, 1 s and 3 s of bench -c 50 -s 64;
  # the slope (Ir3 - Ir1) / (messages3 - messages1) removes start-up and
  # shut-down. epoll_server only: under valgrind 3.19 uring_server does not
  # stop on SIGTERM while it sleeps in io_uring_enter.
  for variant in counted uncounted; do
    dir=${build_dir}-ab-$variant
    flag=ON; [ "$variant" = uncounted ] && flag=OFF
    cmake --preset release -B "$dir" -DIOM_COUNTERS=$flag >/dev/null
    cmake --build "$dir" -j "$(nproc)" --target epoll_server ioclient >/dev/null
  done
  ir_and_messages() {  # BIN SECONDS -> "IR MESSAGES"
    start_server "$1" epoll_server valgrind --tool=callgrind --callgrind-out-file="$tmp/ab.cg"
    local msgs
    msgs=$("$1/ioclient" bench --port "$port" --echo plain -c 50 -s 64 -d "$2" --warmup 0 --json |
      python3 -c "import json, sys; print(json.load(sys.stdin)['messages'])")
    stop_server
    echo "$(sed -n 's/^summary: *//p' "$tmp/ab.cg") $msgs"
  }
  echo
  echo "=== epoll_server under callgrind, counted and uncounted builds: user-space instructions per message"
  for variant in counted uncounted; do
    read -r ir1 m1 <<<"$(ir_and_messages "${build_dir}-ab-$variant/bin" 1)"
    read -r ir3 m3 <<<"$(ir_and_messages "${build_dir}-ab-$variant/bin" 3)"
    echo "$variant: $ir1 Ir / $m1 messages (1 s), $ir3 Ir / $m3 messages (3 s): $(( (ir3 - ir1) / (m3 - m1) )) Ir per message"
  done
fi

echo
echo "uptime at end: $(uptime)"
