// What every server shares around its model: the options (one spelling for
// all), opening and announcing the listening socket, the exit report, and
// turning errors into one clear line and a non-zero exit.
//
// A server's main() reads:
//     iom::ServerOptions opt;  opt.port = 9001;
//     CLI::App app{"what this model is", "bio_server"};
//     iom::add_server_options(app, opt);
//     return iom::server_main(app, argc, argv, opt,
//                             [&](iom::LiveCounters& live) { serve(opt, live.counters()); });
#pragma once

#include "common/counters.hpp"
#include "common/live_counters.hpp"
#include "common/echo.hpp"
#include "common/fd.hpp"

#include <CLI/CLI.hpp>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace iom {

struct ServerOptions {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    int backlog = 511;
    std::size_t max_connections = 10000;
    std::size_t buffer_size = 16384;
    EchoMode echo = EchoMode::upper;
    unsigned work_us = 0;
    // Seconds without progress in either direction (nothing received AND
    // nothing sent) after which a connection is closed and counted in
    // idle_timeouts. 0 = off: no timers, no sweeps, no clock reads.
    double idle_timeout = 0;
    bool trace = false;
    std::string stats_file;
};

// Add the common options to `app`; the values already in `opt` are the
// defaults shown by --help (so each server sets its own default port).
void add_server_options(CLI::App& app, ServerOptions& opt);

// socket/bind/listen on --host/--port. Warns on stderr when the address is
// not loopback (the server is then reachable from the network). `reuse_port`:
// SO_REUSEPORT, one of several listeners on the port (common/net.hpp).
Fd open_listener(const ServerOptions& opt, bool nonblocking, bool reuse_port = false);

// Print the ready line, exactly "listening on HOST:PORT" (the real port when
// --port 0), to stdout and flush it. Everything else goes to stderr.
void announce(const Fd& listener);

// Parse the command line, publish the live counters (common/live_counters.hpp:
// named after the app, its family being the folder of the file that calls
// this; one slot per connection that may have a thread or process of its
// own), install the stop handlers, run `body`, then print the counters to
// stderr and write --stats-file. A bad option or an error thrown by `body`
// prints one line, "NAME: message", and exits non-zero.
int server_main(CLI::App& app, int argc, char** argv, const ServerOptions& opt,
                const std::function<void(LiveCounters&)>& body,
                const char* caller_file = __builtin_FILE());  // not std::source_location: clang 14 with
                                                                // libstdc++ 12 has none (gcc and clang have this)

// Parse `argv` into `app`. Returns -1 to go on, or the exit code to return
// (0 after --help; 2 after a bad option, reported as one line).
int parse_command_line(CLI::App& app, int argc, char** argv);

}  // namespace iom
