#!/usr/bin/env bash
# The FTP benchmark of issues 14 and 16 ("Performance"): epoll_ftp_server and
# uring_ftp_server against vsftpd (scripts/vsftpd_server.sh) and pyftpdlib
# (scripts/pyftpd_server.py), each over an identical tree, on loopback, with
# `ioclient ftp load` as the load (every byte verified) and curl as the
# cross-check; then a table of medians, the ratios against the peers, and
# the issues' targets marked met or missed (every round's ratio agrees) or
# within noise (the rounds disagree).
#
#   bench/ftp.sh                       the full run: 3 rounds; about 10 min on a quiet 2-core machine
#   bench/ftp.sh --quick               a smoke run: 1 round, small files, 100 idle sessions; ~1 min
#   bench/ftp.sh --servers epoll,pyftpd --out /tmp/ftp-results
#   bench/ftp.sh --quick --build build/dev/bin --servers epoll,uring,pyftpd
#   bench/ftp.sh --runs 5 --servers epoll,uring --baseline /tmp/before/bin   # a change, before and after
#   bench/ftp.sh --tls                  FTPS: every server and client over TLS (one certificate,
#                                       scripts/ftps-cert.sh), issue 24's targets
#
# Options: --quick, --servers LIST (epoll,uring,vsftpd,pyftpd), --runs N (3),
# --out DIR (build/release/ftp-bench-results), --build DIR (a directory that
# holds epoll_ftp_server, uring_ftp_server and ioclient: use it, do not build),
# --baseline DIR (another build's epoll_ftp_server and uring_ftp_server: each
# of ours runs again as NAME@base in every round, and a table gives after /
# before for every row, with the rounds' range: a refactor's cost, measured),
# --tls (all four servers with --tls-cert/--tls-key, ioclient with --tls
# --cacert, curl with --ssl-reqd --cacert, the logins and idle sessions by
# ftplib.FTP_TLS; 1 and 20 sessions only, no cold files; adds the NOOPs' p99
# of a logged-in session while 300 clients do their handshakes at once, and
# OpenSSL's and the server's own share of its CPU to the profile).
#
# What it measures, each in 3 rounds and given as the median. A round takes
# each measurement of every server back to back (a fresh server each time,
# in a rotating order), so the two sides of a ratio are seconds apart, and a
# ratio's verdict needs every round on the same side of the goal:
#  - download rate, all sessions together, at 1, 20 and 200 sessions
#    (ioclient ftp load --get: a 64 MiB file of random bytes, repeated for
#    3 s at 1 and 20 sessions, about 10 GiB at 20 here; 4 MiB once each at
#    200 sessions);
#  - upload rate the same way (ioclient ftp load --put: each upload is read
#    back to verify it, so this rate counts both directions);
#  - 20 curl processes at once, 4 downloads each, and 20 with 2 uploads
#    (-T) each: the cross-check that ioclient is not the bottleneck, and
#    uploads alone;
#  - ours only (epoll, uring, uring-copy): 20 curl downloads at once of 20
#    different 64 MiB files (4 MiB with --quick), each evicted from the
#    page cache first (scripts/pagecache.py: fdatasync, then posix_fadvise
#    POSIX_FADV_DONTNEED): the cold disk;
#  - server CPU seconds per GiB moved (utime+stime of the server's process
#    tree, with its reaped children, from /proc/PID/stat before and after);
#  - 200 logins one after another (Python's ftplib), timed;
#  - once (a count, not a timing): anonymous memory (Pss_Anon) of the server
#    tree per idle logged-in session, before and after 1,000 such sessions
#    (the client holds 1,000 descriptors: under the 20,000 of `ulimit -n`);
#  - the ceiling: `iperf3 -Z` (sendfile), one stream over loopback, 3 s;
#  - once (not with --quick): where each server's CPU goes, by `perf record
#    -e cpu-clock` during 20 downloads and then 20 uploads: the share of
#    its samples in the kernel, in io_uring's worker threads, and in its
#    largest user-space object.
# --servers may also name uring-copy: uring_ftp_server --no-sendfile, its
# path through a buffer (READ + SEND) beside its splice path.
# vsftpd needs root and scripts/vsftpd_server.sh, the ceiling iperf3, the
# profile perf;
# without them, SKIP. Output:
# the table on stdout (also OUT/table.md), raw figures in OUT/results.json,
# the servers' stderr in OUT/NAME.err, the rounds done so far in
# OUT/partial.json. Exit status 0 when every byte was
# verified, whether or not targets are met. Loopback only; every step has a
# timeout; every process started is stopped at exit. Relative paths are
# taken from the repository's root.
set -euo pipefail
cd "$(dirname "$0")/.."

invocation="bench/ftp.sh $*"
quick="" servers=epoll,uring,vsftpd,pyftpd runs=3 out="" bin="" baseline="" tls=""
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=--quick runs=1; shift ;;
    --servers) servers=${2:?}; shift 2 ;;
    --runs) runs=${2:?}; shift 2 ;;
    --out) out=${2:?}; shift 2 ;;
    --build) bin=${2:?}; shift 2 ;;
    --baseline) baseline=${2:?}; shift 2 ;;
    --tls) tls=--tls; shift ;;
    -h|--help) sed -n '2,68p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench/ftp.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
done
[[ $runs =~ ^[1-9][0-9]?$ ]] || { echo "bench/ftp.sh: --runs must be 1 to 99" >&2; exit 2; }
IFS=, read -ra names <<<"$servers"
for s in "${names[@]}"; do
  case "$s" in epoll|uring|uring-copy|vsftpd|pyftpd) ;;
    *) echo "bench/ftp.sh: unknown server $s (epoll, uring, uring-copy, vsftpd, pyftpd)" >&2; exit 2 ;; esac
done

if [ -z "$bin" ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release --target epoll_ftp_server uring_ftp_server ioclient
  bin=build/release/bin
fi
out=${out:-build/release/ftp-bench-results${tls:+-tls}}
for b in epoll_ftp_server uring_ftp_server ioclient; do
  [ -x "$bin/$b" ] || { echo "bench/ftp.sh: $bin/$b is missing (build it, or drop --build)" >&2; exit 2; }
done
for b in epoll_ftp_server uring_ftp_server; do
  [ -z "$baseline" ] || [ -x "$baseline/$b" ] || { echo "bench/ftp.sh: $baseline/$b is missing (--baseline)" >&2; exit 2; }
done
command -v curl >/dev/null || { echo "bench/ftp.sh: curl is missing (scripts/install-deps.sh)" >&2; exit 2; }
iperf3=yes
command -v iperf3 >/dev/null || iperf3="iperf3 is not installed (apt-get install iperf3)"
profile=yes
if [ -n "$quick" ]; then profile="not with --quick"
elif ! command -v perf >/dev/null; then profile="perf is not installed (apt-get install linux-perf)"
fi
python=/usr/bin/python3   # Debian's, with python3-pyftpdlib
vsftpd=yes
if [ "$(id -u)" -ne 0 ]; then vsftpd="not root (vsftpd chroots and switches users)"
elif [ ! -f scripts/vsftpd_server.sh ]; then vsftpd="scripts/vsftpd_server.sh is not there"
elif ! command -v vsftpd >/dev/null; then vsftpd="vsftpd is not installed"
fi

echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), kernel $(uname -r)"
echo "peers: pyftpdlib $($python -c 'import pyftpdlib; print(pyftpdlib.__ver__)' 2>/dev/null || echo '?'),"\
     "vsftpd $(dpkg-query -W -f='${Version}' vsftpd 2>/dev/null || echo '?'), $(curl --version | head -1 | cut -d' ' -f1-2), $(iperf3 --version 2>/dev/null | head -1 || echo 'no iperf3')"
echo "code: commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') + $(git status --short 2>/dev/null | wc -l) uncommitted paths"
echo "command: $invocation  (binaries: $bin)"
echo "date: $(date -u '+%Y-%m-%d %H:%M UTC'); uptime at start: $(uptime)"
echo
# The Python child does the work; the trap is its own (it stops every
# process it started, on exit and on SIGINT/SIGTERM), and a bound on the
# whole run stops it if something hangs past every per-step timeout.
per_round=400; [ -z "$baseline" ] || per_round=700   # a baseline runs our servers twice
exec timeout --signal=TERM --kill-after=30 $((runs * per_round + 600)) \
  "$python" bench/ftp_bench.py --bin "$bin" --servers "$servers" --runs "$runs" $quick --out "$out" \
  --python "$python" --vsftpd "$vsftpd" --iperf3 "$iperf3" --profile "$profile" --baseline "$baseline" $tls
