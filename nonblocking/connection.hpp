// The non-blocking connection: one connection's echo logic, written once.
//
// WHERE THIS SITS IN THE LESSONS. Non-blocking I/O comes first, and this
// file is part of it: here is the recv that answers EAGAIN ("nothing now")
// instead of sleeping, and the accept that does the same. nio_server asks it
// again and again (busy polling); sigio_server asks it when a signal says
// something changed. Multiplexing comes next and is built on it: select,
// poll and epoll_server include this very file, unchanged, and add only a
// way to *wait* for readiness before asking.
//
// Every server whose sockets are O_NONBLOCK does the same thing once it
// believes a connection may be ready: read what is there, transform it,
// queue it for output, write what the socket accepts, stop reading while
// the output is full, close on EOF (once everything is sent) or on error.
// Only *how it learns readiness* differs — that is the model — so a diff of
// two server files shows exactly their way of learning it.
//
// WHAT IS HERE. pump(): one turn of one connection. note_idle(): closing one
// for --idle-timeout. sweep(): a turn for every connection, for the servers
// that cannot tell which one is ready (nio, sigio). accept_next(): the next
// socket from the backlog; next_connection(): the same, set up as a
// Connection (registering it is the server's). epoll_ftp_server, which
// serves sessions rather than echoes, takes accept_next() alone.
//
// pump() never blocks: every recv/send returns at once, with data or with
// EAGAIN ("would block"). It keeps going until neither side can progress, or
// until it has read kReadsPerTurn full buffers.
//
// FAIRNESS: THE READ BUDGET. One loop serves every connection, so while it
// reads one, the others wait. A client that sends as fast as it reads its
// echo keeps its socket from ever draining: read "until nothing is left" and
// the loop never leaves that client (`ioclient check --hostile --case
// flood`; before and after: docs/multiplexing.md, Fairness). So a turn ends
// after kReadsPerTurn reads and says so (Interest::unfinished). A
// level-triggered wait (select, poll, epoll --level) reports that socket
// again by itself, and a sweep (nio) comes back to it anyway; an
// edge-triggered one (epoll, SIGIO) will not announce data that was already
// there, so those servers do not sleep while such a connection is left:
// epoll keeps them on a list of its own, sigio sweeps again at once.
//
// IDLE CONNECTIONS (--idle-timeout). Nothing here blocks, so nothing here can
// time out by itself: the server must notice that a connection has made no
// progress for a while. pump() says whether it moved any byte (or saw EOF);
// the caller then stamps the connection with the time of its last progress
// (common/idle.hpp: one coarse clock read per wait, not per recv), and its
// model decides how to find the stale ones (a sweep, a wait timeout, a list).
#pragma once

#include "common/buffer.hpp"
#include "common/counters.hpp"
#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/idle.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/trace.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

namespace iom::nb {

struct Connection {
    Connection(Fd socket, std::size_t buffer_size) : fd(std::move(socket)), out(buffer_size) {}

    Fd fd;
    ByteBuffer out;         // read and transformed, not yet sent: bounded
    bool peer_done = false; // the peer half-closed: send the rest, then close
    std::int64_t last_progress = 0;  // IdleClock::now() when a byte last moved (--idle-timeout only)
};

// What the connection needs from the readiness mechanism next.
struct Interest {
    bool open = true;         // false: the connection is finished; close it
    bool want_read = false;   // it can take more input (not EOF, buffer not full)
    bool want_write = false;  // output is pending and the socket was full
    bool progressed = false;  // a byte moved either way (or EOF came): the connection is not idle
    bool unfinished = false;  // the read budget ended the turn, and input may still be waiting
};

// Full buffers one turn may read before pump() lets the other connections go first.
inline constexpr int kReadsPerTurn = 16;

// How far to read on each call.
enum class Reads {
    until_drained,  // until EAGAIN or a short read: level-triggered waits, and epoll ET events without EPOLLRDHUP
    until_eagain,   // until EAGAIN or EOF: edge-triggered waits that may hide a FIN (SIGIO, epoll ET with EPOLLRDHUP)
    once,           // one recv: the classic bug under edge triggering (epoll --read-once)
};

// One recv, or one send, counted and traced: the two calls every
// non-blocking server makes, written once. pump() below makes them, and so
// does epoll_pool_server, whose loop reads and writes but hands the handling
// to a pool. An interrupted call (EINTR) is made again.
struct Io {
    std::size_t n = 0;    // bytes moved; 0 without a flag: end of input (recv)
    bool again = false;   // EAGAIN: nothing to read, or no room to write, now
    bool failed = false;  // the connection is broken (ECONNRESET, EPIPE...): counted in resets
};

inline Io recv_some(int fd, std::span<char> room, Counters& k) {
    for (;;) {
        ssize_t n = recv(fd, room.data(), room.size(), 0);
        ++k.recv_calls;
        if (n > 0) {
            trace("recv(fd {}) -> {} bytes", fd, n);
            k.recv_bytes += static_cast<std::size_t>(n);
            return {.n = static_cast<std::size_t>(n)};
        }
        if (n == 0) {
            trace("recv(fd {}) -> 0: the peer closed its side", fd);
            return {};
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            trace("recv(fd {}) -> EAGAIN", fd);
            ++k.recv_eagain;
            return {.again = true};
        }
        if (errno != EINTR) {
            trace("recv(fd {}) -> error {}", fd, errno);
            ++k.resets;
            return {.failed = true};
        }
    }
}

inline Io send_some(int fd, std::span<const char> pending, Counters& k) {
    for (;;) {
        ssize_t n = send(fd, pending.data(), pending.size(), MSG_NOSIGNAL);
        ++k.send_calls;
        if (n >= 0) {
            trace("send(fd {}) -> {} of {} bytes", fd, n, pending.size());
            k.send_bytes += static_cast<std::size_t>(n);
            return {.n = static_cast<std::size_t>(n)};
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            trace("send(fd {}) -> EAGAIN", fd);
            ++k.send_eagain;
            return {.again = true};
        }
        if (errno != EINTR) {
            trace("send(fd {}) -> error {}", fd, errno);
            ++k.resets;
            return {.failed = true};
        }
    }
}

inline Interest pump(Connection& c, const ServerOptions& opt, Counters& k, Reads reads = Reads::until_drained) {
    const int fd = c.fd.get();
    bool can_read = true, can_write = true, progressed = false, break_for_others = false;
    int reads_left = kReadsPerTurn;
    for (;;) {
        // Read into the output buffer's free space: what we read is what we
        // will echo. A full buffer means the peer is not reading its replies:
        // we stop reading it (backpressure) instead of buffering without end.
        if (can_read && !c.peer_done && !c.out.full()) {
            auto room = c.out.space();
            Io got = recv_some(fd, room, k);
            if (got.failed) return {.open = false};
            if (got.again) {
                can_read = false;
            } else if (got.n == 0) {
                progressed = true;
                c.peer_done = true;
            } else {
                progressed = true;
                simulate_work(opt.work_us);
                echo_transform(opt.echo, c.out.commit(got.n));
                // A short read means no more data is queued now: asking
                // again would only return EAGAIN, and new data will be
                // announced anew. But a FIN queued behind the data is not
                // new: its one edge-triggered announcement is spent, and only
                // a further recv returns 0. Edge-triggered callers that may
                // have been told of a FIN read until EAGAIN or EOF
                // (multiplexing_test: HalfClose...).
                bool short_read = got.n < room.size();
                if ((short_read && reads == Reads::until_drained) || reads == Reads::once) can_read = false;
                if (--reads_left == 0 && can_read) {  // the budget: the others' turn (FAIRNESS above)
                    trace("fd {}: {} reads this turn: the others go first", fd, kReadsPerTurn);
                    break_for_others = true;
                    can_read = false;
                }
            }
        }
        // Write what is pending. A short write means the send buffer is full.
        if (can_write && !c.out.empty()) {
            auto pending = c.out.data();
            Io sent = send_some(fd, pending, k);
            if (sent.failed) return {.open = false};
            if (sent.again) can_write = false;
            if (sent.n > 0) {
                progressed = true;
                c.out.consume(sent.n);
                if (sent.n < pending.size()) can_write = false;
            }
        }
        if (c.peer_done && c.out.empty()) {
            ++k.closed;
            return {.open = false};
        }
        bool more_read = can_read && !c.peer_done && !c.out.full();
        bool more_write = can_write && !c.out.empty();
        if (!more_read && !more_write) break;
    }
    return {.open = true,
            .want_read = !c.peer_done && !c.out.full(),
            .want_write = !c.out.empty(),
            .progressed = progressed,
            .unfinished = break_for_others && !c.peer_done};
}

// Close-for-idleness, counted and traced the same way by every caller.
inline void note_idle(const Connection& c, Counters& k, double seconds) {
    trace("fd {}: no progress either way for {} s (--idle-timeout): closing", c.fd.get(), seconds);
    ++k.idle_timeouts;
}

// A sweep: one turn of pump() for every connection, asked whether or not it
// has anything, which is how the servers that cannot tell which socket is
// ready (nio: no one says; sigio: a plain SIGIO does not say) serve them.
// A connection that moved a byte is stamped `now`; one that is finished, or
// made no progress for --idle-timeout, is closed, swapped with the last one
// (order does not matter: all are asked every sweep). Returns whether a turn
// was cut short by the read budget with input still waiting (FAIRNESS).
inline bool sweep(std::vector<Connection>& conns, Reads reads, const IdleClock& idle, std::int64_t now,
                  const ServerOptions& opt, Counters& k) {
    bool unfinished = false;
    for (std::size_t i = 0; i < conns.size();) {
        Interest in = pump(conns[i], opt, k, reads);
        unfinished |= in.unfinished;
        if (in.open && in.progressed) conns[i].last_progress = now;
        bool idle_out = in.open && idle.on() && idle.expired(conns[i].last_progress, now);
        if (idle_out) note_idle(conns[i], k, opt.idle_timeout);
        if (in.open && !idle_out) {
            ++i;
        } else {
            trace("close(fd {})", conns[i].fd.get());
            std::swap(conns[i], conns.back());
            conns.pop_back();
        }
    }
    return unfinished;
}

// The next socket waiting in the listener's backlog, or an empty Fd once
// none is left. The listener is non-blocking: accept4 never waits, it
// answers EAGAIN. One readiness report may stand for many clients, so
// callers loop until then.
// Out of descriptors (EMFILE, ENFILE), the waiting clients stay queued: the
// listener would be reported ready again at once (a spin) or, edge-triggered,
// never again (clients left hanging). So every waiting client is shed:
// accepted on the reserve descriptor and closed at once.
inline Fd accept_next(int listen_fd, ReserveFd& reserve, Counters& k, std::string_view server) {
    for (;;) {
        int fd = accept4(listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            ++k.accepts;
            return Fd(fd);
        }
        int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) {  // the backlog is empty
            ++k.accept_eagain;
            trace("accept(fd {}) -> EAGAIN: no client waiting", listen_fd);
            return {};
        }
        if (err == EINTR || err == ECONNABORTED) continue;  // ECONNABORTED: that client gave up already
        if (err == EMFILE || err == ENFILE) {
            ++k.accept_errors;
            std::uint64_t shed = reserve.shed_all(listen_fd);
            k.refused += shed;
            fmt::print(stderr, "{}: accept: {}; closed {} waiting connections\n", server, std::strerror(err), shed);
            return {};
        }
        throw_errno(err, fmt::format("accept on fd {}", listen_fd));
    }
}

// The next client from the backlog (accept_next), set up to be served as a
// Connection (TCP_NODELAY; its idle clock started at `now`), or nothing once
// the backlog is empty. Past --max-connections (`open` is how many the
// server holds) a client is closed at once and counted as refused, and the
// next one is tried. Callers loop until nothing is left, and each registers
// the new connection with its own way of learning readiness: that part is
// the model, it stays in the server's file.
inline std::optional<Connection> next_connection(int listen_fd, ReserveFd& reserve, std::size_t open, std::int64_t now,
                                                 const ServerOptions& opt, Counters& k, std::string_view server) {
    while (Fd sock = accept_next(listen_fd, reserve, k, server)) {
        const int fd = sock.get();
        if (open >= opt.max_connections) {
            trace("accept -> fd {}: over --max-connections, closed", fd);
            ++k.refused;
            continue;  // sock closes here
        }
        set_nodelay(fd);
        trace("accept -> fd {} from {}", fd, PeerOf{fd});
        std::optional<Connection> conn(std::in_place, std::move(sock), opt.buffer_size);
        conn->last_progress = now;
        return conn;
    }
    return std::nullopt;  // the backlog is empty (or was shed: out of descriptors)
}

}  // namespace iom::nb
