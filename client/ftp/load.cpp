#include "client/ftp/load.hpp"

#include "client/ftp/client.hpp"
#include "client/ftp/digest.hpp"
#include "client/lib/connection.hpp"
#include "common/error.hpp"
#include "common/json.hpp"

#include <fmt/format.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cstring>
#include <memory>

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
    std::string sha256, xxh128;  // of the copy every download is compared with
    std::uint64_t put = 0;
    std::string upload_dir;     // where the uploads go, ending in '/'
    Address server;             // the control connection's address, resolved once
    Clock::time_point t0, deadline;
};

enum class Phase { login, get, put, read_back, done, failed };
constexpr const char* kPhaseNames[] = {"login", "get", "put", "check", "done", "FAILED"};

// One session's progress, as the bars show it.
struct Live {
    Phase phase = Phase::login;
    std::uint64_t op_total = 0, op_done = 0, bytes = 0;
};

// The loop's buffers, shared by every session (one runs at a time): what
// a recv brings, and the upload bytes a read-back is compared with.
struct Scratch {
    std::vector<char> in = std::vector<char>(256 * 1024), expected = std::vector<char>(256 * 1024);
};

std::uint64_t mix(std::uint64_t x) {  // splitmix64's finaliser
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

// One session, driven by the loop: a control connection and, during a
// transfer, a data connection, both non-blocking. Every reply moves it one
// step on, as the blocking client's calls would, in this order:
//   connect, greeting, USER, PASS, TYPE I, then each round:
//   [EPSV, connect data, RETR FILE]  [EPSV, connect data, STOR up]
//   [EPSV, connect data, RETR up]  [DELE up]   ...and QUIT after the last.
// A transfer is over when the data connection has ended *and* its final
// reply has come, in either order.
class Session {
public:
    // Events for this session carry its index, and 1 for the data connection.
    Session(const Plan& plan, unsigned index, int epoll_fd, Scratch& scratch, Live& live)
        : plan_(plan), index_(index), ep_(epoll_fd), scratch_(scratch), live_(live), epsv_(plan.client.epsv) {
        result.id = index + 1;
        if (!plan.file.empty()) todo_.push_back(Op::get);
        if (plan.put) todo_.insert(todo_.end(), {Op::put, Op::read_back, Op::dele});
        upload_path_ = fmt::format("{}ioclient-load-{}-{}.bin", plan.upload_dir, getpid(), result.id);
    }

    void start() {
        started_ = Clock::now();
        last_progress_ = started_;
        try {
            ctl_ = start_connect(plan_.server);
            watch(ctl_, false, EPOLLOUT, EPOLL_CTL_ADD);
        } catch (const std::exception& e) {
            fail(e.what());
        }
    }

    void on_event(bool data, std::uint32_t events) {
        if (over_) return;
        try {
            if (data) on_data(events);
            else on_control(events);
        } catch (const std::exception& e) {
            fail(e.what());
        }
    }

    // A session that has heard nothing for --timeout has failed.
    void check_stall(Clock::time_point now) {
        if (!over_ && now - last_progress_ > plan_.client.timeout)
            fail(fmt::format("nothing from the server for {} ms (waiting in {})", plan_.client.timeout.count(),
                             kStateNames[static_cast<int>(state_)]));
    }

    bool over() const { return over_; }
    SessionResult result;

private:
    enum class State { connecting, greeting, user, pass, type, passive, data_connecting, transfer, dele, quit };
    static constexpr const char* kStateNames[] = {"connect", "greeting", "USER", "PASS", "TYPE", "EPSV/PASV",
                                                  "data connect", "transfer", "DELE", "QUIT"};
    enum class Op { get, put, read_back, dele };

    void watch(const Fd& fd, bool data, std::uint32_t events, int how) {
        epoll_event ev{};
        ev.events = events;
        ev.data.u64 = std::uint64_t{index_} << 1 | (data ? 1 : 0);
        check_sys(epoll_ctl(ep_, how, fd.get(), &ev), "epoll_ctl");
    }

    // --- the control connection -------------------------------------------

    void on_control(std::uint32_t events) {
        if (state_ == State::connecting) {
            if (int err = connect_result(ctl_.get())) throw_errno(err, "connect " + plan_.server.to_string());
            state_ = State::greeting;
            watch(ctl_, false, EPOLLIN, EPOLL_CTL_MOD);
            return;
        }
        if (events & EPOLLOUT) flush();
        if (!(events & (EPOLLIN | EPOLLHUP | EPOLLERR))) return;
        char buf[4096];
        for (;;) {
            ssize_t n = ::recv(ctl_.get(), buf, sizeof buf, 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n < 0) throw_sys("recv on the control connection");
            if (n == 0) {
                if (state_ == State::quit) return finish();
                throw std::runtime_error("the server closed the control connection");
            }
            parser_.feed(std::string_view(buf, static_cast<std::size_t>(n)));
        }
        while (!over_) {
            auto reply = parser_.next();
            if (!reply) break;
            last_progress_ = Clock::now();
            on_reply(*reply);
        }
    }

    void send(const std::string& line) {
        last_command_ = line;
        out_ += line + "\r\n";
        flush();
    }

    // Commands are a few bytes: they nearly always go at once. What does not
    // waits for EPOLLOUT.
    void flush() {
        while (!out_.empty()) {
            ssize_t n = ::send(ctl_.get(), out_.data(), out_.size(), MSG_NOSIGNAL);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) break;
            if (n < 0) throw_sys("send on the control connection");
            out_.erase(0, static_cast<std::size_t>(n));
        }
        watch(ctl_, false, out_.empty() ? EPOLLIN : EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
    }

    [[noreturn]] void refused(const Reply& r) { throw std::runtime_error(last_command_ + ": " + r.last_line()); }

    void on_reply(const Reply& r) {
        switch (state_) {
        case State::greeting:
            if (r.code == 120) return;  // "ready in a few minutes": another reply follows
            if (r.kind() != 2) refused(r);
            send("USER " + plan_.url.user);
            state_ = State::user;
            return;
        case State::user:
            if (r.kind() == 3) {
                send("PASS " + plan_.url.password);
                state_ = State::pass;
                return;
            }
            [[fallthrough]];  // 230: no password needed
        case State::pass:
            if (r.kind() != 2) refused(r);
            send("TYPE I");
            state_ = State::type;
            return;
        case State::type:
            if (r.kind() != 2) refused(r);
            return next_op();
        case State::passive:
            if (epsv_ && (r.code == 500 || r.code == 502)) {  // no EPSV here: PASV from now on
                epsv_ = false;
                send("PASV");
                return;
            }
            if (auto port = passive_port(r)) {
                data_ = start_connect(with_port(plan_.server, *port));
                watch(data_, true, EPOLLOUT, EPOLL_CTL_ADD);
                state_ = State::data_connecting;
                return;
            }
            refused(r);
        case State::transfer:
            if (r.kind() == 1) {  // 150: the server is at the data connection; an upload may start
                if (op_ == Op::put && data_) watch(data_, true, EPOLLIN | EPOLLOUT, EPOLL_CTL_MOD);
                return;
            }
            if (r.kind() != 2) refused(r);
            final_reply_ = true;
            return transfer_over();
        case State::dele:
            if (r.kind() != 2) refused(r);
            return next_op();
        case State::quit:
            return finish();
        case State::connecting:
        case State::data_connecting:
            refused(r);  // nothing was asked
        }
    }

    // The next operation of the round; after the round, another until the
    // deadline, then QUIT.
    void next_op() {
        if (next_ == todo_.size()) {
            if (Clock::now() >= plan_.deadline) {
                result.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
                send("QUIT");
                state_ = State::quit;
                return;
            }
            next_ = 0;
            ++round_;
        }
        op_ = todo_[next_++];
        if (op_ == Op::dele) {
            send("DELE " + upload_path_);
            state_ = State::dele;
            return;
        }
        moved_ = 0;
        first_wrong_ = UINT64_MAX;
        data_over_ = final_reply_ = false;
        if (op_ != Op::get)  // the upload and its read-back: the same bytes
            seed_ = mix(static_cast<std::uint64_t>(getpid()) << 40 ^ std::uint64_t{index_} << 20 ^ round_);
        live_.phase = op_ == Op::get ? Phase::get : op_ == Op::put ? Phase::put : Phase::read_back;
        live_.op_total = op_ == Op::get ? plan_.file_size : plan_.put;
        live_.op_done = 0;
        send(epsv_ ? "EPSV" : "PASV");
        state_ = State::passive;
    }

    // --- the data connection ----------------------------------------------

    void on_data(std::uint32_t events) {
        if (!data_) return;
        last_progress_ = Clock::now();
        if (state_ == State::data_connecting) {
            if (int err = connect_result(data_.get())) throw_errno(err, "connect the data connection");
            state_ = State::transfer;
            send((op_ == Op::put ? "STOR " : "RETR ") + (op_ == Op::get ? plan_.file : upload_path_));
            // A download reads at once; an upload waits for the 150 (on_reply).
            watch(data_, true, EPOLLIN, EPOLL_CTL_MOD);
            return;
        }
        if (op_ == Op::put && (events & EPOLLOUT)) return send_upload();
        // A download's bytes, or, during an upload, the server ending the
        // data connection early (its reply will say why).
        for (;;) {
            ssize_t n = ::recv(data_.get(), scratch_.in.data(), scratch_.in.size(), 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0 && errno == EAGAIN) return;
            if (n < 0) throw_sys("recv on the data connection");
            if (n == 0) {
                data_.reset();  // closing it also takes it out of the epoll set
                data_over_ = true;
                return transfer_over();
            }
            received(std::string_view(scratch_.in.data(), static_cast<std::size_t>(n)));
        }
    }

    void received(std::string_view bytes) {
        if (op_ == Op::get) {
            hash_.update(bytes);  // XXH3-128: memory speed (client/ftp/digest.hpp says why not SHA-256)
        } else if (op_ == Op::read_back) {
            fill_upload_bytes(scratch_.expected.data(), bytes.size(), seed_, moved_);
            if (first_wrong_ == UINT64_MAX && std::memcmp(scratch_.expected.data(), bytes.data(), bytes.size()) != 0)
                first_wrong_ = moved_;
        }
        count(bytes.size());
    }

    void count(std::size_t n) {
        moved_ += n;
        live_.op_done += n;
        live_.bytes += n;
        result.bytes += n;
    }

    // Upload bytes are made a block at a time, as the socket takes them,
    // from their offset: what a send leaves is made again for the next, so
    // a session keeps no buffer of its own.
    void send_upload() {
        for (;;) {
            if (moved_ == plan_.put) {
                data_.reset();  // the end of the file is the end of the data connection
                data_over_ = true;
                return transfer_over();
            }
            auto n = static_cast<std::size_t>(std::min<std::uint64_t>(scratch_.in.size(), plan_.put - moved_));
            fill_upload_bytes(scratch_.in.data(), n, seed_, moved_);
            ssize_t sent = ::send(data_.get(), scratch_.in.data(), n, MSG_NOSIGNAL);
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0 && errno == EAGAIN) return;
            if (sent < 0) throw_sys("send on the data connection of {}", upload_path_);
            count(static_cast<std::size_t>(sent));
        }
    }

    // Both ends of a transfer seen: check its bytes, and go on.
    void transfer_over() {
        if (!data_over_ || !final_reply_) return;
        if (op_ == Op::get) {
            std::string xxh = hash_.hex();
            if (moved_ != plan_.file_size)
                note_failure(fmt::format("get {}: {} bytes, expected {}", plan_.file, moved_, plan_.file_size));
            else if (xxh != plan_.xxh128)
                note_failure(fmt::format("get {}: other bytes than the reference copy (XXH3-128 {}, expected {})",
                                         plan_.file, xxh, plan_.xxh128));
            else
                ++result.downloads;
        } else if (op_ == Op::put) {
            if (moved_ != plan_.put)
                note_failure(fmt::format("put {}: {} bytes sent of {}", upload_path_, moved_, plan_.put));
        } else if (moved_ != plan_.put) {
            note_failure(fmt::format("put {}: {} bytes read back, {} sent", upload_path_, moved_, plan_.put));
        } else if (first_wrong_ != UINT64_MAX) {
            note_failure(fmt::format("put {}: the bytes read back differ from those sent, from the block at {}",
                                     upload_path_, first_wrong_));
        } else {
            ++result.uploads;
        }
        next_op();
    }

    // --- the end ----------------------------------------------------------

    void note_failure(const std::string& why) {
        ++result.failures;
        if (result.error.empty()) result.error = why;
    }

    void fail(const std::string& why) {
        note_failure(why);
        if (result.seconds == 0) result.seconds = std::chrono::duration<double>(Clock::now() - started_).count();
        finish();
    }

    void finish() {
        data_.reset();
        ctl_.reset();
        over_ = true;
        live_.phase = result.failures ? Phase::failed : Phase::done;
    }

    const Plan& plan_;
    unsigned index_;
    int ep_;
    Scratch& scratch_;
    Live& live_;
    bool epsv_;
    std::vector<Op> todo_;
    std::size_t next_ = 0;
    unsigned round_ = 0;
    std::string upload_path_;

    Fd ctl_, data_;
    ReplyParser parser_;
    std::string out_, last_command_;
    State state_ = State::connecting;
    Op op_ = Op::get;
    bool data_over_ = false, final_reply_ = false, over_ = false;
    std::uint64_t moved_ = 0, seed_ = 0, first_wrong_ = UINT64_MAX;
    Xxh128 hash_;
    Clock::time_point started_, last_progress_;
};

// Log in once before the sessions start: a bad URL or password, or a FILE
// that is not there, is one clear error instead of N. Learn FILE's size and
// the digests of the reference copy every download is compared with: the
// local copy under --local-root, else one download made now. With
// --expect-sha256 that copy must have that SHA-256, or nothing starts.
Plan make_plan(const LoadOptions& opt, LoadResult& r) {
    Plan p;
    p.url = parse_url(opt.url);
    p.client = {std::chrono::milliseconds(static_cast<long>(opt.timeout * 1000)), !opt.pasv};
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
        ProgressBar bar(fmt::format("s{:0{}} {:<6}", i + 1, digits, kPhaseNames[static_cast<int>(l.phase)]),
                        l.op_total, width);
        lines.push_back(bar.line(l.op_done, rates[i].rate()));
    }
    if (shown < live.size() && in_place) lines.push_back(fmt::format("... and {} more sessions", live.size() - shown));
    const std::uint64_t total = opt.duration > 0 ? 0 : live.size() * (plan.file_size + 2 * plan.put);
    rates.back().add(now, bytes);
    ProgressBar bar(fmt::format("total {} sessions", live.size()), total, width);
    lines.push_back(bar.line(bytes, rates.back().rate()));
    return lines;
}

}  // namespace

void fill_upload_bytes(char* buf, std::size_t n, std::uint64_t seed, std::uint64_t offset) {
    // Byte k of word w is bits 8k..8k+7 of mix(seed + w): the words whole
    // are copied as they are (on this little-endian machine the same
    // bytes), the ends byte by byte.
    static_assert(std::endian::native == std::endian::little);
    std::size_t i = 0;
    auto one_byte = [&] {
        buf[i] = static_cast<char>(mix(seed + (offset + i) / 8) >> (8 * ((offset + i) % 8)));
        ++i;
    };
    while (i < n && (offset + i) % 8 != 0) one_byte();
    for (; i + 8 <= n; i += 8) {
        std::uint64_t word = mix(seed + (offset + i) / 8);
        std::memcpy(buf + i, &word, 8);
    }
    while (i < n) one_byte();
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

    // One loop for every session: the client waits in one epoll_wait, as
    // the servers it loads do, and a thousand sessions cost no threads.
    Fd ep(epoll_create1(EPOLL_CLOEXEC));
    if (!ep) throw_sys("epoll_create1");
    Scratch scratch;
    std::vector<Live> live(opt.sessions);
    std::vector<std::unique_ptr<Session>> sessions;
    std::size_t running = 0;  // sessions not over yet
    for (unsigned i = 0; i < opt.sessions; ++i) {
        sessions.push_back(std::make_unique<Session>(plan, i, ep.get(), scratch, live[i]));
        sessions.back()->start();
        running += !sessions.back()->over();
    }

    // Frames are drawn between waits: the wait's timeout paces them.
    const ProgressMode mode = resolve(opt.progress);
    const int tick_ms = mode == ProgressMode::bar ? 100 : 500;
    ProgressPrinter printer(mode == ProgressMode::bar, 2.0);
    std::vector<RateWindow> rates(opt.sessions + 1);
    for (auto& w : rates) w.add(0, 0);
    auto next_frame = Clock::now();
    std::vector<epoll_event> events(256);
    for (bool all = false; !all;) {
        int n = epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), tick_ms);
        if (n < 0 && errno != EINTR) throw_sys("epoll_wait");
        for (int i = 0; i < n; ++i) {
            Session& s = *sessions[events[i].data.u64 >> 1];
            bool was_over = s.over();
            s.on_event(events[i].data.u64 & 1, events[i].events);
            if (s.over() && !was_over) --running;
        }
        const auto now = Clock::now();
        all = running == 0;
        if (now < next_frame && !all) continue;
        // Once a tick: the sessions that have waited too long, and a frame.
        for (auto& s : sessions) {
            bool was_over = s->over();
            s->check_stall(now);
            if (s->over() && !was_over) --running;
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
        out += fmt::format("  downloads  {} verified whole ({}, {}): each one's XXH3-128 against the copy of SHA-256 "
                           "{}... ({})\n",
                           r.downloads, r.file, format_bytes(r.file_size), r.sha256.substr(0, 16), r.sha256_source);
    if (r.put)
        out += fmt::format("  uploads    {} verified whole ({} each, read back)\n", r.uploads, format_bytes(r.put));
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
                        {"xxh128", r.xxh128},
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
