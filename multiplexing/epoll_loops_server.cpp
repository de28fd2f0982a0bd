// epoll_loops_server — a loop per core (port 9025)
//
// THE MODEL. Doug Lea's third reactor, "multiple reactors": --loops threads,
// each running epoll_server's loop on an epoll instance of its own, each
// connection served by one loop for its whole life. Loops share nothing on
// the way of a message: no lock, no queue, no atomic; each counts in its own
// slot of the live counters. How a new connection reaches a loop is the
// choice (--accept):
//   reuseport  every loop has a listener of its own on the same port
//              (SO_REUSEPORT): the kernel picks one by a hash of the
//              connection's addresses (nginx, Seastar). No thread in between.
//   handoff    the main thread alone accepts, and deals each socket round
//              robin to the next loop by writing its descriptor number into
//              that loop's pipe; the pipe's read end is one more descriptor in
//              the loop's epoll set (muduo, Netty's boss and workers).
//
// WHERE IT WAITS. Each loop, only in its own epoll_wait(), for its own
// sockets (and its listener, or its pipe); with handoff, the acceptor in an
// epoll_wait of its own, for the listener.
//
// THE LESSON. A reactor uses one core; N loops use N, and a handler that
// computes (--work-us) no longer holds up every client, only its loop's
// (lab loops-per-core). A connection never moves: a loop with more, or
// busier, connections than the others stays busier, and nothing evens it
// out. How even the deal is: the kernel's hash spreads 1,000 connections
// about evenly and 10 by luck; round robin deals both exactly (lab
// spreading: per loop, from the counters). The hand-off costs a pipe write
// and read per connection, not per message.
//
// LIKE epoll_server. Edge-triggered, read until drained, the read budget and
// the `again` list (FAIRNESS), the least-recently-progressed list for
// --idle-timeout: each loop has its own. --max-connections is the whole
// server's: one atomic count, touched once per connection. The loops take
// turns to accept (a lock per connection): they share one descriptor table,
// and out of descriptors one loop's accept could steal another's reserve.
//
// LENGTH. 253 lines of code, blank and comment lines aside: epoll_server's
// loop (edge-triggered only), the threads, and the two deals.
//
// TRY IN CLASS.
//   ./epoll_loops_server --loops 2 --trace        # tids: one per loop
//   ./epoll_loops_server --accept handoff --trace # the acceptor deals, loops take
//   ioclient top                                  # connections per loop

#include "common/shutdown.hpp"
#include "nonblocking/connection.hpp"  // Connection, pump, next_connection; common/ server, trace

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <exception>
#include <list>
#include <memory>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

// What epoll_event.data.ptr points at: whoever handles that descriptor.
struct Handler {
    virtual void handle(std::uint32_t events) = 0;
    virtual ~Handler() = default;
};

struct Loop;

struct Client final : Handler {
    Client(Loop& l, iom::nb::Connection c) : loop(l), conn(std::move(c)) {}
    void handle(std::uint32_t events) override;
    Loop& loop;
    iom::nb::Connection conn;
    std::list<Client*>::iterator lru_pos;  // its place in Loop::lru (--idle-timeout only)
    std::uint32_t unfinished = 0;          // the events of a turn the read budget cut short; it is on Loop::again
};

// What the loops share: the options, the whole server's connection count,
// and a lock that lets one loop at a time accept (Loop::next).
struct Shared {
    const iom::ServerOptions& opt;
    std::atomic<std::size_t> open{0};
    std::mutex accepting;
};

struct Loop final : Handler {  // its handler: the listener's (reuseport) or the pipe's (handoff)
    Shared& shared;
    iom::Counters& k;  // this loop's own slot
    std::size_t id;
    iom::Fd listener;  // reuseport: this loop's own; handoff: the acceptor's
    std::optional<iom::ReserveFd> reserve;  // with a listener: for EMFILE (epoll_server)
    Handler* on_listener = this;            // handoff: the acceptor's Dealer
    iom::Fd pipe_in, pipe_out;              // handoff: read by this loop, written by the acceptor
    iom::Fd epfd{iom::check_sys(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")};
    std::unordered_map<int, std::unique_ptr<Client>> clients;
    std::size_t open = 0;  // this loop's
    iom::IdleClock idle{shared.opt.idle_timeout};
    std::int64_t now = 0;
    std::list<Client*> lru;
    std::vector<Client*> again, turn;

    Loop(Shared& s, iom::Counters& slot, std::size_t n) : shared(s), k(slot), id(n) {}
    void watch(int fd, std::uint32_t events, Handler* h) {
        epoll_event ev{.events = events, .data = {.ptr = h}};
        iom::check_sys(epoll_ctl(epfd.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl fd {}", fd);
    }
    void handle(std::uint32_t) override { listener ? accept_pending() : take_handed(); }
    // The next client from this loop's listener, counted in the whole server's
    // --max-connections (one atomic add per connection, never per message).
    // One loop at a time: the loops share one descriptor table, and out of
    // descriptors a loop sheds its waiting clients by freeing its reserve
    // descriptor for a moment (epoll_server). Were another loop's accept to
    // take that place meanwhile, the shed would fail, the reserve would be
    // lost and, edge-triggered, those clients would hang. A lock per
    // connection, never per message. (nginx's workers are processes, each
    // with a table of its own: they need no such lock.)
    std::optional<iom::nb::Connection> next() {
        std::lock_guard one_loop_at_a_time(shared.accepting);
        while (auto conn = iom::nb::next_connection(listener.get(), *reserve, shared.open.load(), now, shared.opt, k,
                                                    "epoll_loops_server")) {
            if (shared.open.fetch_add(1) < shared.opt.max_connections) return conn;
            shared.open.fetch_sub(1);  // another loop took the last place meanwhile
            iom::trace("accept -> fd {}: over --max-connections, closed", conn->fd.get());
            ++k.refused;
        }
        return std::nullopt;
    }

    // reuseport: this loop accepts from its own listener, until EAGAIN.
    void accept_pending() {
        while (auto conn = next()) add(std::move(*conn));
    }

    // handoff: the acceptor wrote descriptor numbers into our pipe (whole ints:
    // a pipe write of at most PIPE_BUF bytes is never split). Take them all.
    void take_handed() {
        std::array<int, 64> fds;
        for (;;) {
            ssize_t n = read(pipe_in.get(), fds.data(), sizeof fds);
            ++k.notify_calls;
            if (n <= 0) break;  // EAGAIN: the pipe is empty
            for (std::size_t i = 0; i < static_cast<std::size_t>(n) / sizeof(int); ++i) {
                ++k.handoffs;
                iom::trace("pipe read: fd {} handed over by the acceptor, served by loop {}", fds[i], id);
                add(iom::nb::Connection(iom::Fd(fds[i]), shared.opt.buffer_size));
            }
        }
    }

    // Edge-triggered: everything, once, for good (epoll_server).
    void add(iom::nb::Connection conn) {
        const int fd = conn.fd.get();
        conn.last_progress = now;
        auto client = std::make_unique<Client>(*this, std::move(conn));
        watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, client.get());
        if (idle.on()) client->lru_pos = lru.insert(lru.end(), client.get());
        clients.emplace(fd, std::move(client));
        ++open;
        k.peak_connections = std::max<std::uint64_t>(k.peak_connections, shared.open.load());
    }

    void serve_client(Client& client, std::uint32_t events) {
        const int fd = client.conn.fd.get();
        auto how = (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) ? iom::nb::Reads::until_eagain : iom::nb::Reads::until_drained;
        auto interest = iom::nb::pump(client.conn, shared.opt, k, how);
        if (!interest.open) return close_client(fd);
        if (idle.on() && interest.progressed) {
            client.conn.last_progress = now;
            lru.splice(lru.end(), lru, client.lru_pos);
        }
        bool listed = client.unfinished != 0;
        client.unfinished = interest.unfinished ? client.unfinished | events : 0;
        if (client.unfinished && !listed) again.push_back(&client);
        if (!client.unfinished && listed) std::erase(again, &client);
    }

    void serve_again() {
        turn.swap(again);
        for (Client* client : turn) serve_client(*client, std::exchange(client->unfinished, 0));
        turn.clear();
    }

    void close_client(int fd) {
        iom::trace("close(fd {})", fd);
        Client& client = *clients.at(fd);
        if (idle.on()) lru.erase(client.lru_pos);
        if (client.unfinished) std::erase(again, &client);
        clients.erase(fd);
        --open;
        shared.open.fetch_sub(1);
    }

    int wait_ms() const {
        if (!idle.on() || lru.empty()) return -1;
        std::int64_t left = lru.front()->conn.last_progress + idle.timeout - now;
        return static_cast<int>(std::max<std::int64_t>(0, (left + 999'999) / 1'000'000));
    }

    void close_idle() {
        while (!lru.empty() && idle.expired(lru.front()->conn.last_progress, now)) {
            iom::nb::note_idle(lru.front()->conn, k, shared.opt.idle_timeout);
            close_client(lru.front()->conn.fd.get());
        }
    }

    // epoll_server's loop. The stop eventfd is in every loop's set: one stop
    // wakes them all (it stays readable), and each then sees stop_requested().
    void run() {
        if (listener) watch(listener.get(), EPOLLIN | EPOLLET, on_listener);
        if (pipe_in) watch(pipe_in.get(), EPOLLIN, this);
        watch(iom::stop_fd(), EPOLLIN, nullptr);  // no handler: it only wakes the wait
        std::array<epoll_event, 256> events;
        while (!iom::stop_requested()) {
            iom::trace("loop {}: epoll_wait(epfd {}, {} watched) blocks until a socket is ready", id, epfd.get(), open + 2);
            int timeout = again.empty() ? wait_ms() : 0;
            int ready = epoll_wait(epfd.get(), events.data(), static_cast<int>(events.size()), timeout);
            ++k.wait_calls;
            if (idle.on()) now = iom::IdleClock::now();
            if (ready < 0) {
                if (errno == EINTR) continue;
                iom::throw_sys("epoll_wait epfd {}", epfd.get());
            }
            k.wait_ready += static_cast<std::uint64_t>(ready);
            iom::trace("loop {}: epoll_wait -> {} ready", id, ready);
            for (int i = 0; i < ready; ++i)
                if (auto* h = static_cast<Handler*>(events[i].data.ptr)) h->handle(events[i].events);
            serve_again();
            if (idle.on()) close_idle();
        }
        iom::trace("loop {} stopping: closing {} connections", id, open);
    }
};


void Client::handle(std::uint32_t events) {
    iom::trace("fd {} ready:{}{}{}{}", conn.fd.get(), events & EPOLLIN ? " IN" : "", events & EPOLLOUT ? " OUT" : "",
               events & EPOLLRDHUP ? " RDHUP (peer half-closed)" : "", events & (EPOLLHUP | EPOLLERR) ? " HUP/ERR" : "");
    loop.serve_client(*this, events);
}

// handoff: the acceptor, on the main thread, a loop without clients whose
// listener's handler deals each connection to the next loop's pipe.
struct Dealer final : Handler {
    Loop& acceptor;
    std::vector<std::unique_ptr<Loop>>& loops;
    std::size_t next_loop = 0;
    Dealer(Loop& a, std::vector<std::unique_ptr<Loop>>& l) : acceptor(a), loops(l) {}
    void handle(std::uint32_t) override {
        while (auto conn = acceptor.next()) {
            Loop& to = *loops[next_loop++ % loops.size()];
            const int fd = conn->fd.get();
            ++acceptor.k.notify_calls;
            if (write(to.pipe_out.get(), &fd, sizeof fd) != sizeof fd) {  // 16,384 waiting: the loop is stuck
                iom::trace("fd {}: loop {}'s pipe is full: refused, closed", fd, to.id);
                acceptor.shared.open.fetch_sub(1);
                ++acceptor.k.refused;
                continue;  // `conn` closes it
            }
            iom::trace("accept -> fd {}: dealt to loop {} (a write to its pipe)", fd, to.id);
            conn->fd.release();  // loop `to` owns it now
        }
    }
};

void serve(const iom::ServerOptions& opt, std::size_t n, bool handoff, iom::LiveCounters& live) {
    Shared shared{opt};
    std::vector<std::unique_ptr<Loop>> loops;
    for (std::size_t i = 0; i < n; ++i) {
        // reuseport: the main thread runs loop 1, in its slot; handoff: that slot is the acceptor's.
        iom::Counters& slot = i == 0 && !handoff ? live.counters() : live.acquire();
        auto& loop = *loops.emplace_back(std::make_unique<Loop>(shared, slot, i + 1));
        ++loop.k.loops;
        if (handoff) {
            int p[2];
            iom::check_sys(pipe2(p, O_NONBLOCK | O_CLOEXEC), "pipe2");
            loop.pipe_in = iom::Fd(p[0]);
            loop.pipe_out = iom::Fd(p[1]);
            continue;
        }
        iom::ServerOptions here = opt;  // --port 0: the first listener's port is the one every other binds
        if (i > 0) here.port = iom::local_address(loops[0]->listener.get()).port();
        loop.listener = iom::open_listener(here, /*nonblocking=*/true, /*reuse_port=*/true);
        loop.reserve.emplace();
    }
    Loop acceptor(shared, live.counters(), 0);
    Dealer dealer(acceptor, loops);
    if (handoff) {
        acceptor.listener = iom::open_listener(opt, /*nonblocking=*/true);
        acceptor.reserve.emplace();
        acceptor.on_listener = &dealer;
    }
    // However this ends, every loop is stopped and joined; a loop that
    // failed stops the others, and its error is reported once they are.
    std::vector<std::exception_ptr> failed(n);
    struct Joiner {
        std::vector<std::thread> threads;
        ~Joiner() {
            iom::request_stop();
            for (auto& t : threads) t.join();
        }
    } joiner;
    for (std::size_t i = handoff ? 0 : 1; i < n; ++i)
        joiner.threads.emplace_back([&failed, &loops, i] {
            try {
                loops[i]->run();
            } catch (...) {
                failed[i] = std::current_exception();
                iom::request_stop();
            }
        });
    live.counters().peak_threads = joiner.threads.size() + 1;
    iom::announce(handoff ? acceptor.listener : loops[0]->listener);
    (handoff ? acceptor : *loops[0]).run();  // the acceptor has no clients: it waits for the listener only
    for (auto& t : std::exchange(joiner.threads, {})) t.join();
    for (auto& e : failed)
        if (e) std::rethrow_exception(e);
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9025;
    std::size_t loops = std::max(1u, std::thread::hardware_concurrency());
    std::string accept = "reuseport";
    CLI::App app{"epoll_loops_server: --loops threads, each with an epoll loop of its own (edge-triggered, as "
                 "epoll_server); a connection stays on one loop for its life.",
                 "epoll_loops_server"};
    iom::add_server_options(app, opt);
    app.add_option("--loops", loops, "Event loops, a thread each (default: the number of cores)")
        ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{256}));
    app.add_option("--accept", accept, "How connections reach the loops. reuseport: a listener per loop "
                                       "(SO_REUSEPORT), the kernel picks by a hash; handoff: one acceptor deals "
                                       "them round robin through a pipe per loop")
        ->capture_default_str()->check(CLI::IsMember({"reuseport", "handoff"}));
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, loops, accept == "handoff", live); });
}
