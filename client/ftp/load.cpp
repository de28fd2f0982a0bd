#include "client/ftp/load.hpp"

#include "client/ftp/client.hpp"
#include "client/ftp/sha256.hpp"
#include "common/json.hpp"

#include <fmt/format.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <memory>
#include <mutex>
#include <thread>

namespace iom::client::ftp {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

// What every session does, decided before they start.
struct Plan {
    Url url;
    ClientOptions client;
    std::string file;           // the remote path of --get ("" if none)
    std::uint64_t file_size = 0;
    std::string sha256;
    std::uint64_t put = 0;
    std::string upload_dir;     // where the uploads go, ending in '/'
    Clock::time_point t0, deadline;
};

enum class Phase { login, get, put, read_back, done, failed };
constexpr const char* kPhaseNames[] = {"login", "get", "put", "check", "done", "FAILED"};

// One session's progress: written by its thread, read by the drawing thread.
struct Live {
    std::atomic<Phase> phase{Phase::login};
    std::atomic<std::uint64_t> op_total{0}, op_done{0}, bytes{0};
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

class Session {
public:
    Session(const Plan& plan, unsigned id, Live& live) : plan_(plan), id_(id), live_(live) { result.id = id; }

    void run() {
        try {
            Client c = Client::login(plan_.url, plan_.client);
            const auto t0 = Clock::now();
            for (unsigned round = 0;; ++round) {
                if (!plan_.file.empty()) download(c);
                if (plan_.put) upload(c, round);
                if (Clock::now() >= plan_.deadline) break;
            }
            result.seconds = since(t0);
            c.quit();
        } catch (const std::exception& e) {
            fail(e.what());
        }
        live_.phase = result.failures ? Phase::failed : Phase::done;
    }

    SessionResult result;

private:
    void start(Phase phase, std::uint64_t total) {
        live_.op_done = 0;
        live_.op_total = total;
        live_.phase = phase;
    }
    void moved(std::size_t n) {
        live_.op_done += n;
        live_.bytes += n;
        result.bytes += n;
    }
    void fail(const std::string& why) {
        ++result.failures;
        if (result.error.empty()) result.error = why;
    }

    void download(Client& c) {
        start(Phase::get, plan_.file_size);
        Sha256 hash;
        std::uint64_t got = c.retrieve(plan_.file, 0, [&](std::string_view bytes) {
            hash.update(bytes);
            moved(bytes.size());
        });
        std::string sha = hash.hex();
        if (got != plan_.file_size)
            fail(fmt::format("get {}: {} bytes, expected {}", plan_.file, got, plan_.file_size));
        else if (sha != plan_.sha256)
            fail(fmt::format("get {}: SHA-256 {}, expected {}", plan_.file, sha, plan_.sha256));
        else
            ++result.downloads;
    }

    void upload(Client& c, unsigned round) {
        const std::string path = fmt::format("{}ioclient-load-{}-{}.bin", plan_.upload_dir, getpid(), id_);
        const std::uint64_t seed = mix((static_cast<std::uint64_t>(getpid()) << 40) ^ (std::uint64_t{id_} << 20) ^ round);
        start(Phase::put, plan_.put);
        std::uint64_t at = 0;
        c.store("STOR", path, 0, [&](char* buf, std::size_t n) {
            n = static_cast<std::size_t>(std::min<std::uint64_t>(n, plan_.put - at));
            fill_upload_bytes(buf, n, seed, at);
            at += n;
            moved(n);
            return n;
        });
        // Read it back, comparing each block with the bytes that were sent.
        start(Phase::read_back, plan_.put);
        std::uint64_t back = 0, first_wrong = UINT64_MAX;
        std::string expected;
        c.retrieve(path, 0, [&](std::string_view bytes) {
            expected.resize(bytes.size());
            fill_upload_bytes(expected.data(), bytes.size(), seed, back);
            if (first_wrong == UINT64_MAX && back + bytes.size() <= plan_.put && expected != bytes) first_wrong = back;
            back += bytes.size();
            moved(bytes.size());
        });
        c.expect("DELE " + path, 2);
        if (back != plan_.put)
            fail(fmt::format("put {}: {} bytes read back, {} sent", path, back, plan_.put));
        else if (first_wrong != UINT64_MAX)
            fail(fmt::format("put {}: the bytes read back differ from those sent, in the block at {}", path,
                             first_wrong));
        else
            ++result.uploads;
    }

    const Plan& plan_;
    unsigned id_;
    Live& live_;
};

// Log in once before the sessions start: a bad URL or password, or a FILE
// that is not there, is one clear error instead of N. Learn FILE's size and
// the SHA-256 to check downloads against.
Plan make_plan(const LoadOptions& opt, LoadResult& r) {
    Plan p;
    p.url = parse_url(opt.url);
    p.client = {std::chrono::milliseconds(static_cast<long>(opt.timeout * 1000)), !opt.pasv};
    p.put = opt.put;
    p.upload_dir = p.url.path.ends_with('/') ? p.url.path : p.url.path + "/";
    if (!opt.expect_sha256.empty() &&
        (opt.expect_sha256.size() != 64 || opt.expect_sha256.find_first_not_of("0123456789abcdefABCDEF") != std::string::npos))
        throw std::invalid_argument("--expect-sha256: not 64 hex digits");

    Client c = Client::login(p.url, p.client);
    if (!opt.get.empty()) {
        p.file = opt.get.starts_with('/') ? opt.get : p.upload_dir + opt.get;
        auto size = c.size(p.file);
        if (!size) throw std::runtime_error(fmt::format("--get {}: the server has no such file", p.file));
        p.file_size = *size;
        if (!opt.expect_sha256.empty()) {
            p.sha256 = opt.expect_sha256;
            std::transform(p.sha256.begin(), p.sha256.end(), p.sha256.begin(),
                           [](char ch) { return static_cast<char>(std::tolower(ch)); });
            r.sha256_source = "given";
        } else if (!opt.local_root.empty()) {
            p.sha256 = sha256_of_file(opt.local_root + p.file);
            r.sha256_source = "local copy";
        } else {
            Sha256 h;
            std::uint64_t got = c.retrieve(p.file, 0, [&](std::string_view b) { h.update(b); });
            if (got != p.file_size)
                throw std::runtime_error(fmt::format("--get {}: the first download brought {} bytes, SIZE says {}",
                                                     p.file, got, p.file_size));
            p.sha256 = h.hex();
            r.sha256_source = "first download";
        }
    }
    c.quit();
    r.url = p.url.to_string();
    r.file = p.file;
    r.file_size = p.file_size;
    r.sha256 = p.sha256;
    r.put = p.put;
    return p;
}

// The bars: a line per session (as many as the terminal has rows for) and
// the total; in line mode only the total. The rates are windowed: `rates`
// holds one window per session and one for the total, fed each frame.
std::vector<std::string> frame_lines(const LoadOptions& opt, const Plan& plan, const std::vector<Live>& live,
                                     std::vector<RateWindow>& rates, double now, bool in_place) {
    std::vector<std::string> lines;
    const std::size_t width = in_place ? terminal_width(STDERR_FILENO) - 1 : 72;
    std::size_t rows = 24;
    if (winsize ws{}; in_place && ioctl(STDERR_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2) rows = ws.ws_row;
    const std::size_t shown = in_place ? std::min(live.size(), rows - 2) : 0;
    const int digits = static_cast<int>(std::to_string(live.size()).size());
    std::uint64_t bytes = 0;
    for (std::size_t i = 0; i < live.size(); ++i) {
        const Live& l = live[i];
        bytes += l.bytes;
        rates[i].add(now, l.bytes);
        if (i >= shown) continue;
        ProgressBar bar(fmt::format("s{:0{}} {:<6}", i + 1, digits, kPhaseNames[static_cast<int>(l.phase.load())]),
                        l.op_total, width);
        lines.push_back(bar.line(l.op_done, rates[i].rate()));
    }
    if (shown < live.size() && in_place) lines.push_back(fmt::format("... and {} more sessions", live.size() - shown));
    const std::uint64_t total = opt.duration > 0 ? 0 : live.size() * (plan.file_size + 2 * plan.put);
    rates.back().add(now, bytes);
    lines.push_back(ProgressBar(fmt::format("total {} sessions", live.size()), total, width).line(bytes, rates.back().rate()));
    return lines;
}

}  // namespace

void fill_upload_bytes(char* buf, std::size_t n, std::uint64_t seed, std::uint64_t offset) {
    for (std::size_t i = 0; i < n;) {
        std::uint64_t word = mix(seed + (offset + i) / 8);
        for (unsigned k = (offset + i) % 8; k < 8 && i < n; ++k, ++i) buf[i] = static_cast<char>(word >> (8 * k));
    }
}

double LoadResult::aggregate_rate() const { return seconds > 0 ? static_cast<double>(bytes) / seconds : 0; }

double LoadResult::session_rate_mean() const {
    double sum = 0;
    for (const auto& s : per_session) sum += s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0;
    return per_session.empty() ? 0 : sum / static_cast<double>(per_session.size());
}

LoadResult run_load(const LoadOptions& opt) {
    LoadResult r;
    r.sessions = opt.sessions;
    Plan plan = make_plan(opt, r);
    plan.t0 = Clock::now();
    plan.deadline = plan.t0 + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opt.duration));

    std::vector<Live> live(opt.sessions);
    std::vector<std::unique_ptr<Session>> sessions;
    std::mutex m;
    std::condition_variable cv;
    unsigned finished = 0;
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < opt.sessions; ++i) {
        sessions.push_back(std::make_unique<Session>(plan, i + 1, live[i]));
        threads.emplace_back([&, s = sessions.back().get()] {
            s->run();
            std::lock_guard lock(m);
            ++finished;
            cv.notify_one();
        });
    }

    // Draw until every session is over: the wait ends early when the last
    // one finishes, so the timeout only paces the frames.
    const ProgressMode mode = resolve(opt.progress);
    ProgressPrinter printer(mode == ProgressMode::bar, 2.0);
    std::vector<RateWindow> rates(opt.sessions + 1);
    for (auto& w : rates) w.add(0, 0);
    for (bool all = false; !all;) {
        {
            std::unique_lock lock(m);
            all = cv.wait_for(lock, std::chrono::milliseconds(mode == ProgressMode::bar ? 100 : 500),
                              [&] { return finished == opt.sessions; });
        }
        if (mode == ProgressMode::none) continue;
        std::string out = printer.frame(frame_lines(opt, plan, live, rates, since(plan.t0), mode == ProgressMode::bar),
                                        since(plan.t0), all);
        std::fwrite(out.data(), 1, out.size(), stderr);
        std::fflush(stderr);
    }
    for (auto& t : threads) t.join();
    r.seconds = since(plan.t0);
    for (const auto& s : sessions) {
        r.per_session.push_back(s->result);
        r.bytes += s->result.bytes;
        r.downloads += s->result.downloads;
        r.uploads += s->result.uploads;
        r.failures += s->result.failures;
    }
    return r;
}

std::string to_text(const LoadResult& r) {
    std::string out = fmt::format("ftp load {}: {} sessions, {:.2f} s\n", r.url, r.sessions, r.seconds);
    if (!r.file.empty())
        out += fmt::format("  downloads  {} verified whole ({}, {}, SHA-256 {}... from the {})\n", r.downloads, r.file,
                           format_bytes(r.file_size), r.sha256.substr(0, 16), r.sha256_source);
    if (r.put) out += fmt::format("  uploads    {} verified whole ({} each, read back)\n", r.uploads, format_bytes(r.put));
    double lo = 0, hi = 0;
    for (std::size_t i = 0; i < r.per_session.size(); ++i) {
        const auto& s = r.per_session[i];
        double rate = s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0;
        lo = i == 0 ? rate : std::min(lo, rate);
        hi = std::max(hi, rate);
    }
    out += fmt::format("  moved      {}, {} in all\n", format_bytes(r.bytes), format_rate(r.aggregate_rate()));
    out += fmt::format("  a session  {} mean ({} min, {} max)\n", format_rate(r.session_rate_mean()), format_rate(lo),
                       format_rate(hi));
    out += fmt::format("  failures   {}\n", r.failures);
    for (const auto& s : r.per_session)
        if (!s.error.empty()) out += fmt::format("  session {}: {}\n", s.id, s.error);
    return out;
}

std::string to_json(const LoadResult& r) {
    Json sessions = Json::array();
    for (const auto& s : r.per_session)
        sessions.push_back({{"id", s.id},
                            {"bytes", s.bytes},
                            {"seconds", s.seconds},
                            {"bytes_per_second", s.seconds > 0 ? static_cast<double>(s.bytes) / s.seconds : 0},
                            {"downloads", s.downloads},
                            {"uploads", s.uploads},
                            {"failures", s.failures},
                            {"error", s.error}});
    Json j = {{"url", r.url},
                        {"sessions", r.sessions},
                        {"file", r.file},
                        {"file_size", r.file_size},
                        {"sha256", r.sha256},
                        {"sha256_source", r.sha256_source},
                        {"put", r.put},
                        {"seconds", r.seconds},
                        {"bytes", r.bytes},
                        {"bytes_per_second", r.aggregate_rate()},
                        {"session_bytes_per_second_mean", r.session_rate_mean()},
                        {"downloads", r.downloads},
                        {"uploads", r.uploads},
                        {"failures", r.failures},
                        {"per_session", sessions}};
    return json_line(j) + "\n";
}

}  // namespace iom::client::ftp
