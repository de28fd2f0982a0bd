// bio_threads_server — a thread per connection (port 9002)
//
// THE MODEL. Blocking sockets, as in bio_server, but every accepted client
// gets a thread of its own. The main thread only accepts; each client thread
// runs the same recv/send loop as bio_server. When one thread blocks, the
// kernel simply runs another: the scheduler does the multiplexing for us.
//
// WHERE IT WAITS. A read has two phases: (1) waiting for data to arrive and
// (2) the kernel copying it from the socket's receive buffer into ours.
//   accept()  the main thread sleeps until a client completes the handshake.
//   recv()    a client's thread sleeps through phase 1 and stays in the
//             kernel for phase 2: both phases block — but only that thread.
//   send()    blocks that thread while the client's send buffer is full.
// Every idle client is a sleeping thread: a kernel task with its own stack.
//
// THE LESSON. Clients are served at once, each in its own thread, and the
// thread count follows the connection count: 20 clients, 21 threads. That
// is also the cost: a stack (8 MiB reserved, a few pages touched) and a
// kernel task per client, and a context switch for every wakeup. Unbounded,
// a flood of connections becomes a flood of threads until the process or
// the machine gives out. So --max-connections bounds the threads: past it a
// new client is closed at once and counted as refused, and the server
// carries on. (tests/integration/blocking_test.cpp: ThreadsServer.*)
//
// TRY IN CLASS.
//   ./bio_threads_server --trace            # each trace line shows its thread id
//   nc 127.0.0.1 9002   (in three terminals: all three are echoed at once)
//   grep Threads /proc/$(pgrep -n bio_threads)/status   # 1 + clients
//   ./bio_threads_server --max-connections 2            # the third nc gets EOF

#include "blocking/serve_client.hpp"
#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

namespace {

// The client threads, tracked so that they can be joined: joining is the
// only way to know a thread has truly finished (a detached thread may still
// be running its last instructions when main() returns and the process exits).
class Crew {
public:
    explicit Crew(iom::LiveCounters& slots) : slots_(slots) {}

    std::size_t live() {
        std::lock_guard lock(m_);
        return threads_.size() - finished_.size();
    }

    // Start a thread that serves `fd` and then closes it. Throws
    // std::system_error when the system has no thread left to give (EAGAIN).
    std::size_t start(int fd, const iom::ServerOptions& opt) {
        std::lock_guard lock(m_);  // held until the thread is in the map: it cannot finish before
        std::uint64_t id = next_id_++;
        threads_.emplace(id, std::thread([this, id, fd, &opt] { run(id, fd, opt); }));
        return threads_.size() - finished_.size();
    }

    // Join the threads that have finished. A finished thread's kernel task
    // is already gone, but its stack stays mapped until it is joined.
    void join_finished() {
        std::unique_lock lock(m_);
        for (std::uint64_t id : std::exchange(finished_, {})) {
            std::thread t = std::move(threads_.at(id));
            threads_.erase(id);
            lock.unlock();
            t.join();  // it has marked itself finished: this returns at once
            lock.lock();
        }
    }

    // If serve() ends by an error, the threads must still be joined (a
    // joinable std::thread destroyed is std::terminate): stop them first.
    ~Crew() {
        iom::request_stop();
        join_all();
    }

    // Shutdown: the stop handler has shut down every watched socket, so each
    // thread's recv/send returns and the thread ends; wait for all of them.
    void join_all() {
        std::map<std::uint64_t, std::thread> all;
        {
            std::lock_guard lock(m_);
            all.swap(threads_);
        }
        for (auto& [id, t] : all) t.join();
    }

private:
    void run(std::uint64_t id, int fd, const iom::ServerOptions& opt) {
        iom::Fd conn(fd);  // closed last, as the thread ends
        // This thread's own slot of the live counters: plain increments, no
        // sharing, no locks; `ioclient top` reads it as it grows.
        iom::Counters& mine = slots_.acquire();
        std::vector<char> buf(opt.buffer_size);
        iom::blocking::serve_client(fd, opt, buf, mine, "this thread");
        iom::unwatch_for_stop(fd);  // before the close: the number may be reused at once
        slots_.release(mine);  // its counts stay in it: the next thread adds to them
        std::lock_guard lock(m_);
        finished_.push_back(id);
    }

    std::mutex m_;
    std::map<std::uint64_t, std::thread> threads_;
    std::vector<std::uint64_t> finished_;
    iom::LiveCounters& slots_;
    std::uint64_t next_id_ = 0;
};

void serve(const iom::ServerOptions& opt, iom::LiveCounters& slots) {
    iom::Counters& k = slots.counters();  // the main thread's slot
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/false);
    iom::watch_for_stop(listener.get());  // SIGTERM shuts it down: accept returns
    iom::ReserveFd reserve;
    Crew crew(slots);
    iom::announce(listener);

    while (!iom::stop_requested()) {
        iom::trace("accept(fd {}) blocks the main thread until a client connects", listener.get());
        int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        crew.join_finished();  // free the stacks of the threads whose clients left
        if (fd < 0) {  // a signal, a stop, or no descriptor left (blocking/serve_client.hpp)
            iom::blocking::after_failed_accept(errno, listener.get(), reserve, k);
            continue;
        }
        iom::Fd conn(fd);
        ++k.accepts;
        iom::trace("accept -> fd {}", fd);
        // The bound on threads: without it every connection costs a thread,
        // whatever the machine can take.
        if (crew.live() >= opt.max_connections) {
            iom::trace("fd {}: {} threads already serving: refused, closed at once", fd, opt.max_connections);
            ++k.refused;
            continue;  // `conn` closes it: the client sees EOF
        }
        iom::set_nodelay(fd);
        iom::watch_for_stop(fd);  // a stop must reach this thread's blocked recv/send too
        try {
            std::size_t live = crew.start(fd, opt);
            conn.release();  // the client's thread owns the socket now
            iom::trace("fd {}: a thread of its own; {} client threads now", fd, live);
            k.peak_threads = k.peak_connections = std::max<std::uint64_t>(k.peak_threads, live);
        } catch (const std::system_error& e) {  // the system ran out of threads (EAGAIN): refuse, carry on
            iom::unwatch_for_stop(fd);  // `conn` closes it: the client sees EOF
            iom::trace("fd {}: no thread to be had ({}): refused", fd, e.what());
            ++k.refused;
        }
    }
    crew.join_all();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9002;
    // Smaller than the common default: each thread reserves a stack (8 MiB
    // with `ulimit -s` 8192) and is a kernel task; 1000 of them is already
    // more than a thread-per-connection server should hold (docs/blocking.md
    // measures them). Raise it to see where the machine gives out.
    opt.max_connections = 1000;
    CLI::App app{"bio_threads_server: a thread per connection. The main thread accepts; each client gets "
                 "a thread that blocks in recv/send. --max-connections bounds the threads: past it new "
                 "clients are closed at once (counted as refused).",
                 "bio_threads_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt, [&](iom::LiveCounters& live) { serve(opt, live); });
}
