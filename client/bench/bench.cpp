// ioclient bench: a ping-pong load generator that must never be the
// bottleneck of what it measures.
//
// Shape. Each client thread owns a share of the connections and one epoll
// instance (edge-triggered, every socket registered once for IN|OUT, so the
// hot loop makes no epoll_ctl calls). A connection sends one S-byte message,
// reads the echo as it arrives (any split), compares every chunk with the
// bytes the server must return, and when all S bytes are back records the
// round trip and sends the next message. Per message: one send, one recv
// (more for large messages), one clock read, one memcmp; nothing allocated.
//
// Payloads. One random block of S + kWindow bytes and its expected echo are
// computed once and shared read-only by every thread. Message m of
// connection c starts at offset (c * P1 + m * P2) mod kWindow: two
// connections at the same message never share an offset, and consecutive
// messages of one connection differ, so bytes delivered to the wrong
// connection, or a stale reply, fail the comparison.
//
// Time. [t0, t0 + warmup) runs unmeasured, [t0 + warmup, t0 + warmup +
// duration) is measured: a round trip counts if it completes inside it.
// At the end no new message starts; in-flight ones get a short grace to
// finish (so connections close cleanly), then everything closes. A stalled
// server only yields few messages: every wait has a deadline.
#include "client/bench/bench.hpp"

#include "client/lib/connection.hpp"
#include "client/lib/histogram.hpp"
#include "client/lib/procfs.hpp"
#include "common/error.hpp"
#include "common/json.hpp"

#include <fmt/format.h>
#include <pthread.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <functional>
#include <latch>
#include <memory>
#include <optional>
#include <queue>
#include <stdexcept>
#include <thread>
#include <vector>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}
Clock::time_point at_ns(std::int64_t ns) { return Clock::time_point(std::chrono::nanoseconds(ns)); }
std::int64_t to_ns(double seconds) { return std::llround(seconds * 1e9); }

constexpr std::size_t kWindow = 65536;            // message start offsets in the shared block (power of two)
constexpr std::uint64_t kP1 = 40503, kP2 = 7919;  // odd: c * kP1 is distinct mod kWindow for c < kWindow
constexpr int kMaxEvents = 1024;
constexpr double kGraceSeconds = 0.5;        // for in-flight messages after the end
constexpr double kIdleConnectSeconds = 10;   // for the idle connections to be established

std::size_t payload_offset(std::uint32_t conn, std::uint64_t msg) {
    return static_cast<std::size_t>((conn * kP1 + msg * kP2) & (kWindow - 1));
}

// The bytes every connection sends, and what the server must send back.
struct Payload {
    std::size_t size = 0;
    std::string out;     // size + kWindow random bytes
    std::string expect;  // echo_transform(out)
    EchoMode mode = EchoMode::upper;
};

// The first error of a thread, with when it happened, so the earliest wins.
struct ErrorLog {
    std::uint64_t count = 0;
    std::string first;
    std::int64_t first_ns = INT64_MAX;

    void add(std::string text) {
        ++count;
        std::int64_t t = now_ns();
        if (t < first_ns) {
            first_ns = t;
            first = std::move(text);
        }
    }
    void merge(const ErrorLog& o) {
        count += o.count;
        if (o.first_ns < first_ns) {
            first_ns = o.first_ns;
            first = o.first;
        }
    }
};

std::string byte_text(unsigned char b) {
    if (b >= 0x20 && b < 0x7f) return fmt::format("0x{:02x} '{}'", b, static_cast<char>(b));
    return fmt::format("0x{:02x}", b);
}

// --- one thread's share of the load ----------------------------------------

class Worker {
public:
    Worker(const BenchOptions& opt, const Payload& payload, std::vector<std::uint32_t> ids)
        : opt_(opt), p_(payload), ids_(std::move(ids)),
          scratch_(std::clamp<std::size_t>(payload.size + 1, 64 * 1024, 1024 * 1024)) {}

    // Before the start line: sockets created, connects started.
    void setup() {
        try {
            ep_.reset(::epoll_create1(EPOLL_CLOEXEC));
            if (!ep_) throw_sys("epoll_create1");
        } catch (const std::exception& e) {
            for (std::size_t i = 0; i < ids_.size(); ++i) errors_.add(e.what());
            return;
        }
        conns_.resize(ids_.size());  // never resized again: epoll holds pointers into it
        for (std::size_t i = 0; i < ids_.size(); ++i) {
            Conn& c = conns_[i];
            c.id = ids_[i];
            try {
                c.fd = start_connect(opt_.server);
                epoll_event ev{};
                ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
                ev.data.ptr = &c;
                check_sys(::epoll_ctl(ep_.get(), EPOLL_CTL_ADD, c.fd.get(), &ev), "epoll_ctl ADD fd {}", c.fd.get());
                c.state = State::connecting;
                ++pending_;
            } catch (const std::exception& e) {
                c.fd.reset();
                errors_.add(fmt::format("connection {}: {}", c.id, e.what()));
            }
        }
    }

    void run(std::int64_t t0) {
        start_ns_ = t0 + to_ns(opt_.warmup);
        end_ns_ = start_ns_ + to_ns(opt_.duration);
        const std::int64_t grace_end = end_ns_ + to_ns(kGraceSeconds);
        epoll_event events[kMaxEvents];
        while (pending_ > 0) {
            // After end_ns_ no message starts (complete_message sees the time),
            // so pending_ falls as the last replies arrive.
            std::int64_t now = now_ns();
            if (now >= grace_end) break;
            std::int64_t deadline = now < end_ns_ ? end_ns_ : grace_end;
            int n;
            if (thinking_.empty()) {
                int timeout_ms = static_cast<int>((deadline - now + 999'999) / 1'000'000);
                n = ::epoll_wait(ep_.get(), events, kMaxEvents, timeout_ms);
            } else {  // --think-us: wake when the first pause ends, to the microsecond
                std::int64_t wait = std::max<std::int64_t>(0, std::min(deadline, thinking_.top().due) - now);
                timespec ts{.tv_sec = wait / 1'000'000'000, .tv_nsec = wait % 1'000'000'000};
                n = ::epoll_pwait2(ep_.get(), events, kMaxEvents, &ts, nullptr);
            }
            if (n < 0) {
                if (errno == EINTR) continue;
                errors_.add(fmt::format("epoll_wait: {}", std::strerror(errno)));
                break;
            }
            for (int i = 0; i < n; ++i) handle(*static_cast<Conn*>(events[i].data.ptr), events[i].events);
            if (!thinking_.empty()) end_pauses(now_ns());
        }
        // Whatever is still waiting for its reply (or its connect) now is unanswered.
        for (Conn& c : conns_) {
            if (c.state == State::connecting || c.state == State::running) ++unanswered_;
            c.fd.reset();
        }
    }

    Histogram& histogram() { return hist_; }
    const ErrorLog& errors() const { return errors_; }
    std::uint64_t messages() const { return messages_; }
    std::uint64_t unanswered() const { return unanswered_; }

private:
    enum class State : std::uint8_t { none, connecting, running, thinking, done, failed };

    struct Conn {
        Fd fd;
        std::uint32_t id = 0;
        State state = State::none;
        std::uint64_t msg = 0;              // messages started on this connection
        std::size_t sent = 0, received = 0;  // of the current message
        const char* out = nullptr;          // the current message
        const char* expect = nullptr;       // what must come back
        std::int64_t start_ns = 0;          // when it was sent
    };

    void handle(Conn& c, std::uint32_t ev) {
        if (c.state == State::connecting) {
            if (!(ev & (EPOLLOUT | EPOLLERR | EPOLLHUP))) return;
            if (int err = connect_result(c.fd.get()); err != 0) {
                return fail(c, fmt::format("connect {}: {}", opt_.server.to_string(), std::strerror(err)));
            }
            c.state = State::running;
            std::int64_t t = now_ns();
            if (t >= end_ns_) return finish(c);
            if (think_ns_ == 0) return start_message(c, t);
            // Paced: spread the first messages over one pause, so that the
            // connections do not all send at the same moments forever after.
            return pause(c, t + think_ns_ * c.id / opt_.connections);
        }
        // Done or failed: nothing more to do. Thinking: nothing is due, but
        // a close or a stray byte from the server is read (and fails it).
        if (c.state != State::running && c.state != State::thinking) return;
        if (ev & (EPOLLIN | EPOLLRDHUP | EPOLLERR | EPOLLHUP)) {
            if (!read_echo(c)) return;
            // A close that came with the last reply has no edge of its own:
            // a connection that now pauses must look for it.
            if (c.state == State::thinking && (ev & (EPOLLRDHUP | EPOLLERR | EPOLLHUP)) && !read_echo(c)) return;
        }
        if (c.state == State::running && c.sent < p_.size && (ev & EPOLLOUT)) write_message(c);
    }

    void start_message(Conn& c, std::int64_t t) {
        std::size_t off = payload_offset(c.id, c.msg++);
        c.out = p_.out.data() + off;
        c.expect = p_.expect.data() + off;
        c.sent = c.received = 0;
        c.start_ns = t;
        write_message(c);
    }

    // Send until the message is out or the socket buffer is full (then the
    // edge-triggered EPOLLOUT says when to go on).
    void write_message(Conn& c) {
        while (c.sent < p_.size) {
            ssize_t n = ::send(c.fd.get(), c.out + c.sent, p_.size - c.sent, MSG_NOSIGNAL);
            if (n > 0) {
                c.sent += static_cast<std::size_t>(n);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return;
            } else if (errno != EINTR) {
                return fail(c, fmt::format("send: {}", std::strerror(errno)));
            }
        }
    }

    // Read until EAGAIN (edge-triggered) or until the message is complete.
    // False if the connection failed. Each recv asks for one byte more than
    // the rest of the message: the reply fits in one call (for small
    // messages), and the extra byte catches a server that sends more than it
    // was sent, without asking the kernel to fill a 64 KiB buffer.
    bool read_echo(Conn& c) {
        for (;;) {
            std::size_t want = std::min(scratch_.size(), p_.size - c.received + 1);
            ssize_t n = ::recv(c.fd.get(), scratch_.data(), want, 0);
            if (n > 0) {
                auto got = static_cast<std::size_t>(n);
                if (c.received + got > c.sent) {
                    fail(c, fmt::format("message {}: the server sent {} bytes, more than the {} it was sent",
                                        c.msg - 1, c.received + got, c.sent));
                    return false;
                }
                if (std::memcmp(scratch_.data(), c.expect + c.received, got) != 0) {
                    fail(c, describe_mismatch(c, got));
                    return false;
                }
                c.received += got;
                if (c.received == p_.size) {
                    complete_message(c);
                    // Nothing more can be waiting: the server only has what we sent.
                    return c.state != State::failed;
                }
            } else if (n == 0) {
                if (c.state == State::thinking)
                    fail(c, fmt::format("the server closed the connection during the pause after message {}",
                                        c.msg - 1));
                else
                    fail(c, fmt::format("the server closed the connection after {} of {} bytes of message {}",
                                        c.received, p_.size, c.msg - 1));
                return false;
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                return true;
            } else if (errno != EINTR) {
                fail(c, fmt::format("recv: {}", std::strerror(errno)));
                return false;
            }
        }
    }

    void complete_message(Conn& c) {
        std::int64_t t = now_ns();  // the one clock read per message: ends this one, starts the next
        if (t >= start_ns_ && t < end_ns_) {
            hist_.record(static_cast<std::uint64_t>(t - c.start_ns));
            ++messages_;
        }
        if (t >= end_ns_) return finish(c);
        if (think_ns_ == 0) return start_message(c, t);
        pause(c, t + think_ns_);
    }

    void pause(Conn& c, std::int64_t until) {
        c.state = State::thinking;
        thinking_.push({until, &c});
    }

    // --think-us: start the next message of every connection whose pause is
    // over (at the end of the run: finish them all).
    void end_pauses(std::int64_t t) {
        while (!thinking_.empty() && (thinking_.top().due <= t || t >= end_ns_)) {
            Conn& c = *thinking_.top().conn;
            thinking_.pop();
            if (c.state != State::thinking) continue;  // it failed meanwhile
            c.state = State::running;
            if (t >= end_ns_) finish(c);
            else start_message(c, t);
        }
    }

    std::string describe_mismatch(const Conn& c, std::size_t got) const {
        std::size_t i = 0;
        while (i < got && scratch_[i] == c.expect[c.received + i]) ++i;
        std::size_t at = c.received + i;
        auto g = static_cast<unsigned char>(scratch_[i]);
        auto want = static_cast<unsigned char>(c.expect[at]);
        auto sent = static_cast<unsigned char>(c.out[at]);
        std::string hint;
        if (g == sent && want != sent) hint = " (returned unchanged: is the server running with --echo plain?)";
        if (g != sent && g == static_cast<unsigned char>(sent - 'a' + 'A') && sent >= 'a' && sent <= 'z')
            hint = " (upper-cased: the server runs with --echo upper)";
        return fmt::format("connection {}: message {} byte {} is {}, expected {}{}", c.id, c.msg - 1, at,
                           byte_text(g), byte_text(want), hint);
    }

    // After the end: the connection has nothing in flight, close it cleanly later.
    void finish(Conn& c) {
        c.state = State::done;
        --pending_;
    }

    void fail(Conn& c, std::string text) {
        if (text.rfind("connection ", 0) != 0) text = fmt::format("connection {}: {}", c.id, text);
        errors_.add(std::move(text));
        c.fd.reset();  // closing removes it from the epoll set
        if (c.state == State::connecting || c.state == State::running || c.state == State::thinking) --pending_;
        c.state = State::failed;
    }

    const BenchOptions& opt_;
    const Payload& p_;
    std::vector<std::uint32_t> ids_;
    std::vector<char> scratch_;
    std::vector<Conn> conns_;
    Fd ep_;
    std::size_t pending_ = 0;  // connecting or running
    std::int64_t start_ns_ = 0, end_ns_ = 0;
    Histogram hist_;
    ErrorLog errors_;
    std::uint64_t messages_ = 0;
    std::uint64_t unanswered_ = 0;
    const std::int64_t think_ns_ = std::int64_t{opt_.think_us} * 1000;
    struct Pause {
        std::int64_t due;
        Conn* conn;
        bool operator>(const Pause& o) const { return due > o.due; }
    };
    std::priority_queue<Pause, std::vector<Pause>, std::greater<>> thinking_;  // the first to end on top
};

// --- the rest: descriptors, idle connections, the server's CPU --------------

void ensure_descriptors(const BenchOptions& opt, unsigned threads) {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &rl);
        ::getrlimit(RLIMIT_NOFILE, &rl);
    }
    auto need = static_cast<rlim_t>(opt.connections) + opt.idle + threads + 64;
    if (rl.rlim_cur != RLIM_INFINITY && need > rl.rlim_cur) {
        throw std::runtime_error(fmt::format(
            "{} active + {} idle connections need about {} descriptors; this process may open {} (ulimit -n)",
            opt.connections, opt.idle, need, rl.rlim_cur));
    }
}

// Open the idle connections and wait (boundedly) until each is established.
// They then stay open and silent for the whole run.
std::vector<Fd> open_idle(const BenchOptions& opt, ErrorLog& errors) {
    std::vector<Fd> idle;
    if (opt.idle == 0) return idle;
    Fd ep(::epoll_create1(EPOLL_CLOEXEC));
    if (!ep) throw_sys("epoll_create1");
    idle.reserve(opt.idle);
    std::size_t waiting = 0;
    for (unsigned i = 0; i < opt.idle; ++i) {
        try {
            Fd fd = start_connect(opt.server);
            epoll_event ev{};
            ev.events = EPOLLOUT;
            ev.data.u64 = idle.size();
            check_sys(::epoll_ctl(ep.get(), EPOLL_CTL_ADD, fd.get(), &ev), "epoll_ctl ADD fd {}", fd.get());
            idle.push_back(std::move(fd));
            ++waiting;
        } catch (const std::exception& e) {
            errors.add(fmt::format("idle connection {}: {}", i, e.what()));
        }
    }
    const std::int64_t deadline = now_ns() + to_ns(kIdleConnectSeconds);
    epoll_event events[kMaxEvents];
    while (waiting > 0) {
        std::int64_t left = deadline - now_ns();
        if (left <= 0) break;
        int n = ::epoll_wait(ep.get(), events, kMaxEvents, static_cast<int>((left + 999'999) / 1'000'000));
        if (n < 0 && errno != EINTR) break;
        for (int i = 0; i < n; ++i) {
            Fd& fd = idle[events[i].data.u64];
            ::epoll_ctl(ep.get(), EPOLL_CTL_DEL, fd.get(), nullptr);
            --waiting;
            if (int err = connect_result(fd.get()); err != 0) {
                errors.add(fmt::format("idle connection: connect {}: {}", opt.server.to_string(), std::strerror(err)));
                fd.reset();
            }
        }
    }
    if (waiting > 0) {
        errors.count += waiting - 1;
        errors.add(fmt::format("{} idle connections not established within {} s", waiting, kIdleConnectSeconds));
    }
    return idle;
}

Payload make_payload(std::size_t size, EchoMode mode) {
    Payload p;
    p.size = size;
    p.mode = mode;
    p.out = random_bytes(size + kWindow, 0x1'0e5e'edULL + size);
    p.expect = expected_echo(mode, p.out);
    return p;
}

}  // namespace

BenchResult run_bench(const BenchOptions& opt) {
    if (opt.connections == 0) throw std::invalid_argument("bench: --connections must be at least 1");
    if (opt.size == 0) throw std::invalid_argument("bench: --size must be at least 1 byte");
    if (!(opt.duration > 0)) throw std::invalid_argument("bench: --duration must be positive");
    if (!(opt.warmup >= 0)) throw std::invalid_argument("bench: --warmup must not be negative");
    const unsigned nthreads = std::clamp(opt.threads, 1u, opt.connections);
    ensure_descriptors(opt, nthreads);
    if (opt.server_pid > 0 && !tree_cpu_seconds(opt.server_pid)) {
        throw std::runtime_error(fmt::format("--server-pid {}: no such process (cannot read /proc/{}/stat)",
                                             opt.server_pid, opt.server_pid));
    }

    const Payload payload = make_payload(opt.size, opt.echo);
    ErrorLog errors;
    std::vector<Fd> idle = open_idle(opt, errors);

    std::vector<std::unique_ptr<Worker>> workers;
    for (unsigned w = 0; w < nthreads; ++w) {
        std::vector<std::uint32_t> ids;
        for (unsigned c = w; c < opt.connections; c += nthreads) ids.push_back(c);
        workers.push_back(std::make_unique<Worker>(opt, payload, std::move(ids)));
    }

    // Every thread sets up its connections, then all start on the same t0.
    std::latch ready(nthreads), go(1);
    std::int64_t t0 = 0;
    std::atomic<bool> abort{false};
    std::vector<std::thread> threads;
    try {
        for (unsigned w = 0; w < nthreads; ++w) {
            threads.emplace_back([&, w] {
                pthread_setname_np(pthread_self(), fmt::format("bench-{}", w).substr(0, 15).c_str());
                workers[w]->setup();
                ready.count_down();
                go.wait();
                if (!abort) workers[w]->run(t0);
            });
        }
    } catch (...) {
        abort = true;
        go.count_down();
        for (auto& t : threads) t.join();
        throw;
    }
    ready.wait();
    t0 = now_ns();
    go.count_down();

    BenchResult r;
    const std::int64_t start = t0 + to_ns(opt.warmup), end = start + to_ns(opt.duration);
    if (opt.server_pid > 0) {
        std::this_thread::sleep_until(at_ns(start));
        // The server's CPU: every process of its tree, reaped children included
        // (a forking server works in children, some still alive at the end).
        auto cpu0 = tree_cpu_seconds(opt.server_pid);
        std::this_thread::sleep_until(at_ns(end));
        auto cpu1 = tree_cpu_seconds(opt.server_pid);
        if (cpu0 && cpu1) r.server_cpu_seconds = std::max(0.0, *cpu1 - *cpu0);
    }
    for (auto& t : threads) t.join();
    idle.clear();

    Histogram hist;
    for (auto& w : workers) {
        hist.merge(w->histogram());
        errors.merge(w->errors());
        r.messages += w->messages();
        r.unanswered += w->unanswered();
    }
    r.seconds = opt.duration;
    r.bytes = r.messages * opt.size;
    r.messages_per_second = static_cast<double>(r.messages) / r.seconds;
    r.megabytes_per_second = static_cast<double>(r.bytes) / 1e6 / r.seconds;
    r.p50_us = hist.percentile(0.50) / 1e3;
    r.p99_us = hist.percentile(0.99) / 1e3;
    r.p999_us = hist.percentile(0.999) / 1e3;
    r.max_us = static_cast<double>(hist.max()) / 1e3;
    r.errors = errors.count;
    r.first_error = errors.first;
    if (r.server_cpu_seconds >= 0 && r.messages > 0) {
        r.server_cpu_us_per_message = r.server_cpu_seconds * 1e6 / static_cast<double>(r.messages);
    }
    r.connections = opt.connections;
    r.size = opt.size;
    r.threads = nthreads;
    r.idle = opt.idle;
    r.think_us = opt.think_us;
    r.echo = std::string(echo_mode_name(opt.echo));
    return r;
}

std::string to_json(const BenchResult& r) {
    return json_line(Json{{"messages", r.messages},
                          {"bytes", r.bytes},
                          {"seconds", r.seconds},
                          {"messages_per_second", r.messages_per_second},
                          {"megabytes_per_second", r.megabytes_per_second},
                          {"p50_us", r.p50_us},
                          {"p99_us", r.p99_us},
                          {"p999_us", r.p999_us},
                          {"max_us", r.max_us},
                          {"errors", r.errors},
                          {"first_error", r.first_error},
                          {"server_cpu_seconds", r.server_cpu_seconds},
                          {"server_cpu_us_per_message", r.server_cpu_us_per_message},
                          {"unanswered", r.unanswered},
                          {"connections", r.connections},
                          {"size", r.size},
                          {"threads", r.threads},
                          {"idle", r.idle},
                          {"think_us", r.think_us},
                          {"echo", r.echo}});
}

std::string to_text(const BenchResult& r) {
    std::string s;
    s += fmt::format("{:<12} {} connections x {} B, {} thread(s), {} idle, --echo {}", "load", r.connections,
                     r.size, r.threads, r.idle, r.echo);
    if (r.think_us > 0) s += fmt::format(", a {} us pause after each reply", r.think_us);
    s += '\n';
    s += fmt::format("{:<12} {:.0f} msg/s   {:.2f} MB/s   ({} messages in {:.2f} s)\n", "throughput",
                     r.messages_per_second, r.megabytes_per_second, r.messages, r.seconds);
    s += fmt::format("{:<12} p50 {:.1f}   p99 {:.1f}   p99.9 {:.1f}   max {:.1f}\n", "latency us", r.p50_us,
                     r.p99_us, r.p999_us, r.max_us);
    if (r.server_cpu_seconds >= 0) {
        s += fmt::format("{:<12} {:.2f} s", "server CPU", r.server_cpu_seconds);
        if (r.server_cpu_us_per_message >= 0) s += fmt::format("   {:.2f} us/message", r.server_cpu_us_per_message);
        s += '\n';
    }
    if (r.unanswered > 0) {
        s += fmt::format("{:<12} {} connection(s) still waiting for a reply at the end (a stalled or one-client-"
                         "at-a-time server)\n",
                         "unanswered", r.unanswered);
    }
    s += fmt::format("{:<12} {}", "errors", r.errors);
    if (r.errors > 0) s += fmt::format("   first: {}", r.first_error);
    return s;
}

}  // namespace iom::client
