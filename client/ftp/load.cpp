// ioclient ftp load: the plan, made once before the clients start; the one
// epoll loop that runs every client (load_client.*: one FTP session each);
// the bars it draws between waits. The report is in load_report.cpp.
#include "client/ftp/load.hpp"

#include "client/ftp/client.hpp"
#include "client/ftp/digest.hpp"
#include "client/ftp/load_client.hpp"
#include "common/error.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <memory>

namespace iom::client::ftp {

namespace {

using Clock = LoadClock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// Log in once before the sessions start: a bad URL or password, or a FILE
// that is not there, is one clear error instead of N. Learn FILE's size and
// the digests of the reference copy every download is compared with: the
// local copy under --local-root, else one download made now. With
// --expect-sha256 that copy must have that SHA-256, or nothing starts.
LoadPlan make_plan(const LoadOptions& opt, LoadResult& r) {
    LoadPlan p;
    p.url = parse_url(opt.url);
    p.client = {std::chrono::milliseconds(static_cast<long>(opt.timeout * 1000)), !opt.pasv, make_tls(opt.tls)};
    p.put = opt.put;
    p.upload_dir = p.url.path.ends_with('/') ? p.url.path : p.url.path + "/";
    std::string expected = opt.expect_sha256;
    if (!expected.empty() &&
        (expected.size() != 64 || expected.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos))
        throw std::invalid_argument("--expect-sha256: not 64 hex digits");
    std::transform(expected.begin(), expected.end(), expected.begin(),
                   [](char ch) { return static_cast<char>(std::tolower(ch)); });

    Client c = Client::login(p.url, p.client);
    p.server = c.peer();
    if (!opt.get.empty()) {
        p.file = opt.get.starts_with('/') ? opt.get : p.upload_dir + opt.get;
        auto size = c.size(p.file);
        if (!size) throw std::runtime_error(fmt::format("--get {}: the server has no such file", p.file));
        p.file_size = *size;
        Digests d;
        if (!opt.local_root.empty()) {
            d = digests_of_file(opt.local_root + p.file);
            r.sha256_source = "local copy";
        } else {
            BothDigests h;
            std::uint64_t got = c.retrieve(p.file, 0, [&](std::string_view b) { h.update(b); });
            if (got != p.file_size)
                throw std::runtime_error(fmt::format("--get {}: the first download brought {} bytes, SIZE says {}",
                                                     p.file, got, p.file_size));
            d = h.done();
            r.sha256_source = "first download";
        }
        if (!expected.empty() && d.sha256 != expected)
            throw std::runtime_error(fmt::format("--get {}: the {} has SHA-256 {}, not the {} of --expect-sha256",
                                                 p.file, r.sha256_source, d.sha256, expected));
        if (!expected.empty()) r.sha256_source = "given, and the " + r.sha256_source + " has it";
        p.sha256 = d.sha256;
        p.xxh128 = d.xxh128;
    }
    c.quit();
    r.url = p.url.to_string();
    r.file = p.file;
    r.file_size = p.file_size;
    r.sha256 = p.sha256;
    r.xxh128 = p.xxh128;
    r.put = p.put;
    return p;
}

// The bars: a line per client (as many as the terminal has rows for) and
// the total; in line mode only the total. The rates are windowed: `rates`
// holds one window per client and one for the total, fed each frame.
std::vector<std::string> frame_lines(const LoadOptions& opt, const LoadPlan& plan,
                                     const std::vector<LiveProgress>& live, std::vector<RateWindow>& rates, double now,
                                     bool in_place) {
    std::vector<std::string> lines;
    const std::size_t width = in_place ? terminal_width(STDERR_FILENO) - 1 : 72;
    std::size_t rows = 24;
    if (winsize ws{}; in_place && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2) rows = ws.ws_row;
    const std::size_t shown = in_place ? std::min(live.size(), rows - 2) : 0;
    const int digits = static_cast<int>(std::to_string(live.size()).size());
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < live.size(); ++i) {
        const LiveProgress& l = live[i];
        bytes += l.bytes;
        rates[i].add(now, l.bytes);
        if (i >= shown) continue;
        ProgressBar bar(fmt::format("s{:0{}} {:<6}", i + 1, digits, phase_name(l.phase)), l.op_total, width);
        lines.push_back(bar.line(l.op_done, rates[i].rate()));
    }
    if (shown < live.size() && in_place) lines.push_back(fmt::format("... and {} more sessions", live.size() - shown));
    rates.back().add(now, bytes);
    if (opt.duration > 0) {  // the total fills by time: the bytes to come are not known
        ProgressBar bar(fmt::format("total {} sessions", live.size()), 0, width);
        lines.push_back(bar.timed_line(bytes, rates.back().rate(), now, opt.duration));
    } else {
        ProgressBar bar(fmt::format("total {} sessions", live.size()), live.size() * (plan.file_size + 2 * plan.put),
                        width);
        lines.push_back(bar.line(bytes, rates.back().rate()));
    }
    return lines;
}

}  // namespace

LoadResult run_load(const LoadOptions& opt) {
    LoadResult r;
    r.sessions = opt.sessions;
    LoadPlan plan = make_plan(opt, r);
    plan.t0 = Clock::now();
    plan.deadline = plan.t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration));

    // One loop for every client: the load waits in one epoll_wait, as the
    // servers it loads do, and a thousand sessions cost no threads.
    Fd ep(epoll_create1(EPOLL_CLOEXEC));
    if (!ep) throw_sys("epoll_create1");
    LoadBuffers buffers;
    std::vector<LiveProgress> live(opt.sessions);
    std::vector<std::unique_ptr<LoadClient>> clients;
    std::size_t running = 0;  // clients not over yet
    for (unsigned i = 0; i < opt.sessions; ++i) {
        clients.push_back(std::make_unique<LoadClient>(plan, round_of(plan, i), i, ep.get(), buffers, live[i]));
        clients.back()->start();
        running += !clients.back()->over();
    }

    // Frames are drawn between waits: the wait's timeout paces them.
    const ProgressMode mode = resolve(opt.progress);
    const int tick_ms = mode == ProgressMode::bar ? 100 : 500;
    ProgressPrinter printer(mode == ProgressMode::bar, 2.0);
    std::vector<RateWindow> rates(opt.sessions + 1);
    for (auto& w : rates) w.add(0, 0);
    auto next_frame = Clock::now();
    std::vector<epoll_event> events(256);
    InterruptGuard ctrl_c;  // Ctrl-C: the last frame over the ^C, a newline, then the signal's own exit
    for (bool all = false; !all;) {
        int n = epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), tick_ms);
        if (n < 0 && errno != EINTR) throw_sys("epoll_wait");
        if (ctrl_c.requested()) {
            if (mode != ProgressMode::none) {
                std::string out = printer.frame(
                    frame_lines(opt, plan, live, rates, since(plan.t0), mode == ProgressMode::bar), since(plan.t0), true);
                std::fwrite(out.data(), 1, out.size(), stderr);
            }
            ctrl_c.exit_by_the_signal();
        }
        for (int i = 0; i < n; ++i) {
            LoadClient& c = *clients[events[i].data.u64 >> 1];
            bool was_over = c.over();
            c.on_event(events[i].data.u64 & 1, events[i].events);
            if (c.over() && !was_over) --running;
        }
        const auto now = Clock::now();
        all = running == 0;
        if (now < next_frame && !all) continue;
        // Once a tick: the clients that have waited too long, and a frame.
        for (auto& c : clients) {
            bool was_over = c->over();
            c->check_stall(now);
            if (c->over() && !was_over) --running;
        }
        all = running == 0;
        next_frame = now + std::chrono::milliseconds(tick_ms);
        if (mode == ProgressMode::none) continue;
        std::string out = printer.frame(frame_lines(opt, plan, live, rates, since(plan.t0), mode == ProgressMode::bar),
                                        since(plan.t0), all);
        std::fwrite(out.data(), 1, out.size(), stderr);
        std::fflush(stderr);
    }
    r.seconds = since(plan.t0);
    for (const auto& c : clients) {
        r.per_session.push_back(c->result);
        r.bytes += c->result.bytes;
        r.downloads += c->result.downloads;
        r.uploads += c->result.uploads;
        r.failures += c->result.failures;
    }
    return r;
}

}  // namespace iom::client::ftp
