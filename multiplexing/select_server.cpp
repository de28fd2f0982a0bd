// select_server — one thread waits on every socket at once with select() (port 9021)
//
// THE MODEL. I/O multiplexing. Every socket is non-blocking, and the one
// thread blocks in a single call that watches all of them: select(). We hand
// it two bitmaps (fd_set), the descriptors we want to read from and those we
// want to write to; it sleeps until at least one is ready and hands the
// bitmaps back with only the ready bits left on. We pump each ready socket
// (recv/send until EAGAIN: iom::nb::pump in nonblocking/connection.hpp) and go round.
//
// WHERE IT WAITS. Only in select(). It waits out phase 1 of a read (no data
// yet) for every socket at once. Phase 2, the kernel copying the bytes into
// our buffer, still happens in recv, synchronously; but recv never waits any
// more, because select said there is something to read.
//
// WHAT THE KERNEL DOES PER CALL. It copies the bitmaps in (nfds bits each),
// then walks every descriptor below nfds and asks each socket "are you
// ready?"; if none is, it hooks the process onto every socket's wait queue
// and sleeps. On wakeup it walks them all again, unhooks, and copies the
// bitmaps out. Then we walk the bits once more to find the ready ones. All
// of it is O(nfds) per call, however few sockets are ready: wait_fds adds
// up nfds per call, so wait_fds / wait_calls is the cost of one wait.
//
// THE LIMIT. fd_set is a fixed bitmap of FD_SETSIZE (1024) bits. FD_SET on a
// descriptor >= 1024 writes past its end: silent memory corruption, or an
// abort under _FORTIFY_SOURCE. A connection that lands on such a descriptor
// is closed at once, with one line on stderr, and counted as refused; the
// others are served on. (multiplexing_test: Select.RefusesDescriptorsPastFdSetsize...)
//
// THE LESSON. One thread serves many clients, and an idle client costs no
// thread. It costs something in every call instead, and there can be at
// most ~1000 of them: poll_server lifts the limit, epoll_server the cost.
//
// TRY IN CLASS.
//   ./select_server --trace                # every select(), what it found
//   nc 127.0.0.1 9021   (in two terminals)  # both served by one thread
//   ./select_server --stats-file s.json &
//   ioclient bench --port 9021 --connections 1 --idle 900   # ~10x slower than 0 idle
//   kill %1; cat s.json                     # wait_fds / wait_calls ~ 900

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "nonblocking/connection.hpp"

#include <sys/select.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <stdexcept>
#include <vector>

namespace {

using iom::nb::Connection;
using iom::nb::Interest;

// A connection and what it waits for next: pump's last answer.
struct Client {
    Connection conn;
    Interest interest{.want_read = true};
};

struct Server {
    const iom::ServerOptions& opt;
    iom::Counters& k;
    // Non-blocking, so that accept can be repeated until EAGAIN.
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/true);
    iom::ReserveFd reserve;
    // select speaks in descriptor numbers, so clients are kept by theirs.
    std::vector<std::unique_ptr<Client>> clients = std::vector<std::unique_ptr<Client>>(FD_SETSIZE);
    int top = -1;  // the highest client descriptor
    std::size_t open = 0;
    iom::IdleClock idle{opt.idle_timeout};  // --idle-timeout (off: never read)
    std::int64_t now = 0;                        // read once per select, only when it is on

    void accept_pending();
    void serve_client(int fd);
    void close_client(int fd);
    void close_idle();
    void run();
};

// Take every connection waiting in the backlog: one readiness report may
// stand for many clients (next_connection: nonblocking/connection.hpp).
void Server::accept_pending() {
    while (auto conn = iom::nb::next_connection(listener.get(), reserve, open, now, opt, k, "select_server")) {
        const int fd = conn->fd.get();
        if (fd >= FD_SETSIZE) {  // FD_SET(fd) would write past the end of the fd_set
            fmt::print(stderr, "select_server: refused fd {}: select cannot watch descriptors >= FD_SETSIZE ({})\n",
                       fd, FD_SETSIZE);
            ++k.refused;
            continue;  // conn closes here
        }
        clients[fd] = std::make_unique<Client>(Client{std::move(*conn)});
        top = std::max(top, fd);  // the bitmaps will reach it
        k.peak_connections = std::max<std::uint64_t>(k.peak_connections, ++open);
    }
}

void Server::serve_client(int fd) {
    Client& client = *clients[fd];
    client.interest = iom::nb::pump(client.conn, opt, k);
    if (client.interest.progressed) client.conn.last_progress = now;
    if (!client.interest.open) close_client(fd);
}

void Server::close_client(int fd) {
    iom::trace("close(fd {})", fd);
    clients[fd].reset();
    --open;
    while (top >= 0 && !clients[top]) --top;
}

// --idle-timeout: select already walks every descriptor on every call, so a
// walk that looks at each one's last progress, a few times per timeout, adds
// nothing new to this model's cost.
void Server::close_idle() {
    for (int fd = 0; fd <= top; ++fd) {
        if (clients[fd] && idle.expired(clients[fd]->conn.last_progress, now)) {
            iom::nb::note_idle(clients[fd]->conn, k, opt.idle_timeout);
            close_client(fd);
        }
    }
}

void Server::run() {
    const int stop = iom::stop_fd();  // readable once SIGINT/SIGTERM came: select wakes up
    while (!iom::stop_requested()) {
        // select overwrites the sets with its answer, so they are rebuilt from
        // our own records before every call. A socket is in the read set only
        // while pump wants input (not at EOF, output buffer not full), in the
        // write set only while output is pending: a socket in a set it has no
        // use for would be reported ready on every call, and the loop would spin.
        fd_set readable, writable;
        FD_ZERO(&readable);
        FD_ZERO(&writable);
        FD_SET(listener.get(), &readable);
        FD_SET(stop, &readable);
        int maxfd = std::max({listener.get(), stop, top});
        for (int fd = 0; fd <= top; ++fd) {
            if (!clients[fd]) continue;
            if (clients[fd]->interest.want_read) FD_SET(fd, &readable);
            if (clients[fd]->interest.want_write) FD_SET(fd, &writable);
        }
        const int nfds = maxfd + 1;  // "watch descriptors 0 .. nfds-1": the kernel scans them all
        // No timeout (null) blocks until a socket is ready; with --idle-timeout,
        // select returns 0 at the next sweep even when nothing happened.
        timeval until_sweep{}, *timeout = nullptr;
        if (idle.on()) {
            const int ms = idle.wait_ms(now);
            until_sweep = {.tv_sec = ms / 1000, .tv_usec = (ms % 1000) * 1000};
            timeout = &until_sweep;
        }
        iom::trace("select(nfds {}) blocks until a socket is ready", nfds);
        int ready = select(nfds, &readable, &writable, nullptr, timeout);
        ++k.wait_calls;
        if (idle.on()) now = iom::IdleClock::now();
        k.wait_fds += static_cast<std::uint64_t>(nfds);
        if (ready < 0) {
            if (errno == EINTR) continue;  // a signal; if it was a stop, the loop ends
            iom::throw_sys("select nfds {}", nfds);
        }
        k.wait_ready += static_cast<std::uint64_t>(ready);
        iom::trace("select -> {} ready", ready);
        if (FD_ISSET(stop, &readable)) break;

        // select says how many, not which: walk the bitmaps to find them.
        for (int fd = 0; fd <= top; ++fd) {
            if (clients[fd] && (FD_ISSET(fd, &readable) || FD_ISSET(fd, &writable))) serve_client(fd);
        }
        // Last, so a descriptor closed above and reused by accept is not
        // mistaken for the one whose bit is set.
        if (FD_ISSET(listener.get(), &readable)) accept_pending();
        if (idle.sweep_due(now)) close_idle();
    }
    iom::trace("stopping: closing {} connections", open);
}

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    Server server{opt, k};
    if (server.listener.get() >= FD_SETSIZE || iom::stop_fd() >= FD_SETSIZE)
        throw std::runtime_error("the listening socket's descriptor is past FD_SETSIZE");
    iom::announce(server.listener);
    server.run();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9021;
    CLI::App app{"select_server: one thread multiplexes every connection with select(). The fd_set bitmaps are "
                 "rebuilt before every call; descriptors >= FD_SETSIZE (1024) cannot be watched, so such "
                 "connections are closed at once and counted as refused.",
                 "select_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, live.counters()); });
}
