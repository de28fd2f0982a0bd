#!/usr/bin/env bash
# Two servers measured at the same moment: server CPU per message of A and
# of B under the same load, each with its own `ioclient bench`, both running
# at once. On this VM the speed of the machine swings by 20-30 % between
# runs seconds apart, far more than the difference between two servers;
# measured side by side, both see the same swings, and the ratio B/A of one
# round cancels them. The price: four busy threads share two cores, so the
# absolute figures are not those of bench/run.sh, only the ratio is.
#
#   bench/pair.sh A B [ROUNDS] [CONNECTIONS] [SIZE] [SECONDS]
#   bench/pair.sh build/perf/bin/epoll_server build/perf/bin/uring_server
#   bench/pair.sh build/perf/bin/uring_server build/perf-nocounters/bin/uring_server 8
#   bench/pair.sh build/perf/bin/uring_server "build/perf/bin/uring_server --batch 64"
#
# A and B are server commands (a binary and maybe options; started with
# --port 0 --echo plain added); the defaults are 6 rounds of 500
# connections x 64 B for 3 s (after 0.5 s of warm-up). Each round starts fresh servers, A first then B on odd rounds and
# the other way round on even ones. Prints each round and the median of the
# per-round ratios. Loopback only; every run is bounded by SECONDS. The load
# comes from build/perf/bin/ioclient, or from $IOCLIENT if set. Relative
# paths are taken from the repository's root.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 2 ] || [ "$1" = -h ] || [ "$1" = --help ]; then
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'
  exit $(( $# < 2 ? 2 : 0 ))
fi
a=$1 b=$2 rounds=${3:-6} conns=${4:-500} size=${5:-64} secs=${6:-3}
[[ $rounds =~ ^[1-9][0-9]*$ && $conns =~ ^[1-9][0-9]*$ && $size =~ ^[1-9][0-9]*$ && $secs =~ ^[0-9]*\.?[0-9]+$ ]] ||
  { echo "bench/pair.sh: ROUNDS, CONNECTIONS and SIZE must be positive integers, SECONDS a number" >&2; exit 2; }
ioclient=${IOCLIENT:-build/perf/bin/ioclient}
read -ra cmd_A <<<"$a"
read -ra cmd_B <<<"$b"
for bin in "${cmd_A[0]}" "${cmd_B[0]}" "$ioclient"; do
  [ -x "$bin" ] || { echo "bench/pair.sh: $bin: not an executable (build the release preset: bench/run.sh)" >&2; exit 2; }
done

tmp=$(mktemp -d /tmp/iom-pair-XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$tmp"; }
trap cleanup EXIT

# start NAME: server NAME (A or B) on --port 0; sets port_NAME and pid_NAME.
start() {
  local -n cmd=cmd_$1
  "${cmd[@]}" --port 0 --echo plain --max-connections $((conns + 100)) >"$tmp/$1.out" 2>"$tmp/$1.err" &
  local pid=$!
  pids+=("$pid")
  for _ in $(seq 1 50); do grep -q '^listening on' "$tmp/$1.out" && break; sleep 0.1; done
  local port
  port=$(sed -n 's/^listening on .*:\([0-9]*\)$/\1/p' "$tmp/$1.out")
  [ -n "$port" ] || { echo "bench/pair.sh: ${cmd[*]} did not start: $(cat "$tmp/$1.err")" >&2; exit 1; }
  printf -v "port_$1" %s "$port"
  printf -v "pid_$1" %s "$pid"
}
load() {  # load NAME: bench against it, JSON into NAME.json
  local port_var=port_$1 pid_var=pid_$1
  "$ioclient" bench --echo plain -c "$conns" -s "$size" -d "$secs" --warmup 0.5 \
    --port "${!port_var}" --server-pid "${!pid_var}" --json >"$tmp/$1.json"
}

echo "A = $a"
echo "B = $b"
echo "$rounds rounds, both at once: $conns connections x $size B, ${secs} s each (+0.5 s warm-up)"
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then start A; start B; else start B; start A; fi
  load A & la=$!
  load B
  wait "$la"
  kill "$pid_A" "$pid_B"; wait "$pid_A" "$pid_B" 2>/dev/null || true
  pids=()
  python3 - "$tmp/A.json" "$tmp/B.json" "$r" >>"$tmp/rounds.txt" <<'EOF'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
for j in (a, b):
    if j["errors"]:
        sys.exit(f"bench/pair.sh: errors in a run: {j['first_error']}")
ratio = b["server_cpu_us_per_message"] / a["server_cpu_us_per_message"]
print(f"{sys.argv[3]} {a['messages_per_second']:.0f} {a['server_cpu_us_per_message']:.3f} "
      f"{b['messages_per_second']:.0f} {b['server_cpu_us_per_message']:.3f} {ratio:.4f}")
EOF
  tail -n 1 "$tmp/rounds.txt" | awk '{printf "round %s: A %7d msg/s %6.2f us/msg   B %7d msg/s %6.2f us/msg   B/A %.3f\n", $1, $2, $3, $4, $5, $6}'
done
sort -n -k6 "$tmp/rounds.txt" | awk '{r[NR]=$6} END {m = NR % 2 ? r[(NR+1)/2] : (r[NR/2] + r[NR/2+1]) / 2;
  printf "server CPU per message, B/A: median %.3f (min %.3f, max %.3f, %d rounds)\n", m, r[1], r[NR], NR}'
