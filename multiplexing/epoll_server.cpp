// epoll_server — a reactor on edge-triggered epoll (port 9023)
//
// THE MODEL. I/O multiplexing without the scan: the interest list moves into
// the kernel. epoll_ctl registers each socket once, with a pointer to its
// handler; epoll_wait then returns only the ready sockets, each with its
// handler, and the loop calls handler->handle(events). That loop is the
// Reactor pattern: demultiplex (epoll_wait), then dispatch (handle). The
// listener, the stop eventfd and every connection are handlers alike.
//
// WHERE IT WAITS. Only in epoll_wait(), through phase 1 of a read (no data
// yet) for every socket at once; phase 2, the copy, still happens in recv.
//
// WHAT THE KERNEL DOES PER CALL. Nothing per watched socket. epoll_ctl hooked
// a callback onto the socket's wait queue; when data arrives or send space
// frees, that callback puts the socket on the instance's ready list, and
// epoll_wait copies out that list: O(ready), not O(watched). So wait_fds
// stays 0 (nothing is handed in or scanned); wait_ready counts the events.
//
// EDGE VERSUS LEVEL. Level-triggered (--level), epoll_wait reports a socket
// for as long as it is readable or writable, like poll; the interest must
// then follow pump's answer with epoll_ctl(MOD), because EPOLLOUT with nothing
// to send, or EPOLLIN with a full buffer, would be reported on every call: a
// spin. Edge-triggered (the default, EPOLLET), it reports a *change*: new
// data, new space. So each socket is registered once, EPOLLIN | EPOLLOUT |
// EPOLLRDHUP | EPOLLET, never modified, and every wakeup must
//   - read until nothing is left: what is left unread is never announced
//     again. A short read (fewer bytes than asked) proves the queue is empty
//     for data, and data arriving later is a new edge. But not for a FIN: a
//     FIN queued behind the data was announced *with* it (EPOLLRDHUP in the
//     same event) and never again, and only one more recv finds it. So an
//     event carrying EPOLLRDHUP is read until EAGAIN or EOF; any other stops
//     at a short read, which saves the recv that would answer EAGAIN on every
//     message (multiplexing_test: HalfCloseRightBehindData);
//   - write until EAGAIN, then wait for EPOLLOUT: it comes when space frees.
// --read-once is the classic bug, on purpose: one recv per wakeup. Edge-
// triggered, the rest of a burst is never announced and the client stalls;
// level-triggered, it works. (multiplexing_test: ReadOnceStalls...)
//
// FAIRNESS. Draining one socket while a client keeps it full would starve
// the others (epoll(7) warns of it), so a turn ends after a read budget
// (nonblocking/connection.hpp). Edge-triggered, the rest of that input is
// never announced again: the connection goes on the `again` list, and while
// that list is not empty epoll_wait does not sleep (timeout 0) and each
// round ends with one more turn for everyone on it (fairness_test,
// and the hostile case `flood`).
//
// THE LESSON. The cost of a wait follows what is ready, not what is watched:
// 5,000 idle clients cost nothing per message. Edge triggering saves the
// epoll_ctl calls, at the price of draining every socket every time and
// remembering the ones not yet drained.
//
// IDLE CONNECTIONS (--idle-timeout). A periodic sweep of every connection
// would put back the O(watched) cost that epoll exists to remove. Instead
// the connections form a least-recently-progressed list: one that moves a
// byte is spliced to the back (O(1)), so the front is always the one idle
// longest. epoll_wait's timeout is the time until the front expires, and
// after each wait the expired ones are closed from the front, stopping at
// the first that is not: O(expired), never O(watched).
//
// TRY IN CLASS.
//   ./epoll_server --trace                  # each epoll_wait, each event
//   ./epoll_server --read-once --buffer-size 4096
//   head -c 1000000 /dev/zero | timeout 2 nc 127.0.0.1 9023 | wc -c  # a few KiB
//   strace -c -f ./epoll_server --level     # count the epoll_ctl calls

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "nonblocking/connection.hpp"

#include <sys/epoll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <list>
#include <memory>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

using iom::nb::Connection;
using iom::nb::Interest;

// What epoll_event.data.ptr points at: whoever handles that descriptor.
struct Handler {
    virtual void handle(std::uint32_t events) = 0;
    virtual ~Handler() = default;
};

struct Server;

struct Client final : Handler {
    Client(Server& s, Connection c) : server(s), conn(std::move(c)) {}
    void handle(std::uint32_t events) override;
    Server& server;
    Connection conn;
    std::uint32_t registered = 0;  // the events epoll watches for it
    std::list<Client*>::iterator lru_pos;  // its place in Server::lru (--idle-timeout only)
    std::uint32_t unfinished = 0;  // ET: the events of a turn the read budget cut short; it is on Server::again
};

struct Server {
    const iom::ServerOptions& opt;
    iom::Counters& k;
    bool edge;             // EPOLLET, or level-triggered under --level
    iom::nb::Reads reads;  // ET: until EAGAIN when a FIN was announced, else a short read;
                           // --level: a short read; or once (the bug)
    // Non-blocking, so that accept can be repeated until EAGAIN.
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/true);
    iom::ReserveFd reserve;
    iom::Fd epfd{iom::check_sys(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")};
    // The handlers own the connections; epoll knows them by data.ptr.
    std::unordered_map<int, std::unique_ptr<Client>> clients;
    std::size_t open = 0;
    iom::IdleClock idle{opt.idle_timeout};  // --idle-timeout (off: no list, no clock)
    std::int64_t now = 0;                        // read once per epoll_wait, only when it is on
    std::list<Client*> lru;                      // front: the longest without progress
    std::vector<Client*> again, turn;            // ET: input left unread by the read budget (FAIRNESS)

    void watch(int fd, int op, std::uint32_t events, Handler* h);
    void accept_pending();
    void serve_client(Client& client, std::uint32_t events);
    void serve_again();
    void close_client(int fd);
    int wait_ms() const;
    void close_idle();
    void run();
};

void Client::handle(std::uint32_t events) {
    iom::trace("fd {} ready:{}{}{}{}", conn.fd.get(), events & EPOLLIN ? " IN" : "", events & EPOLLOUT ? " OUT" : "",
               events & EPOLLRDHUP ? " RDHUP (peer half-closed)" : "", events & (EPOLLHUP | EPOLLERR) ? " HUP/ERR" : "");
    server.serve_client(*this, events);
}

// The listener's handler accepts; the stop eventfd's ends the loop.
struct Acceptor final : Handler {
    Server& server;
    explicit Acceptor(Server& s) : server(s) {}
    void handle(std::uint32_t) override { server.accept_pending(); }
};
struct Stopper final : Handler {
    bool fired = false;
    void handle(std::uint32_t) override { fired = true; }
};

void Server::watch(int fd, int op, std::uint32_t events, Handler* h) {
    epoll_event ev{.events = events, .data = {.ptr = h}};
    iom::check_sys(epoll_ctl(epfd.get(), op, fd, &ev), "epoll_ctl fd {}", fd);
}

// Take every connection waiting in the backlog. One readiness report may
// stand for many clients (and, edge-triggered, there is no second report),
// so ask until none is left (next_connection: nonblocking/connection.hpp).
void Server::accept_pending() {
    while (auto conn = iom::nb::next_connection(listener.get(), reserve, open, now, opt, k, "epoll_server")) {
        const int fd = conn->fd.get();
        auto client = std::make_unique<Client>(*this, std::move(*conn));
        // Edge-triggered: everything, once, for good. Level-triggered: input
        // only, until pump has output waiting.
        client->registered = edge ? EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET : EPOLLIN | EPOLLRDHUP;
        watch(fd, EPOLL_CTL_ADD, client->registered, client.get());
        if (idle.on()) client->lru_pos = lru.insert(lru.end(), client.get());
        clients.emplace(fd, std::move(client));
        k.peak_connections = std::max<std::uint64_t>(k.peak_connections, ++open);
    }
}

void Server::serve_client(Client& client, std::uint32_t events) {
    const int fd = client.conn.fd.get();
    // Edge-triggered, only an event that announced a FIN (or a hangup) must
    // be read to EAGAIN or EOF; the others may stop at a short read.
    auto how = reads;
    if (how == iom::nb::Reads::until_eagain && !(events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)))
        how = iom::nb::Reads::until_drained;
    Interest interest = iom::nb::pump(client.conn, opt, k, how);
    if (!interest.open) return close_client(fd);
    if (idle.on() && interest.progressed) {  // the most recent now: to the back of the list
        client.conn.last_progress = now;
        lru.splice(lru.end(), lru, client.lru_pos);
    }
    if (edge) {  // registered once: the next change of state will be announced, but not what is left
        bool listed = client.unfinished != 0;
        client.unfinished = interest.unfinished ? client.unfinished | events : 0;
        if (client.unfinished && !listed) again.push_back(&client);
        if (!client.unfinished && listed) std::erase(again, &client);
        return;
    }
    // Level-triggered: watch for input only while pump wants it (not at EOF,
    // buffer not full), for output only while some is pending.
    std::uint32_t wanted = (interest.want_read ? EPOLLIN | EPOLLRDHUP : 0u) | (interest.want_write ? EPOLLOUT : 0u);
    if (wanted != client.registered) {
        iom::trace("epoll_ctl(MOD fd {}):{}{}", fd, wanted & EPOLLIN ? " IN" : "", wanted & EPOLLOUT ? " OUT" : "");
        watch(fd, EPOLL_CTL_MOD, wanted, &client);
        client.registered = wanted;
    }
}

// One more turn for each connection the read budget cut short, in order;
// one that is cut short again goes to the back of the list.
void Server::serve_again() {
    turn.swap(again);  // the two vectors trade places: no allocation per round
    for (Client* client : turn) serve_client(*client, std::exchange(client->unfinished, 0));
    turn.clear();
}

// close() also takes the socket off the epoll instance's interest list.
void Server::close_client(int fd) {
    iom::trace("close(fd {})", fd);
    Client& client = *clients.at(fd);
    if (idle.on()) lru.erase(client.lru_pos);
    if (client.unfinished) std::erase(again, &client);
    clients.erase(fd);  // destroys the handler and closes the socket
    --open;
}

// epoll_wait's timeout: forever, or (--idle-timeout) until the front of the
// list expires, rounded up to a whole millisecond.
int Server::wait_ms() const {
    if (!idle.on() || lru.empty()) return -1;
    std::int64_t left = lru.front()->conn.last_progress + idle.timeout - now;
    return static_cast<int>(std::max<std::int64_t>(0, (left + 999'999) / 1'000'000));
}

// Close the expired connections, from the front, up to the first that is not.
void Server::close_idle() {
    while (!lru.empty() && idle.expired(lru.front()->conn.last_progress, now)) {
        iom::nb::note_idle(lru.front()->conn, k, opt.idle_timeout);
        close_client(lru.front()->conn.fd.get());
    }
}

void Server::run() {
    Acceptor acceptor(*this);
    Stopper stopper;
    watch(listener.get(), EPOLL_CTL_ADD, EPOLLIN | (edge ? EPOLLET : 0u), &acceptor);
    // Readable once SIGINT/SIGTERM came: epoll_wait wakes up.
    watch(iom::stop_fd(), EPOLL_CTL_ADD, EPOLLIN, &stopper);
    std::array<epoll_event, 256> events;
    while (!stopper.fired && !iom::stop_requested()) {
        // Nothing to build or hand in: the interest list lives in the kernel.
        iom::trace("epoll_wait(epfd {}, {} watched) blocks until a socket is ready", epfd.get(), open + 2);
        int timeout = again.empty() ? wait_ms() : 0;  // input left unread: collect events, do not sleep
        int ready = epoll_wait(epfd.get(), events.data(), static_cast<int>(events.size()), timeout);
        ++k.wait_calls;  // wait_fds += 0: no descriptor is handed in or scanned
        if (idle.on()) now = iom::IdleClock::now();
        if (ready < 0) {
            if (errno == EINTR) continue;  // a signal; if it was a stop, the loop ends
            iom::throw_sys("epoll_wait epfd {}", epfd.get());
        }
        k.wait_ready += static_cast<std::uint64_t>(ready);
        iom::trace("epoll_wait -> {} ready", ready);

        // Only the ready ones, each with its handler: dispatch. A handler only
        // ever closes itself, and a descriptor appears once per batch, so no
        // event below can point at a handler already gone.
        for (int i = 0; i < ready; ++i) static_cast<Handler*>(events[i].data.ptr)->handle(events[i].events);
        serve_again();
        if (idle.on()) close_idle();
    }
    iom::trace("stopping: closing {} connections", open);
}

void serve(const iom::ServerOptions& opt, bool level, bool read_once, iom::Counters& k) {
    using iom::nb::Reads;
    Server server{opt, k, !level, read_once ? Reads::once : level ? Reads::until_drained : Reads::until_eagain};
    iom::announce(server.listener);
    server.run();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9023;
    bool level = false, read_once = false;
    CLI::App app{"epoll_server: a reactor on epoll. Each socket is registered once with its handler; "
                 "epoll_wait returns only the ready ones. Edge-triggered by default.",
                 "epoll_server"};
    iom::add_server_options(app, opt);
    app.add_flag("--level", level,
                 "Level-triggered: interest follows each connection's state via epoll_ctl(MOD)");
    app.add_flag("--read-once", read_once,
                 "Deliberately broken: one recv per wakeup. Edge-triggered, the rest of a burst larger than "
                 "--buffer-size is never announced and the client stalls");
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, level, read_once, live.counters()); });
}
