#!/bin/bash
# load.sh SERVER PORT CONNECTIONS [server options...]: 5 s of 64-byte
# ping-pong on CONNECTIONS connections, then the server's own counters.
B=${B:-build/release/bin}  # the binaries: run from the repository root, or set B
S=$1; PORT=$2; C=$3; shift 3
$B/$S --port $PORT "$@" > /dev/null 2> /tmp/$S.err & PID=$!
sleep 1
$B/ioclient bench --port $PORT -c $C -s 64 -d 5 --server-pid $PID
kill $PID; wait $PID; tail -1 /tmp/$S.err
