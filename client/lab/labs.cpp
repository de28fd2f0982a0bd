// The fifteen labs of `ioclient lab`, one function each, in the order of
// docs/labs.md. Each starts the servers it needs from the build (--port 0,
// --stats-file: client/lib/server_process.hpp), drives them with the
// client's own pieces (bench's load generator, compare's idle connections,
// a plain blocking connection for exact message counts), reads the servers'
// counters and /proc, and states a verdict from the figures.
//
// Labs whose answer does not depend on timing send an exact number of
// messages on one connection, so a counter divided by that number is the
// same on every run (to within the connection's own accept and close).
#include "client/lab/lab.hpp"

#include "client/bench/bench.hpp"
#include "client/lib/connection.hpp"
#include "client/lib/idle.hpp"
#include "client/lib/procfs.hpp"
#include "client/lib/server_process.hpp"
#include "common/live_counters.hpp"
#include "common/tls.hpp"

#include <fmt/format.h>
#include <sys/select.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <functional>
#include <future>
#include <regex>
#include <stdexcept>
#include <thread>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

ServerSpec spec(const LabContext& ctx, const std::string& name) { return select_servers(ctx.bin_dir, {name}).front(); }

// "epoll_server --read-once": a server and its options, as a row label.
std::string label(const std::string& name, const std::vector<std::string>& args) {
    return args.empty() ? name : fmt::format("{} {}", name, fmt::join(args, " "));
}

// Stop the server (SIGTERM) so that it writes its counters; a bad exit means
// the lab could not run.
void stop(ServerProcess& srv) {
    if (int code = srv.stop(); code != 0)
        throw std::runtime_error(fmt::format("{} exited with {}: {}", srv.spec().name, code, srv.stderr_text()));
}

double per(const ServerProcess& srv, const char* counter, double n) { return counter_or_nan(srv, counter) / n; }

// `messages` round trips of `size` bytes on one blocking connection, each
// echo checked: an exact message count for the counters to be divided by.
// Returns the mean round trip in microseconds.
double ping_pong(const ServerProcess& srv, unsigned messages, std::size_t size = 64) {
    auto conn = Connection::open(srv.address());
    const std::string message(size, 'x'), echo = expected_echo(EchoMode::upper, message);
    auto t0 = Clock::now();
    for (unsigned i = 0; i < messages; ++i) {
        auto got = conn.send_all(message) ? conn.recv_exact(size, Millis(10000)) : std::nullopt;
        if (got != echo) throw std::runtime_error(fmt::format("{}: message {} was not echoed", srv.spec().name, i));
    }
    return seconds_since(t0) * 1e6 / messages;
}

BenchResult bench(const ServerProcess& srv, unsigned connections, double duration, double warmup) {
    BenchOptions b;
    b.server = srv.address();
    b.connections = connections;
    b.duration = duration;
    b.warmup = warmup;
    b.server_pid = srv.pid();
    BenchResult r = run_bench(b);
    if (r.errors) throw std::runtime_error(fmt::format("{}: {}", srv.spec().name, r.first_error));
    return r;
}

// The labs of exact message counts: each server in turn, on --port 0, gets
// `messages` round trips on one connection, is stopped, and gives a row of
// figures from its counters (`figures`: the server, the messages, the mean
// round trip in microseconds).
using PerMessage = std::function<std::vector<double>(const ServerProcess&, double, double)>;

void per_message_lab(const LabContext& ctx, LabResult& r, const std::vector<const char*>& servers,
                     const PerMessage& figures) {
    const auto messages = static_cast<unsigned>(ctx.pick(2000, 20000));
    r.deterministic = true;
    r.ran = {fmt::format("{}, each on --port 0; one client sends {} 64-byte messages, one at a time; the server's "
                         "counters divided by the messages", fmt::join(servers, ", "), messages)};
    for (const char* name : servers) {
        ServerProcess srv(spec(ctx, name));
        double rtt = ping_pong(srv, messages);
        stop(srv);
        r.rows.push_back({name, figures(srv, messages, rtt)});
    }
}

void say(LabResult& r, LabVerdict v, std::string reason, std::string condition = {}) {
    r.verdict = v;
    r.reason = std::move(reason);
    r.condition = std::move(condition);
}

// --- blocking ----------------------------------------------------------------

void second_client_waits(const LabContext& ctx, LabResult& r) {
    const Millis window{static_cast<int>(ctx.pick(500, 2000))};
    r.deterministic = true;
    r.ran = {"bio_server, then bio_threads_server, each on --port 0",
             fmt::format("client A connects and is echoed; client B connects and sends one byte, and waits {} ms "
                         "for its echo while A stays connected; then A leaves", window.count())};
    r.columns = {"B connected", "B echoed while A connected", "B's wait for its echo (ms)"};
    for (const char* name : {"bio_server", "bio_threads_server"}) {
        ServerProcess srv(spec(ctx, name));
        auto a = Connection::open(srv.address());
        if (!a.send_all("a") || !a.recv_exact(1, Millis(10000))) throw std::runtime_error("client A was not served");
        auto b = Connection::open(srv.address());  // the kernel completes the handshake: no accept needed
        auto t0 = Clock::now();
        if (!b.send_all("b")) throw std::runtime_error("client B could not send");
        bool early = b.recv_exact(1, window).has_value();
        if (!early) {
            a.close();
            if (!b.recv_exact(1, Millis(10000))) throw std::runtime_error("client B was not served after A left");
        }
        r.rows.push_back({name, {1, early ? 1.0 : 0.0, seconds_since(t0) * 1000}});
        stop(srv);
    }
    bool holds = r.value("bio_server", r.columns[1]) == 0 && r.value("bio_threads_server", r.columns[1]) == 1;
    say(r, holds ? LabVerdict::holds : LabVerdict::does_not_hold,
        holds ? fmt::format("bio_server left B's byte unread for the {} ms A stayed, and echoed it once A left; "
                            "bio_threads_server echoed it in {:.2f} ms with A still connected",
                            window.count(), r.value("bio_threads_server", r.columns[2]))
              : "bio_server answered B while A was connected, or bio_threads_server did not");
}

void cost_per_connection(const LabContext& ctx, LabResult& r) {
    const auto n = static_cast<unsigned>(ctx.pick(200, 1000));
    r.ran = {fmt::format("each server on --port 0 --max-connections {}; {} idle connections opened and held "
                         "(a probe echoed after each batch); /proc read before and after", n + 64, n)};
    r.columns = {"kernel tasks per conn", "processes per conn", "KiB per conn", "held"};
    for (const char* name : {"bio_threads_server", "bio_fork_server", "poll_server", "epoll_server"}) {
        ServerProcess srv(spec(ctx, name), {.args = {"--max-connections", std::to_string(n + 64)}});
        ProcSample before = srv.sample();
        IdleSet idle = hold_idle(srv.address(), n);
        ProcSample after = srv.sample();
        r.rows.push_back({name,
                          {double(after.threads - before.threads) / n, double(after.children - before.children) / n,
                           double(after.memory_kib - before.memory_kib) / n, double(n - idle.failed)}});
        idle.fds.clear();
        stop(srv);
    }
    auto v = [&](const char* row, int col) { return r.value(row, r.columns[static_cast<std::size_t>(col)]); };
    bool tasks = v("bio_threads_server", 0) >= 0.9 && v("bio_fork_server", 1) >= 0.9 && v("epoll_server", 0) < 0.05 &&
                 v("poll_server", 0) < 0.05;
    double event_kib = std::max(v("epoll_server", 2), v("poll_server", 2));
    bool memory = event_kib < std::min(v("bio_threads_server", 2), v("bio_fork_server", 2));
    std::string figures = fmt::format("a thread per connection cost {:.2f} tasks and {:.1f} KiB each, a process "
                                      "{:.2f} processes and {:.1f} KiB, epoll {:.2f} tasks and {:.1f} KiB",
                                      v("bio_threads_server", 0), v("bio_threads_server", 2), v("bio_fork_server", 1),
                                      v("bio_fork_server", 2), v("epoll_server", 0), v("epoll_server", 2));
    if (tasks && memory) say(r, LabVerdict::holds, figures);
    else if (tasks) say(r, LabVerdict::holds_only_when, figures, "counted in kernel tasks, not in memory");
    else say(r, LabVerdict::does_not_hold, figures);
}

// --- non-blocking --------------------------------------------------------------

void busy_polling(const LabContext& ctx, LabResult& r) {
    const double window = ctx.pick(1.0, 3.0);
    r.ran = {fmt::format("each server on --port 0 with no client at all, for {:.0f} s: its CPU time and the time "
                         "it was runnable (/proc/PID/schedstat: on a CPU or waiting for one), then its counters",
                         window)};
    r.columns = {"CPU % of a core", "runnable %", "loop turns per s"};
    const std::vector<std::pair<const char*, std::vector<std::string>>> servers = {
        {"nio_server", {}}, {"nio_server", {"--sleep-us", "1000"}}, {"sigio_server", {}}, {"epoll_server", {}}};
    for (const auto& [name, args] : servers) {
        ServerProcess srv(spec(ctx, name), {.args = args});
        double c0 = srv.cpu_seconds(), r0 = runnable_seconds(srv.pid()).value_or(kNoValue);
        auto t0 = Clock::now();
        std::this_thread::sleep_for(std::chrono::duration<double>(window));  // the measured window: nothing happens
        double c1 = srv.cpu_seconds(), r1 = runnable_seconds(srv.pid()).value_or(kNoValue), wall = seconds_since(t0);
        stop(srv);
        double turns = std::max(counter_or_nan(srv, "wakeups"), counter_or_nan(srv, "wait_calls"));
        r.rows.push_back({label(name, args), {100 * (c1 - c0) / wall, 100 * (r1 - r0) / wall, turns / wall}});
    }
    double nio = r.value("nio_server", r.columns[1]), epoll = r.value("epoll_server", r.columns[0]);
    double nio_cpu = r.value("nio_server", r.columns[0]);
    std::string figures = fmt::format("with nothing to do, nio_server was runnable {:.0f}% of the time (and got {:.0f}% "
                                      "of a core from the scheduler), epoll_server used {:.1f}%",
                                      nio, nio_cpu, epoll);
    say(r, nio >= 80 && epoll < 5 ? LabVerdict::holds : LabVerdict::does_not_hold, figures);
}

// --- multiplexing --------------------------------------------------------------

void select_limit(const LabContext& ctx, LabResult& r) {
    const auto n = static_cast<unsigned>(ctx.pick(1100, 1500));
    r.deterministic = true;
    r.ran = {fmt::format("select_server, then poll_server, on --port 0 --max-connections 4000; {} connections "
                         "opened and held; the counters and the refusals on stderr", n)};
    r.columns = {"connections", "accepted", "refused", "lowest refused fd"};
    const std::regex refusal(R"(refused fd (\d+))");
    for (const char* name : {"select_server", "poll_server"}) {
        ServerProcess srv(spec(ctx, name), {.args = {"--max-connections", "4000"}});
        IdleSet idle = hold_idle(srv.address(), n);
        idle.fds.clear();
        stop(srv);
        double lowest = kNoValue;
        const std::string err = srv.stderr_text();
        for (std::sregex_iterator it(err.begin(), err.end(), refusal), end; it != end; ++it)
            lowest = std::fmin(lowest, std::stod((*it)[1].str()));
        r.rows.push_back({name,
                          {double(n + idle.probes), counter_or_nan(srv, "accepts"), counter_or_nan(srv, "refused"),
                           lowest}});
    }
    double refused = r.value("select_server", "refused"), lowest = r.value("select_server", "lowest refused fd");
    bool holds = refused > 0 && lowest == FD_SETSIZE && r.value("poll_server", "refused") == 0;
    say(r, holds ? LabVerdict::holds : LabVerdict::does_not_hold,
        fmt::format("select_server refused {:.0f} connections, the first at descriptor {:.0f} (FD_SETSIZE is {}), "
                    "and served the rest; poll_server refused {:.0f}",
                    refused, lowest, FD_SETSIZE, r.value("poll_server", "refused")));
}

const char* const kMultiplexers[] = {"select_server", "poll_server", "epoll_server"};

void scan_cost(const LabContext& ctx, LabResult& r) {
    const auto messages = static_cast<unsigned>(ctx.pick(4000, 10000));
    const std::vector<unsigned> idles = ctx.quick ? std::vector<unsigned>{0, 500} : std::vector<unsigned>{0, 900};
    r.deterministic = true;
    r.ran = {fmt::format("each server on --port 0 with {} idle connections held; then one client sends {} "
                         "64-byte messages, one at a time; the counters divided by the waits",
                         fmt::join(idles, " or "), messages)};
    r.columns = {"idle", "fds per wait", "ready per wait", "round trips per s", "server CPU us per msg"};
    for (unsigned idle : idles)
        for (const char* name : kMultiplexers) {
            ServerProcess srv(spec(ctx, name), {.args = {"--max-connections", "2000"}});
            IdleSet held = hold_idle(srv.address(), idle);
            double cpu0 = srv.cpu_seconds();
            double rtt_us = ping_pong(srv, messages);
            double cpu = srv.cpu_seconds() - cpu0;
            stop(srv);
            double waits = counter_or_nan(srv, "wait_calls");
            r.rows.push_back({fmt::format("{} +{} idle", name, idle),
                              {double(idle), counter_or_nan(srv, "wait_fds") / waits,
                               counter_or_nan(srv, "wait_ready") / waits, 1e6 / rtt_us, cpu * 1e6 / messages}});
        }
    const unsigned most = idles.back();
    auto at = [&](const char* name, const char* col) { return r.value(fmt::format("{} +{} idle", name, most), col); };
    // Averages over the server's whole life: the waits of the connecting phase,
    // when fewer connections were open, pull them a little below `most`.
    bool holds = at("select_server", "fds per wait") >= 0.8 * most && at("poll_server", "fds per wait") >= 0.8 * most &&
                 at("epoll_server", "fds per wait") == 0;
    say(r, holds ? LabVerdict::holds : LabVerdict::does_not_hold,
        fmt::format("with {} idle connections each wait handed in {:.0f} (select) and {:.0f} (poll) descriptors and "
                    "{:.0f} (epoll) for about {:.2f} ready; one client's round trips per second: {:.0f}, {:.0f}, {:.0f}",
                    most, at("select_server", "fds per wait"), at("poll_server", "fds per wait"),
                    at("epoll_server", "fds per wait"), at("epoll_server", "ready per wait"),
                    at("select_server", "round trips per s"), at("poll_server", "round trips per s"),
                    at("epoll_server", "round trips per s")));
}

void few_connections(const LabContext& ctx, LabResult& r) {
    const double duration = ctx.pick(1.0, 3.0), warmup = ctx.pick(0.2, 0.5);
    r.ran = {fmt::format("each server on --port 0; ioclient bench's load: 1 connection, 64-byte ping-pong, {:.1f} s "
                         "after {:.1f} s of warm-up; the counters for system calls", duration, warmup)};
    r.columns = {"msg/s", "p50 us", "p99 us", "server CPU us per msg", "syscalls per msg"};
    const char* const servers[] = {"bio_server", "bio_threads_server", "select_server", "epoll_server"};
    for (const char* name : servers) {
        ServerProcess srv(spec(ctx, name));
        BenchResult b = bench(srv, 1, duration, warmup);
        stop(srv);
        double echoed = counter_or_nan(srv, "send_bytes") / 64;
        r.rows.push_back({name, {b.messages_per_second, b.p50_us, b.p99_us, b.server_cpu_us_per_message,
                                 syscalls(srv) / echoed}});
    }
    auto p50 = [&](const char* name) { return r.value(name, "p50 us"); };
    double blocking = std::min(p50("bio_server"), p50("bio_threads_server"));
    double mux = std::min(p50("select_server"), p50("epoll_server"));
    std::string figures = fmt::format("the best blocking median round trip was {:.1f} us, the best multiplexing one "
                                      "{:.1f} us; blocking paid {:.2f} system calls per message, epoll {:.2f}",
                                      blocking, mux, r.value("bio_server", "syscalls per msg"),
                                      r.value("epoll_server", "syscalls per msg"));
    say(r, blocking <= 1.1 * mux ? LabVerdict::holds : LabVerdict::does_not_hold, figures);
}

void idle_vs_active(const LabContext& ctx, LabResult& r) {
    const double duration = ctx.pick(0.5, 2.0), warmup = ctx.pick(0.2, 0.5);
    const std::vector<unsigned> actives = ctx.quick ? std::vector<unsigned>{50} : std::vector<unsigned>{1, 50};
    const std::vector<unsigned> idles = ctx.quick ? std::vector<unsigned>{0, 500} : std::vector<unsigned>{0, 100, 900};
    r.ran = {fmt::format("select_server and epoll_server, a fresh one per cell, on --port 0 --max-connections 2000; "
                         "for active connections in {{{}}} x idle connections in {{{}}}: the idle ones held, then "
                         "ioclient bench's 64-byte ping-pong on the active ones, {:.1f} s after {:.1f} s of warm-up",
                         fmt::join(actives, ", "), fmt::join(idles, ", "), duration, warmup)};
    r.columns = {"active", "idle", "select msg/s", "epoll msg/s", "epoll / select"};
    // Ahead means by 10% or more: closer than that is noise on a shared machine.
    // The crossing point: the fewest idle connections from which epoll stays ahead.
    std::vector<std::string> select_wins, epoll_loses;
    std::string crossings;
    for (unsigned active : actives) {
        std::vector<double> ratios;
        for (unsigned idle : idles) {
            double rate[2];
            for (int i = 0; i < 2; ++i) {
                ServerProcess srv(spec(ctx, i == 0 ? "select_server" : "epoll_server"),
                                  {.args = {"--max-connections", "2000"}});
                IdleSet held = hold_idle(srv.address(), idle);
                rate[i] = bench(srv, active, duration, warmup).messages_per_second;
                stop(srv);
            }
            ratios.push_back(rate[1] / rate[0]);
            r.rows.push_back({fmt::format("{} active +{} idle", active, idle),
                              {double(active), double(idle), rate[0], rate[1], ratios.back()}});
        }
        std::size_t from = ratios.size();
        while (from > 0 && ratios[from - 1] >= 1.1) --from;
        if (ratios.front() <= 0.9) select_wins.push_back(fmt::format("{} active and no idle", active));
        if (from == ratios.size()) epoll_loses.push_back(fmt::format("{} active +{} idle", active, idles.back()));
        crossings += fmt::format("{}{} active: epoll ahead {}", crossings.empty() ? "" : "; ", active,
                                 from == ratios.size() ? "nowhere" : fmt::format("from {} idle on", idles[from]));
    }
    if (!epoll_loses.empty())
        say(r, LabVerdict::does_not_hold, fmt::format("with the most idle connections epoll was not ahead by 10% "
                                                      "({}); {}", fmt::join(epoll_loses, ", "), crossings));
    else if (!select_wins.empty())
        say(r, LabVerdict::holds,
            fmt::format("{}; select ahead by 10% with {}", crossings, fmt::join(select_wins, ", ")));
    else
        say(r, LabVerdict::holds_only_when, crossings + "; with no idle connection select was not ahead by 10%",
            "idle connections are many: epoll wins them, but with few, select did not win here");
}

void edge_triggered(const LabContext& ctx, LabResult& r) {
    const std::size_t burst = 64 << 10;
    const Millis window{static_cast<int>(ctx.pick(1000, 3000))};
    r.deterministic = true;
    r.ran = {fmt::format("epoll_server on --port 0 --buffer-size 1024, in three modes; one client sends {} bytes "
                         "at once and waits {} ms for their echo; the server's recv_bytes after it stops",
                         burst, window.count())};
    r.columns = {"bytes sent", "bytes echoed", "bytes never read", "recv calls"};
    const std::vector<std::vector<std::string>> modes = {{"--read-once"}, {}, {"--level", "--read-once"}};
    for (const auto& mode : modes) {
        auto args = mode;
        args.insert(args.end(), {"--buffer-size", "1024"});
        ServerProcess srv(spec(ctx, "epoll_server"), {.args = args});
        auto conn = Connection::open(srv.address());
        const std::string input = random_bytes(burst, 42);
        if (!conn.send_all(input)) throw std::runtime_error("epoll_server closed the connection");
        std::string partial;
        auto got = conn.recv_exact(burst, window, &partial);
        std::size_t echoed = got ? got->size() : partial.size();
        conn.close();
        stop(srv);
        r.rows.push_back({label("epoll_server", mode),
                          {double(burst), double(echoed), double(burst) - counter_or_nan(srv, "recv_bytes"),
                           counter_or_nan(srv, "recv_calls")}});
    }
    double stalled = r.value("epoll_server --read-once", "bytes never read");
    bool holds = stalled > 0 && r.value("epoll_server", "bytes never read") == 0 &&
                 r.value("epoll_server --level --read-once", "bytes never read") == 0;
    say(r, holds ? LabVerdict::holds : LabVerdict::does_not_hold,
        fmt::format("edge-triggered with one read per wakeup, {:.0f} of {} bytes were never read (no new edge "
                    "announced them); reading until drained, or level-triggered, every byte was",
                    stalled, burst));
}

// ---- tls-edge: the records OpenSSL has read ahead raise no readiness -------------------

// A TLS client of the FTP control connection on memory BIOs over a blocking
// socket, so that what it writes leaves in one send(): several TLS records
// in one segment, which the server's first recv takes together.
class PipelinedFtps {
public:
    explicit PipelinedFtps(const Address& server) : conn_(Connection::open(server)), ctx_(SSL_CTX_new(TLS_client_method())) {
        if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + tls::errors());
        ssl_.reset(SSL_new(ctx_.get()));
        in_ = BIO_new(BIO_s_mem());
        out_ = BIO_new(BIO_s_mem());
        BIO_set_mem_eof_return(in_, -1);
        SSL_set_bio(ssl_.get(), in_, out_);
        SSL_set_connect_state(ssl_.get());  // the lab's own certificate: nothing to verify it against
        expect_line("220");
        send_clear("AUTH TLS\r\n");
        expect_line("234");
        while (SSL_do_handshake(ssl_.get()) != 1) {
            flush();
            if (SSL_get_error(ssl_.get(), -1) != SSL_ERROR_WANT_READ || !pull(Millis(10000)))
                throw std::runtime_error("the TLS handshake failed: " + tls::errors());
        }
        flush();
    }
    // `lines`, each sealed in a TLS record of its own, all sent in one send().
    void send_records(const std::vector<std::string>& lines) {
        for (const auto& l : lines) SSL_write(ssl_.get(), l.data(), static_cast<int>(l.size()));
        flush();
    }
    // The reply lines that arrive within `window`.
    std::vector<std::string> replies(Millis window) {
        std::vector<std::string> got;
        auto until = Clock::now() + window;
        while (Clock::now() < until) {
            char plain[4096];
            int n;
            while ((n = SSL_read(ssl_.get(), plain, sizeof plain)) > 0) text_.append(plain, static_cast<std::size_t>(n));
            for (std::size_t eol; (eol = text_.find("\r\n")) != std::string::npos; text_.erase(0, eol + 2))
                got.push_back(text_.substr(0, eol));
            auto left = std::chrono::duration_cast<Millis>(until - Clock::now());
            if (left.count() <= 0 || !pull(left)) break;
        }
        return got;
    }

private:
    void send_clear(const std::string& s) {
        if (!conn_.send_all(s)) throw std::runtime_error("the server closed the control connection");
    }
    void expect_line(const std::string& code) {
        std::string line;
        while (!line.ends_with("\r\n")) {
            auto b = conn_.recv_exact(1, Millis(10000));
            if (!b) throw std::runtime_error("no reply " + code + " from the server");
            line += *b;
        }
        if (!line.starts_with(code)) throw std::runtime_error("expected " + code + ", got: " + line);
    }
    void flush() {
        std::string c(static_cast<std::size_t>(BIO_ctrl_pending(out_)), '\0');
        if (!c.empty() && BIO_read(out_, c.data(), static_cast<int>(c.size())) > 0) send_clear(c);
    }
    bool pull(Millis timeout) {
        auto got = conn_.recv_some(timeout);
        if (!got || got->empty()) return false;
        BIO_write(in_, got->data(), static_cast<int>(got->size()));
        return true;
    }

    Connection conn_;
    tls::Context ctx_;
    tls::Ssl ssl_;
    BIO *in_ = nullptr, *out_ = nullptr;  // owned by ssl_
    std::string text_;
};

void tls_edge(const LabContext& ctx, LabResult& r) {
    const unsigned commands = 4;
    const Millis window{static_cast<int>(ctx.pick(1000, 3000))};
    r.deterministic = true;
    r.ran = {fmt::format("epoll_ftp_server (level-triggered; --tls-read-once, then as it is) and uring_ftp_server, "
                         "FTPS with a certificate of the lab's own; one client sends AUTH TLS, then {} NOOPs, each in "
                         "a TLS record of its own, all in one send(), and counts the replies within {} ms",
                         commands, window.count())};
    r.columns = {"commands sent", "replies", "commands never answered"};
    char tmpl[] = "/tmp/iomodels-lab-tls-XXXXXX";
    if (!mkdtemp(tmpl)) throw std::runtime_error("mkdtemp failed");
    const std::string dir = tmpl, cert = dir + "/cert.pem", key = dir + "/key.pem";
    auto made = run_command({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                             "-nodes", "-days", "1", "-subj", "/CN=localhost", "-keyout", key, "-out", cert});
    if (made.exit_code != 0) throw std::runtime_error("openssl req (the lab's certificate) failed: " + made.err);
    const std::vector<std::pair<std::string, std::vector<std::string>>> rows = {
        {"epoll_ftp_server", {"--tls-read-once"}}, {"epoll_ftp_server", {}}, {"uring_ftp_server", {}}};
    for (const auto& [name, mode] : rows) {
        std::vector<std::string> args{"--root", dir + "/root", "--log", "none", "--tls-cert", cert, "--tls-key", key};
        args.insert(args.end(), mode.begin(), mode.end());
        ServerProcess srv({name, ctx.bin_dir + "/" + name, {}}, {.args = args});
        PipelinedFtps client(srv.address());
        client.send_records(std::vector<std::string>(commands, "NOOP\r\n"));
        double answered = static_cast<double>(client.replies(window).size());
        stop(srv);
        r.rows.push_back({label(name, mode), {double(commands), answered, commands - answered}});
    }
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    double stalled = r.value("epoll_ftp_server --tls-read-once", "commands never answered");
    bool holds = stalled > 0 && r.value("epoll_ftp_server", "commands never answered") == 0 &&
                 r.value("uring_ftp_server", "commands never answered") == 0;
    say(r, holds ? LabVerdict::holds : LabVerdict::does_not_hold,
        fmt::format("reading one TLS record per wakeup, {:.0f} of {} commands were never answered: OpenSSL had read "
                    "them ahead, and the socket, empty, was never ready again, level-triggered as it is; draining "
                    "SSL_has_pending, or the proactor's memory BIO, answered every one",
                    stalled, commands));
}

void two_syscalls(const LabContext& ctx, LabResult& r) {
    r.columns = {"waits per msg", "recv per msg", "send per msg", "syscalls per msg", "round trip us"};
    per_message_lab(ctx, r, {"bio_server", "select_server", "poll_server", "epoll_server"},
                    [](const ServerProcess& srv, double n, double rtt) {
                        return std::vector<double>{per(srv, "wait_calls", n), per(srv, "recv_calls", n),
                                                   per(srv, "send_calls", n), syscalls(srv) / n, rtt};
                    });
    double blocking = r.value("bio_server", "syscalls per msg");
    bool holds = r.value("bio_server", "waits per msg") < 0.01;
    double fewest = 1e9;
    for (const char* name : kMultiplexers) {
        holds = holds && r.value(name, "waits per msg") >= 0.9;
        fewest = std::min(fewest, r.value(name, "syscalls per msg"));
    }
    holds = holds && fewest - blocking >= 0.9;
    say(r, holds ? LabVerdict::holds : LabVerdict::does_not_hold,
        fmt::format("bio_server made {:.2f} system calls per message (a recv that waits, a send); the multiplexing "
                    "servers {:.2f} or more: a wait, then a recv that does not", blocking, fewest));
}

// The reactor's weakness and its two answers (docs/multiplexing.md, Three
// reactors): a pool behind the loop, a loop per core.
void slow_handler(const LabContext& ctx, LabResult& r) {
    const auto work_us = static_cast<unsigned>(ctx.pick(1000, 2000));
    const double duration = ctx.pick(1.0, 3.0), warmup = ctx.pick(0.2, 0.5);
    r.ran = {fmt::format("epoll_server, epoll_pool_server (--threads 2), then bio_threads_server, on --port 0 "
                         "--work-us {} (each message spins the CPU that long); a busy client ping-pongs while "
                         "another one, measured, does the same, {:.1f} s after {:.1f} s of warm-up; then "
                         "epoll_pool_server with the measured client alone",
                         work_us, duration, warmup)};
    r.columns = {"other's p50 us", "other's p99 us", "other's msg/s", "busy client's msg/s"};
    for (const char* name : {"epoll_server", "epoll_pool_server", "bio_threads_server", "epoll_pool_server alone"}) {
        const std::string server = std::string(name).substr(0, std::string(name).find(' '));
        const bool alone = server != name;
        ServerProcess srv(spec(ctx, server), {.args = {"--work-us", std::to_string(work_us)}});
        std::future<BenchResult> busy;
        if (!alone) busy = std::async(std::launch::async, [&] { return bench(srv, 1, duration + warmup, 0); });
        BenchResult other = bench(srv, 1, duration, warmup);
        double hog = alone ? kNoValue : busy.get().messages_per_second;
        stop(srv);
        r.rows.push_back({name, {other.p50_us, other.p99_us, other.messages_per_second, hog}});
    }
    const std::string p50 = "other's p50 us";
    double reactor = r.value("epoll_server", p50), threads = r.value("bio_threads_server", p50);
    double pool = r.value("epoll_pool_server", p50), pool_alone = r.value("epoll_pool_server alone", p50);
    std::string figures = fmt::format("the other client's median round trip was {:.0f} us beside a busy one in "
                                      "epoll_server (it waits for the busy client's handler), {:.0f} us with a thread "
                                      "each, {:.0f} us with the handlers on a pool ({:.2f}x its {:.0f} us alone); the "
                                      "handler alone takes {} us",
                                      reactor, threads, pool, pool / pool_alone, pool_alone, work_us);
    const bool answered = pool <= 1.5 * pool_alone;  // the pool's promise: the busy client costs the other little
    if (reactor >= 1.25 * threads && answered) say(r, LabVerdict::holds, figures);
    else if (reactor >= 1.25 * threads)
        say(r, LabVerdict::holds_only_when, figures, "each handler has a thread of its own: the pool's other client "
                                                     "still waited more than 1.5x its time alone");
    else if (threads > 1.5 * work_us)  // the other client's thread waited for a CPU, not for the busy client
        say(r, LabVerdict::does_not_hold, figures + ": the threads waited for a CPU (see the load average)");
    else say(r, LabVerdict::does_not_hold, figures);
}

// A figure of a live server's own counters, summed over its slots, read while it runs.
LiveServer live_counters(const ServerProcess& srv) {
    auto s = read_live_file(fmt::format("{}/iomodels-{}-{}", live_dir(), srv.spec().name, srv.pid()));
    if (!s) throw std::runtime_error(srv.spec().name + " publishes no live counters");
    return *s;
}

void loops_per_core(const LabContext& ctx, LabResult& r) {
    const double duration = ctx.pick(0.5, 2.0), warmup = ctx.pick(0.2, 0.5);
    // 32 connections, not 8: a loop whose few connections all wait on the client sleeps and is woken
    // for nearly every message, and those wake-ups, with the load client's own CPU on the same 2 cores,
    // take what the second loop would gain (docs/labs.md: 1.41x with 8 on one VM, 1.81x with 32).
    // With more in flight a loop finds work at every wait: the load a loop per core is for.
    const unsigned connections = 32;
    r.ran = {fmt::format("each server on --port 0; ioclient bench's 64-byte ping-pong on {} connections, {:.1f} s "
                         "after {:.1f} s of warm-up; CPU per message from the server's CPU clock, the rest from its "
                         "counters divided by the messages it echoed",
                         connections, duration, warmup),
             "with a handler that computes (--work-us 20): epoll_loops_server with 1 loop, then 2 (--accept handoff: "
             "the connections dealt evenly); with none: epoll_server, epoll_loops_server --loops 1, "
             "epoll_pool_server --threads 1"};
    r.columns = {"msg/s", "CPU us per msg", "syscalls per msg", "hand-offs per msg", "wake-up calls per msg"};
    const std::vector<std::pair<const char*, std::vector<std::string>>> runs = {
        {"epoll_loops_server", {"--loops", "1", "--accept", "handoff", "--work-us", "20"}},
        {"epoll_loops_server", {"--loops", "2", "--accept", "handoff", "--work-us", "20"}},
        {"epoll_server", {}},
        {"epoll_loops_server", {"--loops", "1"}},
        {"epoll_pool_server", {"--threads", "1"}}};
    for (const auto& [name, args] : runs) {
        ServerProcess srv(spec(ctx, name), {.args = args});
        BenchResult b = bench(srv, connections, duration, warmup);
        stop(srv);
        const double echoed = counter_or_nan(srv, "send_bytes") / 64;
        r.rows.push_back({label(name, args),
                          {b.messages_per_second, b.server_cpu_us_per_message, syscalls(srv) / echoed,
                           counter_or_nan(srv, "handoffs") / echoed, counter_or_nan(srv, "notify_calls") / echoed}});
    }
    auto v = [&](std::size_t row, const char* column) { return r.value(r.rows[row].label, column); };
    const double scaling = v(1, "msg/s") / v(0, "msg/s");
    const double loop_cost = v(3, "CPU us per msg") / v(2, "CPU us per msg");
    const double pool_extra = v(4, "CPU us per msg") - v(2, "CPU us per msg");
    std::string figures = fmt::format(
        "with --work-us 20, 2 loops moved {:.2f}x the messages of 1 ({:.0f} against {:.0f} per second); with no work "
        "one loop of epoll_loops_server cost {:.2f}x epoll_server's CPU per message, and the pool {:+.1f} us per "
        "message more than epoll_server: {:.2f} hand-offs and {:.2f} eventfd calls per message",
        scaling, v(1, "msg/s"), v(0, "msg/s"), loop_cost, pool_extra, v(4, "hand-offs per msg"),
        v(4, "wake-up calls per msg"));
    if (scaling >= 1.5) say(r, LabVerdict::holds, figures);
    else say(r, LabVerdict::does_not_hold, figures + " (the client shares the cores: see the load average)");
}

void spreading(const LabContext& ctx, LabResult& r) {
    constexpr int kLoops = 4;
    const std::vector<unsigned> counts = {10, 1000};
    r.deterministic = true;
    r.ran = {fmt::format("epoll_loops_server --loops {} on --port 0, with --accept reuseport, then handoff; {} "
                         "connections opened and held, a fresh server each time; each loop's connections read "
                         "from its own slot of the live counters once all were taken",
                         kLoops, fmt::join(counts, ", then "))};
    for (int i = 1; i <= kLoops; ++i) r.columns.push_back(fmt::format("loop {}", i));
    r.columns.insert(r.columns.end(), {"most", "fewest", "most / even share"});
    for (const char* mode : {"reuseport", "handoff"}) {
        for (unsigned n : counts) {
            ServerProcess srv(spec(ctx, "epoll_loops_server"),
                              {.args = {"--loops", std::to_string(kLoops), "--accept", mode}});
            std::vector<Connection> held;
            for (unsigned i = 0; i < n; ++i) held.push_back(Connection::open(srv.address()));
            std::vector<std::uint64_t> per_loop;
            for (auto deadline = Clock::now() + std::chrono::seconds(20); Clock::now() < deadline;) {
                per_loop = live_counters(srv).loop_connections();
                std::uint64_t sum = 0;
                for (auto c : per_loop) sum += c;
                if (sum == n) break;
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
            if (per_loop.size() != kLoops) throw std::runtime_error("epoll_loops_server did not show its loops");
            held.clear();
            stop(srv);
            std::vector<double> row(per_loop.begin(), per_loop.end());
            const auto [fewest, most] = std::minmax_element(row.begin(), row.end());
            row.insert(row.end(), {*most, *fewest, *most / (double(n) / kLoops)});
            r.rows.push_back({fmt::format("{}, {} connections", mode, n), row});
        }
    }
    auto v = [&](const char* mode, unsigned n, const char* column) {
        return r.value(fmt::format("{}, {} connections", mode, n), column);
    };
    bool exact = true;
    for (unsigned n : counts) exact = exact && v("handoff", n, "most") - v("handoff", n, "fewest") <= 1;
    const double many = v("reuseport", counts.back(), "most / even share");
    std::string figures = fmt::format(
        "round robin dealt {} connections {}-{} and {} exactly {}-{} per loop; the kernel's hash gave {} connections "
        "{}-{} per loop and {} connections {}-{}, its busiest loop {:.2f}x an even share",
        counts[0], v("handoff", counts[0], "fewest"), v("handoff", counts[0], "most"), counts[1],
        v("handoff", counts[1], "fewest"), v("handoff", counts[1], "most"), counts[0],
        v("reuseport", counts[0], "fewest"), v("reuseport", counts[0], "most"), counts[1],
        v("reuseport", counts[1], "fewest"), v("reuseport", counts[1], "most"), many);
    if (exact && many <= 1.2) say(r, LabVerdict::holds, figures);
    else say(r, LabVerdict::does_not_hold, figures);
}

// --- async ---------------------------------------------------------------------

void proactor(const LabContext& ctx, LabResult& r) {
    r.columns = {"syscalls per msg", "recv+send per msg", "sqes per msg", "cqes per msg", "round trip us"};
    per_message_lab(ctx, r, {"epoll_server", "uring_server"}, [](const ServerProcess& srv, double n, double rtt) {
        return std::vector<double>{syscalls(srv) / n,
                                   (counter_or_nan(srv, "recv_calls") + counter_or_nan(srv, "send_calls")) / n,
                                   per(srv, "sqes", n), per(srv, "cqes", n), rtt};
    });
    double uring = r.value("uring_server", "syscalls per msg"), epoll = r.value("epoll_server", "syscalls per msg");
    say(r, uring < epoll ? LabVerdict::holds : LabVerdict::does_not_hold,
        fmt::format("uring_server made {:.2f} system calls per message (io_uring_enter: the kernel did the {:.2f} "
                    "recvs and sends, copying the bytes itself), epoll_server {:.2f} (a wait, and a recv and a send "
                    "that copy inside the call)",
                    uring, r.value("uring_server", "recv+send per msg"), epoll));
}

void coroutines(const LabContext& ctx, LabResult& r) {
    r.columns = {"io_uring_enter per msg", "sqes per msg", "cqes per msg", "recv per msg", "send per msg"};
    per_message_lab(ctx, r, {"uring_server", "uring_coro_server"}, [](const ServerProcess& srv, double n, double) {
        std::vector<double> row;
        for (const char* c : {"wait_calls", "sqes", "cqes", "recv_calls", "send_calls"}) row.push_back(per(srv, c, n));
        return row;
    });
    std::vector<std::string> differ;
    for (const auto& col : r.columns) {
        double a = r.value("uring_server", col), b = r.value("uring_coro_server", col);
        if (std::fabs(a - b) > std::max(0.05, 0.1 * std::max(a, b))) differ.push_back(col);
    }
    const double enters = r.value("uring_server", r.columns[0]);
    if (differ.empty())
        say(r, LabVerdict::holds, fmt::format("every figure per message is the same within 10%: {:.2f} io_uring_enter "
                                              "and {:.2f} submissions per message in both",
                                              enters, r.value("uring_server", r.columns[1])));
    else if (differ == std::vector<std::string>{"sqes per msg"})
        // The same waits and completions; only how the recv is asked for differs.
        say(r, LabVerdict::holds_only_when,
            fmt::format("both made {:.2f} io_uring_enter calls and reaped {:.2f} completions per message; "
                        "uring_server submitted {:.2f} entries per message and uring_coro_server {:.2f}: one "
                        "keeps a multishot recv armed, the other submits a recv per co_await",
                        enters, r.value("uring_server", r.columns[2]), r.value("uring_server", r.columns[1]),
                        r.value("uring_coro_server", r.columns[1])),
            "counted in system calls and completions, not in submissions");
    else
        say(r, LabVerdict::does_not_hold, fmt::format("the two differ in {}", fmt::join(differ, ", ")));
}

}  // namespace

const std::vector<Lab>& labs() {
    static const std::vector<Lab> all = {
        {"second-client-waits",
         "the iterative blocking server: a second client connects but is not served while the first is connected",
         "blocking", second_client_waits},
        {"cost-per-connection",
         "a thread or a process per connection fixes that, at a cost in memory and threads per connection (against "
         "the event-driven servers)",
         "blocking", cost_per_connection},
        {"busy-polling", "polling non-blocking sockets in a loop burns a core while nothing happens", "nonblocking",
         busy_polling},
        {"select-limit", "select cannot watch a descriptor numbered FD_SETSIZE (1024) or more", "multiplexing",
         select_limit},
        {"scan-cost",
         "select and poll hand in and scan every descriptor on every call; epoll returns only the ready ones",
         "multiplexing", scan_cost},
        {"few-connections", "with few connections, threads and blocking calls match or beat select/epoll in latency",
         "multiplexing", few_connections},
        {"idle-vs-active",
         "many idle connections: epoll wins; few, very active connections: select may win", "multiplexing",
         idle_vs_active},
        {"edge-triggered",
         "edge-triggered epoll announces once: a server that does not drain stalls (--read-once), one that does, "
         "does not",
         "multiplexing", edge_triggered},
        {"tls-edge",
         "in a reactor, TLS records OpenSSL has already read ahead raise no readiness: one record per wakeup stalls "
         "(--tls-read-once), draining SSL_has_pending does not",
         "multiplexing", tls_edge},
        {"two-syscalls", "multiplexing pays a wait and a read where blocking I/O pays one read", "multiplexing",
         two_syscalls},
        {"slow-handler",
         "in a reactor, one slow handler delays every other client; with a thread per connection, or the handlers "
         "on a pool behind the loop, it does not",
         "multiplexing", slow_handler},
        {"loops-per-core",
         "a loop per core scales a handler that computes over the cores, at no extra cost per message; a pool behind "
         "one loop pays a hand-off and a wake-up per message",
         "multiplexing", loops_per_core},
        {"spreading",
         "SO_REUSEPORT spreads connections over the loops by a hash: evenly when they are many, by luck when few; "
         "one acceptor dealing them round robin spreads them exactly",
         "multiplexing", spreading},
        {"proactor", "io_uring: the kernel copies, the process does not block, fewer system calls per message",
         "async", proactor},
        {"coroutines", "coroutines are multiplexing underneath: the coroutine server's counters match the callback "
                       "server's",
         "async", coroutines},
    };
    return all;
}

}  // namespace iom::client
