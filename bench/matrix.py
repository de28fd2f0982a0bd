"""matrix.py — the measuring half of bench/run.sh (run.sh builds and installs first).

Starts each server fresh for each measurement (so its --stats-file counters
belong to that measurement alone), drives it with `ioclient bench` (or
bench/min_client), stops it with SIGTERM, and collects:
  - messages/s, p99 latency            from `ioclient bench --json`
  - server CPU per message              from bench --server-pid (/proc/PID/stat)
  - syscalls per echoed message         from the server's counters
and, after every round, the ratios the targets are about. Ratios are taken
within one round (measurements minutes apart on a loaded machine are not
comparable), and the reported figure is the median over the rounds. Last,
pairs of servers measured side by side, both loaded at once (bench/pair.sh):
the two models, their yardsticks (bench/min_epoll_server, min_uring_server),
and each server against its yardstick and against its uncounted build.

Standard library only; run by /usr/bin/python3 (Debian's).
"""
import argparse
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FAST = ["epoll_server", "uring_server"]
PEERS = ["node", "python"]
MATRIX = [(50, 64), (500, 64), (50, 4096), (500, 4096)]


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


class Server:
    """One server process on --port 0; stop() returns its counters (or {})."""

    live = []  # for cleanup on an error or Ctrl-C

    def __init__(self, args, name, extra=(), bin_dir=None):
        self.name = name
        self.stats = None
        if name in ("node", "python"):
            script = "node_echo.js" if name == "node" else "asyncio_echo.py"
            cmd = [args.node if name == "node" else args.python, os.path.join(ROOT, "bench", script), "0"]
        else:
            fd, self.stats = tempfile.mkstemp(prefix=f"{name}-", suffix=".json", dir=args.tmp)
            os.close(fd)
            os.unlink(self.stats)
            cmd = [os.path.join(bin_dir or args.bin, name), "--port", "0", "--echo", "plain",
                   "--stats-file", self.stats, *extra]
        self.err = tempfile.TemporaryFile(dir=args.tmp)
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=self.err, text=True)
        Server.live.append(self)
        line = self.proc.stdout.readline()  # the ready line; a dead server gives ""
        if not line.startswith("listening on "):
            self.kill()
            self.err.seek(0)
            raise RuntimeError(f"{name} did not start: {line!r} {self.err.read().decode(errors='replace')[-500:]}")
        self.port = int(line.strip().rsplit(":", 1)[1])
        self.pid = self.proc.pid

    def kill(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self in Server.live:
            Server.live.remove(self)

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.kill()
            rc = "killed after 20 s"
        Server.live.remove(self)
        counters = {}
        if self.stats:
            try:
                with open(self.stats) as f:
                    counters = json.load(f)["counters"]
                os.unlink(self.stats)
            except (OSError, ValueError, KeyError):
                pass
        if rc != 0:
            log(f"  note: {self.name} exited with {rc}")
        return counters


def ioclient_bench(args, srv, c, s, idle=0, duration=None, warmup=None):
    duration = args.duration if duration is None else duration
    warmup = args.warmup if warmup is None else warmup
    cmd = [os.path.join(args.bin, "ioclient"), "bench", "--port", str(srv.port), "--echo", "plain",
           "-c", str(c), "-s", str(s), "-d", str(duration), "--warmup", str(warmup),
           "--server-pid", str(srv.pid), "--json"]
    if idle:
        cmd += ["--idle", str(idle)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + warmup + 60)
    try:
        r = json.loads(p.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise RuntimeError(f"ioclient bench failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    if r["errors"]:
        log(f"  ERRORS: {srv.name} c={c} s={s} idle={idle}: {r['errors']} errors, first: {r['first_error']}")
    return r


def min_client(args, srv, c, s):
    cmd = [os.path.join(args.bin, "min_client"), "127.0.0.1", str(srv.port), str(c), str(s),
           str(args.duration), str(args.warmup)]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=args.duration + args.warmup + 60)
    if p.returncode != 0:
        raise RuntimeError(f"min_client failed ({p.returncode}): {p.stderr.strip()[-500:]}")
    return json.loads(p.stdout)


def syscalls_per_message(name, counters, size):
    """System calls per message the server echoed in its whole life.

    epoll_server: accept calls (accepted, EAGAIN, failed) + recv + send + epoll_wait.
    uring_server: io_uring_enter only (wait_calls); its accepts, receives and
    sends are submission entries, not system calls.
    """
    if not counters or not counters.get("send_bytes"):
        return None
    messages = counters["send_bytes"] / size
    if name.startswith("uring"):
        calls = counters["wait_calls"]
    else:
        calls = (counters["accepts"] + counters["accept_eagain"] + counters["accept_errors"]
                 + counters["recv_calls"] + counters["send_calls"] + counters["wait_calls"])
    return calls / messages


def measure(args, name, c, s, idle=0, extra=(), bin_dir=None):
    srv = Server(args, name, extra, bin_dir)
    try:
        r = ioclient_bench(args, srv, c, s, idle=idle)
    finally:
        counters = srv.stop()
    r["server"] = name
    r["counters"] = counters
    r["syscalls_per_msg"] = syscalls_per_message(name, counters, s)
    log(f"  {name:13} c={c:<4} s={s:<5} idle={idle:<6} {r['messages_per_second']:>10.0f} msg/s  "
        f"cpu {r['server_cpu_us_per_message']:6.2f} us/msg  "
        + (f"syscalls/msg {r['syscalls_per_msg']:.3f}" if r["syscalls_per_msg"] is not None else "")
        + f"  [load {loadavg()}]")
    return r


def hold_many(args, name, n):
    """Can `name` hold n concurrent connections? One active + n idle, from one
    `ioclient bench` (n + ~70 descriptors: one process may hold 20,000)."""
    srv = Server(args, name, ["--max-connections", str(n + 100), "--backlog", "4096"])
    peak_fds = 0
    try:
        cmd = [os.path.join(args.bin, "ioclient"), "bench", "--port", str(srv.port), "--echo", "plain",
               "-c", "1", "-s", "64", "-d", str(args.hold_duration), "--warmup", "0.5",
               "--idle", str(n), "--json"]
        t0 = time.monotonic()
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        while p.poll() is None and time.monotonic() - t0 < 120:
            try:
                peak_fds = max(peak_fds, len(os.listdir(f"/proc/{srv.pid}/fd")))
            except OSError:
                pass
            time.sleep(0.25)
        if p.poll() is None:
            p.kill()
        out, err = p.communicate()
        try:
            r = json.loads(out.strip().splitlines()[-1])
        except (ValueError, IndexError):
            r = {"errors": -1, "first_error": err.strip()[-300:], "messages": 0}
    finally:
        counters = srv.stop()
    r["peak_connections"] = counters.get("peak_connections", 0)
    r["peak_fds"] = peak_fds
    r["seconds_total"] = time.monotonic() - t0
    r["server"] = name
    ok = r["peak_connections"] >= n + 1 and r["errors"] == 0 and r["messages"] > 0
    r["pass"] = ok
    log(f"  {name:13} held {r['peak_connections']} connections (peak {peak_fds} descriptors), "
        f"{r['messages']} messages on the active one, errors {r['errors']} "
        f"{r.get('first_error', '')}  ({r['seconds_total']:.1f} s)")
    return r


# Side by side: pairs of servers loaded at the same moment by bench/pair.sh,
# C=500 x 64 B; the figure is B's CPU per message over A's, the median of the
# per-round ratios. On this VM the machine's speed swings by 20-30 % within
# seconds; two servers measured at once see the same swings, so their ratio
# is steadier than one taken from measurements a minute apart (above).
# "nocounters:" = the build with -DIOM_COUNTERS=OFF.
SIDE_BY_SIDE = [
    ("epoll_server", "uring_server", "the two models, as the project builds them"),
    ("min_epoll_server", "min_uring_server", "the two models alone: the yardsticks of bench/"),
    ("min_epoll_server", "epoll_server", "what epoll_server costs beyond its yardstick"),
    ("min_uring_server", "uring_server", "what uring_server costs beyond its yardstick"),
    ("nocounters:epoll_server", "epoll_server", "what counting costs epoll_server"),
    ("nocounters:uring_server", "uring_server", "what counting costs uring_server"),
]


def side_by_side(args):
    rounds, seconds = max(2, 2 * args.runs), min(3.0, args.duration)
    env = dict(os.environ, IOCLIENT=os.path.join(args.bin, "ioclient"))
    out = {}
    for a, b, _ in SIDE_BY_SIDE:
        path = {n: os.path.join(args.bin_nocounters, n[len("nocounters:"):]) if n.startswith("nocounters:")
                else os.path.join(args.bin, n) for n in (a, b)}
        log(f"side by side: {a} and {b}, {rounds} rounds of {seconds} s  [load {loadavg()}]")
        cmd = ["bash", os.path.join(ROOT, "bench", "pair.sh"), path[a], path[b], str(rounds), "500", "64",
               str(seconds)]
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=rounds * (seconds + 30) + 60)
        m = re.search(r"B/A: median ([0-9.]+) \(min ([0-9.]+), max ([0-9.]+)", p.stdout)
        if p.returncode != 0 or not m:
            raise RuntimeError(f"bench/pair.sh failed ({p.returncode}): {p.stderr.strip()[-500:]}")
        r = {"median": float(m[1]), "min": float(m[2]), "max": float(m[3]), "rounds": rounds, "seconds": seconds,
             "output": p.stdout}
        log(f"  B/A {r['median']:.3f} (min {r['min']:.3f}, max {r['max']:.3f})")
        out[f"{a}|{b}"] = r
    return out


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def run(args):
    rounds = []
    for rnd in range(args.runs):
        log(f"round {rnd + 1}/{args.runs}  [load {loadavg()}]")
        res = {"matrix": {}, "idle": {}, "minclient": {}, "counters": {}, "load_start": loadavg()}
        for c, s in MATRIX:
            for name in FAST + PEERS:
                res["matrix"][f"{name}/{c}/{s}"] = measure(args, name, c, s)
        for name in FAST:  # 0 idle and 10,000 idle back to back: one ratio
            extra = ["--max-connections", str(args.idle + 1000), "--backlog", "4096"]
            res["idle"][f"{name}/0"] = measure(args, name, 50, 64, 0, extra)
            res["idle"][f"{name}/{args.idle}"] = measure(args, name, 50, 64, args.idle, extra)
        for name in FAST:  # counters compiled in and out, back to back, alternating which goes first
            builds = [("counted", None), ("uncounted", args.bin_nocounters)]
            for label, bin_dir in (builds if rnd % 2 == 0 else builds[::-1]):
                res["counters"][f"{name}/{label}"] = measure(args, name, 500, 64, bin_dir=bin_dir)
        for c in (50, 500):  # the same server process, both clients back to back
            for name in FAST:
                srv = Server(args, name)
                try:
                    order = ["ioclient", "min"] if rnd % 2 == 0 else ["min", "ioclient"]
                    got = {}
                    for who in order:
                        if who == "ioclient":
                            got[who] = ioclient_bench(args, srv, c, 64)["messages_per_second"]
                        else:
                            got[who] = min_client(args, srv, c, 64)["messages_per_second"]
                finally:
                    srv.stop()
                res["minclient"][f"{name}/{c}"] = got
                log(f"  {name:13} c={c:<4} s=64    ioclient {got['ioclient']:>9.0f}  min_client "
                    f"{got['min']:>9.0f} msg/s  ratio {got['ioclient'] / got['min']:.3f}  [load {loadavg()}]")
        res["load_end"] = loadavg()
        rounds.append(res)
    log(f"holding {args.hold} connections  [load {loadavg()}]")
    hold = {name: hold_many(args, name, args.hold) for name in ["poll_server", "epoll_server", "uring_server"]}
    return rounds, hold, side_by_side(args)


def report(args, rounds, hold, pairs):
    out = []
    p = out.append

    def m(key, field):
        return med([r["matrix"][key][field] for r in rounds])

    p(f"## Throughput matrix: medians of {len(rounds)} run(s) of {args.duration} s after {args.warmup} s warm-up, "
      f"--echo plain, 1 client thread")
    p("")
    p("| server | C | size | msg/s (median) | msg/s min–max | p99 us | server CPU us/msg | syscalls/msg | errors |")
    p("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c, s in MATRIX:
        for name in FAST + PEERS:
            key = f"{name}/{c}/{s}"
            vals = [r["matrix"][key]["messages_per_second"] for r in rounds]
            sc = m(key, "syscalls_per_msg")
            errs = sum(r["matrix"][key]["errors"] for r in rounds)
            p(f"| {name} | {c} | {s} | {med(vals):,.0f} | {min(vals):,.0f}–{max(vals):,.0f} | "
              f"{m(key, 'p99_us'):,.0f} | {m(key, 'server_cpu_us_per_message'):.2f} | "
              f"{'' if sc is None else f'{sc:.3f}'} | {errs} |")
    p("")
    p(f"## Idle connections: 50 active x 64 B, with 0 and {args.idle:,} idle (medians)")
    p("")
    p("| server | msg/s, 0 idle | msg/s, idle | ratio (median of per-round ratios) |")
    p("|---|---:|---:|---:|")
    idle_ratio = {}
    for name in FAST:
        a = [r["idle"][f"{name}/0"]["messages_per_second"] for r in rounds]
        b = [r["idle"][f"{name}/{args.idle}"]["messages_per_second"] for r in rounds]
        idle_ratio[name] = med([y / x for x, y in zip(a, b)])
        p(f"| {name} | {med(a):,.0f} | {med(b):,.0f} | {idle_ratio[name]:.3f} |")
    p("")
    p("## ioclient bench vs bench/min_client, 64 B, same server process, back to back (medians)")
    p("")
    p("| server | C | ioclient msg/s | min_client msg/s | ratio |")
    p("|---|---:|---:|---:|---:|")
    mc_ratio = {}
    for c in (50, 500):
        for name in FAST:
            a = [r["minclient"][f"{name}/{c}"]["ioclient"] for r in rounds]
            b = [r["minclient"][f"{name}/{c}"]["min"] for r in rounds]
            mc_ratio[(name, c)] = med([x / y for x, y in zip(a, b)])
            p(f"| {name} | {c} | {med(a):,.0f} | {med(b):,.0f} | {mc_ratio[(name, c)]:.3f} |")
    p("")
    p("## What counting costs: the same server built with counters and without (-DIOM_COUNTERS=OFF), "
      "C=500 64 B, back to back (medians)")
    p("")
    p("| server | msg/s counted | msg/s uncounted | CPU us/msg counted | CPU us/msg uncounted | "
      "CPU counted / uncounted |")
    p("|---|---:|---:|---:|---:|---:|")
    count_cost = {}
    for name in FAST:
        a = [r["counters"][f"{name}/counted"] for r in rounds]
        b = [r["counters"][f"{name}/uncounted"] for r in rounds]
        cpu_k = "server_cpu_us_per_message"
        count_cost[name] = med([x[cpu_k] / y[cpu_k] for x, y in zip(a, b) if y[cpu_k] > 0])
        p(f"| {name} | {med([x['messages_per_second'] for x in a]):,.0f} | "
          f"{med([y['messages_per_second'] for y in b]):,.0f} | {med([x[cpu_k] for x in a]):.3f} | "
          f"{med([y[cpu_k] for y in b]):.3f} | {count_cost[name]:.3f} |")
    p("")
    p(f"## Holding {args.hold:,} concurrent connections (1 active + {args.hold:,} idle, one ioclient process)")
    p("")
    p("| server | peak_connections | peak descriptors | messages on the active one | errors | result |")
    p("|---|---:|---:|---:|---:|---|")
    for name, h in hold.items():
        p(f"| {name} | {h['peak_connections']:,} | {h['peak_fds']:,} | {h['messages']:,} | {h['errors']} | "
          f"{'PASS' if h['pass'] else 'MISS'} |")
    p("")

    some = next(iter(pairs.values()))
    p(f"## Side by side (bench/pair.sh): both servers loaded at once, C=500 64 B, {some['rounds']} rounds "
      f"of {some['seconds']} s")
    p("")
    p("| A | B | server CPU per message, B/A (median) | min–max | what it shows |")
    p("|---|---|---:|---:|---|")
    for a, b, what in SIDE_BY_SIDE:
        r = pairs[f"{a}|{b}"]
        p(f"| {a} | {b} | {r['median']:.3f} | {r['min']:.3f}–{r['max']:.3f} | {what} |")
    p("")

    # --- the targets ---------------------------------------------------------
    def ratio(num, den, c, s, field="messages_per_second"):
        return med([r["matrix"][f"{num}/{c}/{s}"][field] / r["matrix"][f"{den}/{c}/{s}"][field] for r in rounds
                    if r["matrix"][f"{den}/{c}/{s}"][field] > 0])

    rows = []

    def target(what, value, op, bound):
        ok = value is not None and (value >= bound if op == ">=" else value <= bound)
        rows.append((what, value, f"{op} {bound}", "PASS" if ok else "MISS"))

    for name in FAST:
        for c in (50, 500):
            target(f"{name} / node msg/s, C={c} 64 B", ratio(name, "node", c, 64), ">=", 1.5)
            target(f"{name} / python msg/s, C={c} 64 B", ratio(name, "python", c, 64), ">=", 2.5)
        for c in (50, 500):
            target(f"{name} / node msg/s, C={c} 4 KiB", ratio(name, "node", c, 4096), ">=", 1.1)
    cpu = "server_cpu_us_per_message"
    target("uring / epoll CPU per msg, C=500 64 B", ratio("uring_server", "epoll_server", 500, 64, cpu), "<=", 0.8)
    target("uring / epoll CPU per msg, C=500 64 B, side by side",
           pairs["epoll_server|uring_server"]["median"], "<=", 0.8)
    target("epoll / node CPU per msg, C=500 64 B", ratio("epoll_server", "node", 500, 64, cpu), "<=", 0.55)
    target("uring / node CPU per msg, C=500 64 B", ratio("uring_server", "node", 500, 64, cpu), "<=", 0.55)
    target("uring_server syscalls per msg, C=500 64 B", m("uring_server/500/64", "syscalls_per_msg"), "<=", 0.3)
    target("epoll_server syscalls per msg, C=500 64 B", m("epoll_server/500/64", "syscalls_per_msg"), "<=", 2.2)
    for (name, c), v in mc_ratio.items():
        target(f"ioclient / min_client msg/s on {name}, C={c} 64 B", v, ">=", 0.95)
    for name, v in count_cost.items():
        target(f"{name} CPU per msg counted / uncounted, C=500 64 B", v, "<=", 1.02)
        target(f"{name} CPU per msg counted / uncounted, C=500 64 B, side by side",
               pairs[f"nocounters:{name}|{name}"]["median"], "<=", 1.02)
    for name, v in idle_ratio.items():
        target(f"{name} msg/s with {args.idle:,} idle / with 0 idle", v, ">=", 0.9)
    for name, h in hold.items():
        rows.append((f"{name} holds {args.hold:,} connections", h["peak_connections"], f">= {args.hold + 1}",
                     "PASS" if h["pass"] else "MISS"))
    p("## Targets (ratios: median over rounds of the ratio within each round)")
    p("")
    p("| target | measured | required | result |")
    p("|---|---:|---:|---|")
    for what, value, req, res in rows:
        shown = "n/a" if value is None else (f"{value:,}" if isinstance(value, int) else f"{value:.3f}")
        p(f"| {what} | {shown} | {req} | {res} |")
    p("")
    return "\n".join(out), rows


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", required=True, help="the build's bin/ (servers, ioclient, the yardsticks)")
    ap.add_argument("--bin-nocounters", required=True, help="the same servers built with -DIOM_COUNTERS=OFF")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--duration", type=float, default=5.0)
    ap.add_argument("--warmup", type=float, default=1.0)
    ap.add_argument("--idle", type=int, default=10000)
    ap.add_argument("--hold", type=int, default=19000)
    ap.add_argument("--hold-duration", type=float, default=2.0)
    ap.add_argument("--out", required=True, help="directory for results.json and table.md")
    ap.add_argument("--node", default="node")
    ap.add_argument("--python", default="/usr/bin/python3")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    args.tmp = tempfile.mkdtemp(prefix="iom-bench-")
    t0 = time.monotonic()
    start = {"date": time.strftime("%Y-%m-%d %H:%M:%S %z"), "load": loadavg()}
    try:
        rounds, hold, pairs = run(args)
    except BaseException:
        for s in list(Server.live):
            s.kill()
        raise
    text, rows = report(args, rounds, hold, pairs)
    elapsed = time.monotonic() - t0
    header = (f"started {start['date']}, load average at start {start['load']}, at end {loadavg()}; "
              f"measuring took {elapsed:.0f} s; load per round: "
              + ", ".join(f"{r['load_start']} -> {r['load_end']}" for r in rounds))
    print(header + "\n\n" + text)
    with open(os.path.join(args.out, "table.md"), "w") as f:
        f.write(header + "\n\n" + text + "\n")
    with open(os.path.join(args.out, "results.json"), "w") as f:
        json.dump({"args": {k: v for k, v in vars(args).items()}, "start": start, "elapsed_s": elapsed,
                   "rounds": rounds, "hold": hold, "side_by_side": pairs,
                   "targets": [{"target": a, "measured": b, "required": c, "result": d} for a, b, c, d in rows]},
                  f, indent=1)
    misses = sum(1 for r in rows if r[3] == "MISS")
    log(f"{len(rows) - misses} of {len(rows)} targets met; results in {args.out}")


if __name__ == "__main__":
    main()
