// libevent_server — the same echo on libevent's bufferevents (port 9042)
//
// THE MODEL. A reactor whose loop is libevent's (event_base_dispatch), with
// buffered I/O on top: a bufferevent owns a socket and two evbuffers. When
// the socket is readable, libevent reads into the input evbuffer and calls
// on_read; we move the bytes to the output evbuffer (chains of chunks change
// hands, nothing is copied) and libevent writes them when the socket is
// writable. evconnlistener accepts for us and hands us each new socket.
//
// WHERE IT WAITS. In epoll_wait, inside event_base_loop (its epoll.c).
// Level-triggered: bufferevents never ask for EV_ET. Each change of
// interest is one epoll_ctl (the changelist that would batch them is off by
// default: EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST). One readable event, one
// read: bufferevent_readcb asks how much is waiting (ioctl FIONREAD), reads
// it (readv) and returns to the loop; level-triggered, anything left is
// reported again. The reply is
// not written at once: bufferevent_write only appends to the output evbuffer
// and turns EV_WRITE on, so the loop adds EPOLLOUT (epoll_ctl MOD), waits
// again, writes (writev) when the socket is reported writable, and takes
// EPOLLOUT away again (epoll_ctl MOD) once the output is empty. So one
// message costs 7 calls where epoll_server makes 3: ioctl, readv, writev,
// two epoll_wait, two epoll_ctl (`scripts/per_message.sh`,
// docs/libraries.md).
//
// WHAT IT HIDES that our servers do by hand:
//   - partial writes: the output evbuffer keeps what write() did not take;
//     libevent watches for EPOLLOUT while it is not empty;
//   - backpressure, half of it: a read high-watermark stops reading when the
//     *input* is full. The output is ours to bound: when it holds
//     --buffer-size bytes we disable EV_READ, and on_write (called once the
//     output has drained) enables it again;
//   - timers: bufferevent_set_timeouts is --idle-timeout, a read timeout
//     while reading is on, a write timeout while output waits (a min-heap);
//   - signals: evsignal, libevent's own self-pipe behind the handler;
//   - fairness: one read per socket per turn of the loop, at most
//     --buffer-size bytes (bufferevent_set_max_single_read).
// What it does NOT hide: EMFILE. evconnlistener reports the failed accept
// and leaves the listener watched, level-triggered: it would be reported
// again at once, a spin. So on_accept_error sheds the backlog with the
// suite's spare descriptor (common/reserve_fd.hpp), as epoll_server does.
//
// WHAT IT COUNTS. accepts, accept_errors, refused, closed, resets,
// recv_bytes, send_bytes (what libevent's write took out of the output
// buffer, seen by an evbuffer callback), idle_timeouts, peak_connections.
// Not recv_calls, send_calls, EAGAIN answers nor wait_calls: libevent makes
// those calls and does not count them; strace does.
//
// TRY IN CLASS.
//   ./libevent_server --trace
//   strace -f -e trace=network,epoll_wait,epoll_ctl ./libevent_server

#include "common/reserve_fd.hpp"
#include "libraries/library.hpp"

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>
#include <stdexcept>
#include <unordered_map>
#include <vector>

namespace {

// What --help says the server is.
constexpr const char* about =
    "the echo on libevent's bufferevents. libevent waits in epoll_wait, reads into and writes "
    "from its own buffers, and calls us back.";

struct Server {
    iom::lib::Books books;
    event_base* base = event_base_new();
    iom::ReserveFd reserve;
    std::unordered_map<bufferevent*, bool> conns;  // each connection, and whether its peer has finished
    std::vector<evbuffer_iovec> chunks;            // where an input evbuffer's bytes lie
};

void close_conn(Server& s, bufferevent* bev, iom::Count iom::Counters::*why) {
    s.books.closed(bufferevent_getfd(bev), why);
    s.conns.erase(bev);
    bufferevent_free(bev);  // BEV_OPT_CLOSE_ON_FREE: closes the socket
}

// libevent has read into the input evbuffer: transform the bytes where they
// lie, then move them, chunk by chunk (no copy), to the output evbuffer.
void on_read(bufferevent* bev, void* arg) {
    auto& s = *static_cast<Server*>(arg);
    evbuffer* in = bufferevent_get_input(bev);
    s.chunks.resize(static_cast<std::size_t>(evbuffer_peek(in, -1, nullptr, nullptr, 0)));
    evbuffer_peek(in, -1, nullptr, s.chunks.data(), static_cast<int>(s.chunks.size()));
    for (const evbuffer_iovec& c : s.chunks)
        iom::echo_transform(s.books.opt.echo, {static_cast<char*>(c.iov_base), c.iov_len});
    s.books.received(bufferevent_getfd(bev), evbuffer_get_length(in));
    bufferevent_write_buffer(bev, in);
    if (evbuffer_get_length(bufferevent_get_output(bev)) >= s.books.opt.buffer_size) {
        iom::trace("fd {}: output full, reading stops until it drains", bufferevent_getfd(bev));
        bufferevent_disable(bev, EV_READ);
    }
}

// The output evbuffer has drained (to its low watermark, 0).
void on_write(bufferevent* bev, void* arg) {
    auto& s = *static_cast<Server*>(arg);
    if (s.conns.at(bev)) return close_conn(s, bev, &iom::Counters::closed);  // the peer is done: all sent
    bufferevent_enable(bev, EV_READ);
}

void on_event(bufferevent* bev, short what, void* arg) {
    auto& s = *static_cast<Server*>(arg);
    if (what & BEV_EVENT_TIMEOUT) return close_conn(s, bev, &iom::Counters::idle_timeouts);
    if (what & BEV_EVENT_ERROR) return close_conn(s, bev, &iom::Counters::resets);
    // EOF: close once what is queued has been sent (on_write), or now.
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) return close_conn(s, bev, &iom::Counters::closed);
    s.conns.at(bev) = true;
}

void on_accept(evconnlistener*, evutil_socket_t fd, sockaddr*, int, void* arg) {
    auto& s = *static_cast<Server*>(arg);
    if (!s.books.admit(fd)) return void(evutil_closesocket(fd));
    iom::set_nodelay(fd);
    bufferevent* bev = bufferevent_socket_new(s.base, fd, BEV_OPT_CLOSE_ON_FREE);
    s.conns.emplace(bev, false);
    bufferevent_setcb(bev, on_read, on_write, on_event, &s);
    bufferevent_set_max_single_read(bev, s.books.opt.buffer_size);
    // What libevent's write() takes out of the output evbuffer: the bytes sent.
    evbuffer_add_cb(bufferevent_get_output(bev), [](evbuffer*, const evbuffer_cb_info* info, void* k) {
        static_cast<iom::Counters*>(k)->send_bytes += info->n_deleted;
    }, &s.books.k);
    if (s.books.opt.idle_timeout > 0) {
        auto us = static_cast<long>(s.books.opt.idle_timeout * 1e6);
        timeval tv{us / 1'000'000, us % 1'000'000};
        bufferevent_set_timeouts(bev, &tv, &tv);  // reading: no byte in; writing: no byte out
    }
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

// accept failed. Out of descriptors, the connections stay queued and the
// level-triggered listener would be reported again at once: drop them.
void on_accept_error(evconnlistener* listener, void* arg) {
    auto& s = *static_cast<Server*>(arg);
    int err = errno;
    s.books.accept_failed(std::strerror(err));
    if (err == EMFILE || err == ENFILE) s.books.k.refused += s.reserve.shed_all(evconnlistener_get_fd(listener));
}

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    Server s{{opt, k}};
    if (!s.base) throw std::runtime_error("event_base_new failed");
    // Signals: libevent's handler replaces common/shutdown's and wakes the loop.
    auto stop = [](evutil_socket_t, short, void* arg) {
        auto& srv = *static_cast<Server*>(arg);
        while (!srv.conns.empty()) close_conn(srv, srv.conns.begin()->first, &iom::Counters::closed);
        event_base_loopbreak(srv.base);
    };
    std::unique_ptr<event, decltype(&event_free)> sigint(evsignal_new(s.base, SIGINT, stop, &s), event_free),
        sigterm(evsignal_new(s.base, SIGTERM, stop, &s), event_free);
    event_add(sigint.get(), nullptr);
    event_add(sigterm.get(), nullptr);
    if (iom::stop_requested()) return;  // the signal came before libevent's handler took over
    // Bind and listen as every server does (same errors, same warning), hand
    // the socket to libevent, and only then say we are ready.
    iom::Fd fd = iom::open_listener(opt, /*nonblocking=*/true);
    evconnlistener* listener = evconnlistener_new(s.base, on_accept, &s, LEV_OPT_CLOSE_ON_FREE, 0, fd.get());
    if (!listener) throw std::runtime_error("evconnlistener_new failed");
    evconnlistener_set_error_cb(listener, on_accept_error);
    iom::announce(fd);
    fd.release();  // libevent's now: evconnlistener_free closes it
    iom::trace("event_base_dispatch: libevent waits in {} and calls us back", event_base_get_method(s.base));
    event_base_dispatch(s.base);
    evconnlistener_free(listener);
    sigint.reset();
    sigterm.reset();
    event_base_free(s.base);
}

}  // namespace

int main(int argc, char** argv) {
    return iom::lib::run(argc, argv, "libevent_server", 9042, about, serve);
}
