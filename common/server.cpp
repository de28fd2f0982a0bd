#include "common/server.hpp"

#include "common/net.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <fmt/format.h>

#include <cstdio>
#include <filesystem>

namespace iom {

namespace {
bool announced = false;           // the counters are worth printing once the server has served
LiveCounters* live_now = nullptr;  // announce() publishes the port in it
}

void add_server_options(CLI::App& app, ServerOptions& opt) {
    // A flag takes no value: "--trace=2" (or a model's "--level=no") is an error, not a silent "on".
    app.option_defaults()->disable_flag_override();
    app.add_option("--host", opt.host, "Address to listen on (IPv4 or IPv6 literal, or localhost)")
        ->capture_default_str();
    app.add_option("--port", opt.port, "Port to listen on; 0 asks the kernel for a free one")
        ->capture_default_str()
        ->check(CLI::Range(0, 65535));
    app.add_option("--backlog", opt.backlog, "Length of the queue of connections waiting for accept")
        ->capture_default_str()
        ->check(CLI::Range(1, 65535));
    app.add_option("--max-connections", opt.max_connections,
                   "Most connections served at once; more are closed at once and counted as refused")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}));
    app.add_option("--buffer-size", opt.buffer_size,
                   "Bytes per connection for reading and for output not yet sent (the bound on its memory)")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{64}, std::size_t{16} << 20));
    app.add_option_function<std::string>(
           "--echo", [&opt](const std::string& mode) { opt.echo = mode == "plain" ? EchoMode::plain : EchoMode::upper; },
           "upper: letters come back upper-cased; plain: bytes come back unchanged")
        ->check(CLI::IsMember({"upper", "plain"}))
        ->default_str(std::string(echo_mode_name(opt.echo)));
    app.add_option("--work-us", opt.work_us, "Simulated CPU work per received chunk, in microseconds")
        ->capture_default_str()
        ->check(CLI::Range(0u, 1000000u));
    app.add_option("--idle-timeout", opt.idle_timeout,
                   "Close a connection after this many seconds (fractions allowed) without progress either way: "
                   "nothing received, nothing sent (a client that stops reading is idle too); 0 = never")
        ->capture_default_str()
        ->check(CLI::Validator(
            [](std::string& in) {
                double v = 0;
                bool ok = CLI::detail::lexical_cast(in, v) && v >= 0 && v <= 86400;
                return ok ? std::string{} : "Value " + in + " is not a number of seconds from 0 to 86400";
            },
            "SECONDS in [0 - 86400]"));
    app.add_flag("--trace", opt.trace, "Print every blocking call or readiness event, with a timestamp, to stderr");
    app.add_option("--stats-file", opt.stats_file, "Write the counters as JSON to this file at exit");
}

Fd open_listener(const ServerOptions& opt, bool nonblocking, bool reuse_port) {
    Address addr = parse_address(opt.host, opt.port);
    if (!addr.is_loopback()) {
        fmt::print(stderr, "warning: listening on {}, which other machines can reach: this server serves "
                           "anyone who can connect to it\n", addr.to_string());
    }
    return listen_tcp(addr, opt.backlog, nonblocking, reuse_port);
}

void announce(const Fd& listener) {
    Address here = local_address(listener.get());
    if (live_now) live_now->set_port(here.port());
    fmt::print(stdout, "listening on {}\n", here.to_string());
    std::fflush(stdout);
    announced = true;
}

int parse_command_line(CLI::App& app, int argc, char** argv) {
    try {
        app.parse(argc, argv);
    } catch (const CLI::CallForHelp& e) {
        return app.exit(e);
    } catch (const CLI::CallForAllHelp& e) {
        return app.exit(e);
    } catch (const CLI::ParseError& e) {
        fmt::print(stderr, "{}: {} (see --help)\n", app.get_name(), e.what());
        return 2;
    }
    return -1;
}

int server_main(CLI::App& app, int argc, char** argv, const ServerOptions& opt,
                const std::function<void(LiveCounters&)>& body, const char* caller_file) {
    if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;
    const std::string name = app.get_name();
    const std::filesystem::path source = caller_file;  // e.g. .../multiplexing/epoll_server.cpp
    LiveCounters live(name, source.parent_path().filename().string(), opt.max_connections + 1);
    live_now = &live;
    enable_trace(opt.trace);
    int rc = 0;
    try {
        install_stop_handlers();
        body(live);
    } catch (const std::exception& e) {
        fmt::print(stderr, "{}: {}\n", name, e.what());
        rc = 1;
    }
    live_now = nullptr;
    const Counters counters = live.total();
    if (announced) fmt::print(stderr, "{} counters: {}\n", name, counters.to_line());
    if (!opt.stats_file.empty()) {
        try {
            write_stats_file(opt.stats_file, name, counters);
        } catch (const std::exception& e) {
            fmt::print(stderr, "{}: {}\n", name, e.what());
            rc = 1;
        }
    }
    return rc;
}

}  // namespace iom
