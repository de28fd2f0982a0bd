// ioclient compare: every server, the same scenarios, side by side.
//
// Shape. For each server of the manifest, each scenario of the table below
// and each of the scenario's loads: a stated skip rule may say the model
// cannot take that load; otherwise a fresh server process is started
// (--port 0, --stats-file), the load runs, the server is stopped with SIGTERM
// and its counters are read, so every counter belongs to one run.
//
// Idle connections are opened before the load, in batches; after each batch
// a probe (one byte echoed on a new connection) proves the server has taken
// every connection before it. A server that accepts slowly (a fork per
// connection) is thus measured with its idle connections really held, not
// still waiting in the kernel's listen queue.
#include "client/compare/compare.hpp"

#include "client/bench/bench.hpp"
#include "client/check/check.hpp"
#include "client/compare/report.hpp"
#include "client/lib/connection.hpp"
#include "client/lib/procfs.hpp"
#include "client/lib/syscalls.hpp"
#include "client/lib/server_process.hpp"
#include "common/error.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <limits>
#include <sstream>
#include <stdexcept>
#include <thread>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

constexpr unsigned kIdleBatch = 256;       // below every server's listen backlog (511)
constexpr unsigned kSpareDescriptors = 16;  // a server's own: std streams, listener, stop, reserve...
constexpr unsigned kWorkUs = 200;           // the slow handler's --work-us
constexpr Millis kProbeTimeout{10000};      // generous: a probe proves the server took a batch
static_assert(FD_SETSIZE == 1024, "the select skip rule's text says 1024");

// --- idle connections, really held by the server ----------------------------

// Wait until each of `p` reports one of its events (or an error); false at the deadline.
bool wait_each(std::vector<pollfd>& p, Clock::time_point deadline) {
    for (std::size_t done = 0; done < p.size();) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        int n = ::poll(p.data(), p.size(), static_cast<int>(left));
        if (n < 0 && errno != EINTR) throw_sys("poll");
        for (auto& q : p)
            if (n > 0 && q.fd >= 0 && q.revents != 0) {
                q.fd = -1;  // poll ignores it from now on
                ++done;
            }
    }
    return true;
}

// One byte echoed on a new connection. (Its connect cannot hang: at most
// one batch, fewer than the listen backlog, waits in the accept queue.)
bool probe(const Address& a) {
    auto conn = Connection::open(a);
    return conn.send_all("p") && conn.recv_exact(1, kProbeTimeout).has_value();
}

struct IdleSet {
    std::vector<Fd> fds;
    unsigned failed = 0;        // connects that did not complete
    unsigned probes = 0;        // probe connections made (the server counts them as accepts)
    bool all_taken = true;      // every probe was answered
};

IdleSet hold_idle(const Address& server, unsigned n) {
    IdleSet idle;
    idle.fds.reserve(n);
    for (unsigned opened = 0; opened < n;) {
        unsigned batch = std::min(kIdleBatch, n - opened);
        std::vector<pollfd> p;
        for (unsigned i = 0; i < batch; ++i) {
            idle.fds.push_back(start_connect(server));
            p.push_back({idle.fds.back().get(), POLLOUT, 0});
        }
        wait_each(p, Clock::now() + kProbeTimeout);
        for (std::size_t i = idle.fds.size() - batch; i < idle.fds.size(); ++i)
            idle.failed += connect_result(idle.fds[i].get()) != 0;
        opened += batch;
        if (idle.all_taken) {
            ++idle.probes;
            idle.all_taken = probe(server);
        }
    }
    return idle;
}

// --- one run ------------------------------------------------------------------

void add_note(Run& run, const std::string& text) { run.note += (run.note.empty() ? "" : "; ") + text; }

ServerProcess start(const ServerSpec& spec, const Load& load, std::vector<std::string> args = {}) {
    if (load.work_us > 0) args.insert(args.end(), {"--work-us", std::to_string(load.work_us)});
    // Room for the whole load and the probes: the thread and fork servers
    // default to --max-connections 1000 (a safety bound), and a scenario
    // measures the model, not that bound.
    args.insert(args.end(), {"--max-connections", std::to_string(std::max(1024u, load.total() + 64))});
    return ServerProcess(spec, {.args = args});
}

void stop(ServerProcess& srv, Run& run) {
    if (int code = srv.stop(); code != 0) {
        std::string err = srv.stderr_text();
        while (!err.empty() && err.back() == '\n') err.pop_back();
        add_note(run, fmt::format("the server exited with {}: {}", code, err.substr(err.rfind('\n') + 1)));
    }
}

double counter(const ServerProcess& srv, const char* name) {
    try {
        return static_cast<double>(srv.counter(name));
    } catch (const std::exception&) {
        return kNaN;
    }
}

// What the server asked of the kernel (client/lib/syscalls.hpp).
double syscalls(const ServerSpec& spec, const ServerProcess& srv) {
    return system_calls([&](const char* name) { return counter(srv, name); }, spec.has("uring"));
}

void note_idle(Run& run, const IdleSet& idle) {
    if (idle.failed) add_note(run, fmt::format("{} idle connects failed", idle.failed));
    if (!idle.all_taken) add_note(run, fmt::format("with {} idle connections open a new client was not served "
                                                   "(the probe went unanswered)", run.load.idle));
}

// The ping-pong load (client/bench/bench.hpp), after the idle connections if any.
void measure_load(const Settings& ses, const ServerSpec& spec, Run& run, double warmup) {
    const Load& load = run.load;
    ServerProcess srv = start(spec, load);
    IdleSet idle = load.idle ? hold_idle(srv.address(), load.idle) : IdleSet{};
    BenchOptions b;
    b.server = srv.address();
    b.connections = load.connections;
    b.size = load.size;
    b.duration = ses.duration;
    b.warmup = warmup;
    b.server_pid = srv.pid();
    BenchResult r = run_bench(b);
    stop(srv, run);
    // Per message: divided by the messages the server echoed in its whole
    // life (what it sent back / the message size), warm-up included.
    double echoed = counter(srv, "send_bytes") / static_cast<double>(load.size);
    double waits = counter(srv, "wait_calls");
    run.values = {
        {"msgs_per_s", r.messages_per_second}, {"p99_us", r.p99_us}, {"p50_us", r.p50_us},
        {"p999_us", r.p999_us}, {"mb_per_s", r.megabytes_per_second}, {"messages", double(r.messages)},
        {"unanswered", double(r.unanswered)}, {"errors", double(r.errors)},
        {"server_cpu_us_per_msg", r.server_cpu_us_per_message}, {"server_messages", echoed},
        {"syscalls_per_msg", syscalls(spec, srv) / echoed}, {"wait_calls", waits},
        {"waits_per_msg", waits / echoed}, {"fds_per_wait", counter(srv, "wait_fds") / waits},
        {"ready_per_wait", counter(srv, "wait_ready") / waits}, {"accepts", counter(srv, "accepts")},
        {"refused", counter(srv, "refused")}};
    if (r.unanswered) add_note(run, fmt::format("{} of {} connections unanswered at the end", r.unanswered,
                                                load.connections));
    if (r.errors) add_note(run, fmt::format("{} errors, first: {}", r.errors, r.first_error));
    note_idle(run, idle);
}

void run_measured(const Settings& ses, const ServerSpec& spec, Run& run) { measure_load(ses, spec, run, ses.warmup); }
void run_from_start(const Settings& ses, const ServerSpec& spec, Run& run) { measure_load(ses, spec, run, 0); }

void run_conformance(const Settings&, const ServerSpec& spec, Run& run) {
    // A pool serves --threads clients at once and one case holds 64 open: give
    // it room, as the conformance test does, so the cases test the echo.
    std::vector<std::string> args;
    if (spec.has("pool")) args = {"--threads", "64", "--queue", "64"};
    ServerProcess srv = start(spec, run.load, args);
    CheckOptions opt;
    opt.server = srv.address();
    opt.sequential = spec.has("sequential");
    int passed = 0, failed = 0;
    std::string failures;
    for (const auto& c : check_cases()) {
        CaseResult r = run_case(c.name, opt);
        (r.passed() ? passed : failed)++;
        if (!r.passed()) failures += (failures.empty() ? "" : ", ") + c.name + " (" + r.detail + ")";
    }
    stop(srv, run);
    run.values = {{"passed", passed}, {"failed", failed}};
    if (!args.empty()) add_note(run, "run with --threads 64 --queue 64, as the conformance test does");
    if (failed) add_note(run, "failed: " + failures);
}

void run_idle_cpu(const Settings& ses, const ServerSpec& spec, Run& run) {
    ServerProcess srv = start(spec, run.load);
    IdleSet idle = hold_idle(srv.address(), run.load.idle);
    double before = tree_cpu_seconds(srv.pid()).value_or(kNaN);
    // The measurement window: nothing happens on any connection meanwhile.
    std::this_thread::sleep_for(std::chrono::duration<double>(ses.cpu_window));
    double used = tree_cpu_seconds(srv.pid()).value_or(kNaN) - before;
    stop(srv, run);
    run.values = {{"cpu_percent", 100 * used / ses.cpu_window}, {"cpu_seconds", used},
                  {"window_seconds", ses.cpu_window}};
    note_idle(run, idle);
}

void run_memory(const Settings&, const ServerSpec& spec, Run& run) {
    ServerProcess srv = start(spec, run.load);
    ProcSample before = srv.sample();
    IdleSet idle = hold_idle(srv.address(), run.load.idle);
    ProcSample after = srv.sample();
    stop(srv, run);
    double n = run.load.idle;
    // Held = accepted, not refused, not one of our answered probes (closed by us).
    double held = counter(srv, "accepts") - counter(srv, "refused") - (idle.probes - !idle.all_taken);
    // Memory as client/lib/procfs.hpp defines it (memory_kib), of the whole tree.
    run.values = {{"kib_per_conn", double(after.memory_kib - before.memory_kib) / n},
                  {"threads_per_conn", double(after.threads - before.threads) / n},
                  {"mem_before_kib", double(before.memory_kib)}, {"mem_after_kib", double(after.memory_kib)},
                  {"threads_before", double(before.threads)}, {"threads_after", double(after.threads)},
                  {"held", held}};
    if (held < n) add_note(run, fmt::format("the server kept {} of the {} connections", held, n));
    note_idle(run, idle);
}

// --- the scenario table and the skip rules -------------------------------------

using RunFn = void (*)(const Settings&, const ServerSpec&, Run&);

struct Scenario {
    ScenarioInfo info;
    std::vector<Load> full, quick;  // the loads, one fresh server each
    RunFn run;
};

std::vector<Load> grid(std::vector<unsigned> connections, std::vector<std::size_t> sizes) {
    std::vector<Load> out;
    for (std::size_t s : sizes)
        for (unsigned c : connections) out.push_back({c, s});
    return out;
}

const std::vector<Scenario>& scenarios() {
    static const std::vector<Scenario> table = {
        {{"conformance", "Conformance: every ioclient check case"}, {Load{}}, {Load{}}, run_conformance},
        {{"latency", "One client's ping-pong round trip, 64 B"}, {{1, 64}}, {{1, 64}}, run_measured},
        {{"throughput", "Throughput and p99 latency by connections and message size"},
         grid({1, 10, 100, 1000}, {64, 4096}), grid({1, 100}, {64}), run_measured},
        {{"idle", "50 active clients beside idle connections"},
         {{50, 64, 0}, {50, 64, 1000}, {50, 64, 10000}}, {{50, 64, 0}, {50, 64, 1000}}, run_measured},
        {{"idle_cpu", "Server CPU with 100 idle connections and no load"}, {{0, 64, 100}}, {{0, 64, 100}},
         run_idle_cpu},
        {{"memory", "Memory and threads per connection, 1,000 idle connections"}, {{0, 64, 1000}},
         {{0, 64, 1000}}, run_memory},
        // No warm-up: the client's count and the server's whole-life counters line up.
        {{"syscalls", "System calls per echoed message, one client, no warm-up"}, {{1, 64}}, {{1, 64}},
         run_from_start},
        {{"slow_handler", "10 clients, 64 B, without and with --work-us 200"},
         {{10, 64, 0, 0}, {10, 64, 0, kWorkUs}}, {{10, 64, 0, 0}, {10, 64, 0, kWorkUs}}, run_measured},
    };
    return table;
}

bool is_select(const ServerSpec& s) { return s.has("select") || s.name.rfind("select", 0) == 0; }

struct SkipRule {
    bool (*applies)(const ServerSpec&, const Load&);
    const char* why;
};

const SkipRule skip_rules[] = {
    {[](const ServerSpec& s, const Load& l) { return s.has("sequential") && l.total() > 1; },
     "serves one client at a time (trait sequential): with more than one connection all but one would only wait"},
    {[](const ServerSpec& s, const Load& l) { return is_select(s) && l.total() + kSpareDescriptors > FD_SETSIZE; },
     "select() cannot watch a descriptor numbered FD_SETSIZE (1024) or more, and this many connections need "
     "such numbers (rule: a name starting with select, or trait select)"},
};

std::string skip_reason(const ServerSpec& spec, const Load& load) {
    for (const auto& rule : skip_rules)
        if (rule.applies(spec, load)) return rule.why;
    return {};
}

// --- the whole comparison ------------------------------------------------------

void describe_machine(CompareResult& r) {
    utsname u{};
    if (uname(&u) == 0) r.kernel = u.release;
    r.nproc = static_cast<unsigned>(sysconf(_SC_NPROCESSORS_ONLN));
    std::istringstream cpu(read_file("/proc/cpuinfo").value_or(""));
    for (std::string line; std::getline(cpu, line);) {
        if (line.rfind("model name", 0) != 0) continue;
        r.cpu_model = line.substr(line.find(':') + 2);
        break;
    }
    r.date = utc_now();
}

std::string summary(const Run& run) {
    if (!run.skipped.empty()) return "skipped: " + run.skipped;
    if (!run.error.empty()) return "error: " + run.error;
    std::string s;
    for (std::size_t i = 0; i < std::min<std::size_t>(2, run.values.size()); ++i)
        s += fmt::format("{}={:.4g}  ", run.values[i].first, run.values[i].second);
    return s + run.note;
}

}  // namespace

std::string Load::label() const {
    if (connections == 0) return idle ? fmt::format("{} idle", idle) : "all cases";
    std::string s = fmt::format("{}c {}B", connections, size);
    if (idle) s += fmt::format(" +{} idle", idle);
    if (work_us) s += fmt::format(" work {}us", work_us);
    return s;
}

CompareResult run_compare(const CompareOptions& opt) {
    const auto specs = select_servers(opt.bin_dir, opt.servers);
    CompareResult result{.command_line = opt.command_line};
    Settings& ses = result.settings;
    ses.quick = opt.quick;
    ses.duration = opt.duration > 0 ? opt.duration : opt.quick ? 0.5 : 2.0;
    ses.warmup = std::min(opt.quick ? 0.2 : 0.5, ses.duration / 2);
    ses.cpu_window = opt.duration > 0 ? opt.duration : opt.quick ? 1.0 : 3.0;
    describe_machine(result);
    raise_nofile_limit(20000);  // 10,000 idle + the load, in this one process
    std::size_t total = 0, done = 0;
    for (const auto& sc : scenarios()) {
        result.scenarios.push_back(sc.info);
        total += (opt.quick ? sc.quick : sc.full).size() * specs.size();
    }
    for (const auto& spec : specs) {
        ServerResult& server = result.servers.emplace_back(ServerResult{spec.name, spec.traits, {}});
        for (const auto& sc : scenarios()) {
            for (const Load& load : opt.quick ? sc.quick : sc.full) {
                Run& run = server.runs.emplace_back(Run{sc.info.key, load, skip_reason(spec, load), {}, {}, {}});
                fmt::print(stderr, "[{:>3}/{}] {:<20} {:<13} {:<22} ", ++done, total, spec.name, sc.info.key,
                           load.label());
                std::fflush(stderr);
                auto t0 = Clock::now();
                if (run.skipped.empty()) {
                    try {
                        sc.run(ses, spec, run);
                    } catch (const std::exception& e) {
                        run.error = e.what();
                    }
                }
                fmt::print(stderr, "{:4.1f}s  {}\n", std::chrono::duration<double>(Clock::now() - t0).count(),
                           summary(run));
            }
        }
    }
    return result;
}

CLI::App* add_compare_command(CLI::App& app, CompareOptions& opt) {
    auto* cmd = app.add_subcommand("compare", "Start every server of the build, run the same scenarios against "
                                              "each, print one table side by side (--report: JSON, CSV, charts, "
                                              "a web page)");
    cmd->add_option("--servers", opt.servers, "Only these servers, comma-separated (names from servers.txt)")
        ->delimiter(',');
    cmd->add_flag("--quick", opt.quick, "Fewer loads, shorter runs: every server in under 2 minutes");
    cmd->add_option("-d,--duration", opt.duration, "Seconds per measured run (default 0.5 with --quick, else 2)")
        ->check(CLI::Range(0.1, 600.0));
    cmd->add_option("--report", opt.report_dir,
                    "Write results.json, results.csv, SVG charts (gnuplot) and index.html into this directory");
    cmd->add_option("--bin-dir", opt.bin_dir, "Where servers.txt and the servers are (default: next to ioclient)");
    return cmd;
}

int compare_main(CompareOptions opt, int argc, char** argv) {
    opt.command_line = command_line(argc, argv);
    if (opt.bin_dir.empty()) opt.bin_dir = program_dir();
    CompareResult result = run_compare(opt);
    print_table(result, stdout);
    if (!opt.report_dir.empty()) {
        for (const auto& line : write_report(result, opt.report_dir)) fmt::print(stderr, "{}\n", line);
        fmt::print("report: {}/index.html\n", std::filesystem::absolute(opt.report_dir).string());
    }
    return 0;
}

}  // namespace iom::client
