// What the three library servers share: the bookkeeping no event library
// does for us. The library accepts, reads and writes; we still decide who is
// admitted (--max-connections), transform what arrives (--echo, --work-us),
// and count what we can see: connections and bytes. The system calls are the
// library's, and it does not count them: those counters stay at zero, and
// the servers carry the trait `library` so that tests and `ioclient compare`
// do not read them (libraries/CMakeLists.txt).
#pragma once

#include "common/echo.hpp"
#include "common/net.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"  // stop_requested(): a signal before the library's handler took over
#include "common/trace.hpp"

#include <algorithm>
#include <cstdint>
#include <string>
#include <string_view>

namespace iom::lib {

struct Books {
    const ServerOptions& opt;
    Counters& k;
    std::size_t open = 0;

    // The library has accepted `fd`. True: serve it. False: over
    // --max-connections, counted as refused; the caller closes it.
    bool admit(int fd) {
        ++k.accepts;
        if (open >= opt.max_connections) {
            trace("accept -> fd {}: over --max-connections, closed", fd);
            ++k.refused;
            return false;
        }
        k.peak_connections = std::max<std::uint64_t>(k.peak_connections, ++open);
        trace("accept -> fd {} from {}", fd, PeerOf{fd});
        return true;
    }

    // The library could not accept: `why` says what failed.
    void accept_failed(std::string_view why) {
        ++k.accept_errors;
        trace("accept failed: {}", why);
    }

    // The library has read `n` bytes from `fd` for us, and handed them over
    // (the caller transforms them): count them, and do --work-us.
    void received(int fd, std::size_t n) {
        trace("recv(fd {}) -> {} bytes: the library read them, then handed them to us", fd, n);
        k.recv_bytes += n;
        simulate_work(opt.work_us);
    }

    // An admitted connection ends; `why` is the counter that says why
    // (closed: served; resets: an error; idle_timeouts).
    void closed(int fd, Count Counters::*why) {
        if (why == &Counters::idle_timeouts)
            trace("fd {}: no progress either way for {} s (--idle-timeout): closing", fd, opt.idle_timeout);
        trace("close(fd {})", fd);
        ++(k.*why);
        --open;
    }
};

// main() of a library server: its options are every server's.
template <typename Serve>
int run(int argc, char** argv, const std::string& name, std::uint16_t port, const std::string& about, Serve serve) {
    ServerOptions opt;
    opt.port = port;
    CLI::App app{name + ": " + about, name};
    add_server_options(app, opt);
    return server_main(app, argc, argv, opt, [&](LiveCounters& live) { serve(opt, live.counters()); });
}

}  // namespace iom::lib
