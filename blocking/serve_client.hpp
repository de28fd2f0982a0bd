// The blocking echo loop, written once: every blocking server runs it for
// each client. recv until the client closes, transform, send every byte.
//
// What differs between the blocking models is *who* runs this loop — the
// only process (bio_server), a thread of its own (bio_threads_server), a
// child process (bio_fork_server), a pool worker (bio_pool_server) — and so
// what else can happen while it waits. `who` says it in the trace. Below it,
// what every blocking acceptor does when accept fails (after_failed_accept).
//
// WHERE IT WAITS. recv() sleeps through both phases of a read: until data
// arrives, then while the kernel copies it into `buf`. send() returns once
// the bytes are copied into the socket's send buffer; it sleeps only while
// that buffer is full, that is while the client is not reading.
//
// IDLE TIMEOUT (--idle-timeout). A blocking call has no deadline of its own,
// so the socket gets one: SO_RCVTIMEO and SO_SNDTIMEO. A recv that waits that
// long for a byte, or a send that cannot move a byte that long (the client is
// not reading), fails with EAGAIN; the loop counts an idle timeout and closes
// the client. Progress restarts the clock: every call gets a fresh timeout,
// and a send that moved some bytes before its timeout returns their count.
// Cost: one setsockopt per option per connection, nothing per call.
#pragma once

#include "common/counters.hpp"
#include "common/error.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <sys/socket.h>
#include <sys/time.h>

#include <cerrno>
#include <cmath>
#include <string_view>
#include <vector>

namespace iom::blocking {

// Give `fd`'s blocking recv and send a deadline of `seconds` (0: none).
inline void set_idle_timeout(int fd, double seconds) {
    if (seconds <= 0) return;
    timeval tv{};
    tv.tv_sec = static_cast<time_t>(seconds);
    tv.tv_usec = static_cast<suseconds_t>(std::lround((seconds - static_cast<double>(tv.tv_sec)) * 1e6));
    if (tv.tv_sec == 0 && tv.tv_usec == 0) tv.tv_usec = 1;  // a zero timeval would mean "never"
    // Cannot fail on a valid socket; if it somehow did, the client is served without a deadline.
    if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
        setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
        trace("setsockopt(fd {}, SO_RCVTIMEO/SO_SNDTIMEO) -> error {}", fd, errno);
    }
}

// recv or send failed: a timeout (EAGAIN, only possible with --idle-timeout)
// or a real error. Either way this client is done; count which.
inline void count_failure(int fd, const char* call, Counters& k) {
    if (errno == EAGAIN || errno == EWOULDBLOCK) {
        trace("{}(fd {}) -> timed out: idle for --idle-timeout, closing", call, fd);
        ++k.idle_timeouts;
    } else {
        trace("{}(fd {}) -> error {}", call, fd, errno);
        ++k.resets;
    }
}

// Echo to one client until it closes. Returns when it leaves (or errs, or idles).
inline void serve_client(int fd, const ServerOptions& opt, std::vector<char>& buf, Counters& k,
                         std::string_view who) {
    set_idle_timeout(fd, opt.idle_timeout);
    for (;;) {
        trace("recv(fd {}) blocks {}: waiting for data, then the kernel copies it", fd, who);
        ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        ++k.recv_calls;
        if (n < 0) {
            if (errno == EINTR && !stop_requested()) continue;  // a signal, not a stop
            count_failure(fd, "recv", k);
            return;
        }
        if (n == 0) {  // the peer closed (or half-closed) its side: we are done
            trace("recv(fd {}) -> 0: the client closed", fd);
            ++k.closed;
            return;
        }
        trace("recv(fd {}) -> {} bytes copied into our buffer", fd, n);
        k.recv_bytes += static_cast<std::size_t>(n);

        simulate_work(opt.work_us);  // a slow handler delays everyone who waits on this loop's runner
        echo_transform(opt.echo, {buf.data(), static_cast<std::size_t>(n)});

        // send may take fewer bytes than asked (a short write): loop until all
        // of them are in the kernel, or the client is gone. MSG_NOSIGNAL: a
        // vanished client is an EPIPE here, never a SIGPIPE.
        for (ssize_t sent = 0; sent < n;) {
            trace("send(fd {}, {} bytes) blocks {} while the send buffer is full", fd, n - sent, who);
            ssize_t w = send(fd, buf.data() + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
            ++k.send_calls;
            if (w < 0) {
                if (errno == EINTR && !stop_requested()) continue;
                count_failure(fd, "send", k);
                return;
            }
            trace("send(fd {}) -> {} bytes", fd, w);
            sent += w;
            k.send_bytes += static_cast<std::size_t>(w);
        }
    }
}

// The blocking accept failed (it returned -1): what now? Every blocking
// acceptor needs this, and none of it is the model. A signal (EINTR), a
// stop, a client that gave up before it was taken (ECONNABORTED): go round
// and accept again. No descriptor left (EMFILE, ENFILE): the waiting clients
// stay queued, and a blocking accept fails at once whether or not anyone
// waits, so retrying would spin; shed every client waiting now (accepted on
// the reserve descriptor and closed, common/reserve_fd.hpp), then sleep
// until the next one comes. Anything else is a real error: it throws.
inline void after_failed_accept(int err, int listen_fd, ReserveFd& reserve, Counters& k) {
    if (err == EINTR || err == ECONNABORTED || stop_requested()) return;
    if (err == EMFILE || err == ENFILE) {
        ++k.accept_errors;
        k.refused += reserve.shed_all(listen_fd);
        ReserveFd::wait_for_client(listen_fd);
        return;
    }
    throw_errno(err, fmt::format("accept on fd {}", listen_fd));
}

}  // namespace iom::blocking
