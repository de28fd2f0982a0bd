#include "client/check/hostile.hpp"

#include "client/lib/procfs.hpp"
#include "common/error.hpp"

#include <fmt/format.h>

#include <poll.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <thread>
#include <vector>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;

// The CPU bound of the no-spin checks: a server that waits uses next to
// nothing; one that retries a failing call in a loop uses a whole core.
constexpr double max_cpu_share = 0.20;
constexpr auto cpu_window = std::chrono::seconds(2);

void sleep_for(Millis ms) { std::this_thread::sleep_for(ms); }

// One echo, verified: nullopt if it came back exact, else what went wrong.
std::optional<std::string> echo_error(Connection& c, std::string_view input, const HostileOptions& opt) {
    if (!c.send_all(input)) return "send failed";
    std::string partial;
    auto got = c.recv_exact(input.size(), opt.timeout, &partial);
    if (!got) return fmt::format("echo incomplete: {} of {} bytes arrived", partial.size(), input.size());
    if (*got != expected_echo(opt.echo, input)) return fmt::format("the echo of {} bytes differs", input.size());
    return std::nullopt;
}

// A large echo, written by a thread while we read, as a real client must.
std::optional<std::string> big_echo_error(Connection& c, const std::string& input, const HostileOptions& opt) {
    std::atomic<bool> sent{false};
    std::thread writer([&] { sent = c.send_all(input); });
    std::string partial;
    auto got = c.recv_exact(input.size(), opt.timeout * 3, &partial);
    if (!got) ::shutdown(c.fd(), SHUT_RDWR);  // unblock the writer
    writer.join();
    if (!sent) return "send failed";
    if (!got) return fmt::format("echo incomplete: {} of {} bytes arrived", partial.size(), input.size());
    if (*got != expected_echo(opt.echo, input)) return fmt::format("the echo of {} bytes differs", input.size());
    return std::nullopt;
}

// `count` new clients, one after another, each echoed exactly.
std::optional<std::string> fresh_clients_error(const HostileOptions& opt, int count) {
    for (int i = 0; i < count; ++i) {
        auto c = Connection::open(opt.server);
        if (auto e = echo_error(c, fmt::format("fresh client {} after the storm", i), opt))
            return fmt::format("fresh client {}: {}", i, *e);
    }
    return std::nullopt;
}

// A fresh client served within the timeout, retrying while the server still
// refuses (it may not have seen the last disconnections yet).
std::optional<std::string> served_again_error(const HostileOptions& opt) {
    auto deadline = Clock::now() + opt.timeout;
    std::string last;
    do {
        auto c = Connection::open(opt.server);
        auto e = echo_error(c, "served again?", opt);
        if (!e) return std::nullopt;
        last = *e;
        sleep_for(Millis(50));
    } while (Clock::now() < deadline);
    return "no fresh client served within the timeout: " + last;
}

std::vector<Fd> open_crowd(const Address& a, int n) {
    std::vector<Fd> crowd;
    crowd.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) crowd.push_back(start_connect(a));
    return crowd;
}

// Has the server closed this connection (EOF or RST)? Reads and drops any
// bytes first; never waits.
bool peer_closed(int fd) {
    char buf[4096];
    for (;;) {
        ssize_t r = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (r > 0) continue;
        if (r == 0) return true;
        if (errno == EINTR) continue;
        return errno != EAGAIN && errno != EWOULDBLOCK;  // ECONNRESET, ECONNREFUSED, ...: closed all the same
    }
}

// Wait until at least `want` of `fds` are closed by the server, or the
// deadline; returns how many are closed then. `closed` marks which.
int wait_closed(const std::vector<Fd>& fds, std::vector<bool>& closed, int want, Clock::time_point deadline) {
    closed.resize(fds.size(), false);
    int n = static_cast<int>(std::count(closed.begin(), closed.end(), true));
    while (n < want) {
        std::vector<pollfd> p;
        std::vector<std::size_t> index;
        for (std::size_t i = 0; i < fds.size(); ++i) {
            if (closed[i]) continue;
            p.push_back({fds[i].get(), POLLIN, 0});
            index.push_back(i);
        }
        if (p.empty()) break;
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        int rc = ::poll(p.data(), p.size(), static_cast<int>(std::clamp<long long>(left, 0, 100)));
        if (rc < 0 && errno != EINTR) throw_sys("poll");
        for (std::size_t j = 0; rc > 0 && j < p.size(); ++j) {
            if (p[j].revents && peer_closed(p[j].fd)) {
                closed[index[j]] = true;
                ++n;
            }
        }
        if (left <= 0) break;  // one last look, then the deadline
    }
    return n;
}

// Send as much as the kernel takes without blocking, up to `limit` bytes;
// stop when no byte was taken for `stall`. Returns the bytes written.
std::size_t write_until_stalled(int fd, std::size_t limit, Millis stall) {
    const std::string chunk = random_bytes(256 << 10, 42);
    std::size_t total = 0;
    while (total < limit) {
        std::size_t n = std::min(chunk.size(), limit - total);
        ssize_t w = ::send(fd, chunk.data(), n, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (w > 0) {
            total += static_cast<std::size_t>(w);
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK) break;  // the server closed it
        pollfd p{fd, POLLOUT, 0};
        if (::poll(&p, 1, static_cast<int>(stall.count())) == 0) break;  // no progress: the server stopped reading
    }
    return total;
}

// The server's CPU use (the process and its children) over a window,
// while `meanwhile` runs (it must take about the window's length).
template <typename F>
double cpu_share_while(pid_t pid, F&& meanwhile) {
    double c0 = tree_cpu_seconds(pid).value_or(0);
    auto t0 = Clock::now();
    meanwhile();
    double c1 = tree_cpu_seconds(pid).value_or(0);
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    return std::max(0.0, c1 - c0) / std::max(secs, 0.001);
}

// Echo on `c` every `every` for `window`; the first error, if any.
std::optional<std::string> keep_echoing(Connection& c, const HostileOptions& opt, Clock::duration window,
                                        Millis every, int* count = nullptr) {
    auto end = Clock::now() + window;
    int i = 0;
    do {
        if (auto e = echo_error(c, fmt::format("still served {}", i), opt)) return e;
        ++i;
        sleep_for(every);
    } while (Clock::now() < end);
    if (count) *count = i;
    return std::nullopt;
}

std::string cpu_text(double share) { return fmt::format("{:.1f}% of a core", share * 100); }

const char* const cpu_note = " (nio_server without --sleep-us polls by design and always uses a core)";

// The server's soft RLIMIT_NOFILE lowered from outside (prlimit(2) on its
// pid), and put back however the case ends.
class LoweredNofile {
public:
    LoweredNofile(pid_t pid, rlim_t soft) : pid_(pid) {
        check_sys(prlimit(pid, RLIMIT_NOFILE, nullptr, &old_), "prlimit get RLIMIT_NOFILE of pid {}", pid);
        rlimit lowered = old_;
        lowered.rlim_cur = std::min(soft, old_.rlim_max);
        check_sys(prlimit(pid, RLIMIT_NOFILE, &lowered, nullptr), "prlimit set RLIMIT_NOFILE of pid {}", pid);
        active_ = true;
    }
    LoweredNofile(const LoweredNofile&) = delete;
    LoweredNofile& operator=(const LoweredNofile&) = delete;
    ~LoweredNofile() { restore(); }
    void restore() {
        if (std::exchange(active_, false)) prlimit(pid_, RLIMIT_NOFILE, &old_, nullptr);
    }

private:
    pid_t pid_;
    rlimit old_{};
    bool active_ = false;
};

// ---------------------------------------------------------------------------
// slowloris: 1,000 connections that each send a byte a second.

constexpr int slow_connections = 1000;
constexpr int slow_seconds = 5;

struct Slow {
    Fd fd;
    bool connected = false, ended = false;
    std::string sent, got;
};

// One thread, one epoll instance, 1,000 non-blocking sockets: connect them
// all, then once a second send each one byte; read back whatever comes.
// After the last byte, wait up to `drain` for every echo.
void trickle(std::vector<Slow>& conns, const HostileOptions& opt, Millis drain, const std::function<void(int)>& on_tick) {
    Fd ep(check_sys(epoll_create1(EPOLL_CLOEXEC), "epoll_create1"));
    for (std::size_t i = 0; i < conns.size(); ++i) {
        conns[i].fd = start_connect(opt.server);
        epoll_event ev{.events = EPOLLIN | EPOLLOUT, .data = {.u64 = i}};
        check_sys(epoll_ctl(ep.get(), EPOLL_CTL_ADD, conns[i].fd.get(), &ev), "epoll_ctl");
    }
    auto all_echoed = [&] {
        return std::all_of(conns.begin(), conns.end(),
                           [](const Slow& s) { return s.ended || s.got.size() >= s.sent.size(); });
    };
    auto start = Clock::now() + Millis(200);  // the handshakes first: each connection's first byte at tick 0
    auto end_of_trickle = start + std::chrono::seconds(slow_seconds);
    auto end_of_drain = end_of_trickle + drain;
    int tick = 0;
    std::vector<epoll_event> events(1024);
    char buf[4096];
    while (Clock::now() < end_of_drain) {
        auto now = Clock::now();
        if (tick < slow_seconds && now >= start + std::chrono::seconds(tick)) {
            for (std::size_t i = 0; i < conns.size(); ++i) {
                Slow& s = conns[i];
                if (!s.connected || s.ended) continue;
                char byte = static_cast<char>('a' + (i + static_cast<std::size_t>(tick)) % 26);
                if (::send(s.fd.get(), &byte, 1, MSG_DONTWAIT | MSG_NOSIGNAL) == 1) s.sent.push_back(byte);
                else s.ended = true;
            }
            on_tick(tick++);
            continue;
        }
        if (tick >= slow_seconds && all_echoed()) break;
        auto next = tick < slow_seconds ? start + std::chrono::seconds(tick) : end_of_drain;
        auto wait = std::clamp<long long>(std::chrono::duration_cast<Millis>(next - now).count(), 0, 100);
        int n = epoll_wait(ep.get(), events.data(), static_cast<int>(events.size()), static_cast<int>(wait));
        if (n < 0 && errno != EINTR) throw_sys("epoll_wait");
        for (int k = 0; k < n; ++k) {
            Slow& s = conns[events[k].data.u64];
            if (!s.connected && (events[k].events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
                int err = connect_result(s.fd.get());
                s.connected = err == 0;
                s.ended = err != 0;
                epoll_event ev{.events = EPOLLIN, .data = events[k].data};
                epoll_ctl(ep.get(), EPOLL_CTL_MOD, s.fd.get(), &ev);
            }
            if (events[k].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                for (;;) {
                    ssize_t r = ::recv(s.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
                    if (r > 0) {
                        s.got.append(buf, static_cast<std::size_t>(r));
                        continue;
                    }
                    if (r < 0 && errno == EINTR) continue;
                    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                        s.ended = true;
                        epoll_ctl(ep.get(), EPOLL_CTL_DEL, s.fd.get(), nullptr);
                    }
                    break;
                }
            }
        }
    }
}

CaseResult slowloris(const HostileOptions& opt) {
    const bool limited = opt.sequential || opt.pool;
    std::vector<Slow> conns(slow_connections);
    std::optional<Connection> active;
    std::atomic<bool> done{false};
    std::optional<std::string> active_error;
    int active_echoes = 0;
    std::thread active_thread;
    bool active_served_early = false, active_refused = false;

    auto on_tick = [&](int tick) {
        if (tick != 0) return;
        // The first byte of every slow connection is out: now the active
        // client comes. Concurrent models serve it throughout; the
        // sequential and pool models have given their worker(s) away.
        active.emplace(Connection::open(opt.server));
        if (limited) {
            active->send_all("are you there?");
            return;
        }
        active_thread = std::thread([&] {
            for (int i = 0; !done; ++i) {
                if (auto e = echo_error(*active, random_bytes(1024, 1000 + static_cast<std::uint64_t>(i)), opt)) {
                    active_error = *e;
                    return;
                }
                ++active_echoes;
                sleep_for(Millis(20));
            }
        });
    };
    try {
        trickle(conns, opt, limited ? Millis(1000) : opt.timeout, on_tick);
    } catch (...) {
        done = true;
        if (active_thread.joinable()) active_thread.join();
        throw;
    }
    done = true;
    if (active_thread.joinable()) active_thread.join();

    int connected = 0, ended = 0, complete = 0, wrong = 0;
    for (const Slow& s : conns) {
        connected += s.connected;
        ended += s.ended;
        bool all = s.connected && !s.ended && !s.sent.empty() && s.got.size() == s.sent.size();
        complete += all;
        std::string_view echoed_part = std::string_view(s.sent).substr(0, std::min(s.got.size(), s.sent.size()));
        wrong += s.got.size() > s.sent.size() || s.got != expected_echo(opt.echo, echoed_part);
    }
    std::string figures = fmt::format("{} slow connections ({} connected, {} closed by the server, {} fully echoed)",
                                      slow_connections, connected, ended, complete);
    if (wrong > 0) return fail(fmt::format("{} slow connections got wrong bytes back; {}", wrong, figures));

    if (!limited) {
        if (active_error) return fail("the active client, among the slow ones: " + *active_error + "; " + figures);
        if (complete != slow_connections)
            return fail(fmt::format("not every trickled byte came back: {}", figures));
        return pass(fmt::format("{}; the active client echoed {} times meanwhile", figures, active_echoes));
    }

    // Sequential and pool: the lesson. While the slow connections hold the
    // worker(s), the active client gets nothing (it waits, or is refused).
    if (auto early = active->recv_some(Millis(0)); early) {
        if (early->empty()) active_refused = true;
        else active_served_early = true;
    } else if (peer_closed(active->fd())) {
        active_refused = true;
    }
    if (active_served_early) return fail("the active client was served while the slow connections held the workers");
    conns.clear();  // the slow clients leave
    std::string how;
    if (!active_refused) {
        std::string want = expected_echo(opt.echo, "are you there?");
        auto got = active->recv_exact(want.size(), opt.timeout);
        if (!got || *got != want) return fail("the waiting active client was not served once the slow clients left");
        how = "waited, unserved, and was served once they left";
    } else {
        if (auto e = served_again_error(opt)) return fail("after the slow clients left: " + *e);
        how = "was refused (workers and queue full); a fresh client was served once they left";
    }
    return pass(fmt::format("{}: {}; the active client {}", opt.sequential ? "sequential" : "pool", figures, how));
}

// ---------------------------------------------------------------------------

CaseResult idle_timeout(const HostileOptions& opt) {
    if (opt.idle_timeout <= 0)
        return skip("needs the server's idle timeout: start it with --idle-timeout 1 and pass --idle-timeout 1");
    const auto t = std::chrono::duration_cast<Millis>(std::chrono::duration<double>(opt.idle_timeout));
    const auto bound = t * 3 + opt.timeout;  // generous: proves it happens, not when

    // An idle client: served once, then silent. The server must close it.
    auto idle_case = [&]() -> std::optional<std::string> {
        auto idle = Connection::open(opt.server);
        if (auto e = echo_error(idle, "then silence", opt)) return "the idle client: " + *e;
        if (!idle.expect_eof(bound)) return fmt::format("an idle client was not closed within {} ms", bound.count());
        return std::nullopt;
    };
    // A client that talks every timeout/4 for three timeouts must not be.
    auto talker_case = [&]() -> std::optional<std::string> {
        auto talker = Connection::open(opt.server);
        if (auto e = keep_echoing(talker, opt, t * 3, t / 4))
            return "a client that talks every timeout/4 was cut off: " + *e;
        return std::nullopt;
    };
    std::optional<std::string> idle_error, talker_error;
    if (opt.sequential) {  // one at a time: the second would wait for the first anyway
        idle_error = idle_case();
        talker_error = talker_case();
    } else {
        std::thread talker([&] { talker_error = talker_case(); });
        idle_error = idle_case();
        talker.join();
    }
    if (idle_error) return fail(*idle_error);
    if (talker_error) return fail(*talker_error);
    return pass(fmt::format("idle client closed (timeout {} s); a client talking every {} ms kept its connection",
                            opt.idle_timeout, (t / 4).count()));
}

// ---------------------------------------------------------------------------

CaseResult max_connections_flood(const HostileOptions& opt) {
    if (opt.max_connections == 0)
        return skip("needs the server's --max-connections: start it with --max-connections 50 and pass "
                    "--max-connections 50");
    const int limit = static_cast<int>(opt.max_connections);
    const int flood = limit + 100;
    auto active = Connection::open(opt.server);
    if (auto e = echo_error(active, "before the flood", opt)) return fail("the active client: " + *e);

    auto crowd = open_crowd(opt.server, flood);
    std::vector<bool> closed;
    std::string what;
    if (opt.sequential) {
        // --max-connections is 1 in effect: the flood waits in the backlog,
        // connected by the kernel, neither served nor closed.
        int n = wait_closed(crowd, closed, 1, Clock::now() + Millis(1000));
        if (n > 0) return fail(fmt::format("sequential: {} of the flood were closed while waiting", n));
        what = fmt::format("sequential: the {} flood clients waited in the backlog, none closed", flood);
    } else {
        // The server holds `limit` (the active client is one of them); every
        // other flood client must be closed, at once.
        const int want = flood - (limit - 1);
        int n = wait_closed(crowd, closed, want, Clock::now() + opt.timeout);
        if (n < want)
            return fail(fmt::format("only {} of {} flood clients past --max-connections {} were closed", n, want, limit));
        if (!opt.pool) {
            n = wait_closed(crowd, closed, flood, Clock::now() + Millis(300));
            if (n > want)
                return fail(fmt::format("{} flood clients closed, {} expected: refused below --max-connections {}", n,
                                        want, limit));
        }
        what = opt.pool ? fmt::format("pool: {} of {} flood clients refused (past the workers and the queue, "
                                      "below --max-connections {})", n, flood, limit)
                        : fmt::format("{} of {} flood clients refused at --max-connections {}", n, flood, limit);
    }
    for (int i = 0; i < 5; ++i)
        if (auto e = echo_error(active, random_bytes(4096, 50 + static_cast<std::uint64_t>(i)), opt))
            return fail("the active client during the flood: " + *e);
    crowd.clear();
    if (opt.sequential) active.close();
    if (auto e = served_again_error(opt)) return fail("after the flood: " + *e);
    return pass(what + "; the active client kept echoing; fresh clients served afterwards");
}

// ---------------------------------------------------------------------------

CaseResult rst_storm(const HostileOptions& opt) {
    constexpr int storm = 200;
    const long fds_before = opt.server_pid ? tree_open_fds(opt.server_pid) : 0;
    auto active = Connection::open(opt.server);
    if (auto e = echo_error(active, "before the storm", opt)) return fail("the active client: " + *e);

    std::atomic<bool> storm_done{false};
    std::string storm_error;
    std::thread resetters([&] {
        try {
            const std::string payload = random_bytes(64 << 10, 77);
            for (int i = 0; i < storm; ++i) {
                auto c = Connection::open(opt.server);
                ::send(c.fd(), payload.data(), payload.size(), MSG_DONTWAIT | MSG_NOSIGNAL);  // what fits
                c.reset();  // RST while the server is still reading or echoing it
            }
        } catch (const std::exception& e) {
            storm_error = e.what();
        }
        storm_done = true;
    });
    int big = 0;
    std::optional<std::string> active_error;
    while (!active_error && (!storm_done || big < 2)) {
        active_error = big_echo_error(active, random_bytes(1 << 20, 300 + static_cast<std::uint64_t>(big)), opt);
        ++big;
    }
    resetters.join();
    if (!storm_error.empty()) return fail("the storm could not connect: " + storm_error);
    if (active_error) return fail("the active client during the storm: " + *active_error);
    active.close();
    if (auto e = fresh_clients_error(opt, 3)) return fail("after the storm: " + *e);
    std::string detail = fmt::format("{} clients reset mid-transfer while 1 MiB echoes went on ({} verified)", storm, big);
    if (!opt.server_pid) return pass(detail + "; descriptors not checked (pass --server-pid)");
    // Every descriptor the storm made the server open is closed again.
    auto deadline = Clock::now() + opt.timeout;
    long now = tree_open_fds(opt.server_pid);
    while (now > fds_before + 2 && Clock::now() < deadline) {
        sleep_for(Millis(100));
        now = tree_open_fds(opt.server_pid);
    }
    if (now > fds_before + 2)
        return fail(fmt::format("{}; the server holds {} descriptors, {} before the storm", detail, now, fds_before));
    return pass(fmt::format("{}; descriptors {} before, {} after", detail, fds_before, now));
}

// ---------------------------------------------------------------------------

CaseResult half_close_no_read(const HostileOptions& opt) {
    // As much as the kernel takes: until the server's output to us, our
    // receive buffer and both send buffers are full and it stops reading us.
    // (1 MiB alone fits in loopback's buffers: the server would echo it all,
    // see the EOF and be done, never stuck.)
    auto hc = Connection::open(opt.server);
    std::size_t sent = write_until_stalled(hc.fd(), std::size_t{32} << 20, Millis(500));
    hc.shutdown_write();  // "I am done talking" — and it never reads the answer

    auto other = Connection::open(opt.server);
    std::optional<std::string> other_error;
    std::string lesson;
    auto meanwhile = [&] {
        if (opt.sequential) {
            // The one client being served is the one that does not read:
            // the server is blocked sending to it, and every other waits.
            other.send_all("anyone?");
            if (!other.expect_silence(cpu_window)) other_error = "served while the server was stuck on the first";
        } else {
            other_error = keep_echoing(other, opt, cpu_window, Millis(100));
        }
    };
    double share = -1;
    if (opt.server_pid) share = cpu_share_while(opt.server_pid, meanwhile);
    else meanwhile();
    if (other_error) return fail("another client: " + *other_error);
    if (opt.sequential) {
        hc.reset();  // the stuck client goes: the next one is served
        std::string want = expected_echo(opt.echo, "anyone?");
        auto got = other.recv_exact(want.size(), opt.timeout);
        if (!got || *got != want) return fail("sequential: the waiting client was not served once the first left");
        lesson = "sequential: the server is stuck sending to it, the next client waits until it goes; ";
    } else {
        lesson = "other clients served meanwhile; ";
    }
    std::string detail = fmt::format("{} KiB sent, SHUT_WR, never read; {}", sent >> 10, lesson);
    if (share < 0) return pass(detail + "CPU not checked (pass --server-pid)");
    if (share >= max_cpu_share)
        return fail(fmt::format("{}but the server used {} (bound {:.0f}%): a spin{}", detail, cpu_text(share),
                                max_cpu_share * 100, cpu_note));
    return pass(fmt::format("{}server CPU {} over 2 s", detail, cpu_text(share)));
}

// ---------------------------------------------------------------------------
// no-read-64mib: the memory a client that never reads can cost a server.

constexpr std::size_t no_read_bytes = std::size_t{64} << 20;
CaseResult no_read_64mib(const HostileOptions& opt) {
    std::optional<Connection> active;
    if (!opt.sequential) {
        active.emplace(Connection::open(opt.server));
        if (auto e = echo_error(*active, "before", opt)) return fail("the active client: " + *e);
    }
    const long before = opt.server_pid ? tree_memory_kib(opt.server_pid) : 0;
    long peak = before;
    auto nr = Connection::open(opt.server);
    std::size_t sent = 0;
    // Push in 8 MiB steps, sampling the server's memory at each.
    while (sent < no_read_bytes) {
        std::size_t step = write_until_stalled(nr.fd(), std::min(no_read_bytes - sent, std::size_t{8} << 20), Millis(2000));
        sent += step;
        if (opt.server_pid) peak = std::max(peak, tree_memory_kib(opt.server_pid));
        if (step < (std::size_t{8} << 20)) break;  // stalled: the server stopped reading us
    }
    if (active) {
        for (int i = 0; i < 5; ++i)
            if (auto e = echo_error(*active, random_bytes(16384, 90 + static_cast<std::uint64_t>(i)), opt))
                return fail("another client while one never reads: " + *e);
    }
    if (opt.server_pid) peak = std::max(peak, tree_memory_kib(opt.server_pid));
    nr.reset();
    std::string detail = fmt::format("{:.1f} MiB written before the server stopped reading{}", static_cast<double>(sent) / 1048576.0,
                                     opt.sequential ? " (sequential: no one else is served meanwhile)"
                                                    : "; another client served meanwhile");
    if (!opt.server_pid) return pass(detail + "; memory not checked (pass --server-pid)");
    long growth = peak - before;
    std::string figures = fmt::format("server memory (procfs.hpp memory_kib, with children) grew {} KiB, bound {} KiB", growth,
                                      opt.memory_bound_kib);
    if (growth >= opt.memory_bound_kib) return fail(detail + "; " + figures);
    return pass(detail + "; " + figures);
}

// ---------------------------------------------------------------------------

CaseResult emfile_storm(const HostileOptions& opt) {
    if (!opt.server_pid) return skip("needs the server's pid to lower its RLIMIT_NOFILE: pass --server-pid PID");
    constexpr int storm = 200;
    auto active = Connection::open(opt.server);
    if (auto e = echo_error(active, "before the storm", opt)) return fail("the active client: " + *e);
    auto fds = open_fds(opt.server_pid);
    if (!fds) return fail(fmt::format("cannot read /proc/{}/fd", opt.server_pid));
    const rlim_t limit = static_cast<rlim_t>(*fds + 16);

    std::vector<bool> closed;
    int shed = 0;
    long held = 0;
    double share = 0;
    std::optional<std::string> active_error;
    {
        LoweredNofile lowered(opt.server_pid, limit);
        auto crowd = open_crowd(opt.server, storm);
        sleep_for(Millis(300));  // the storm lands
        held = open_fds(opt.server_pid).value_or(-1);
        share = cpu_share_while(opt.server_pid, [&] { active_error = keep_echoing(active, opt, cpu_window, Millis(100)); });
        shed = wait_closed(crowd, closed, storm, Clock::now());
        lowered.restore();
    }  // the storm leaves
    // `held` past `limit`: the server's accept did not see the new limit
    // (an io_uring multishot accept keeps the limit it was armed with).
    std::string detail = fmt::format("RLIMIT_NOFILE {} ({} open + 16): the server held {} descriptors, {} of {} storm "
                                     "clients closed by it; server CPU {} over 2 s",
                                     limit, *fds, held, shed, storm, cpu_text(share));
    if (active_error) return fail("the active client during the storm: " + *active_error + "; " + detail);
    if (share >= max_cpu_share)
        return fail(fmt::format("{}: a spin (bound {:.0f}%){}", detail, max_cpu_share * 100, cpu_note));
    if (opt.sequential) active.close();
    // Full service once the storm has *left*: wait until the server has
    // closed the storm's connections. (Until then a server may still be out
    // of descriptors: an io_uring accept keeps the limit it was armed with,
    // the lowered one, so a client arriving before the storm's descriptors
    // are freed is shed, and the accept re-armed under the restored limit.)
    for (auto deadline = Clock::now() + opt.timeout;
         open_fds(opt.server_pid).value_or(0) > static_cast<long>(*fds) + 2 && Clock::now() < deadline;)
        sleep_for(Millis(50));
    if (auto e = fresh_clients_error(opt, 10)) return fail("limit restored: " + *e + "; " + detail);
    return pass(detail + "; 10 fresh clients served after");
}

// ---------------------------------------------------------------------------

CaseResult all_bytes(const HostileOptions& opt) {
    if (auto r = run_case("all-bytes", opt.check()); !r.passed()) return fail("in one send: " + r.detail);
    // The same 64 KiB again, in irregular fragments: the bytes must not care
    // where the writes were cut.
    std::string input;
    for (int shift = 0; shift < 256; ++shift)
        for (int b = 0; b < 256; ++b) input.push_back(static_cast<char>((b + shift) & 0xff));
    auto c = Connection::open(opt.server);
    std::atomic<bool> sent{true};
    std::thread writer([&] {
        static constexpr std::size_t cuts[] = {1, 2, 3, 255, 256, 257, 7, 1000, 4096, 13, 65, 1};
        std::size_t at = 0;
        for (std::size_t i = 0; at < input.size(); ++i) {
            std::size_t n = std::min(cuts[i % std::size(cuts)], input.size() - at);
            if (!c.send_all(std::string_view(input).substr(at, n))) {
                sent = false;
                return;
            }
            at += n;
        }
    });
    std::string partial;
    auto got = c.recv_exact(input.size(), opt.timeout, &partial);
    if (!got) ::shutdown(c.fd(), SHUT_RDWR);
    writer.join();
    if (!sent) return fail("fragmented: send failed");
    if (!got) return fail(fmt::format("fragmented: {} of {} bytes came back", partial.size(), input.size()));
    if (*got != expected_echo(opt.echo, input)) return fail("fragmented: the echo differs");
    return pass("every byte value in every position, in one send and in irregular fragments");
}

// ---------------------------------------------------------------------------
// flood: one client sends as fast as it reads its echo, so its socket never
// drains. A loop that reads a ready socket until it is empty never leaves
// it, and every other client starves (docs/multiplexing.md, Fairness).

// Two threads keep `fd` busy both ways until the Flood goes.
class Flood {
public:
    explicit Flood(int fd) : fd_(fd) {
        timeval tick{0, 200'000};  // blocked calls return now and then to see the flag
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tick, sizeof tick);
        ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tick, sizeof tick);
        writer_ = std::thread([this] {
            const std::string chunk(64 << 10, 'a');
            while (!stop_)
                if (::send(fd_, chunk.data(), chunk.size(), MSG_NOSIGNAL) < 0 && errno != EAGAIN && errno != EINTR)
                    break;
        });
        reader_ = std::thread([this] {
            std::vector<char> sink(1 << 20);
            while (!stop_) {
                ssize_t n = ::recv(fd_, sink.data(), sink.size(), 0);
                if (n > 0) received_ += static_cast<std::size_t>(n);
                else if (n == 0 || (errno != EAGAIN && errno != EINTR)) break;
            }
        });
    }
    Flood(const Flood&) = delete;
    Flood& operator=(const Flood&) = delete;
    ~Flood() {
        stop_ = true;
        writer_.join();
        reader_.join();
    }
    std::size_t received() const { return received_; }

private:
    int fd_;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> received_{0};
    std::thread writer_, reader_;
};

constexpr auto flood_window = std::chrono::seconds(3);
constexpr Millis flood_bound{1000};  // per round trip; served fairly, they take milliseconds

CaseResult flood(const HostileOptions& opt) {
    auto hog = Connection::open(opt.server);
    std::optional<Flood> flood;
    flood.emplace(hog.fd());
    sleep_for(Millis(500));  // the flood's backlog builds up
    auto other = Connection::open(opt.server);
    if (opt.sequential) {
        // The flooder is the client being served; it never leaves by itself.
        other.send_all("anyone?");
        if (!other.expect_silence(flood_window)) return fail("served while the server was busy with the flooder");
        std::size_t flooded = flood->received();
        flood.reset();
        hog.reset();
        std::string want = expected_echo(opt.echo, "anyone?");
        auto got = other.recv_exact(want.size(), opt.timeout);
        if (!got || *got != want) return fail("sequential: the waiting client was not served once the flooder left");
        return pass(fmt::format("sequential: the other client waited until the flooder left ({} MiB echoed to it)",
                                flooded >> 20));
    }
    int trips = 0;
    Clock::duration worst{};
    for (auto end = Clock::now() + flood_window; Clock::now() < end; ++trips) {
        auto t0 = Clock::now();
        if (auto e = echo_error(other, "ping", opt))
            return fail(fmt::format("another client, after {} round trips during the flood: {}", trips, *e));
        worst = std::max(worst, Clock::now() - t0);
    }
    auto worst_ms = std::chrono::duration_cast<Millis>(worst).count();
    std::size_t flooded = flood->received();
    if (flooded == 0) return fail("the flooding client got no echo");
    std::string detail = fmt::format("another client: {} round trips in {} s of flood ({} MiB echoed to the flooder), "
                                     "the longest {} ms",
                                     trips, flood_window.count(), flooded >> 20, worst_ms);
    if (worst >= flood_bound) return fail(fmt::format("{} (bound {} ms): starved", detail, flood_bound.count()));
    return pass(fmt::format("{} (bound {} ms)", detail, flood_bound.count()));
}

const std::vector<HostileCase> cases = {
    {"slowloris", "1,000 connections trickle a byte a second; the others are still served",
     {"--max-connections", "2000", "--backlog", "2048"}, slowloris},
    {"idle-timeout", "an idle client is closed after --idle-timeout; one that talks is not",
     {"--idle-timeout", "1"}, idle_timeout},
    {"max-connections-flood", "100 clients past --max-connections are refused; the active one is unaffected",
     {"--max-connections", "50"}, max_connections_flood},
    {"rst-storm", "200 clients reset mid-transfer while 1 MiB echoes go on; descriptors come back", {}, rst_storm},
    {"half-close-no-read", "a client fills every buffer, half-closes, never reads: others served, no spin", {},
     half_close_no_read},
    {"no-read-64mib", "a client pushes 64 MiB and never reads: memory stays bounded", {}, no_read_64mib},
    {"emfile-storm", "200 connections under a low RLIMIT_NOFILE: no spin, no client lost, full service after", {},
     emfile_storm},
    {"all-bytes", "every byte value 0-255 in every position, in one send and in fragments", {}, all_bytes},
    {"flood", "a client sends as fast as it reads its echo; another is still served within 1 s",
     {"--buffer-size", "1024"}, flood},
};

}  // namespace

const std::vector<HostileCase>& hostile_cases() { return cases; }

CaseResult run_hostile_case(const std::string& name, const HostileOptions& opt) {
    return run_named_case("hostile", cases, name, opt);
}

int run_hostile(const HostileOptions& opt, std::ostream& out, const std::vector<std::string>& only) {
    return run_cases("hostile", cases, opt, out, only);
}

}  // namespace iom::client
