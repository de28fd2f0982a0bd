// epoll_pool_server — a reactor whose handlers run on a pool (port 9024)
//
// THE MODEL. epoll_server with its slow part moved off the loop: Doug Lea's
// second reactor. The loop still does every recv and every send, but what a
// message costs to *handle* (--work-us, then the echo transform) runs on a
// fixed pool of --threads workers. The hand-off: the loop puts the bytes it
// read in a bounded queue (--queue) and a worker takes them. The wake-up: a
// worker that finishes puts the reply on a list and writes the loop's
// eventfd, which is one more descriptor in the loop's epoll set; the loop
// wakes, takes the replies and sends them itself.
//
// WHERE IT WAITS. The loop, only in epoll_wait(), for sockets and for the
// eventfd alike; a worker, on a condition variable until a message is queued.
//
// ORDER AND MEMORY. A connection has at most one message at the pool: until
// its reply is back, its socket is not read, so replies cannot overtake each
// other, and what it sends meanwhile waits in the kernel (TCP's window pushes
// back on the client). A read takes at most the room left in the output
// buffer, so a reply always fits: per connection, --buffer-size bounds the
// bytes held (in two buffers: the message, the replies). When the queue is
// full, a connection with a message to hand off is left unread and waits in
// line (queue_full counts it) until a reply frees a place: backpressure. So
// at most --queue messages wait for a worker, and no client, however fast
// it sends, makes the server hold more than its one message.
//
// THE LESSON. One slow handler no longer stops the loop: another client's
// message is read, queued and answered while a worker spins (lab
// slow-handler). The price is the hand-off per message: two trips through a
// locked queue, a condition variable, and an eventfd write and read when the
// loop sleeps (handoffs, notify_calls; lab loops-per-core). Fairness comes
// free: one message per connection at a time, so nobody is drained first.
//
// LENGTH. 250 lines of code, blank and comment lines aside: epoll_server's
// loop, its own recv/send turn (pump() handles on the loop, which is what
// this server must not do), and the pool with its two queues.
//
// TRY IN CLASS.
//   ./epoll_pool_server --threads 2 --work-us 200000 --trace   # tids: loop and workers
//   ./epoll_pool_server --threads 1 --queue 1 --work-us 100000 # then three nc at once

#include "common/shutdown.hpp"
#include "nonblocking/connection.hpp"  // Connection, recv_some, send_some, next_connection; common/ server, trace

#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <condition_variable>
#include <deque>
#include <functional>
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
// The listener's, the eventfd's and the stop eventfd's handlers.
struct Call final : Handler {
    std::function<void()> f;
    explicit Call(std::function<void()> fn) : f(std::move(fn)) {}
    void handle(std::uint32_t) override { f(); }
};

struct Server;

struct Client final : Handler {
    Client(Server& s, iom::nb::Connection c) : server(s), conn(std::move(c)) {}
    void handle(std::uint32_t events) override;
    Server& server;
    iom::nb::Connection conn;      // conn.out: replies back from the pool, not yet sent
    std::vector<char> message;     // read, not yet handled; a worker's alone while at_pool
    bool at_pool = false;          // queued or being handled: the loop does not touch `message`
    bool waiting = false;          // its message waits for room in the queue (Server::waiting)
    bool readable = false;         // ET: input may be waiting (an edge came, no read since came back short)
    bool fin_announced = false;    // EPOLLRDHUP came: read until EAGAIN or EOF, not to a short read
    bool closing = false;          // finished while its message was at the pool: closed when it returns
    std::list<Client*>::iterator lru_pos;  // its place in Server::lru (--idle-timeout only)
};

struct Server {
    const iom::ServerOptions& opt;
    iom::LiveCounters& live;
    iom::Counters& k = live.counters();  // the loop's slot; each worker has one of its own
    const std::size_t queue_limit;
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/true);
    iom::ReserveFd reserve;
    iom::Fd epfd{iom::check_sys(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")};
    // Written by a worker when a reply is ready: the loop's wake-up call.
    iom::Fd replies_fd{iom::check_sys(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC), "eventfd")};
    std::unordered_map<int, std::unique_ptr<Client>> clients;
    std::vector<std::unique_ptr<Client>> closed;  // kept to the end of the round: a later event may name one
    std::size_t open = 0;
    iom::IdleClock idle{opt.idle_timeout};  // --idle-timeout: as epoll_server's IDLE CONNECTIONS
    std::int64_t now = 0;
    std::list<Client*> lru;
    std::deque<Client*> waiting;  // messages that found the queue full, in order

    // Shared with the workers, under `m`: the queue in, the replies out.
    std::mutex m;
    std::condition_variable queued;
    std::deque<Client*> to_pool;
    std::vector<Client*> replies, taken;  // taken: the loop's own, swapped with replies
    bool stopping = false;
    std::vector<std::thread> workers;  // joined by ~Server, before any Client goes

    void watch(int fd, std::uint32_t events, Handler* h) {
        epoll_event ev{.events = events, .data = {.ptr = h}};
        iom::check_sys(epoll_ctl(epfd.get(), EPOLL_CTL_ADD, fd, &ev), "epoll_ctl fd {}", fd);
    }

    void accept_pending() {
        while (auto conn = iom::nb::next_connection(listener.get(), reserve, open, now, opt, k, "epoll_pool_server")) {
            const int fd = conn->fd.get();
            auto client = std::make_unique<Client>(*this, std::move(*conn));
            watch(fd, EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET, client.get());
            if (idle.on()) client->lru_pos = lru.insert(lru.end(), client.get());
            clients.emplace(fd, std::move(client));
            k.peak_connections = std::max<std::uint64_t>(k.peak_connections, ++open);
        }
    }

    // One turn of a connection: send what the pool answered, then read one
    // message and hand it off, unless one is already out (ORDER AND MEMORY).
    // recv_some and send_some (nonblocking/connection.hpp) count and trace.
    void serve_client(Client& c) {
        auto& out = c.conn.out;
        bool progressed = false;
        for (;;) {
            while (!out.empty()) {  // send until the socket is full
                auto pending = out.data();
                iom::nb::Io sent = iom::nb::send_some(c.conn.fd.get(), pending, k);
                if (sent.failed) return close_client(c);
                out.consume(sent.n);
                progressed |= sent.n > 0;
                if (sent.again || sent.n < pending.size()) break;
            }
            if (!c.readable || c.conn.peer_done || c.at_pool || c.waiting || out.full()) break;
            c.message.resize(out.capacity() - out.size());  // what fits beside the unsent replies
            iom::nb::Io got = iom::nb::recv_some(c.conn.fd.get(), c.message, k);
            if (got.failed) return close_client(c);
            progressed |= !got.again;
            c.conn.peer_done = !got.again && got.n == 0;
            // A short read proves the socket empty, but not past a FIN (epoll_server: EDGE VERSUS LEVEL).
            if (got.again || (got.n < c.message.size() && !c.fin_announced)) c.readable = false;
            c.message.resize(got.n);
            if (got.n > 0 && !hand_off(c)) break;
        }
        if (c.conn.peer_done && out.empty() && !c.at_pool && !c.waiting) {
            ++k.closed;
            return close_client(c);
        }
        if (idle.on() && progressed) {
            c.conn.last_progress = now;
            lru.splice(lru.end(), lru, c.lru_pos);
        }
    }

    // THE HAND-OFF. Queue the message for a worker; false if the queue is
    // full (the connection then waits in line, unread).
    bool hand_off(Client& c) {
        std::size_t depth;
        {
            std::lock_guard lock(m);
            depth = to_pool.size();
            if (depth < queue_limit) to_pool.push_back(&c);
        }
        if (depth == queue_limit) {
            if (!std::exchange(c.waiting, true)) waiting.push_back(&c);
            ++k.queue_full;
            iom::trace("fd {}: the pool's queue is full ({}): not read until a place frees", c.conn.fd.get(), depth);
            return false;
        }
        c.waiting = false;
        c.at_pool = true;
        k.queue_peak = std::max<std::uint64_t>(k.queue_peak, depth + 1);
        iom::trace("fd {}: {} bytes handed to the pool ({} queued)", c.conn.fd.get(), c.message.size(), depth + 1);
        queued.notify_one();  // a futex wake-up, if a worker sleeps
        return true;
    }

    // A worker: take a message, handle it, give the reply back, wake the loop.
    void work(iom::Counters& mine) {
        for (;;) {
            std::unique_lock lock(m);
            queued.wait(lock, [&] { return !to_pool.empty() || stopping; });
            if (to_pool.empty()) return;
            Client* c = to_pool.front();
            to_pool.pop_front();
            lock.unlock();
            ++mine.handoffs;
            iom::trace("worker takes fd {}'s {} bytes: the handler runs here", c->conn.fd.get(), c->message.size());
            iom::simulate_work(opt.work_us);
            iom::echo_transform(opt.echo, c->message);
            lock.lock();
            replies.push_back(c);
            if (replies.size() > 1) continue;  // the loop has a wake-up coming already: one for all
            lock.unlock();
            ++mine.notify_calls;
            iom::trace("worker: reply for fd {} ready; eventfd write wakes the loop", c->conn.fd.get());
            iom::check_sys(eventfd_write(replies_fd.get(), 1), "eventfd_write");
        }
    }

    // THE WAKE-UP. Read the eventfd first (so that a reply added after this
    // point writes it anew), then take every reply and send them.
    void take_replies() {
        eventfd_t ignored;
        ++k.notify_calls;
        [[maybe_unused]] int rc = eventfd_read(replies_fd.get(), &ignored);
        { std::lock_guard lock(m); taken.swap(replies); }
        iom::trace("eventfd read: {} replies back from the pool", taken.size());
        for (Client* c : taken) {
            ++k.handoffs;
            c->at_pool = false;
            if (c->closing) { close_client(*c); continue; }  // it finished while away: now it can go
            c->conn.out.append(c->message);  // it fits: the read took no more than the room
            serve_client(*c);                // send it, and read the next message if one came
        }
        taken.clear();
        // Places freed in the queue: those waiting in line go first, in order.
        while (!waiting.empty() && hand_off(*waiting.front())) waiting.pop_front();
    }

    // A connection is destroyed only while no worker holds its message.
    void close_client(Client& c) {
        const int fd = c.conn.fd.get();
        if (!std::exchange(c.closing, true)) {
            if (idle.on()) lru.erase(c.lru_pos);
            if (c.waiting) std::erase(waiting, &c);
            --open;
        }
        if (c.at_pool) return iom::trace("fd {} finished; closed once its message is back from the pool", fd);
        iom::trace("close(fd {})", fd);
        closed.push_back(std::move(clients.extract(fd).mapped()));
    }

    int wait_ms() const {  // epoll_server's: until the longest idle expires
        if (!idle.on() || lru.empty()) return -1;
        std::int64_t left = lru.front()->conn.last_progress + idle.timeout - now;
        return static_cast<int>(std::max<std::int64_t>(0, (left + 999'999) / 1'000'000));
    }

    void close_idle() {
        while (!lru.empty() && idle.expired(lru.front()->conn.last_progress, now)) {
            iom::nb::note_idle(lru.front()->conn, k, opt.idle_timeout);
            close_client(*lru.front());
        }
    }

    void run() {
        // The stop eventfd only wakes epoll_wait: the loop then sees stop_requested().
        Call acceptor([this] { accept_pending(); }), back([this] { take_replies(); }), stopper([] {});
        watch(listener.get(), EPOLLIN | EPOLLET, &acceptor);
        watch(replies_fd.get(), EPOLLIN, &back);
        watch(iom::stop_fd(), EPOLLIN, &stopper);
        std::array<epoll_event, 256> events;
        while (!iom::stop_requested()) {
            iom::trace("epoll_wait(epfd {}, {} connections) blocks until a socket or the eventfd is ready", epfd.get(), open);
            int ready = epoll_wait(epfd.get(), events.data(), static_cast<int>(events.size()), wait_ms());
            ++k.wait_calls;
            if (idle.on()) now = iom::IdleClock::now();
            if (ready < 0) {
                if (errno == EINTR) continue;
                iom::throw_sys("epoll_wait epfd {}", epfd.get());
            }
            k.wait_ready += static_cast<std::uint64_t>(ready);
            iom::trace("epoll_wait -> {} ready", ready);
            for (int i = 0; i < ready; ++i) static_cast<Handler*>(events[i].data.ptr)->handle(events[i].events);
            if (idle.on()) close_idle();
            closed.clear();  // now the sockets close (and leave the epoll set), the handlers go
        }
        iom::trace("stopping: closing {} connections", open);
    }

    ~Server() {  // the workers finish what is queued and stop, before any Client goes
        { std::lock_guard lock(m); stopping = true; }
        queued.notify_all();
        for (auto& t : workers) t.join();
    }
};

void Client::handle(std::uint32_t events) {
    iom::trace("fd {} ready:{}{}{}{}", conn.fd.get(), events & EPOLLIN ? " IN" : "", events & EPOLLOUT ? " OUT" : "",
               events & EPOLLRDHUP ? " RDHUP (peer half-closed)" : "", events & (EPOLLHUP | EPOLLERR) ? " HUP/ERR" : "");
    if (closing) return;
    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) readable = true;
    if (events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) fin_announced = true;
    server.serve_client(*this);
}

void serve(const iom::ServerOptions& opt, unsigned threads, std::size_t queue, iom::LiveCounters& live) {
    Server server{.opt = opt, .live = live, .queue_limit = queue};
    for (unsigned i = 0; i < threads; ++i)
        server.workers.emplace_back([&server, &mine = live.acquire()] { server.work(mine); });
    server.k.peak_threads = threads + 1;
    iom::announce(server.listener);
    server.run();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9024;
    unsigned threads = 2;
    std::size_t queue = 64;
    CLI::App app{"epoll_pool_server: one edge-triggered epoll loop does every recv and send; each message's "
                 "handler (--work-us, the echo transform) runs on a pool of --threads workers, and the replies "
                 "come back to the loop through an eventfd.",
                 "epoll_pool_server"};
    iom::add_server_options(app, opt);
    app.add_option("--threads", threads, "Worker threads that run the handlers; the loop is one more thread")
        ->capture_default_str()->check(CLI::Range(1u, 256u));
    app.add_option("--queue", queue, "Messages that may wait for a worker; when full, connections with a message "
                                     "to hand off are left unread until a place frees (backpressure)")
        ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
    return iom::server_main(app, argc, argv, opt, [&](iom::LiveCounters& live) { serve(opt, threads, queue, live); });
}
