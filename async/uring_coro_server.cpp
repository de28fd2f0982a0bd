// uring_coro_server — the io_uring proactor as C++20 coroutines (port 9032)
//
// THE MODEL. The same kernel mechanism as uring_server — submit an
// operation, be told when it is done — but each connection is a coroutine
// that reads like the blocking server: `co_await recv`, `co_await send`, in
// a loop. A co_await puts an SQE in the ring and suspends the coroutine; one
// thread runs the loop (async/uring_task.hpp) that submits, waits in
// io_uring_enter, and resumes each coroutine whose operation completed, with
// the operation's result. No threads, no callbacks, no state machine.
//
// WHERE IT WAITS. Only in io_uring_enter, like uring_server. A coroutine
// "blocked" in co_await recv costs no thread and no syscall: the kernel waits
// for the data (phase 1) and copies it into the coroutine's own buffer
// (phase 2) before the coroutine runs again. The bytes are there on resume.
//
// SINGLE-SHOT RECV INTO ITS OWN BUFFER, ON PURPOSE. Each recv is one SQE and
// fills the coroutine's --buffer-size buffer: simplest, and honest to the
// blocking model it mirrors. One buffer, one operation at a time, so there is
// one send in flight per connection by construction, a short send is
// finished before the next recv, and a client that does not read stops being
// read from (backpressure for free: no recv is in flight while we send).
// The cost: every connection, idle or not, holds its buffer; uring_server's
// shared ring of provided buffers and multishot recv exist to avoid that.
//
// THE LESSON. Coroutines are the proactor in straight-line code (and, under
// the proactor, the kernel's own readiness machinery: io_uring polls the
// socket for us). The counters read like uring_server's: wait_calls are
// io_uring_enter calls, sqes and cqes the operations. What differs is the
// reading: the state of a connection is where its code is suspended.
//
// TRY IN CLASS.
//   ./uring_coro_server --trace             # each co_await, each enter
//   diff blocking/serve_client.hpp async/uring_coro_server.cpp   # serve_client
//   strace -c -f ./uring_coro_server        # io_uring_enter, and nothing per recv
//
// IDLE CONNECTIONS (--idle-timeout). A coroutine suspended in co_await recv
// that never completes is exactly an idle connection. A coroutine of its own,
// close_idle, sleeps on a timeout SQE and wakes every quarter timeout (at most
// 1 s); serve_client only raises a flag when a byte moves (no clock on the
// hot path), and the sweep turns flags into last-progress times. An expired
// connection gets shutdown(fd, SHUT_RDWR): its recv (or stuck send) completes
// at once, with 0 or an error, and serve_client returns by its ordinary path,
// its frame and buffer freed only then. Closing the descriptor from outside
// instead would pull it from under an operation still in flight.

#include "async/uring_task.hpp"
#include "common/error.hpp"
#include "common/idle.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <unordered_set>

namespace {

using iom::uring::Loop;
using iom::uring::Task;

struct Live;

struct Shared {
    const iom::ServerOptions& opt;
    iom::Counters& k;
    std::unordered_set<Live*> live;  // connections being served: --max-connections, the idle sweep
};

// A connection, registered for as long as its coroutine frame exists.
struct Live {
    Live(Shared& s, int socket) : s_(s), fd(socket) {
        s_.live.insert(this);
        s_.k.peak_connections = std::max<std::uint64_t>(s_.k.peak_connections, s_.live.size());
    }
    ~Live() { s_.live.erase(this); }
    Live(const Live&) = delete;
    Live& operator=(const Live&) = delete;
    Shared& s_;
    int fd;
    bool progressed = false;  // a byte moved since the last idle sweep
    bool idled = false;       // the sweep shut it down: its last recv/send fails because of that
    std::int64_t last_progress = s_.opt.idle_timeout > 0 ? iom::IdleClock::now() : 0;
};

// Echo to one client until it closes: bio_server's serve_client, with co_await.
Task serve_client(Loop& loop, iom::Fd sock, Shared& s) {
    const int fd = sock.get();
    Live live(s, fd);
    const std::size_t size = s.opt.buffer_size;
    auto buf = std::make_unique_for_overwrite<char[]>(size);
    for (;;) {
        iom::trace("co_await recv(fd {}): suspended until the kernel has received and copied", fd);
        int n = co_await loop.recv(fd, {buf.get(), size});
        if (n == -ECANCELED) co_return;  // the server is stopping
        ++s.k.recv_calls;
        live.progressed = true;
        if (n == 0) {
            iom::trace("recv(fd {}) -> 0: the client closed (or we shut it down)", fd);
            ++(live.idled ? s.k.idle_timeouts : s.k.closed);
            co_return;
        }
        if (n < 0) {
            iom::trace("recv(fd {}) -> error {}", fd, -n);
            ++(live.idled ? s.k.idle_timeouts : s.k.resets);
            co_return;
        }
        iom::trace("recv(fd {}) -> {} bytes, already in our buffer", fd, n);
        s.k.recv_bytes += static_cast<unsigned>(n);
        iom::simulate_work(s.opt.work_us);
        iom::echo_transform(s.opt.echo, {buf.get(), static_cast<std::size_t>(n)});

        // A send may take fewer bytes than asked: send the rest before reading more.
        for (int sent = 0; sent < n;) {
            iom::trace("co_await send(fd {}, {} bytes)", fd, n - sent);
            int w = co_await loop.send(fd, {buf.get() + sent, static_cast<std::size_t>(n - sent)});
            if (w == -ECANCELED) co_return;
            ++s.k.send_calls;
            if (w <= 0) {
                iom::trace("send(fd {}) -> error {}", fd, -w);
                ++(live.idled ? s.k.idle_timeouts : s.k.resets);
                co_return;
            }
            live.progressed = true;
            iom::trace("send(fd {}) -> {} of {} bytes", fd, w, n - sent);
            sent += w;
            s.k.send_bytes += static_cast<unsigned>(w);
        }
    }
}

Task accept_clients(Loop& loop, int listener, Shared& s) {
    iom::ReserveFd reserve;
    for (;;) {
        iom::trace("co_await accept(fd {})", listener);
        int fd = co_await loop.accept(listener);
        if (fd >= 0) {
            ++s.k.accepts;
            if (s.live.size() >= s.opt.max_connections) {  // refuse: close at once
                iom::trace("accept -> fd {}: refused (--max-connections {})", fd, s.opt.max_connections);
                ::close(fd);
                ++s.k.refused;
                continue;
            }
            iom::trace("accept -> fd {}", fd);
            iom::set_nodelay(fd);
            loop.spawn(serve_client(loop, iom::Fd(fd), s));  // runs until its first co_await, then we go on
        } else if (fd == -EMFILE || fd == -ENFILE) {
            // An io_uring accept takes a descriptor before it looks for a
            // connection: retried at once it fails at once, forever. Close
            // the clients waiting (they see a close, not a hang) and pause.
            ++s.k.accept_errors;
            iom::trace("accept -> error {}: out of descriptors, shed the backlog, pause 100 ms", -fd);
            while (reserve.shed(listener)) ++s.k.refused;
            co_await loop.sleep(100'000'000);
        } else if (fd == -ECANCELED) {
            co_return;  // the server is stopping
        } else if (fd != -ECONNABORTED && fd != -EINTR) {
            iom::throw_errno(-fd, "accept (io_uring)");
        }
    }
}

// --idle-timeout: wake every quarter timeout; shut down who made no progress.
Task close_idle(Loop& loop, Shared& s) {
    const iom::IdleClock idle(s.opt.idle_timeout);
    while (co_await loop.sleep(idle.period) == -ETIME) {  // -ECANCELED: the server is stopping
        const std::int64_t now = iom::IdleClock::now();
        for (Live* c : s.live) {
            if (std::exchange(c->progressed, false)) c->last_progress = now;
            if (c->idled || !idle.expired(c->last_progress, now)) continue;
            iom::trace("fd {}: no progress for --idle-timeout: shutdown(SHUT_RDWR)", c->fd);
            c->idled = true;
            ::shutdown(c->fd, SHUT_RDWR);  // its recv/send completes; serve_client ends as usual
        }
    }
}

// SIGINT/SIGTERM write the stop eventfd: a poll on it is one more completion.
Task watch_for_stop(Loop& loop) {
    co_await loop.poll(iom::stop_fd(), POLLIN);
    loop.stop();
}

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    Shared shared{opt, k};
    // Non-blocking, so ReserveFd::shed's accept4 never blocks; io_uring's
    // accept still waits (by polling inside the kernel).
    iom::Fd listener;
    Loop loop(k);  // after what the tasks refer to: ~Loop may destroy leftover frames
    listener = iom::open_listener(opt, /*nonblocking=*/true);
    loop.spawn(watch_for_stop(loop));
    loop.spawn(accept_clients(loop, listener.get(), shared));
    if (opt.idle_timeout > 0) loop.spawn(close_idle(loop, shared));
    iom::announce(listener);
    loop.run();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9032;
    CLI::App app{"uring_coro_server: the io_uring proactor written as C++20 coroutines, one per connection: "
                 "co_await recv, co_await send, in a loop. Memory per connection: one --buffer-size buffer.",
                 "uring_coro_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, live.counters()); });
}
