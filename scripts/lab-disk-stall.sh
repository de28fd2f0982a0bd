#!/usr/bin/env bash
# The lab of issue 16: a cold disk and a waiting class. What "the loop never
# blocks" means once files are involved.
#
# Both FTP servers serve the same tree of large files. For each server, K
# sessions download K different files while one more session sends NOOP
# every few milliseconds and records each reply's round trip. Cold: every
# file is evicted from the page cache first (posix_fadvise DONTNEED: no
# privilege needed; the files are fsync'ed when made, so no page is dirty).
# Warm: every file is read once first. Printed per server and run: the
# aggregate download rate and the control session's p50/p99/max round trip.
#
# What to look for: epoll_ftp_server reads files on its one thread
# (sendfile); a read that misses the page cache waits for the disk and every
# session waits with it, the NOOPs too. uring_ftp_server submits the reads,
# and its loop answers the NOOPs while the disk works. Warm, both are quick.
#
# Not a test and not a benchmark for docs on a loaded machine: run it at a
# quiet moment. Bounded: each run stops after --run-seconds (default 10).
# Usage: scripts/lab-disk-stall.sh [--sessions K] [--size-mib N] [--noop-ms MS]
#                                  [--run-seconds S] [--dir DIR] [--build DIR]
set -euo pipefail
cd "$(dirname "$0")/.."
build=build/release
args=()
while (($#)); do
  case $1 in
    --build) build=$2; shift 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
if [[ ! -x $build/bin/epoll_ftp_server || ! -x $build/bin/uring_ftp_server ]]; then
  preset=$(basename "$build")
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" --target epoll_ftp_server uring_ftp_server >/dev/null
fi
exec python3 - "$build/bin" "${args[@]}" <<'PY'
import argparse, ftplib, os, re, shutil, subprocess, sys, time
sys.path.insert(0, 'scripts')
import pagecache  # scripts/pagecache.py: the one way to make a file cold

p = argparse.ArgumentParser(prog='lab-disk-stall.sh')
p.add_argument('bin')
p.add_argument('--sessions', type=int, default=4, help='downloads at once, each of its own file')
p.add_argument('--size-mib', type=int, default=128, help='size of each file')
p.add_argument('--noop-ms', type=float, default=2, help='pause between two NOOPs of the control session')
p.add_argument('--run-seconds', type=float, default=10, help='a run stops after this long, downloads or not')
p.add_argument('--dir', default='build/lab-disk-stall', help='where the tree goes (a disk, not tmpfs)')
a = p.parse_args()

home = os.path.join(a.dir, 'root', 'alice')
os.makedirs(home, exist_ok=True)
files = ['f%d.bin' % i for i in range(a.sessions)]
size = a.size_mib << 20
chunk = os.urandom(1 << 20)
for name in files:  # made once, kept for the next run of the lab
    path = os.path.join(home, name)
    if os.path.exists(path) and os.path.getsize(path) == size:
        continue
    with open(path, 'wb') as f:
        for _ in range(a.size_mib):
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())  # clean pages: DONTNEED can drop them

def evict():
    pagecache.evict(os.path.join(home, name) for name in files)

def warm():
    for name in files:
        with open(os.path.join(home, name), 'rb') as f:
            while f.read(1 << 20):
                pass

def cached_share():  # from fincore, when util-linux has it: what share of the tree is in memory
    if not shutil.which('fincore'):
        return '?'
    out = subprocess.run(['fincore', '-b', '-n', '-o', 'RES'] + [os.path.join(home, n) for n in files],
                         capture_output=True, text=True).stdout.split()
    return '%d%%' % (100 * sum(int(x) for x in out) // (size * len(files))) if out else '?'

def start(server):
    proc = subprocess.Popen([os.path.join(a.bin, server), '--port', '0', '--root', os.path.join(a.dir, 'root'),
                             '--user', 'alice:secret'], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = proc.stdout.readline()
    m = re.search(r':(\d+)$', line.strip())
    if not m:
        proc.kill()
        sys.exit('%s did not start: %r' % (server, line))
    return proc, int(m.group(1))

def run(server, port):
    # The downloads are curl processes (no Python lock between them and the
    # probe); the probe is this process, one NOOP at a time.
    curls = [subprocess.Popen(['curl', '-sS', '--max-time', str(a.run_seconds), '-o', '/dev/null', '-w',
                               '%{size_download}', 'ftp://alice:secret@127.0.0.1:%d/%s' % (port, name)],
                              stdout=subprocess.PIPE, text=True) for name in files]
    control = ftplib.FTP()
    control.connect('127.0.0.1', port, timeout=30)
    control.login('alice', 'secret')
    began = time.monotonic()
    rtts = []
    while any(c.poll() is None for c in curls):
        t = time.monotonic()
        control.voidcmd('NOOP')
        rtts.append(time.monotonic() - t)
        time.sleep(a.noop_ms / 1000)  # the probe's pace, not a synchronisation
    elapsed = time.monotonic() - began
    control.close()
    got = sum(int(c.stdout.read() or 0) for c in curls)
    rtts.sort()
    pick = lambda q: rtts[min(len(rtts) - 1, int(q * len(rtts)))] * 1e3 if rtts else float('nan')
    return '%-17s %6.0f MiB/s %s NOOP round trip ms: p50 %7.2f  p99 %7.2f  max %7.2f  (%d NOOPs)' % (
        server, got / elapsed / (1 << 20), 'whole' if got == size * len(files) else 'CUT  ', pick(0.5),
        pick(0.99), pick(1.0), len(rtts))

print('%d sessions x %d MiB, a NOOP every %g ms; tree in %s' % (a.sessions, a.size_mib, a.noop_ms, a.dir))
for mode in ('cold', 'warm'):
    print('--- %s files' % mode)
    for server in ('epoll_ftp_server', 'uring_ftp_server'):
        proc, port = start(server)
        try:
            evict() if mode == 'cold' else warm()
            share = cached_share()
            line = run(server, port)
            print('%s  (in page cache before: %s)' % (line, share))
        finally:
            proc.terminate()
            proc.wait(timeout=20)
PY
