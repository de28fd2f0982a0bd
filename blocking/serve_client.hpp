// The blocking echo loop, written once: every blocking server runs it for
// each client. recv until the client closes, transform, send every byte.
//
// What differs between the blocking models is *who* runs this loop — the
// only process (bio_server), a thread of its own (bio_threads_server), a
// child process (bio_fork_server), a pool worker (bio_pool_server) — and so
// what else can happen while it waits. `who` says it in the trace.
//
// WHERE IT WAITS. recv() sleeps through both phases of a read: until data
// arrives, then while the kernel copies it into `buf`. send() returns once
// the bytes are copied into the socket's send buffer; it sleeps only while
// that buffer is full, that is while the client is not reading.
#pragma once

#include "common/counters.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <string_view>
#include <vector>

namespace iom::blocking {

// Echo to one client until it closes. Returns when it leaves (or errs).
inline void serve_client(int fd, const ServerOptions& opt, std::vector<char>& buf, Counters& c,
                         std::string_view who) {
    for (;;) {
        trace("recv(fd {}) blocks {}: waiting for data, then the kernel copies it", fd, who);
        ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        ++c.recv_calls;
        if (n < 0) {
            if (errno == EINTR && !stop_requested()) continue;  // a signal, not a stop
            trace("recv(fd {}) -> error {}", fd, errno);
            ++c.resets;
            return;
        }
        if (n == 0) {  // the peer closed (or half-closed) its side: we are done
            trace("recv(fd {}) -> 0: the client closed", fd);
            ++c.closed;
            return;
        }
        trace("recv(fd {}) -> {} bytes copied into our buffer", fd, n);
        c.recv_bytes += static_cast<std::size_t>(n);

        simulate_work(opt.work_us);  // a slow handler delays everyone who waits on this loop's runner
        echo_transform(opt.echo, {buf.data(), static_cast<std::size_t>(n)});

        // send may take fewer bytes than asked (a short write): loop until all
        // of them are in the kernel, or the client is gone. MSG_NOSIGNAL: a
        // vanished client is an EPIPE here, never a SIGPIPE.
        for (ssize_t sent = 0; sent < n;) {
            trace("send(fd {}, {} bytes) blocks {} while the send buffer is full", fd, n - sent, who);
            ssize_t w = send(fd, buf.data() + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
            ++c.send_calls;
            if (w < 0) {
                if (errno == EINTR && !stop_requested()) continue;
                trace("send(fd {}) -> error {}", fd, errno);
                ++c.resets;
                return;
            }
            trace("send(fd {}) -> {} bytes", fd, w);
            sent += w;
            c.send_bytes += static_cast<std::size_t>(w);
        }
    }
}

}  // namespace iom::blocking
