#!/usr/bin/env bash
# The performance benchmark: epoll_server and uring_server against a Node.js
# `net` echo and a Python asyncio echo (bench/node_echo.js, bench/asyncio_echo.py),
# on loopback, with `ioclient bench` as the load; then the ratios the project's
# targets are about, each with PASS or MISS. docs/performance.md shows a run.
#
#   bench/run.sh                     the full run: 3 rounds of 5 s (+1 s warm-up), then 6 pairs; ~13 minutes
#   bench/run.sh --quick             a smoke run: 1 round of 1 s, pairs of 2 x 1 s; ~1.5 min quiet
#   bench/run.sh --runs 5 --duration 3
#   bench/run.sh --wait-load 2 --wait-max 30   first wait (up to 30 min) for the 1-min load average < 2
#
# Options: --runs N (default 3), --duration S (5), --warmup S (1), --quick,
# --build-dir DIR (build/perf), --out DIR (BUILD_DIR/bench-results), --no-build,
# --no-install, --wait-load L, --wait-max MINUTES.
#
# What it does: builds the release preset into --build-dir (and epoll_server
# and uring_server again with -DIOM_COUNTERS=OFF into BUILD_DIR-nocounters, to
# measure what counting costs; the yardsticks of bench/ — min_client,
# min_epoll_server, min_uring_server — are part of the build), installs nodejs
# and python3 with apt-get if missing, then runs bench/matrix.py, which starts
# every server fresh per measurement (--echo plain --stats-file), measures,
# then measures pairs of servers side by side with bench/pair.sh, and prints
# the table (also written to OUT/table.md, raw figures to OUT/results.json).
# Exit status 0 even when targets are missed: it measures, it does not judge CI.
set -euo pipefail
cd "$(dirname "$0")/.."

invocation="bench/run.sh $*"
runs=3 duration=5 warmup=1 build_dir=build/perf out="" build=1 install=1 wait_load="" wait_max=30
idle=10000 hold=19000
while [ $# -gt 0 ]; do
  case "$1" in
    --runs) runs=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --quick) runs=1 duration=1 warmup=0.3; shift ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --no-build) build=0; shift ;;
    --no-install) install=0; shift ;;
    --wait-load) wait_load=$2; shift 2 ;;
    --wait-max) wait_max=$2; shift 2 ;;
    -h|--help) sed -n '2,23p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/run.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
out=${out:-$build_dir/bench-results}

# --- the extras this script needs, beyond scripts/install-deps.sh ----------
if [ "$install" = 1 ]; then
  scripts/install-deps.sh
  missing=()
  for p in nodejs python3; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" -eq 0 ]; then sudo=(); else sudo=(sudo); fi
    echo "bench/run.sh: installing ${missing[*]}" >&2
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq
    "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  fi
fi
node=$(command -v node || command -v nodejs)
python=/usr/bin/python3   # Debian's, not whatever python3 comes first in PATH

# --- wait for a quiet machine, if asked (before building: the code measured is the newest) --
if [ -n "$wait_load" ]; then
  # Quiet = the 1-minute load average below L at three checks 30 s apart
  # (one dip between two compiles is not a quiet machine).
  deadline=$(( $(date +%s) + wait_max * 60 )) quiet=0
  while :; do
    load1=$(cut -d' ' -f1 /proc/loadavg)
    if awk -v l="$load1" -v w="$wait_load" 'BEGIN { exit !(l < w) }'; then quiet=$((quiet + 1)); else quiet=0; fi
    [ "$quiet" -ge 3 ] && break
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "bench/run.sh: load average still $load1 after $wait_max min; measuring anyway (figures are under load)" >&2
      break
    fi
    echo "bench/run.sh: waiting for load < $wait_load ($quiet/3 quiet checks): $(uptime)" >&2
    sleep 30
  done
fi

# --- build: the release preset (the servers, ioclient and the yardsticks) ------
# The same release build with the counters compiled out, to measure what counting costs.
if [ "$build" = 1 ]; then
  cmake --preset release -B "$build_dir" >/dev/null
  cmake --build "$build_dir" -j "$(nproc)"
  cmake --preset release -B "$build_dir-nocounters" -DIOM_COUNTERS=OFF >/dev/null
  cmake --build "$build_dir-nocounters" -j "$(nproc)" --target epoll_server uring_server
fi
bin=$build_dir/bin
for b in epoll_server uring_server poll_server ioclient min_client min_epoll_server min_uring_server; do
  [ -x "$bin/$b" ] || { echo "bench/run.sh: $bin/$b is missing (build first, or drop --no-build)" >&2; exit 1; }
done
for b in epoll_server uring_server; do
  [ -x "$build_dir-nocounters/bin/$b" ] || { echo "bench/run.sh: $build_dir-nocounters/bin/$b is missing (build first)" >&2; exit 1; }
done

# --- the machine, then the measurements --------------------------------------
echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "peers: node $("$node" --version), $("$python" --version 2>&1)"
echo "code: commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') + $(git status --short 2>/dev/null | wc -l) uncommitted paths"
echo "command: $invocation  (so: --runs $runs --duration $duration --warmup $warmup, build $build_dir)"
echo "uptime at start: $(uptime)"
echo
exec "$python" bench/matrix.py --bin "$bin" --bin-nocounters "$build_dir-nocounters/bin" --runs "$runs" --duration "$duration" --warmup "$warmup" \
  --idle "$idle" --hold "$hold" --out "$out" --node "$node" --python "$python"
