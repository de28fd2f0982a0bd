// sigio_server — signal-driven readiness: O_ASYNC and SIGIO (port 9012)
//
// THE MODEL. Every socket is O_NONBLOCK and O_ASYNC, owned by this process
// (F_SETOWN): whenever one of them changes state — data arrived, a client
// is waiting on the listening socket, send-buffer space came free after a
// send had found it full, the peer closed or reset — the kernel sends us
// SIGIO. The process blocks SIGIO and waits for it with sigwaitinfo(), so
// no work ever runs inside a signal handler: the signal is just a wake-up
// call. Each connection is served by iom::nb::pump() from
// nonblocking/connection.hpp, the handler nio_server shares and the select,
// poll and epoll servers reuse: only the way a server learns readiness differs.
//
// WHAT SIGIO TELLS YOU, AND WHAT NOT. A plain SIGIO says "some socket of
// yours changed state". It does not say which one, nor what changed, and it
// does not queue: ten events while it is pending are one signal. So after
// each signal the loop services *every* socket until EAGAIN, and only then
// waits again. That is an edge-triggered model: the kernel signals changes,
// not states, so whatever we leave unread would never be announced again.
// (fcntl F_SETSIG with a realtime signal would change this: realtime signals
// queue, one per event, and carry si_fd and si_band. But the queue is
// bounded (RLIMIT_SIGPENDING); when it overflows the kernel falls back to a
// plain SIGIO, and a server must then sweep everything anyway. This server
// keeps to the plain, classic SIGIO.)
//
// WHERE IT WAITS. A read has two phases: (1) waiting for data to arrive and
// (2) the kernel copying it into our buffer.
//   sigwaitinfo()  sleeps through phase 1 for every socket at once; a signal
//                  ends the sleep. (The process could do other work instead,
//                  which is what "signal-driven" promises; it has none.)
//   recv()         never waits (O_NONBLOCK), but phase 2 is still ours: recv
//                  stays in the kernel while the bytes are copied.
//   send()         never waits; a full send buffer answers EAGAIN and SIGIO
//                  comes when space frees.
//
// THE LESSON. No client, no signal, no CPU: unlike nio_server, this server
// sleeps until the kernel has news. But the news is vague, so every signal
// costs a sweep of all connections: wait_fds / wakeups grows with the number
// of clients, as with select and poll. (tests/integration/nonblocking_test.cpp:
// Sigio.SleepsWhileIdle, Sigio.EverySignalCostsASweepOfEverySocket,
// NonBlocking.SlowReaderIsServedInFull, NonBlocking.SeesAFinQueuedBehindData.)
//
// TRY IN CLASS.
//   ./sigio_server --trace          # one line: it sleeps in sigwaitinfo
//   nc 127.0.0.1 9012               # SIGIO (listener), sweep; SIGIO (data), sweep
//   kill -INT %1                    # wakeups vs wait_fds: the sweeps' price
//
// IDLE CONNECTIONS (--idle-timeout). An idle connection raises no signal: it
// is the very absence of news. So the wait gets a deadline, sigtimedwait()
// instead of sigwaitinfo(), and returns EAGAIN a few times per timeout even
// when no signal comes. Every wakeup sweeps every connection anyway; the
// sweep compares each one's last progress with one clock read.

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "nonblocking/connection.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

namespace {

using iom::nb::Connection;

// Ask the kernel to send SIGIO to this process whenever `fd` changes state.
// The owner first: O_ASYNC without an owner signals nobody.
void request_sigio(int fd) {
    iom::check_sys(fcntl(fd, F_SETOWN, getpid()), "fcntl F_SETOWN fd {}", fd);
    int flags = iom::check_sys(fcntl(fd, F_GETFL), "fcntl F_GETFL fd {}", fd);
    iom::check_sys(fcntl(fd, F_SETFL, flags | O_NONBLOCK | O_ASYNC), "fcntl F_SETFL O_ASYNC fd {}", fd);
}

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    // Block the signals we wait for, before any socket can raise one. Blocked,
    // a signal stays pending until sigwaitinfo takes it: one that arrives while
    // we sweep is not lost, it ends the next wait at once. (And SIGIO's default
    // action is to kill the process: it must never be delivered unblocked.)
    // SIGINT and SIGTERM are in the set too, so a stop also ends the wait, with
    // no window between "check the flag" and "go to sleep"; one that came
    // before this point ran the common handler and set the flag.
    sigset_t wake;
    sigemptyset(&wake);
    sigaddset(&wake, SIGIO);
    sigaddset(&wake, SIGINT);
    sigaddset(&wake, SIGTERM);
    iom::check_sys(sigprocmask(SIG_BLOCK, &wake, nullptr), "sigprocmask");

    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/true);
    request_sigio(listener.get());  // a client completing its handshake raises SIGIO too
    iom::ReserveFd reserve;
    std::vector<Connection> conns;
    conns.reserve(std::min<std::size_t>(opt.max_connections, 1024));
    const iom::IdleClock idle{opt.idle_timeout};
    const timespec sweep_period{static_cast<time_t>(idle.period / 1'000'000'000),
                                static_cast<long>(idle.period % 1'000'000'000)};
    iom::announce(listener);

    while (!iom::stop_requested()) {
        // The sweep: we do not know which socket the signal was about, so we
        // ask all of them, each until it answers EAGAIN. The listener (one
        // SIGIO may stand for many clients): accept4() at nonblocking/connection.hpp:265.
        // Each connection: recv() at nonblocking/connection.hpp:112 — or until
        // its output buffer is full (then pump's send hit EAGAIN, and the
        // kernel signals when space frees).
        const std::int64_t now = idle.on() ? iom::IdleClock::now() : 0;  // --idle-timeout only
        while (auto conn = iom::nb::next_connection(listener.get(), reserve, conns.size(), now, opt, k,
                                                    "sigio_server")) {
            // Accepted sockets do not inherit O_ASYNC or the owner. Bytes that came
            // before this call raised no signal: the sweep that follows reads them.
            request_sigio(conn->fd.get());
            iom::trace("fd {}: O_ASYNC set", conn->fd.get());
            conns.push_back(std::move(*conn));
            k.peak_connections = std::max<std::uint64_t>(k.peak_connections, conns.size());
        }
        k.wait_fds += 1 + conns.size();  // the listener and every connection
        // until_eagain: a short read is not proof of "nothing more" here; a
        // FIN queued behind the data was signalled already, never again.
        // `unfinished`: a turn cut short by the read budget, whose input will not be signalled.
        bool unfinished = iom::nb::sweep(conns, iom::nb::Reads::until_eagain, idle, now, opt, k);

        // Phase 1, for every socket at once. With --idle-timeout the wait ends
        // after a quarter of it (at most 1 s) even when no signal comes (EAGAIN),
        // so the sweep above finds the idle connections.
        iom::trace("sigwaitinfo blocks: waiting for SIGIO from any of {} sockets", 1 + conns.size());
        ++k.wait_calls;
        siginfo_t info{};
        // FAIRNESS: a connection that still had input when its read budget ran
        // out (nonblocking/connection.hpp) gets no new SIGIO for it, so then
        // the wait only takes a signal already pending (a stop), and sweeps again.
        static constexpr timespec no_wait{0, 0};
        int sig = unfinished  ? sigtimedwait(&wake, &info, &no_wait)
                  : idle.on() ? sigtimedwait(&wake, &info, &sweep_period)
                              : sigwaitinfo(&wake, &info);
        if (sig < 0) {
            if (errno == EINTR || errno == EAGAIN) continue;  // EAGAIN: the sweep's deadline, no signal
            iom::throw_sys("sigwaitinfo");
        }
        if (sig != SIGIO) {  // SIGINT or SIGTERM, taken here instead of by the handler
            iom::trace("sigwaitinfo -> signal {}: stopping", sig);
            iom::request_stop();
            break;
        }
        ++k.wakeups;
        // A plain SIGIO arrives with si_code SI_KERNEL and no si_fd: all we learn
        // is that something, somewhere, changed.
        iom::trace("sigwaitinfo -> SIGIO (si_code {}): some socket changed; sweeping all {}", info.si_code,
                   1 + conns.size());
    }
    iom::trace("stopping: closing {} connections", conns.size());
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9012;
    CLI::App app{"sigio_server: signal-driven readiness. Sockets are O_ASYNC: the kernel sends SIGIO when "
                 "any of them changes state; the server waits for it with sigwaitinfo, then services every "
                 "socket until EAGAIN (a plain SIGIO does not say which socket).",
                 "sigio_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, live.counters()); });
}
