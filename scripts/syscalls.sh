#!/bin/bash
# syscalls.sh SERVER PORT: every system call the server (all its threads and
# children) makes while `ioclient check` runs its 9 cases.
B=${B:-build/release/bin}  # the binaries: run from the repository root, or set B
S=$1; PORT=$2
strace -f -c -o /tmp/$S.strace $B/$S --port $PORT > /dev/null 2> /tmp/$S.err & TRACER=$!
sleep 1
$B/ioclient check --port $PORT | tail -1
kill $(pgrep -P $TRACER); wait $TRACER
tail -1 /tmp/$S.err
grep -E 'calls|accept4|clone|wait4|recvfrom|sendto|futex|rt_sigreturn|total' /tmp/$S.strace
