// libuv_server — the same echo on libuv, the loop under Node.js (port 9041)
//
// THE MODEL. A reactor, as epoll_server is, but the library owns the loop:
// uv_run() waits, and calls us back. We hand libuv a listening socket, a
// callback for each new connection, and per connection a callback that
// receives bytes libuv has already read. We never call accept, read, write
// or epoll_* ourselves.
//
// WHERE IT WAITS. In epoll_wait, inside uv_run (its src/unix/linux.c).
// Level-triggered: no EPOLLET anywhere. A socket is added with
// epoll_ctl(ADD) at the first wait after uv_read_start, and libuv calls
// epoll_ctl(MOD) only when what it watches changes (reading stops or starts,
// a write waits for space). On a readable socket libuv reads up to 32 times
// in a row (uv__read's count), each into a buffer from our alloc callback,
// and stops at the first short read: no read that answers EAGAIN. Our
// uv_try_write writes at once. So one message costs what it costs in
// epoll_server: one epoll_wait, one read, one write
// (`scripts/per_message.sh`, docs/libraries.md).
//
// WHAT IT HIDES that our servers do by hand:
//   - partial writes: uv_write queues what the socket did not take and
//     sends it when the socket is writable, then calls us. Here we first
//     uv_try_write (one write(), no queue), and only the rest goes to
//     uv_write; until its callback comes we uv_read_stop: the connection's
//     one buffer is the bound on its memory, as --buffer-size promises;
//   - EMFILE: libuv keeps a spare descriptor of its own (uv__emfile_trick),
//     and when accept fails for want of descriptors it frees it, accepts and
//     closes every waiting connection, and takes it back: common/reserve_fd.hpp
//     in the library. It does not even tell us: on_connection is not called
//     (so accept_errors stays 0 here, though descriptors ran out);
//   - timers: --idle-timeout is one uv_timer_t per connection, rearmed on
//     every progress (uv_timer_again); libuv keeps them in a min-heap and
//     sleeps in epoll_wait until the nearest one;
//   - signals: uv_signal_t, libuv's own self-pipe behind the handler;
//   - fairness: uv__read's 32 reads per turn is the read budget
//     (nonblocking/connection.hpp's kReadsPerTurn, by another name).
//
// WHAT IT COUNTS. accepts, accept_errors, refused, closed, resets,
// recv_bytes, send_bytes, idle_timeouts, peak_connections. Not recv_calls,
// send_calls, the EAGAIN answers nor wait_calls: libuv makes those calls and
// does not say how many (its uv_metrics_idle_time is a duration, not a
// count); a guess would be worse than a gap. strace counts them.
//
// TRY IN CLASS.
//   ./libuv_server --trace
//   strace -f -e trace=network,epoll_wait,epoll_ctl ./libuv_server

#include "libraries/library.hpp"

#include <uv.h>

#include <csignal>
#include <stdexcept>
#include <utility>
#include <vector>

namespace {

// What --help says the server is.
constexpr const char* about =
    "the echo on libuv, the event loop under Node.js. libuv waits in epoll_wait, reads and "
    "writes for us, and calls us back.";

// One connection. libuv hands its handles back to us, and each handle's
// data leads back here; it is freed once both have finished closing.
struct Conn {
    iom::lib::Books& books;
    uv_tcp_t tcp{};
    uv_timer_t idle{};      // --idle-timeout only
    uv_write_t write{};     // the one write libuv may hold for us
    std::vector<char> buf;  // read into, transformed in place, written from
    unsigned queued = 0;    // bytes handed to uv_write, not sent yet
    int handles = 1;        // uv_close callbacks still to come: 2 with the timer
    uv_os_fd_t fd = -1;
    uv_handle_t* handle() { return reinterpret_cast<uv_handle_t*>(&tcp); }
    uv_stream_t* stream() { return reinterpret_cast<uv_stream_t*>(&tcp); }
};

// Once: a queued write that the close cancels calls back with an error.
void close_conn(Conn* c, iom::Count iom::Counters::*why) {
    if (uv_is_closing(c->handle())) return;
    c->books.closed(c->fd, why);
    auto on_closed = [](uv_handle_t* h) {
        if (auto* conn = static_cast<Conn*>(h->data); --conn->handles == 0) delete conn;
    };
    uv_close(c->handle(), on_closed);
    if (c->handles == 2) uv_close(reinterpret_cast<uv_handle_t*>(&c->idle), on_closed);
}

// libuv asks for a buffer only once data is there: a connection that never
// sends never gets one (idle connections cost no --buffer-size each).
void on_alloc(uv_handle_t* h, std::size_t, uv_buf_t* out) {
    auto* c = static_cast<Conn*>(h->data);
    c->buf.resize(c->books.opt.buffer_size);  // the first time only
    *out = uv_buf_init(c->buf.data(), static_cast<unsigned>(c->buf.size()));
}

void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t*);

// What the socket did not take at once has now been sent: read again.
void on_written(uv_write_t* w, int status) {
    auto* c = static_cast<Conn*>(w->data);
    if (status < 0) return close_conn(c, &iom::Counters::resets);
    c->books.k.send_bytes += std::exchange(c->queued, 0);
    if (c->handles == 2) uv_timer_again(&c->idle);  // progress: the idle timer starts again
    uv_read_start(c->stream(), on_alloc, on_read);
}

// libuv has read `n` bytes into our buffer (or met EOF, or an error).
void on_read(uv_stream_t* s, ssize_t n, const uv_buf_t*) {
    auto* c = static_cast<Conn*>(s->data);
    if (n == 0) return;                                              // EAGAIN, passed on to us
    if (n == UV_EOF) return close_conn(c, &iom::Counters::closed);  // nothing queued: reads stop while a write is
    if (n < 0) return close_conn(c, &iom::Counters::resets);
    c->books.received(c->fd, static_cast<std::size_t>(n));
    iom::echo_transform(c->books.opt.echo, {c->buf.data(), static_cast<std::size_t>(n)});
    if (c->handles == 2) uv_timer_again(&c->idle);  // libuv moves the timer in its min-heap
    uv_buf_t out = uv_buf_init(c->buf.data(), static_cast<unsigned>(n));
    int sent = uv_try_write(s, &out, 1);  // one write(), nothing queued
    if (sent == UV_EAGAIN) sent = 0;
    if (sent < 0) return close_conn(c, &iom::Counters::resets);
    c->books.k.send_bytes += static_cast<std::uint64_t>(sent);
    if (sent == n) return;
    // A partial write: uv_write keeps the rest and sends it when the socket
    // is writable. Our buffer holds that rest, so stop reading until then.
    iom::trace("fd {}: {} of {} bytes sent; uv_write queues the rest, reading stops", c->fd, sent, n);
    c->queued = static_cast<unsigned>(n - sent);
    out = uv_buf_init(c->buf.data() + sent, c->queued);
    uv_read_stop(s);
    uv_write(&c->write, s, &out, 1, on_written);
}

// libuv has accepted: the socket waits in the listener for uv_accept to
// take it. (status < 0: accept failed otherwise than for want of descriptors.)
void on_connection(uv_stream_t* listener, int status) {
    auto& books = *static_cast<iom::lib::Books*>(listener->loop->data);
    if (status < 0) return books.accept_failed(uv_strerror(status));
    auto* c = new Conn{books};
    c->tcp.data = c->idle.data = c->write.data = c;
    uv_tcp_init(listener->loop, &c->tcp);
    uv_accept(listener, c->stream());  // cannot fail: a socket is waiting, or we would not be called
    uv_fileno(c->handle(), &c->fd);
    if (!books.admit(c->fd)) return uv_close(c->handle(), [](uv_handle_t* h) { delete static_cast<Conn*>(h->data); });
    uv_tcp_nodelay(&c->tcp, 1);
    if (books.opt.idle_timeout > 0) {  // fires T after the last progress (uv_timer_again), then every T
        auto ms = static_cast<std::uint64_t>(std::max(1.0, books.opt.idle_timeout * 1000));
        uv_timer_init(listener->loop, &c->idle);
        c->handles = 2;
        uv_timer_start(&c->idle, [](uv_timer_t* t) {
            close_conn(static_cast<Conn*>(t->data), &iom::Counters::idle_timeouts);
        }, ms, ms);
    }
    uv_read_start(c->stream(), on_alloc, on_read);
}

// SIGINT/SIGTERM: close every handle; uv_run returns when none is left.
void on_signal(uv_signal_t* sig, int) {
    uv_walk(sig->loop, [](uv_handle_t* h, void*) {
        if (uv_is_closing(h)) return;
        if (h->data) return close_conn(static_cast<Conn*>(h->data), &iom::Counters::closed);  // its timer too
        uv_close(h, nullptr);  // the listener, the signal watchers
    }, nullptr);
}

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    iom::lib::Books books{opt, k};
    uv_loop_t* loop = uv_default_loop();
    loop->data = &books;
    uv_signal_t sigint{}, sigterm{};  // libuv's handler replaces common/shutdown's: it wakes the loop
    for (auto [sig, num] : {std::pair{&sigint, SIGINT}, std::pair{&sigterm, SIGTERM}}) {
        uv_signal_init(loop, sig);
        uv_signal_start(sig, on_signal, num);
    }
    if (iom::stop_requested()) return;  // the signal came before libuv's handler took over
    // Bind and listen as every server does (same errors, same warning), hand
    // the socket to libuv, and only then say we are ready.
    iom::Fd fd = iom::open_listener(opt, /*nonblocking=*/true);
    uv_tcp_t listener{};
    uv_tcp_init(loop, &listener);
    uv_tcp_open(&listener, fd.get());
    if (int rc = uv_listen(reinterpret_cast<uv_stream_t*>(&listener), opt.backlog, on_connection); rc != 0)
        throw std::runtime_error(fmt::format("uv_listen: {}", uv_strerror(rc)));
    iom::announce(fd);
    fd.release();  // libuv's now: uv_close closes it
    iom::trace("uv_run: libuv waits in epoll_wait and calls us back");
    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
}

}  // namespace

int main(int argc, char** argv) {
    return iom::lib::run(argc, argv, "libuv_server", 9041, about, serve);
}
