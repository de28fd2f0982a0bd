// nio_server — non-blocking sockets and a busy-polling loop (port 9011)
//
// THE MODEL. Every socket is O_NONBLOCK, so no call ever puts the process to
// sleep: accept, recv and send each return at once, with a result or with
// EAGAIN ("nothing now, ask again"). One loop asks the listening socket for a
// new client, then asks every connection for data, then starts over — again
// and again, whether or not anything has happened. Each connection is served
// by iom::nb::pump() from nonblocking/connection.hpp, the handler that
// sigio_server shares and the select, poll and epoll servers reuse: only the
// way a server learns readiness differs. This one does not learn it at all.
// It asks.
//
// WHERE IT WAITS. Nowhere — that is the point, and the cost.
//   phase 1 (waiting for data): never waited for. recv on an empty socket
//             returns EAGAIN at once, and the loop asks again a few
//             microseconds later. The "waiting" is done by the CPU, at 100%.
//   phase 2 (copying): still synchronous. When data is there, recv stays in
//             the kernel while it copies the bytes into our buffer, exactly
//             as the blocking recv does. O_NONBLOCK removes phase 1 only.
//   --sleep-us N makes the loop sleep N µs between sweeps (nanosleep): less
//   CPU, but data that arrives during the sleep waits for the next sweep.
//
// THE LESSON. With no client at all this server never sleeps: every sweep
// is an accept() answered EAGAIN, hundreds of thousands of times a second
// (docs/nonblocking.md has measured figures). With clients, the counters
// show what busy polling buys: recv_eagain (questions answered "nothing")
// dwarfs the recvs that brought data. --sleep-us trades that CPU for
// latency; neither setting is good, which is why the kernel offers ways to
// *wait for* readiness (multiplexing/) instead of polling it.
// (tests/integration/nonblocking_test.cpp: Nio.NeverSleepsWhileIdleUnlessToldTo,
// Nio.AsksMostlyInVain.)
//
// TRY IN CLASS.
//   ./nio_server &  top -p $!                # a whole core, and no client yet
//   ./nio_server --sleep-us 1000             # under 1000 sweeps/s: CPU drops
//   ./nio_server --sleep-us 500000 --trace   # two sweeps a second: watch
//   nc 127.0.0.1 9011                        #   each one ask and hear EAGAIN;
//                                            #   a line typed waits for the next
//   kill -INT %1   # counters: wakeups (sweeps), accept_eagain, recv_eagain
//
// IDLE CONNECTIONS (--idle-timeout). Nothing ever blocks, so nothing ever
// times out by itself: each connection records when it last moved a byte,
// and since every sweep already asks every connection, the idle check is one
// comparison there, against one coarse clock read per sweep.

#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "nonblocking/connection.hpp"

#include <algorithm>
#include <ctime>
#include <vector>

namespace {

using iom::nb::Connection;

void serve(const iom::ServerOptions& opt, unsigned sleep_us, iom::Counters& k) {
    // O_NONBLOCK on the listening socket too: accept must never sleep either.
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/true);
    iom::ReserveFd reserve;
    std::vector<Connection> conns;
    conns.reserve(std::min<std::size_t>(opt.max_connections, 1024));
    const timespec pause{static_cast<time_t>(sleep_us / 1000000), static_cast<long>(sleep_us % 1000000) * 1000};
    const iom::IdleClock idle{opt.idle_timeout};
    iom::announce(listener);

    // The whole model: ask everyone, forever. Nothing here can block, so the
    // stop flag (set by the SIGINT/SIGTERM handler) is seen within one sweep.
    while (!iom::stop_requested()) {
        ++k.wakeups;  // one sweep
        const std::int64_t now = idle.on() ? iom::IdleClock::now() : 0;  // --idle-timeout only

        // Ask the listener for every client the kernel has queued, without
        // ever waiting for one. On almost every sweep the answer is "nobody":
        // accept4() at nonblocking/connection.hpp:265 returns EAGAIN.
        while (auto conn = iom::nb::next_connection(listener.get(), reserve, conns.size(), now, opt, k,
                                                    "nio_server")) {
            conns.push_back(std::move(*conn));
            k.peak_connections = std::max<std::uint64_t>(k.peak_connections, conns.size());
        }

        // Ask every connection, whether or not it has anything: pump() reads,
        // echoes and writes what it can right now. Most questions hear
        // "nothing": recv() at nonblocking/connection.hpp:112 returns EAGAIN at
        // once (counted in recv_eagain). A connection that is finished, or
        // moved nothing for --idle-timeout, is closed.
        iom::nb::sweep(conns, iom::nb::Reads::until_drained, idle, now, opt, k);

        if (sleep_us > 0) {
            // The only place this server sleeps, and only if asked to: it then
            // learns of new data up to sleep_us late. A stop signal interrupts
            // the sleep (EINTR); one that comes just before it costs at most
            // one pause.
            iom::trace("nanosleep {} us: not waiting for anything, just not asking", sleep_us);
            nanosleep(&pause, nullptr);
        }
    }
    iom::trace("stopping: closing {} connections", conns.size());
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9011;
    unsigned sleep_us = 0;
    CLI::App app{"nio_server: non-blocking sockets and a busy-polling loop. One loop asks the listening "
                 "socket and every connection again and again; nothing ever blocks, so it burns a core "
                 "even with no client.",
                 "nio_server"};
    iom::add_server_options(app, opt);
    app.add_option("--sleep-us", sleep_us,
                   "Sleep this many microseconds between sweeps: less CPU while idle, more latency "
                   "(0 = pure busy polling)")
        ->capture_default_str()
        ->check(CLI::Range(0u, 1000000u));
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, sleep_us, live.counters()); });
}
