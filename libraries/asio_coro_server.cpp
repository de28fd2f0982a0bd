// asio_coro_server — the same echo as straight-line C++20 coroutines on
// standalone Asio (port 9043)
//
// THE MODEL. gevent's idea in C++: each connection reads like bio_server's
// blocking loop (read, transform, write, again), but every `co_await`
// suspends only this coroutine, and one thread runs them all. Underneath,
// Asio's reactor is a readiness loop (epoll_reactor.ipp), not a proactor:
// a coroutine's read first tries recv at once ("speculative"); only on
// EAGAIN does it park, until epoll reports the socket readable.
//
// WHERE IT WAITS. In epoll_wait, inside io_context::run (the scheduler).
// Edge-triggered: each socket is registered once, when it is opened,
// EPOLLIN | EPOLLPRI | EPOLLERR | EPOLLHUP | EPOLLET; EPOLLOUT is added by
// the first write that would block (epoll_ctl MOD), and never taken away.
// Then no epoll_ctl, as in our epoll_server. A read is tried at once
// ("speculative") unless the last one on that socket came up short; then it
// waits for the next edge (epoll_reactor.ipp: try_speculative_). What costs
// a call our epoll_server does not make: a completion is not run where it
// happened but queued, and while handlers are queued the scheduler first
// asks epoll_wait, with timeout 0, what else is ready (scheduler.ipp:
// task_->run(more_handlers ? 0 : -1, ...)). One message: recv, send, and two
// epoll_wait, one that does not sleep: 4 calls where epoll_server makes 3
// (`scripts/per_message.sh`, docs/libraries.md; now and then a read is tried
// too early and answers EAGAIN).
//
// WHAT IT HIDES that our servers do by hand:
//   - partial writes: asio::async_write loops until all is sent, waiting for
//     writability between tries; the coroutine resumes when it is done;
//   - backpressure: none to write. The coroutine does not read again until
//     its write is done, so a client that never reads leaves it suspended in
//     async_write with one --buffer-size buffer: memory stays bounded;
//   - timers: --idle-timeout is a steady_timer per connection and a
//     watchdog coroutine beside the echo one; Asio keeps timers in a heap
//     and, on Linux, wakes epoll_wait with a timerfd;
//   - signals: asio::signal_set, Asio's own self-pipe behind the handler;
//   - fairness: the scheduler runs ready handlers in turn, and one read is
//     one --buffer-size chunk: a flooding client gets one turn per round.
// What it does NOT hide: EMFILE. async_accept completes with the error and
// the connections stay queued; and at the limit, accept fails at once even
// with no one waiting (the kernel takes the descriptor before it looks), so
// accepting again at once spins (as Asio's own echo example does). So the
// accept loop sheds the backlog with the suite's spare descriptor
// (common/reserve_fd.hpp), then waits for the next client (async_wait on
// the listener: the next edge) before it tries again.
//
// WHAT IT COUNTS. accepts, accept_errors, refused, closed, resets,
// recv_bytes, send_bytes, idle_timeouts, peak_connections. Not recv_calls,
// send_calls, EAGAIN answers nor wait_calls: Asio makes those calls and
// does not count them; strace does.
//
// TRY IN CLASS.
//   ./asio_coro_server --trace
//   strace -f -e trace=network,epoll_wait,epoll_ctl ./asio_coro_server

#include "common/reserve_fd.hpp"
#include "libraries/library.hpp"

#include <asio.hpp>

#include <cerrno>
#include <chrono>
#include <csignal>
#include <memory>
#include <vector>

namespace {

// What --help says the server is.
constexpr const char* about =
    "the echo as straight-line C++20 coroutines on standalone Asio. Asio waits in epoll_wait "
    "and resumes each coroutine when its socket is ready.";

using asio::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Server {
    iom::lib::Books books;
    // One thread, and no locks: without this hint Asio locks a mutex per operation all the same.
    asio::io_context io{ASIO_CONCURRENCY_HINT_UNSAFE};
    iom::ReserveFd reserve;
    Clock::duration timeout = std::chrono::duration_cast<Clock::duration>(
        std::chrono::duration<double>(books.opt.idle_timeout));
};

// Shared by a connection's two coroutines: the echo and (--idle-timeout)
// its watchdog. Whichever ends first closes the socket, which ends the other.
struct Conn {
    explicit Conn(tcp::socket s) : sock(std::move(s)), timer(sock.get_executor()) {}
    tcp::socket sock;
    asio::steady_timer timer;
    Clock::time_point deadline = Clock::time_point::max();
};

// Straight-line, like bio_server: but each co_await suspends this coroutine
// only, and the thread goes on with the others.
asio::awaitable<void> echo(Server& s, std::shared_ptr<Conn> c) {
    const int fd = c->sock.native_handle();
    std::vector<char> buf(s.books.opt.buffer_size);
    asio::error_code ec;
    auto or_error = asio::redirect_error(asio::use_awaitable, ec);  // errors into ec, not exceptions
    auto progressed = [&] { if (s.timeout.count()) c->deadline = Clock::now() + s.timeout; };
    for (;;) {
        iom::trace("recv(fd {}): the coroutine suspends until Asio has read bytes for it", fd);
        std::size_t n = co_await c->sock.async_read_some(asio::buffer(buf), or_error);
        if (ec) break;
        s.books.received(fd, n);
        iom::echo_transform(s.books.opt.echo, {buf.data(), n});
        progressed();
        // Suspends until every byte is sent (partial writes, EPOLLOUT: Asio's).
        n = co_await asio::async_write(c->sock, asio::buffer(buf.data(), n), or_error);
        s.books.k.send_bytes += n;
        if (ec) break;
        progressed();
    }
    // EOF is a clean end; a socket the watchdog closed, an idle one; anything else, an error.
    bool idle = !c->sock.is_open();
    s.books.closed(fd, idle ? &iom::Counters::idle_timeouts
                            : ec == asio::error::eof ? &iom::Counters::closed : &iom::Counters::resets);
    c->timer.cancel();
    c->sock.close();
}

// --idle-timeout: sleep until the deadline; if no progress moved it, close
// the socket (the echo's pending read or write then ends with an error).
asio::awaitable<void> watchdog(std::shared_ptr<Conn> c) {
    while (c->sock.is_open()) {
        c->timer.expires_at(c->deadline);
        asio::error_code ec;
        co_await c->timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
        if (Clock::now() >= c->deadline) c->sock.close();
    }
}

asio::awaitable<void> accept_loop(Server& s, tcp::acceptor& acceptor) {
    for (;;) {
        asio::error_code ec;
        tcp::socket sock = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
        if (ec) {  // out of descriptors: the connections stay queued; drop them rather than spin
            s.books.accept_failed(ec.message());
            if (ec.value() == EMFILE || ec.value() == ENFILE)
                s.books.k.refused += s.reserve.shed_all(acceptor.native_handle());  // as epoll_server counts them
            // Out of descriptors, accept fails even with no one waiting (the kernel takes the
            // descriptor first), so trying again at once would spin: wait for the next client.
            co_await acceptor.async_wait(tcp::acceptor::wait_read, asio::redirect_error(asio::use_awaitable, ec));
            continue;
        }
        if (!s.books.admit(sock.native_handle())) continue;  // sock closes here
        sock.set_option(tcp::no_delay(true), ec);
        auto c = std::make_shared<Conn>(std::move(sock));
        if (s.books.opt.idle_timeout > 0) {
            c->deadline = Clock::now() + s.timeout;
            asio::co_spawn(s.io, watchdog(c), asio::detached);
        }
        asio::co_spawn(s.io, echo(s, std::move(c)), asio::detached);
    }
}

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    Server s{{opt, k}};
    // Signals: Asio's handler replaces common/shutdown's and wakes the loop.
    // Stopping the io_context and destroying it destroys every suspended
    // coroutine, and with it its socket: every connection is closed.
    asio::signal_set signals(s.io, SIGINT, SIGTERM);
    signals.async_wait([&](const asio::error_code&, int) { s.io.stop(); });
    if (iom::stop_requested()) return;  // the signal came before Asio's handler took over
    // Bind and listen as every server does (same errors, same warning), hand
    // the socket to Asio, and only then say we are ready.
    iom::Fd fd = iom::open_listener(opt, /*nonblocking=*/true);
    tcp::acceptor acceptor(s.io);
    acceptor.assign(iom::local_address(fd.get()).family() == AF_INET6 ? tcp::v6() : tcp::v4(), fd.get());
    iom::announce(fd);
    fd.release();  // Asio's now: the acceptor closes it
    asio::co_spawn(s.io, accept_loop(s, acceptor), [](std::exception_ptr e) {
        if (e) std::rethrow_exception(e);  // out of io.run(), to server_main: one line, exit 1
    });
    iom::trace("io_context::run: Asio waits in epoll_wait and resumes the coroutines");
    s.io.run();
}

}  // namespace

int main(int argc, char** argv) {
    return iom::lib::run(argc, argv, "asio_coro_server", 9043, about, serve);
}
