// ioclient soak: every server at once, a mixed verified load for a set time,
// descriptors and memory flat at the end.
//
// Shape. Every server of the manifest (or of --servers) is started at once on
// --port 0, each with a driver thread of its own. A driver runs one warm-up
// cycle, waits until the server is quiet (no soak connection open, its
// figures steady) and samples /proc: the start. It then cycles through the
// loads until the deadline, sampling every few seconds for the maximum,
// closes every connection, waits for the server to settle and samples again:
// the end. Then every server gets SIGTERM and must exit 0.
//
// Rate. Each step of a cycle is followed by a pause (kPace), so the load is a
// few MB/s per server, not as fast as it can: the soak is about staying
// correct and flat over time, and it must not take the machine from anyone.
#include "client/soak/soak.hpp"

#include "client/lib/connection.hpp"
#include "common/error.hpp"
#include "common/json.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <thread>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;
using Seconds = std::chrono::duration<double>;

constexpr Millis kPace{20};             // pause after every step: this bounds the rate
constexpr Millis kTimeout{10000};       // generous: an echo that takes longer has failed
constexpr Millis kSettleTimeout{10000};  // for the server to close what we closed
constexpr Seconds kIdleHold{10};        // idle connections held this long, then echoed once and closed
constexpr Seconds kSequentialIdleHold{1};  // ...by the sequential server: it serves no one else meanwhile
constexpr unsigned kLongLived = 4;      // ping-pong connections open for the whole soak
constexpr unsigned kIdle = 4;           // idle connections held at once
constexpr unsigned kChurn = 8;          // connect, echo, close: per cycle
constexpr std::size_t kHalfCloseBytes = 64 * 1024 + 3;
constexpr std::size_t kResetSend = 256 * 1024, kResetAfter = 4096;  // reset once this much came back
constexpr std::size_t kLargeBytes = 1 << 20;
constexpr std::size_t kSizes[] = {1, 2, 100, 1460, 1461, 4096, 16384, 16385, 65536};
constexpr std::size_t kKeptProblems = 10;  // per server, printed and kept; the rest only counted

// Started with every server: room for the soak's connections (the thread and
// fork servers default to 1000; the soak holds far fewer, this only rules the
// bound out). The pool serves --threads clients at once and the soak holds up
// to ~12: 64 workers, as the conformance test gives it. nio_server polls
// without ever sleeping, a whole core on its own: --sleep-us 1000 keeps the
// soak under a core (its model is unchanged; it sweeps at most ~1000 times/s).
std::vector<std::string> server_args(const ServerSpec& spec) {
    std::vector<std::string> args{"--max-connections", "1024"};
    if (spec.has("pool")) args.insert(args.end(), {"--threads", "64", "--queue", "64"});
    if (spec.name == "nio_server") args.insert(args.end(), {"--sleep-us", "1000"});
    return args;
}

std::mutex print_mutex;  // progress and problem lines from several drivers

// --- one exchange on one connection --------------------------------------------

struct Exchange {
    std::size_t want = 0;     // echoed bytes to read back
    bool send_all = true;     // false: stop sending once `want` bytes came back (the reset load)
    bool half_close = false;  // SHUT_WR after the last byte, then expect EOF after the echo
};

// Send `input` and read its echo at the same time (one socket, poll), so a
// payload larger than every socket buffer cannot deadlock. `got` holds what
// came back; the result is empty if everything asked for happened, or says
// what did not.
std::string exchange(int fd, std::string_view input, const Exchange& how, std::string& got) {
    auto deadline = Clock::now() + kTimeout;
    std::size_t sent = 0;
    bool shut = false, eof = false;
    char buf[65536];
    auto where = [&] { return fmt::format("{} of {} bytes sent, {} of {} echoed", sent, input.size(), got.size(),
                                          how.want); };
    for (;;) {
        bool echoed = got.size() >= how.want;
        bool sending = sent < input.size() && !(echoed && !how.send_all);
        if (how.half_close && !sending && !shut) {
            if (::shutdown(fd, SHUT_WR) < 0) return fmt::format("shutdown(SHUT_WR): {}", std::strerror(errno));
            shut = true;
        }
        if (!sending && echoed && (!how.half_close || eof)) return {};
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return fmt::format("no progress for {} s: {}", kTimeout.count() / 1000, where());
        pollfd p{fd, static_cast<short>(POLLIN | (sending ? POLLOUT : 0)), 0};
        if (::poll(&p, 1, static_cast<int>(left)) < 0) {
            if (errno == EINTR) continue;
            throw_sys("poll");
        }
        if (sending && (p.revents & (POLLOUT | POLLERR))) {
            ssize_t n = ::send(fd, input.data() + sent, std::min<std::size_t>(input.size() - sent, 256 << 10),
                               MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return fmt::format("send: {} ({})", std::strerror(errno), where());
            if (n > 0) sent += static_cast<std::size_t>(n);
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            // Up to the echo, then (half-close) anything more is an error: only EOF may follow.
            std::size_t room = echoed ? sizeof buf : std::min(sizeof buf, how.want - got.size());
            ssize_t n = ::recv(fd, buf, room, MSG_DONTWAIT);
            if (n < 0 && errno != EAGAIN && errno != EINTR)
                return fmt::format("recv: {} ({})", std::strerror(errno), where());
            if (n == 0) {
                if (echoed && how.half_close) {
                    eof = true;
                    continue;
                }
                return fmt::format("the server closed the connection ({})", where());
            }
            if (n > 0 && echoed) return fmt::format("{} bytes arrived beyond the echo", n);
            if (n > 0) got.append(buf, static_cast<std::size_t>(n));
        }
    }
}

// Where `got` first differs from `want` (same length or not), or "".
std::string difference(std::string_view want, std::string_view got) {
    std::size_t i = 0;
    while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
    if (i == want.size() && i == got.size()) return {};
    if (i < want.size() && i < got.size())
        return fmt::format("byte {} of {} differs: expected 0x{:02x}, got 0x{:02x}", i, want.size(),
                           static_cast<unsigned char>(want[i]), static_cast<unsigned char>(got[i]));
    return fmt::format("expected {} bytes, got {}", want.size(), got.size());
}

// --- a driver: one server's load, from warm-up to the end sample ----------------

struct Progress {
    std::atomic<std::uint64_t> messages{0}, problems{0};
};

class Driver {
public:
    Driver(ServerProcess& srv, SoakServerResult& r, Progress& progress, Clock::time_point t0)
        : srv_(srv), r_(r), progress_(progress), t0_(t0), sequential_(srv.spec().has("sequential")) {}

    // `warmup` of load first (at least one cycle), everything closed at its
    // end: a server reaches its working size (buffers touched, thread stacks
    // cached, io_uring's provided buffers all written once) before the start
    // sample, so the rule compares steady states, not a cold start.
    void run(Clock::time_point deadline, Seconds warmup, Seconds sample_every) {
        auto warm_until = Clock::now() + std::chrono::duration_cast<Clock::duration>(warmup);
        do cycle(warm_until);
        while (Clock::now() < warm_until && alive());
        long_lived_.clear();
        if (!alive()) return;  // said; start and end stay unsampled
        close_idle();
        r_.start = r_.max = quiet_sample();
        auto last_sample = Clock::now();
        while (Clock::now() < deadline && alive()) {
            cycle(deadline);
            if (Clock::now() - last_sample >= sample_every) {
                take_max(srv_.sample());
                last_sample = Clock::now();
            }
        }
        long_lived_.clear();
        if (!alive()) return;  // said; the end stays unsampled, so the server is not flat
        close_idle();
        r_.end = settled_sample();
        take_max(r_.end);
        r_.cpu_seconds = srv_.cpu_seconds();
    }

private:
    ServerProcess& srv_;
    SoakServerResult& r_;
    Progress& progress_;
    Clock::time_point t0_;
    bool sequential_;
    std::uint64_t seed_ = 1;
    std::vector<std::optional<Connection>> long_lived_;
    std::vector<Connection> idle_;
    Clock::time_point idle_since_;
    SoakLoad last_load_ = SoakLoad::pingpong;

    LoadCounts& counts(SoakLoad l) { return r_.loads[static_cast<std::size_t>(l)]; }

    void problem(SoakLoad l, bool wrong_bytes, const std::string& what) {
        last_load_ = l;
        (wrong_bytes ? counts(l).failures : counts(l).errors)++;
        ++progress_.problems;
        std::string line = fmt::format("{}: {}: {}", r_.name, kLoadNames[static_cast<std::size_t>(l)], what);
        std::lock_guard lock(print_mutex);
        if (r_.problems.size() < kKeptProblems) {
            fmt::print(stderr, "[{:7.1f}s] {}{}\n", Seconds(Clock::now() - t0_).count(), line,
                       r_.problems.size() + 1 == kKeptProblems ? " (further problems of this server: counted only)"
                                                                : "");
            r_.problems.push_back(line);
        }
    }

    // Checked between cycles: a server that died is said once (counted as an
    // error of the load that last had a problem, the likely witness) and no
    // longer driven.
    bool alive() {
        if (r_.exited_early) return false;
        if (srv_.running()) return true;
        r_.exited_early = true;
        std::string err = srv_.stderr_text();
        while (!err.empty() && err.back() == '\n') err.pop_back();
        int code = srv_.stop();
        err = err.substr(err.rfind('\n') + 1);
        problem(last_load_, false,
                fmt::format("the server exited ({}){}", code, err.empty() ? "" : "; it said: " + err));
        return false;
    }

    std::optional<Connection> open(SoakLoad l, const std::string& what) {
        try {
            return Connection::open(srv_.address());
        } catch (const std::exception& e) {
            problem(l, false, what + ": " + e.what());
            return std::nullopt;
        }
    }

    // One verified exchange; false (and counted, and said) if anything differed.
    bool echo(Connection& c, SoakLoad l, const std::string& what, std::string_view input, Exchange how) {
        std::string got;
        std::string error = exchange(c.fd(), input, how, got);
        std::string want = expected_echo(EchoMode::upper, input.substr(0, got.size()));
        if (std::string diff = difference(want, got); !diff.empty()) {
            problem(l, true, fmt::format("{}: {}", what, diff));
            return false;
        }
        if (!error.empty()) {
            problem(l, false, fmt::format("{}: {}", what, error));
            return false;
        }
        counts(l).messages++;
        counts(l).bytes += got.size();
        ++progress_.messages;
        return true;
    }
    bool echo(Connection& c, SoakLoad l, const std::string& what, std::string_view input) {
        return echo(c, l, what, input, {.want = input.size()});
    }

    std::string payload(std::size_t n) { return random_bytes(n, seed_++); }
    void pause(std::chrono::nanoseconds d = kPace) { std::this_thread::sleep_for(d); }

    // Every load once. Past `deadline` the idle connections are closed, not
    // held on.
    void cycle(Clock::time_point deadline) {
        pingpong();
        pause();
        for (unsigned i = 0; i < kChurn; ++i, pause()) churn(i);
        half_close();
        pause();
        reset();
        pause();
        large();
        pause();
        idle(deadline);
        pause();
    }

    // Long-lived connections, each one round trip of every size. A sequential
    // server gets one connection, opened and closed within this step: while
    // it stays open no other client of this soak would be served.
    void pingpong() {
        unsigned n = sequential_ ? 1 : kLongLived;
        long_lived_.resize(n);
        for (unsigned i = 0; i < n; ++i, pause()) {
            auto& c = long_lived_[i];
            std::string who = fmt::format("connection {}", i);
            if (!c && !(c = open(SoakLoad::pingpong, "connect " + who))) continue;
            for (std::size_t size : kSizes) {
                if (!echo(*c, SoakLoad::pingpong, fmt::format("{}, {} B", who, size), payload(size))) {
                    c.reset();  // a fresh connection next time
                    break;
                }
            }
        }
        if (sequential_) long_lived_.clear();
    }

    void churn(unsigned i) {
        std::size_t size = 1 + seed_ % 4096;
        auto c = open(SoakLoad::churn, fmt::format("connect {}", i));
        if (c) echo(*c, SoakLoad::churn, fmt::format("connection {}, {} B", i, size), payload(size));
    }

    void half_close() {
        auto c = open(SoakLoad::half_close, "connect");
        if (c) echo(*c, SoakLoad::half_close, fmt::format("{} B then SHUT_WR, the echo then EOF", kHalfCloseBytes),
                    payload(kHalfCloseBytes), {.want = kHalfCloseBytes, .half_close = true});
    }

    // Send much more than we read; once the echo has started, close with
    // SO_LINGER 0: the server sees RST mid-transfer. The next loads prove it
    // still serves.
    void reset() {
        auto c = open(SoakLoad::reset, "connect");
        if (!c) return;
        if (echo(*c, SoakLoad::reset, fmt::format("{} B sent, reset after {} B echoed", kResetSend, kResetAfter),
                 payload(kResetSend), {.want = kResetAfter, .send_all = false}))
            c->reset();
    }

    void large() {
        auto c = open(SoakLoad::large, "connect");
        if (c) echo(*c, SoakLoad::large, "1 MiB written while reading", payload(kLargeBytes));
    }

    // Idle connections: opened, held for kIdleHold across cycles (a
    // sequential server: held alone, briefly), then each echoes once, which
    // proves the server kept them, and is closed.
    void idle(Clock::time_point deadline) {
        if (sequential_) {
            auto c = open(SoakLoad::idle, "connect");
            if (!c) return;
            pause(std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::clamp<Seconds>(deadline - Clock::now(), Seconds(0), kSequentialIdleHold)));
            echo(*c, SoakLoad::idle, "an echo after idling", payload(64));
            return;
        }
        if (idle_.empty()) {
            for (unsigned i = 0; i < kIdle; ++i)
                if (auto c = open(SoakLoad::idle, fmt::format("connect idle {}", i))) idle_.push_back(std::move(*c));
            idle_since_ = Clock::now();
        }
        if (Clock::now() - idle_since_ >= kIdleHold || Clock::now() >= deadline) close_idle();
    }

    void close_idle() {
        for (std::size_t i = 0; i < idle_.size(); ++i)
            echo(idle_[i], SoakLoad::idle, fmt::format("idle connection {}, an echo after {:.1f} s idle", i,
                                                       Seconds(Clock::now() - idle_since_).count()),
                 payload(64));
        idle_.clear();
    }

    void take_max(const ProcSample& s) {
        r_.max.fds = std::max(r_.max.fds, s.fds);
        r_.max.children = std::max(r_.max.children, s.children);
        r_.max.memory_kib = std::max(r_.max.memory_kib, s.memory_kib);
        r_.max.threads = std::max(r_.max.threads, s.threads);
    }

    // The start: the server has closed what the warm-up opened when its
    // figures stop changing (and no child is left serving).
    ProcSample quiet_sample() {
        auto until = Clock::now() + kSettleTimeout;
        ProcSample last = srv_.sample();
        while (Clock::now() < until) {
            pause(Millis(250));
            ProcSample s = srv_.sample();
            bool same = s.fds == last.fds && s.children == last.children && s.threads == last.threads;
            last = s;
            if (same && s.children == 0) break;
        }
        return last;
    }

    // The end: wait (bounded) until descriptors and threads are back at their
    // start figures; whatever they are then is the end sample.
    ProcSample settled_sample() {
        auto until = Clock::now() + kSettleTimeout;
        ProcSample s = srv_.sample();
        while (Clock::now() < until && (descriptors(s) != descriptors(r_.start) || s.threads != r_.start.threads)) {
            pause(Millis(100));
            s = srv_.sample();
        }
        return s;
    }
};

// --- describing ------------------------------------------------------------------

double own_cpu_seconds() {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    auto secs = [](const timeval& t) { return double(t.tv_sec) + double(t.tv_usec) / 1e6; };
    return secs(u.ru_utime) + secs(u.ru_stime);
}

Json json_sample(const ProcSample& s) {
    return {{"fds", s.fds}, {"children", s.children}, {"descriptors", descriptors(s)}, {"memory_kib", s.memory_kib},
            {"threads", s.threads}};
}

// Seconds as the table shows them: to `places` decimals.
double rounded(double seconds, int places) {
    double scale = std::pow(10.0, places);
    return std::round(seconds * scale) / scale;
}

std::string figure(long v) { return v < 0 ? "-" : std::to_string(v); }  // "-": not sampled

std::string join(const std::vector<std::string>& items, const char* sep) {
    std::string out;
    for (const auto& i : items) out += (out.empty() ? "" : sep) + i;
    return out;
}

}  // namespace

const char* const kFlatRule = "flat: descriptors (the server's own, plus its live children: one per client of "
                              "the forking server) at the end equal those at the start, and memory at the end <= "
                              "memory at the start + max(2 MiB, 10 %)";

LoadCounts SoakServerResult::total() const {
    LoadCounts t;
    for (const auto& l : loads) {
        t.messages += l.messages;
        t.bytes += l.bytes;
        t.failures += l.failures;
        t.errors += l.errors;
    }
    return t;
}

long memory_bound_kib(long memory_start_kib) { return memory_start_kib + std::max(2048L, memory_start_kib / 10); }

std::string flatness(const ProcSample& start, const ProcSample& end) {
    std::vector<std::string> why;
    if (start.fds < 0 || end.fds < 0 || start.memory_kib < 0 || end.memory_kib < 0) return "not sampled";
    if (descriptors(end) != descriptors(start))
        why.push_back(fmt::format("descriptors {} -> {}", descriptors(start), descriptors(end)));
    if (end.memory_kib > memory_bound_kib(start.memory_kib))
        why.push_back(fmt::format("memory {} -> {} KiB, above {} KiB", start.memory_kib, end.memory_kib,
                                  memory_bound_kib(start.memory_kib)));
    return join(why, ", ");
}

std::string verdict(const SoakServerResult& r) {
    if (!r.start_error.empty()) return "did not start: " + r.start_error;
    std::vector<std::string> why;
    LoadCounts t = r.total();
    if (t.failures) why.push_back(fmt::format("{} verification failures", t.failures));
    if (t.errors) why.push_back(fmt::format("{} connection errors", t.errors));
    if (std::string f = flatness(r.start, r.end); !f.empty()) why.push_back("not flat: " + f);
    if (r.exited_early) why.push_back(fmt::format("exited during the soak ({})", r.exit_code));
    else if (r.exit_code != 0) why.push_back(r.exit_code < 0 ? std::string("did not exit on SIGTERM")
                                                             : fmt::format("exited with {} on SIGTERM", r.exit_code));
    return why.empty() ? "ok" : join(why, "; ");
}

bool passed(const SoakResult& r) {
    return !r.servers.empty() &&
           std::all_of(r.servers.begin(), r.servers.end(), [](const auto& s) { return verdict(s) == "ok"; });
}

SoakResult run_soak(const SoakOptions& opt) {
    const auto specs = select_servers(opt.bin_dir, opt.servers);
    SoakResult result{.command_line = opt.command_line, .date = utc_now(), .duration = opt.duration};
    const auto t0 = Clock::now();
    const double cpu0 = own_cpu_seconds();
    const Seconds sample_every = std::clamp(Seconds(opt.duration / 6), Seconds(1), Seconds(10));
    const Seconds warmup = std::min(Seconds(opt.duration / 10), Seconds(10));

    // Every server at once.
    result.servers.resize(specs.size());
    std::vector<std::unique_ptr<ServerProcess>> procs(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
        auto& r = result.servers[i];
        r.name = specs[i].name;
        r.traits = specs[i].traits;
        r.args = server_args(specs[i]);
        try {
            procs[i] = std::make_unique<ServerProcess>(specs[i], StartOptions{.args = r.args});
        } catch (const std::exception& e) {
            r.start_error = e.what();
            fmt::print(stderr, "{}: did not start: {}\n", r.name, e.what());
        }
    }
    fmt::print(stderr, "soak: {} servers, {:.0f} s ({:.1f} s of warm-up), every echo verified; /proc sampled every "
                       "{:.0f} s\n", specs.size(), opt.duration, warmup.count(), sample_every.count());

    Progress progress;
    const Clock::time_point deadline =
        Clock::now() + std::chrono::duration_cast<Clock::duration>(Seconds(opt.duration));
    std::vector<std::thread> drivers;
    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (!procs[i]) continue;
        drivers.emplace_back([&, i] {
            try {
                Driver(*procs[i], result.servers[i], progress, t0).run(deadline, warmup, sample_every);
            } catch (const std::exception& e) {  // the client's own failure (poll, fork...): a problem all the same
                auto& r = result.servers[i];
                r.loads[0].errors++;
                std::lock_guard lock(print_mutex);
                r.problems.push_back(fmt::format("{}: the driver stopped: {}", r.name, e.what()));
                fmt::print(stderr, "{}\n", r.problems.back());
            }
        });
    }

    // A progress line a minute (or twice in a short soak) while the drivers run.
    const Seconds report_every = std::min(Seconds(60), std::max(Seconds(1), Seconds(opt.duration / 2)));
    auto next_report = Clock::now() + std::chrono::duration_cast<Clock::duration>(report_every);
    while (Clock::now() < deadline) {
        std::this_thread::sleep_for(std::min<Clock::duration>(Millis(200), deadline - Clock::now()));
        if (Clock::now() >= next_report && Clock::now() < deadline) {
            std::lock_guard lock(print_mutex);
            fmt::print(stderr, "[{:7.1f}s] {} messages verified, {} problems\n", Seconds(Clock::now() - t0).count(),
                       progress.messages.load(), progress.problems.load());
            next_report += std::chrono::duration_cast<Clock::duration>(report_every);
        }
    }
    for (auto& d : drivers) d.join();

    for (std::size_t i = 0; i < specs.size(); ++i) {
        if (!procs[i]) continue;
        auto& r = result.servers[i];
        r.exit_code = procs[i]->stop();
        if (r.exit_code != 0 && !r.exited_early) {
            std::string err = procs[i]->stderr_text();
            while (!err.empty() && err.back() == '\n') err.pop_back();
            r.problems.push_back(fmt::format("{}: exited with {} on SIGTERM: {}", r.name, r.exit_code,
                                             err.substr(err.rfind('\n') + 1)));
        }
    }
    result.elapsed = Seconds(Clock::now() - t0).count();
    result.client_cpu_seconds = own_cpu_seconds() - cpu0;
    return result;
}

void print_table(const SoakResult& r, std::FILE* out) {
    fmt::print(out, "{:<18} {:>9} {:>9} {:>5} {:>5} {:>9} {:>22} {:>9} {:>7}  {}\n", "server", "messages", "MiB",
               "fail", "err", "fds s/e", "memory KiB s/e/max", "thr s/e", "CPU s", "verdict");
    double server_cpu = 0;
    for (const auto& s : r.servers) {
        LoadCounts t = s.total();
        server_cpu += s.cpu_seconds;
        if (!s.start_error.empty()) {
            fmt::print(out, "{:<18} {}\n", s.name, verdict(s));
            continue;
        }
        fmt::print(out, "{:<18} {:>9} {:>9.1f} {:>5} {:>5} {:>9} {:>22} {:>9} {:>7.1f}  {}\n", s.name, t.messages,
                   double(t.bytes) / (1 << 20), t.failures, t.errors,
                   fmt::format("{}/{}", figure(descriptors(s.start)), figure(descriptors(s.end))),
                   fmt::format("{}/{}/{}", figure(s.start.memory_kib), figure(s.end.memory_kib), figure(s.max.memory_kib)),
                   fmt::format("{}/{}", figure(s.start.threads), figure(s.end.threads)), s.cpu_seconds, verdict(s));
    }
    fmt::print(out, "\nfail: echoes that came back with different bytes; err: connection errors the soak did not "
                    "cause (refused, reset, EOF or timeout mid-echo).\n");
    fmt::print(out, "{}.\n", kFlatRule);
    fmt::print(out, "start: after the warm-up (a tenth of the run, at most 10 s), no soak connection open; end: every "
                    "soak connection closed, the server settled; max: every sample (start, end, periodic).\n");
    fmt::print(out, "{:.0f} s soak, {:.0f} s in all: ioclient used {:.1f} s of CPU, the servers {:.1f} s "
                    "(together {:.0f} % of one core).\n",
               r.duration, r.elapsed, r.client_cpu_seconds, server_cpu,
               r.elapsed > 0 ? 100 * (r.client_cpu_seconds + server_cpu) / r.elapsed : 0.0);
    std::vector<std::string> problems;
    for (const auto& s : r.servers)
        for (const auto& p : s.problems) problems.push_back(p);
    if (!problems.empty()) fmt::print(out, "\nproblems (the first {} per server):\n  {}\n", kKeptProblems,
                                      join(problems, "\n  "));
    fmt::print(out, "\n{}\n", passed(r) ? "PASS: every server correct, flat, and stopped cleanly"
                                        : "FAIL: see the verdict column");
}

std::string to_json(const SoakResult& r) {
    Json servers = Json::array();
    for (const auto& s : r.servers) {
        Json loads = Json::object();
        for (std::size_t i = 0; i < s.loads.size(); ++i)
            loads[kLoadNames[i]] = {{"messages", s.loads[i].messages}, {"bytes", s.loads[i].bytes},
                                    {"failures", s.loads[i].failures}, {"errors", s.loads[i].errors}};
        LoadCounts t = s.total();
        servers.push_back(Json{{"name", s.name},
                               {"traits", s.traits},
                               {"args", s.args},
                               {"messages", t.messages},
                               {"bytes", t.bytes},
                               {"failures", t.failures},
                               {"errors", t.errors},
                               {"loads", loads},
                               {"start", json_sample(s.start)},
                               {"end", json_sample(s.end)},
                               {"max", json_sample(s.max)},
                               {"memory_bound_kib", memory_bound_kib(s.start.memory_kib)},
                               {"flat", s.start_error.empty() && flatness(s.start, s.end).empty()},
                               {"cpu_seconds", rounded(s.cpu_seconds, 2)},
                               {"exit_code", s.exit_code},
                               {"exited_early", s.exited_early},
                               {"start_error", s.start_error.empty() ? Json() : Json(s.start_error)},
                               {"verdict", verdict(s)},
                               {"problems", s.problems}});
    }
    return json_document(Json{{"command_line", r.command_line},
                              {"date", r.date},
                              {"duration", r.duration},
                              {"elapsed", rounded(r.elapsed, 1)},
                              {"client_cpu_seconds", rounded(r.client_cpu_seconds, 2)},
                              {"rule", kFlatRule},
                              {"passed", passed(r)},
                              {"servers", servers}});
}

CLI::App* add_soak_command(CLI::App& app, SoakOptions& opt) {
    auto* cmd = app.add_subcommand(
        "soak", "Start every server at once and drive each with a mixed, verified, rate-bounded load for a set "
                "time (ping-pong 1 B-64 KiB on long-lived connections, churn, half-close, reset mid-transfer, "
                "1 MiB duplex, idle connections); report descriptors and memory at start and end. Exit 0 only if "
                "every server had no failure, stayed flat and exited 0 on SIGTERM. " +
                    std::string(kFlatRule) + ".");
    cmd->add_option("-d,--duration", opt.duration,
                    "Seconds of load, every server at the same time; the first tenth (at most 10 s) is a warm-up, "
                    "before the start sample")
        ->capture_default_str()
        ->check(CLI::Range(1.0, 86400.0))
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);  // scripts/soak.sh "$@" may override
    cmd->add_option("--servers", opt.servers, "Only these servers, comma-separated (names from servers.txt)")
        ->delimiter(',');
    cmd->add_option("--bin-dir", opt.bin_dir, "Where servers.txt and the servers are (default: next to ioclient)")
        ->check(CLI::ExistingDirectory);
    cmd->add_option("--json", opt.json_file, "Also write the results as JSON to this file")
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
    return cmd;
}

int soak_main(SoakOptions opt, int argc, char** argv) {
    opt.command_line = command_line(argc, argv);
    if (opt.bin_dir.empty()) opt.bin_dir = program_dir();
    // Bad option values are said before the soak starts, not after ten minutes.
    if (!opt.json_file.empty() && !std::ofstream(opt.json_file, std::ios::app)) {
        fmt::print(stderr, "ioclient soak: --json: cannot write {}: {}\n", opt.json_file, std::strerror(errno));
        return 2;
    }
    SoakResult result;
    try {
        result = run_soak(opt);
    } catch (const std::invalid_argument& e) {
        fmt::print(stderr, "ioclient soak: {}\n", e.what());
        return 2;
    }
    print_table(result, stdout);
    if (!opt.json_file.empty()) {
        std::ofstream(opt.json_file) << to_json(result);
        fmt::print("json: {}\n", opt.json_file);
    }
    return passed(result) ? 0 : 1;
}

}  // namespace iom::client
