// poll_server — one thread waits on every socket at once with poll() (port 9022)
//
// THE MODEL. I/O multiplexing, as in select_server, with a better interface.
// Every socket is non-blocking, and the one thread blocks in poll(), which
// takes an array of struct pollfd {fd, events, revents}: for each socket,
// what we wait for (events) and, filled in by the kernel, what happened
// (revents). poll sleeps until at least one entry is ready; we pump each
// ready socket (recv/send until EAGAIN: iom::nb::pump in nonblocking/connection.hpp).
//
// WHERE IT WAITS. Only in poll(). It waits out phase 1 of a read (no data
// yet) for every socket at once. Phase 2, the kernel copying the bytes into
// our buffer, still happens in recv, synchronously; but recv never waits any
// more, because poll said there is something to read.
//
// WHAT THE KERNEL DOES PER CALL. It copies the whole array in, asks every
// socket in it "are you ready?"; if none is, it hooks the process onto every
// socket's wait queue and sleeps. On wakeup it asks them all again, unhooks,
// and copies the revents out. Then we walk the array to find the ready
// entries. O(n) per call, however few are ready: wait_fds adds up the array
// length per call, so wait_fds / wait_calls is the cost of one wait.
//
// WHAT CHANGED FROM SELECT. No FD_SETSIZE: the array is as long as we make
// it (only --max-connections bounds it). And poll answers in revents without
// touching events, so the array is kept from call to call, not rebuilt.
// What did not change: the whole interest list crosses into the kernel and is
// scanned on every call. (multiplexing_test: PollAndEpoll.HoldFiveThousandIdle...)
//
// THE LESSON. No limit but the cost: with 5,000 idle clients and one busy
// one, every message costs a scan of 5,000 sockets. epoll_server removes that.
//
// TRY IN CLASS.
//   ./poll_server --trace                  # every poll(), what it found
//   nc 127.0.0.1 9022   (in two terminals)  # both served by one thread
//   ./poll_server --stats-file s.json &
//   ioclient bench --port 9022 --connections 1 --idle 900   # ~10x slower than 0 idle
//   kill %1; cat s.json                     # wait_fds / wait_calls ~ 900

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "nonblocking/connection.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <vector>

namespace {

using iom::nb::Connection;
using iom::nb::Interest;

constexpr std::size_t listener_slot = 0, stop_slot = 1, first_client = 2;

struct Server {
    const iom::ServerOptions& opt;
    iom::Counters& k;
    // Non-blocking, so that accept can be repeated until EAGAIN.
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/true);
    iom::ReserveFd reserve;
    // What poll watches: [0] the listener, [1] the stop eventfd, then one
    // entry per client. clients[i] is the connection of pfds[i] (null for the
    // first two): two arrays kept in step, because poll wants pollfds packed.
    std::vector<pollfd> pfds;
    std::vector<std::unique_ptr<Connection>> clients;
    std::size_t open = 0;
    iom::IdleClock idle{opt.idle_timeout};  // --idle-timeout (off: never read)
    std::int64_t now = 0;                        // read once per poll, only when it is on

    void accept_pending();
    bool serve_client(std::size_t i);
    void close_client(std::size_t i);
    void close_idle();
    void run();
};

// Take every connection waiting in the backlog: one readiness report may
// stand for many clients (next_connection: nonblocking/connection.hpp).
void Server::accept_pending() {
    while (auto conn = iom::nb::next_connection(listener.get(), reserve, open, now, opt, k, "poll_server")) {
        pfds.push_back({.fd = conn->fd.get(), .events = POLLIN, .revents = 0});  // a new slot at the end
        clients.push_back(std::make_unique<Connection>(std::move(*conn)));
        k.peak_connections = std::max<std::uint64_t>(k.peak_connections, ++open);
    }
}

// Pump pfds[i]'s connection. False if it closed (slot i now holds another).
bool Server::serve_client(std::size_t i) {
    Interest interest = iom::nb::pump(*clients[i], opt, k);
    if (interest.progressed) clients[i]->last_progress = now;
    if (!interest.open) {
        close_client(i);
        return false;
    }
    // Watch for input only while pump wants it (not at EOF, buffer not full),
    // for output only while some is pending: a socket watched for something
    // it has no use for would be reported ready on every call: a spin.
    pfds[i].events = static_cast<short>((interest.want_read ? POLLIN : 0) | (interest.want_write ? POLLOUT : 0));
    return true;
}

// Swap with the last entry and drop it: the array stays packed, O(1).
void Server::close_client(std::size_t i) {
    iom::trace("close(fd {})", pfds[i].fd);
    std::swap(pfds[i], pfds.back());
    std::swap(clients[i], clients.back());
    pfds.pop_back();
    clients.pop_back();  // closes the socket
    --open;
}

// --idle-timeout: poll already hands the kernel every pollfd on every call,
// so a walk over the array a few times per timeout costs this model nothing new.
void Server::close_idle() {
    for (std::size_t i = first_client; i < pfds.size();) {
        if (!idle.expired(clients[i]->last_progress, now)) {
            ++i;
            continue;
        }
        iom::nb::note_idle(*clients[i], k, opt.idle_timeout);
        close_client(i);  // slot i now holds the last entry: look at it next
    }
}

void Server::run() {
    pfds.push_back({.fd = listener.get(), .events = POLLIN, .revents = 0});
    // Readable once SIGINT/SIGTERM came: poll wakes up.
    pfds.push_back({.fd = iom::stop_fd(), .events = POLLIN, .revents = 0});
    clients.resize(first_client);
    while (!iom::stop_requested()) {
        // Nothing to rebuild: poll reads events and writes only revents.
        const std::size_t nfds = pfds.size();  // the kernel copies and scans them all
        iom::trace("poll(nfds {}) blocks until a socket is ready", nfds);
        // -1 waits for a ready socket, however long; with --idle-timeout, poll
        // returns 0 at the next sweep even when nothing happened.
        int ready = poll(pfds.data(), nfds, idle.wait_ms(now));
        ++k.wait_calls;
        if (idle.on()) now = iom::IdleClock::now();
        k.wait_fds += nfds;
        if (ready < 0) {
            if (errno == EINTR) continue;  // a signal; if it was a stop, the loop ends
            iom::throw_sys("poll nfds {}", nfds);
        }
        k.wait_ready += static_cast<std::uint64_t>(ready);
        iom::trace("poll -> {} ready", ready);
        if (pfds[stop_slot].revents != 0) break;

        // poll says how many, not which: walk the array to find them. A
        // closed slot gets the last entry, which is looked at in its turn.
        for (std::size_t i = first_client; i < pfds.size();) {
            if (pfds[i].revents == 0 || serve_client(i)) ++i;
        }
        // Last, so new clients join the array after this call's answers.
        if (pfds[listener_slot].revents != 0) accept_pending();
        if (idle.sweep_due(now)) close_idle();
    }
    iom::trace("stopping: closing {} connections", open);
}

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    Server server{opt, k};
    iom::announce(server.listener);
    server.run();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9022;
    CLI::App app{"poll_server: one thread multiplexes every connection with poll(). An array of pollfd, "
                 "kept between calls; no FD_SETSIZE limit (only --max-connections), but the kernel "
                 "still copies and scans the whole array on every call.",
                 "poll_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, live.counters()); });
}
