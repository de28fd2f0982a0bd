#!/bin/bash
# mux.sh SERVER PORT CONNECTIONS IDLE [server options...]: run ioclient bench
# (64-byte ping-pong, 3 s, plus IDLE idle connections) against SERVER, stop
# it, and print the bench's figures next to the server's own counters.
B=${B:-build/release/bin}  # the binaries: run from the repository root, or set B
S=$1; PORT=$2; C=$3; IDLE=$4; shift 4
$B/$S --port $PORT --stats-file /tmp/$S.json "$@" > /dev/null 2>&1 & PID=$!
sleep 0.5
$B/ioclient bench --port $PORT --connections $C --size 64 --duration 3 --warmup 1 \
    --idle $IDLE --server-pid $PID --json > /tmp/$S.bench
kill -INT $PID; wait $PID
get() { grep -o "\"$1\": [-0-9.e+]*" "$2" | head -1 | cut -d' ' -f2; }
calls=$(get wait_calls /tmp/$S.json)
printf '%-13s %5s idle  %7.0f msg/s  %6.1f us CPU/msg  %7d waits  %7.1f fds/wait  %5.2f ready/wait  errors %s\n' \
    $S $IDLE $(get messages_per_second /tmp/$S.bench) $(get server_cpu_us_per_message /tmp/$S.bench) $calls \
    $(awk "BEGIN { print $(get wait_fds /tmp/$S.json) / $calls }") $(awk "BEGIN { print $(get wait_ready /tmp/$S.json) / $calls }") \
    $(get errors /tmp/$S.bench)
