#!/bin/bash
# idle.sh SERVER PORT [server options...]: hold 1000 connections (1 active,
# 999 idle) on SERVER and print what they cost, read from /proc.
B=${B:-build/release/bin}  # the binaries: run from the repository root, or set B
S=$1; PORT=$2; shift 2
$B/$S --port $PORT "$@" > /dev/null 2>&1 & PID=$!
sleep 1
report() {  # the server and its children: threads, processes, memory
  P="$PID $(pgrep -P $PID)"
  echo "$1: threads=$(awk '/^Threads/ {print $2}' /proc/$PID/status) children=$(pgrep -c -P $PID)" \
    "VmSize=$(awk '/^VmSize/ {print $2}' /proc/$PID/status)kB" \
    "RSS(sum)=$(for p in $P; do echo /proc/$p/status; done | xargs awk '/^VmRSS/ {s+=$2} END {print s}')kB" \
    "PSS(sum)=$(for p in $P; do echo /proc/$p/smaps_rollup; done | xargs awk '/^Pss:/ {s+=$2} END {print s}')kB" \
    "PTE(sum)=$(for p in $P; do echo /proc/$p/status; done | xargs awk '/^VmPTE/ {s+=$2} END {print s}')kB"
}
report "0 clients   "
$B/ioclient bench --port $PORT -c 1 --idle 999 -d 8 > /tmp/bench_$S.txt 2>&1 & BENCH=$!
sleep 4
report "1000 clients"
wait $BENCH; grep -E 'throughput|unanswered|errors' /tmp/bench_$S.txt
kill $PID; wait $PID
