// bio_pool_server — a fixed pool of threads, a bounded queue (port 9004)
//
// THE MODEL. --threads worker threads are started once. The main thread
// accepts and puts each new socket in a queue of at most --queue sockets; a
// free worker takes one and serves it with bio_server's blocking loop until
// the client leaves, then takes the next. Threads are no longer created per
// connection: the pool bounds them, and the queue bounds what waits.
//
// WHERE IT WAITS. A read has two phases: (1) waiting for data to arrive and
// (2) the kernel copying it from the socket's receive buffer into ours.
//   accept()  the main thread sleeps until a client connects.
//   queue     an idle worker sleeps on a condition variable until a socket
//             is queued — a wait in user space, not in the kernel's socket code.
//   recv()    a worker sleeps through phase 1 and stays in the kernel for
//             phase 2: both phases block that worker, and its client owns
//             it until the client leaves — even while the client is idle.
//   send()    blocks that worker while the client's send buffer is full.
//
// THE LESSON. With 2 workers and 2 clients connected, a third client is
// accepted and queued but gets no echo at all until one of the first two
// leaves: in a blocking pool, an idle connection holds a whole thread. Fixed
// threads make the cost predictable (threads = 1 + --threads, whatever the
// load); the price is that capacity is --threads *connections*, not requests.
// (tests/integration/blocking_test.cpp: PoolServer.*)
//
// TRY IN CLASS.
//   ./bio_pool_server --threads 2 --trace
//   nc 127.0.0.1 9004   (three times: the third one is silent)
//   ...close one of the first two: the third one's lines come back.
//   grep Threads /proc/$(pgrep -n bio_pool)/status      # always 3

#include "blocking/serve_client.hpp"
#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

namespace {

struct PoolOptions {
    unsigned threads = 4;
    std::size_t queue = 64;
};

// The queue of accepted sockets between the acceptor and the workers.
class SocketQueue {
public:
    explicit SocketQueue(std::size_t capacity) : capacity_(capacity) {}

    // The acceptor: false if the queue is full (the caller refuses the socket).
    // `limit` bounds the connections held at once, served and queued alike.
    bool push(int fd, std::size_t limit, iom::Counters& k) {
        std::lock_guard lock(m_);
        if (fds_.size() >= capacity_ || busy_ + fds_.size() >= limit) return false;
        fds_.push_back(fd);
        k.peak_connections = std::max<std::uint64_t>(k.peak_connections, busy_ + fds_.size());
        ready_.notify_one();
        return true;
    }

    // A worker: the next socket, or -1 once closed and drained. `done` says
    // the worker has finished its previous socket.
    int pop(bool done) {
        std::unique_lock lock(m_);
        if (done) --busy_;
        iom::trace("worker waits for a queued socket ({} queued)", fds_.size());
        ready_.wait(lock, [&] { return !fds_.empty() || closed_; });
        if (fds_.empty()) return -1;
        int fd = fds_.front();
        fds_.pop_front();
        peak_busy_ = std::max(peak_busy_, ++busy_);
        return fd;
    }

    // Stop: wake every idle worker. Sockets still queued are served out —
    // they were shut down by the stop, so each one's recv returns at once.
    void close() {
        std::lock_guard lock(m_);
        closed_ = true;
        ready_.notify_all();
    }

    std::size_t peak_busy() {  // workers busy at once: at most --threads
        std::lock_guard lock(m_);
        return peak_busy_;
    }

private:
    std::mutex m_;
    std::condition_variable ready_;
    std::deque<int> fds_;
    std::size_t capacity_;
    std::size_t busy_ = 0, peak_busy_ = 0;
    bool closed_ = false;
};

void worker(SocketQueue& queue, const iom::ServerOptions& opt, iom::LiveCounters& slots) {
    // This worker's own slot of the live counters, no sharing on the hot path.
    // Taken per connection: there are as many slots as --max-connections, and
    // --threads may be more (a worker without a client needs none).
    std::vector<char> buf(opt.buffer_size);
    for (int fd = queue.pop(false); fd >= 0; fd = queue.pop(true)) {
        iom::Fd conn(fd);
        iom::Counters& mine = slots.acquire();
        iom::trace("worker takes fd {}", fd);
        iom::blocking::serve_client(fd, opt, buf, mine, "this worker");
        iom::unwatch_for_stop(fd);  // before the close: the number may be reused at once
        slots.release(mine);  // its counts stay in it: the next holder adds to them
    }
}

void serve(const iom::ServerOptions& opt, const PoolOptions& pool, iom::LiveCounters& slots) {
    iom::Counters& k = slots.counters();  // the acceptor's slot
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/false);
    iom::watch_for_stop(listener.get());
    iom::ReserveFd reserve;
    SocketQueue queue(pool.queue);
    std::vector<std::thread> workers;
    // However serve() ends — a stop, or an error thrown below — the workers
    // are stopped and joined: a stop shuts down every watched socket, so a
    // worker blocked in recv returns, and close() wakes the idle ones.
    struct Joiner {
        SocketQueue& queue;
        std::vector<std::thread>& workers;
        ~Joiner() {
            iom::request_stop();
            queue.close();
            for (auto& t : workers) t.join();
        }
    } joiner{queue, workers};
    for (unsigned i = 0; i < pool.threads; ++i) workers.emplace_back(worker, std::ref(queue), std::cref(opt), std::ref(slots));
    iom::announce(listener);

    while (!iom::stop_requested()) {
        iom::trace("accept(fd {}) blocks the main thread until a client connects", listener.get());
        int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {  // a signal, a stop, or no descriptor left (blocking/serve_client.hpp)
            iom::blocking::after_failed_accept(errno, listener.get(), reserve, k);
            continue;
        }
        iom::Fd conn(fd);
        ++k.accepts;
        iom::set_nodelay(fd);
        iom::watch_for_stop(fd);  // queued or served, a stop must reach it
        // Queue full: refuse now rather than block the acceptor. Blocking it
        // would not make room — clients would pile up in the kernel's listen
        // backlog instead, connected (the handshake done) but unanswered, and
        // this bound would be the backlog's. Closing says "busy" at once.
        if (!queue.push(fd, opt.max_connections, k)) {
            iom::unwatch_for_stop(fd);
            iom::trace("fd {}: queue full ({} waiting): refused, closed at once", fd, pool.queue);
            ++k.refused;
            continue;  // `conn` closes it: the client sees EOF
        }
        iom::trace("accept -> fd {} queued for a worker", fd);
        conn.release();  // a worker owns it now
    }
    queue.close();
    for (auto& t : workers) t.join();
    workers.clear();
    k.peak_threads = queue.peak_busy();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9004;
    PoolOptions pool;
    CLI::App app{"bio_pool_server: a fixed pool of --threads worker threads fed by a bounded queue of "
                 "accepted sockets. Each worker serves one client at a time with blocking recv/send; "
                 "when the queue is full, new clients are closed at once (counted as refused).",
                 "bio_pool_server"};
    iom::add_server_options(app, opt);
    app.add_option("--threads", pool.threads, "Worker threads; each serves one client at a time, until it leaves")
        ->capture_default_str()
        ->check(CLI::Range(1u, 4096u));
    app.add_option("--queue", pool.queue, "Accepted sockets that may wait for a free worker; more are refused")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{65536}));
    return iom::server_main(app, argc, argv, opt, [&](iom::LiveCounters& live) { serve(opt, pool, live); });
}
