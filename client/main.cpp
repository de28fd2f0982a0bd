// ioclient: talks to, checks and loads any server of the suite (or any echo
// server at all).
//   ioclient chat  --port 9001          interactive, a line in, the reply out
//   ioclient check --port 9001          the conformance suite, pass/fail per case
//   ioclient check --hostile --port 9023 --server-pid PID   the hostile suite: slowloris, floods, storms
//   ioclient bench --port 9023 ...      ping-pong load, verified, with latency percentiles
//   ioclient compare --quick --report DIR   every server, the same scenarios, side by side
//   ioclient lab select-limit          one claim of the classic texts, measured: figures and a verdict
//   ioclient soak --duration 600        every server at once, mixed load, descriptors and RSS flat
//   ioclient ftp get|put|ls|load ftp://...   an FTP client with progress bars, and N sessions at once
//   ioclient top [--once [--json]]       every running server's counters, live, side by side
#include "client/bench/bench.hpp"
#include "client/check/check.hpp"
#include "client/compare/compare.hpp"
#include "client/ftp/ftp.hpp"
#include "client/lab/lab.hpp"
#include "client/lib/connection.hpp"
#include "client/check/hostile.hpp"
#include "client/lib/procfs.hpp"
#include "client/soak/soak.hpp"
#include "client/top/top.hpp"
#include "common/server.hpp"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <iostream>
#include <string>

namespace {

using namespace iom;
using namespace iom::client;

struct Target {
    std::string host = "127.0.0.1";
    std::uint16_t port = 0;
    std::string echo = "upper";

    Address address() const { return parse_address(host, port); }
    EchoMode mode() const { return echo == "plain" ? EchoMode::plain : EchoMode::upper; }
};

void add_target_options(CLI::App* cmd, Target& t) {
    cmd->add_option("--host", t.host, "Server address (IPv4 or IPv6 literal, or localhost)")->capture_default_str();
    cmd->add_option("--port", t.port, "Server port")->required()->check(CLI::Range(1, 65535));
    cmd->add_option("--echo", t.echo, "What the server does: upper-cases letters (upper) or echoes unchanged (plain)")
        ->check(CLI::IsMember({"upper", "plain"}))
        ->capture_default_str();
}

int chat(const Target& t) {
    auto conn = Connection::open(t.address());
    bool tty = isatty(STDIN_FILENO);
    if (tty) fmt::print(stderr, "connected to {}; type lines, Ctrl-D to quit\n", t.address().to_string());
    std::string line;
    while (std::getline(std::cin, line)) {
        line += '\n';
        if (!conn.send_all(line)) throw std::runtime_error("the server closed the connection");
        // An echo server sends back as many bytes as it got: wait for all of
        // them (a blocking server busy with someone else answers later).
        auto reply = conn.recv_exact(line.size(), std::chrono::hours(24));
        if (!reply) throw std::runtime_error("the server closed the connection");
        std::cout << *reply << std::flush;
    }
    return 0;
}

struct HostileChoice {
    bool on = false;
    bool pool = false;
    int server_pid = 0;
    double idle_timeout = 0;
    std::size_t max_connections = 0;
    std::vector<std::string> cases;  // --case: only these (default: all)
};

int check(const Target& t, int sequential_choice, const HostileChoice& hostile) {
    // The hostile cases lower the descriptor limit of --server-pid and read
    // its memory: make sure it is the server we are about to poke.
    if (hostile.server_pid && !holds_listener(hostile.server_pid, t.port))
        throw std::runtime_error(fmt::format("--server-pid {}: that process does not hold the socket listening on "
                                             "port {}; give the server's own pid",
                                             hostile.server_pid, t.port));
    CheckOptions opt;
    opt.server = t.address();
    opt.echo = t.mode();
    if (sequential_choice < 0) {
        opt.sequential = detect_sequential(opt);
        fmt::print("{} serves {}\n", opt.server.to_string(),
                   opt.sequential ? "one client at a time (sequential mode)" : "clients concurrently");
    } else {
        opt.sequential = sequential_choice == 1;
    }
    if (!hostile.on) return run_check(opt, std::cout) == 0 ? 0 : 1;
    HostileOptions h{opt};
    h.pool = hostile.pool;
    h.server_pid = hostile.server_pid;
    h.idle_timeout = hostile.idle_timeout;
    h.max_connections = hostile.max_connections;
    return run_hostile(h, std::cout, hostile.cases) == 0 ? 0 : 1;
}

// What --help says about --hostile: each case and the options its server needs.
std::string hostile_help() {
    std::string text = "Run the hostile suite instead: slowloris, floods, resets, clients that never read, "
                       "EMFILE. Some cases need the server started a certain way and told here (else SKIP):";
    for (const auto& c : hostile_cases()) {
        if (c.server_args.empty()) continue;
        text += fmt::format(" {}: server {};", c.name, fmt::join(c.server_args, " "));
    }
    return text + " the /proc checks need --server-pid";
}

}  // namespace

int main(int argc, char** argv) {
    signal(SIGPIPE, SIG_IGN);
    CLI::App app{"ioclient: talk to, check and load the iomodels echo servers (or any echo server), and FTP "
                 "servers (ioclient ftp)",
                 "ioclient"};
    app.require_subcommand(1);

    Target chat_target;
    auto* chat_cmd = app.add_subcommand("chat", "Interactive line client, like nc: a line in, the reply out "
                                                "(works on a pipe too)");
    add_target_options(chat_cmd, chat_target);

    Target check_target;
    bool force_sequential = false, force_concurrent = false;
    auto* check_cmd = app.add_subcommand("check", "Run the conformance suite: one line per case, non-zero exit "
                                                  "on any failure");
    add_target_options(check_cmd, check_target);
    auto* seq = check_cmd->add_flag("--sequential", force_sequential,
                                    "The server serves one client at a time (default: detect it)");
    check_cmd->add_flag("--concurrent", force_concurrent, "The server serves clients concurrently (default: detect it)")
        ->excludes(seq);
    HostileChoice hostile;
    auto* hostile_flag = check_cmd->add_flag("--hostile", hostile.on, hostile_help());
    check_cmd->add_flag("--pool", hostile.pool,
                        "The server is a fixed pool of workers (bio_pool_server): held connections hold workers")
        ->needs(hostile_flag);
    check_cmd->add_option("--server-pid", hostile.server_pid,
                          "The server's process id: check its descriptors, memory and CPU in /proc, lower its "
                          "RLIMIT_NOFILE (emfile-storm)")
        ->check(CLI::Range(1, 1 << 22))
        ->needs(hostile_flag);
    check_cmd->add_option("--idle-timeout", hostile.idle_timeout,
                          "The --idle-timeout SECONDS the server was started with (idle-timeout case)")
        ->check(CLI::Range(0.01, 3600.0))
        ->needs(hostile_flag);
    check_cmd->add_option("--max-connections", hostile.max_connections,
                          "The --max-connections the server was started with (max-connections-flood case)")
        ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))
        ->needs(hostile_flag);
    std::vector<std::string> case_names;
    for (const auto& c : hostile_cases()) case_names.push_back(c.name);
    check_cmd->add_option("--case", hostile.cases, "Run only this hostile case (repeatable; default: all of them)")
        ->check(CLI::IsMember(case_names))
        ->needs(hostile_flag);

    Target bench_target;
    BenchOptions bench_opt;
    bool json = false;
    auto* bench_cmd = app.add_subcommand("bench", "Ping-pong load: C connections x S-byte messages for D seconds, "
                                                  "every reply verified; messages/s, MB/s, latency percentiles");
    add_target_options(bench_cmd, bench_target);
    bench_cmd->add_option("-c,--connections", bench_opt.connections, "Active connections")
        ->capture_default_str()->check(CLI::Range(1u, 100000u));
    bench_cmd->add_option("-s,--size", bench_opt.size, "Bytes per message")
        ->capture_default_str()->check(CLI::Range(std::size_t{1}, std::size_t{16} << 20));
    bench_cmd->add_option("-d,--duration", bench_opt.duration, "Seconds measured")
        ->capture_default_str()->check(CLI::Range(0.1, 3600.0));
    bench_cmd->add_option("--warmup", bench_opt.warmup, "Seconds of load before measuring")
        ->capture_default_str()->check(CLI::Range(0.0, 600.0));
    bench_cmd->add_option("-t,--threads", bench_opt.threads, "Client threads, each with its own epoll loop")
        ->capture_default_str()->check(CLI::Range(1u, 64u));
    bench_cmd->add_option("--idle", bench_opt.idle, "Extra connections held open and idle, to show what they cost")
        ->capture_default_str()->check(CLI::Range(0u, 100000u));
    bench_cmd->add_option("--think-us", bench_opt.think_us,
                          "Each connection pauses this long after each reply before its next message: a paced "
                          "load instead of a saturating one (latency then excludes the pause); 0: none")
        ->capture_default_str()->check(CLI::Range(0u, 10'000'000u));
    bench_cmd->add_option("--server-pid", bench_opt.server_pid,
                          "The server's process id: report its CPU time per message (from /proc)");
    bench_cmd->add_flag("--json", json, "Print the result as one JSON object");

    CompareOptions compare_opt;
    auto* compare_cmd = add_compare_command(app, compare_opt);

    LabOptions lab_opt;
    auto* lab_cmd = add_lab_command(app, lab_opt);

    SoakOptions soak_opt;
    auto* soak_cmd = add_soak_command(app, soak_opt);

    TopOptions top_opt;
    auto* top_cmd = add_top_command(app, top_opt);

    client::ftp::FtpCommand ftp_cmd;  // iom::client::ftp, not the server core iom::ftp
    client::ftp::add_ftp_command(app, ftp_cmd);

    if (int rc = parse_command_line(app, argc, argv); rc >= 0) return rc;
    try {
        if (*chat_cmd) return chat(chat_target);
        if (*check_cmd) return check(check_target, force_sequential ? 1 : force_concurrent ? 0 : -1, hostile);
        if (*compare_cmd) return compare_main(compare_opt, argc, argv);
        if (*lab_cmd) return lab_main(lab_opt, argc, argv);
        if (*soak_cmd) return soak_main(soak_opt, argc, argv);
        if (*top_cmd) return top_main(top_opt);
        if (*ftp_cmd.ftp) return client::ftp::ftp_main(ftp_cmd);
        if (*bench_cmd) {
            bench_opt.server = bench_target.address();
            bench_opt.echo = bench_target.mode();
            BenchResult r = run_bench(bench_opt);
            std::cout << (json ? to_json(r) : to_text(r)) << std::endl;
            return r.errors == 0 ? 0 : 1;
        }
    } catch (const std::exception& e) {
        fmt::print(stderr, "ioclient: {}\n", e.what());
        return 1;
    }
    return 0;
}
