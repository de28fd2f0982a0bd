// bio_server — the iterative blocking server (port 9001)
//
// THE MODEL. One process, one thread, blocking sockets. It accepts a client,
// echoes to it until the client closes, and only then accepts the next one.
// Nothing else can happen while it waits, because waiting is all it does.
//
// WHERE IT WAITS. A read has two phases: (1) waiting for data to arrive and
// (2) the kernel copying it from the socket's receive buffer into ours.
//   accept()  sleeps until a client has completed the TCP handshake.
//   recv()    sleeps through phase 1 until bytes arrive, then stays in the
//             kernel for phase 2 while they are copied: both phases block.
//   send()    returns once the bytes are copied into the socket's send
//             buffer; it sleeps only while that buffer is full, that is while
//             the client is not reading.
//
// THE LESSON. While one client is connected, a second one is not served.
// Its connect() succeeds — the kernel completes the handshake and queues the
// connection in the listen backlog — but its bytes sit unread in the kernel
// until the first client leaves. (tests/integration: SecondClientWaits.)
//
// TRY IN CLASS.
//   ./bio_server --trace                    # watch it wait, call by call
//   nc 127.0.0.1 9001                       # first client: echoed at once
//   nc 127.0.0.1 9001                       # second client: connects, silence
//   ...close the first nc: the second one's lines come back, all at once.

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <vector>

namespace {

// Echo to one client until it closes. Returns when it leaves (or errs).
void serve_client(int fd, const iom::ServerOptions& opt, std::vector<char>& buf, iom::Counters& c) {
    for (;;) {
        iom::trace("recv(fd {}) blocks: waiting for data, then the kernel copies it", fd);
        ssize_t n = recv(fd, buf.data(), buf.size(), 0);
        ++c.recv_calls;
        if (n < 0) {
            if (errno == EINTR && !iom::stop_requested()) continue;  // a signal, not a stop
            iom::trace("recv(fd {}) -> error {}", fd, errno);
            ++c.resets;
            return;
        }
        if (n == 0) {  // the peer closed (or half-closed) its side: we are done
            iom::trace("recv(fd {}) -> 0: the client closed", fd);
            ++c.closed;
            return;
        }
        iom::trace("recv(fd {}) -> {} bytes copied into our buffer", fd, n);
        c.recv_bytes += static_cast<std::size_t>(n);

        iom::simulate_work(opt.work_us);
        iom::echo_transform(opt.echo, {buf.data(), static_cast<std::size_t>(n)});

        // send may take fewer bytes than asked (a short write): loop until all
        // of them are in the kernel, or the client is gone.
        for (ssize_t sent = 0; sent < n;) {
            iom::trace("send(fd {}, {} bytes) blocks while the send buffer is full", fd, n - sent);
            ssize_t w = send(fd, buf.data() + sent, static_cast<std::size_t>(n - sent), MSG_NOSIGNAL);
            ++c.send_calls;
            if (w < 0) {
                if (errno == EINTR && !iom::stop_requested()) continue;
                iom::trace("send(fd {}) -> error {}", fd, errno);
                ++c.resets;
                return;
            }
            iom::trace("send(fd {}) -> {} bytes", fd, w);
            sent += w;
            c.send_bytes += static_cast<std::size_t>(w);
        }
    }
}

void serve(const iom::ServerOptions& opt, iom::Counters& c) {
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/false);
    iom::watch_for_stop(listener.get());  // SIGTERM shuts it down: accept returns
    iom::ReserveFd reserve;
    std::vector<char> buf(opt.buffer_size);
    iom::announce(listener);

    while (!iom::stop_requested()) {
        iom::trace("accept(fd {}) blocks until a client connects", listener.get());
        int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED || iom::stop_requested()) continue;
            if (errno == EMFILE || errno == ENFILE) {  // no descriptor left: drop one, don't spin
                ++c.accept_errors;
                reserve.shed(listener.get());
                continue;
            }
            iom::throw_sys("accept on fd {}", listener.get());
        }
        iom::Fd conn(fd);
        ++c.accepts;
        c.peak_connections = c.peak_threads = 1;
        iom::trace("accept -> fd {} from {}", fd, iom::PeerOf{fd});
        iom::set_nodelay(fd);
        iom::watch_for_stop(fd);
        serve_client(fd, opt, buf, c);  // every other client waits in the backlog meanwhile
        iom::unwatch_for_stop(fd);
    }
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9001;
    iom::Counters counters;
    CLI::App app{"bio_server: the iterative blocking echo server. One client at a time: accept, echo "
                 "until it closes, accept the next. --max-connections is always 1 in effect.",
                 "bio_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt, counters, [&] { serve(opt, counters); });
}
