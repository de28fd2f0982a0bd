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
// The recv/send loop itself is in blocking/serve_client.hpp: all four
// blocking servers run the same loop; what differs is who runs it.
//
// THE LESSON. While one client is connected, a second one is not served.
// Its connect() succeeds — the kernel completes the handshake and queues the
// connection in the listen backlog — but its bytes sit unread in the kernel
// until the first client leaves. (`ioclient lab second-client-waits`; its
// test: `Lab/CountedLabs.HoldWithTheseFigures/second_client_waits`.)
// So one client that connects and then does nothing — or sends and never
// reads its replies — holds the only server hostage for as long as it likes.
// --idle-timeout is this model's one defence: the socket gets SO_RCVTIMEO and
// SO_SNDTIMEO (blocking/serve_client.hpp), a recv or send that makes no
// progress for that long fails, and the server moves on to the next client.
//
// TRY IN CLASS.
//   ./bio_server --trace                    # watch it wait, call by call
//   nc 127.0.0.1 9001                       # first client: echoed at once
//   nc 127.0.0.1 9001                       # second client: connects, silence
//   ...close the first nc: the second one's lines come back, all at once.

#include "blocking/serve_client.hpp"
#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <sys/socket.h>

#include <vector>

namespace {

void serve(const iom::ServerOptions& opt, iom::Counters& k) {
    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/false);
    iom::watch_for_stop(listener.get());  // SIGTERM shuts it down: accept returns
    iom::ReserveFd reserve;
    std::vector<char> buf(opt.buffer_size);
    iom::announce(listener);

    while (!iom::stop_requested()) {
        iom::trace("accept(fd {}) blocks until a client connects", listener.get());
        int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {  // a signal, a stop, or no descriptor left (blocking/serve_client.hpp)
            iom::blocking::after_failed_accept(errno, listener.get(), reserve, k);
            continue;
        }
        iom::Fd conn(fd);
        ++k.accepts;
        k.peak_connections = k.peak_threads = 1;
        iom::trace("accept -> fd {} from {}", fd, iom::PeerOf{fd});
        iom::set_nodelay(fd);
        iom::watch_for_stop(fd);
        // The echo loop (blocking/serve_client.hpp, shared by every blocking
        // server): recv, transform, send, until this client closes. Every
        // other client waits in the backlog meanwhile.
        iom::blocking::serve_client(fd, opt, buf, k, "the whole process");
        iom::unwatch_for_stop(fd);
    }
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9001;
    CLI::App app{"bio_server: the iterative blocking echo server. One client at a time: accept, echo "
                 "until it closes, accept the next. --max-connections is always 1 in effect.",
                 "bio_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt,
                            [&](iom::LiveCounters& live) { serve(opt, live.counters()); });
}
