// The non-blocking family: what each model costs and the pitfalls each must
// avoid. nio_server busy-polls (it never sleeps while idle; --sleep-us trades
// that for latency; its counters show it asks mostly in vain); sigio_server
// sleeps until SIGIO (no CPU while idle; every signal costs a sweep of every
// socket). Both keep a never-reading client's memory bounded, serve a slow
// reader in full (sigio: the writability SIGIO), see a FIN queued behind data,
// survive an EMFILE storm without leaving a queued client hanging, and refuse
// clients beyond --max-connections.
// (The conformance cases run against both automatically.)
#include "client/lib/connection.hpp"
#include "built_servers.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace iom::test {
namespace {

using client::Connection;
using client::Millis;
using Clock = std::chrono::steady_clock;

// How a server spent about one second of wall-clock time with no client
// connected: CPU seconds used per second, and the fraction of the time it
// was runnable — on a CPU or waiting in the run queue for one
// (/proc/PID/schedstat) — rather than asleep. The window is a measurement,
// not a synchronisation: the server is ready (the fixture saw its ready line).
struct IdleFigures {
    double cpu = 0;       // CPU seconds per wall second
    double runnable = 0;  // fraction of wall time not asleep
};

double runnable_seconds(pid_t pid) { return client::runnable_seconds(pid).value_or(0); }

IdleFigures idle_figures(ServerProcess& server) {
    auto t0 = Clock::now();
    double c0 = server.cpu_seconds(), r0 = runnable_seconds(server.pid());
    std::this_thread::sleep_for(std::chrono::seconds(1));
    double c1 = server.cpu_seconds(), r1 = runnable_seconds(server.pid());
    double wall = std::chrono::duration<double>(Clock::now() - t0).count();
    return {(c1 - c0) / wall, (r1 - r0) / wall};
}

void expect_echo(Connection& c, const std::string& text, const std::string& who) {
    ASSERT_TRUE(c.send_all(text)) << who;
    auto got = c.recv_exact(text.size(), Millis(10000));
    ASSERT_TRUE(got.has_value()) << who << ": no echo";
    EXPECT_EQ(*got, client::expected_echo(EchoMode::upper, text)) << who;
}

// A thread that writes `total` bytes (`data`, over and over) to a
// connection and reads nothing; how far it got is in `sent`. Against a server
// that keeps its memory bounded, the socket buffers fill and it blocks.
struct Writer {
    Writer(int fd, std::string data, std::size_t total) : fd_(fd), data_(std::move(data)) {
        thread_ = std::thread([this, total] {
            while (sent < total) {
                std::size_t at = sent % data_.size();
                std::size_t len = std::min({data_.size() - at, total - sent, std::size_t{64} << 10});
                ssize_t n = ::send(fd_, data_.data() + at, len, MSG_NOSIGNAL);
                if (n <= 0) break;
                sent += static_cast<std::size_t>(n);
            }
            done = true;
        });
    }
    ~Writer() { join(); }

    // Wait for the writer to end: unblock it first if it is still stuck.
    void join() {
        if (!thread_.joinable()) return;
        if (!done) ::shutdown(fd_, SHUT_RDWR);
        thread_.join();
    }

    // Wait until `sent` has not moved for `quiet` (true), or the writer is
    // done or `limit` passed (false). A generous bound proving that nothing
    // more happens: the writer is stuck because the server stopped reading.
    bool wait_until_stuck(Millis quiet = Millis(500), Millis limit = Millis(20000)) {
        auto deadline = Clock::now() + limit;
        std::size_t last = sent;
        auto since = Clock::now();
        while (Clock::now() < deadline && !done) {
            std::this_thread::sleep_for(Millis(50));
            if (sent != last) {
                last = sent;
                since = Clock::now();
            } else if (Clock::now() - since >= quiet) {
                return true;
            }
        }
        return false;
    }

    std::atomic<std::size_t> sent{0};
    std::atomic<bool> done{false};

private:
    int fd_;
    std::string data_;
    std::thread thread_;
};

// ---- nio_server: busy polling --------------------------------------------

TEST(Nio, NeverSleepsWhileIdleUnlessToldTo) {
    // Pure busy polling with no client: the process never sleeps. How much
    // CPU that is depends on what else the machine runs (two cores shared
    // with the rest of the test suite), so the robust figure is the time it
    // was runnable: all of it. On a quiet machine that is a whole core.
    {
        ServerProcess server(server_named("nio_server"));
        auto idle = idle_figures(server);
        EXPECT_GT(idle.runnable, 0.8) << "pure busy polling, no client: it should never sleep (CPU " << idle.cpu
                                      << " s/s)";
        EXPECT_GT(idle.cpu, 0.05) << "and it should burn CPU while at it";
        EXPECT_EQ(server.stop(), 0);
    }
    {
        ServerProcess server(server_named("nio_server"), {.args = {"--sleep-us", "1000"}});
        auto idle = idle_figures(server);
        EXPECT_LT(idle.cpu, 0.2) << "--sleep-us 1000: it should mostly sleep";
        EXPECT_EQ(server.stop(), 0);
    }
}

TEST(Nio, AsksMostlyInVain) {
    // A client that types slowly: five lines, a pause of 100 ms after each
    // (the pauses are the scenario, not a synchronisation). Busy polling asks
    // its socket again and again meanwhile, and hears "nothing" (EAGAIN).
    ServerProcess server(server_named("nio_server"));
    {
        auto c = Connection::open(server.address());
        for (int i = 0; i < 5; ++i) {
            expect_echo(c, "line " + std::to_string(i), "client");
            std::this_thread::sleep_for(Millis(100));
        }
    }
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    std::uint64_t calls = server.counter("recv_calls"), eagain = server.counter("recv_eagain");
    std::uint64_t useful = calls - eagain;  // recvs that brought data (or the final EOF)
    EXPECT_GE(useful, 5u);
    EXPECT_GT(eagain, 100 * useful) << "busy polling: nearly every recv should be answered EAGAIN\n"
                                    << server.stderr_text();
    EXPECT_GT(server.counter("wakeups"), 100 * useful) << "sweeps, nearly all of them with nothing to do";
}

// ---- sigio_server: signal-driven readiness --------------------------------

TEST(Sigio, SleepsWhileIdle) {
    ServerProcess server(server_named("sigio_server"));
    {  // one exchange first: it has set up O_ASYNC and gone back to sleep
        auto c = Connection::open(server.address());
        expect_echo(c, "wake up", "client");
    }
    auto idle = idle_figures(server);
    EXPECT_LT(idle.cpu, 0.05) << "no client, no signal: it should sleep in sigwaitinfo";
    EXPECT_LT(idle.runnable, 0.05);
    EXPECT_EQ(server.stop(), 0);
}

TEST(Sigio, EverySignalCostsASweepOfEverySocket) {
    // A plain SIGIO does not say which socket is ready: with 8 idle clients
    // connected, every wakeup caused by the active one sweeps all 10 sockets
    // (the listener, 8 idle, 1 active). The active client pauses 5 ms after
    // each message (the scenario: back-to-back messages can all be read in
    // one pump, and signals that do not queue merge), so that the server is
    // back waiting each time.
    ServerProcess server(server_named("sigio_server"));
    std::vector<Connection> idle;
    for (int i = 0; i < 8; ++i) idle.push_back(Connection::open(server.address()));
    for (auto& c : idle) expect_echo(c, "here", "idle client");  // all accepted now
    auto active = Connection::open(server.address());
    for (int i = 0; i < 20; ++i) {
        expect_echo(active, "ping " + std::to_string(i), "active client");
        std::this_thread::sleep_for(Millis(5));
    }
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    double sweeps = static_cast<double>(server.counter("wait_calls"));
    double swept = static_cast<double>(server.counter("wait_fds"));
    EXPECT_GE(server.counter("wakeups"), 10u);
    EXPECT_GT(swept / sweeps, 7.0) << "sockets asked per sweep, on average";
    EXPECT_GE(server.counter("recv_eagain"), 8u * 10u) << "the idle clients are asked, in vain, at every sweep";
}

// ---- both: pitfalls --------------------------------------------------------

class NonBlocking : public ::testing::TestWithParam<std::string> {};

TEST_P(NonBlocking, NeverReadingClientCannotGrowMemory) {
    ServerProcess server(server_named(GetParam()), {.args = {"--buffer-size", "16384"}});
    {
        auto warm = Connection::open(server.address());
        expect_echo(warm, client::random_bytes(65536, 1), "warm-up client");
    }
    long before = server.memory_kib();

    auto hog = Connection::open(server.address());
    constexpr std::size_t total = 64 << 20;  // far more than every socket buffer on the path
    Writer writer(hog.fd(), client::random_bytes(1 << 20, 9), total);
    EXPECT_TRUE(writer.wait_until_stuck()) << "the server read all " << writer.sent << " bytes a client never reads";

    auto other = Connection::open(server.address());
    expect_echo(other, client::random_bytes(100000, 2), "another client, meanwhile");

    long growth_kib = server.memory_kib() - before;
    EXPECT_LT(growth_kib, 8 * 1024) << "memory grew by " << growth_kib << " KiB; the writer got " << writer.sent
                                    << " bytes in";
    EXPECT_FALSE(writer.done);
}

TEST_P(NonBlocking, SlowReaderIsServedInFull) {
    // The client writes 24 MiB and reads nothing until its writer is stuck:
    // the server's output buffer is then full and its socket unwritable, and
    // only "the socket is writable again" (for sigio: the SIGIO raised when
    // send-buffer space frees) can make it go on once the client reads.
    ServerProcess server(server_named(GetParam()));
    auto c = Connection::open(server.address());
    const std::string pattern = client::random_bytes(1 << 20, 3);
    constexpr std::size_t total = 24 << 20;  // more than the socket buffers on the path hold
    Writer writer(c.fd(), pattern, total);
    ASSERT_TRUE(writer.wait_until_stuck()) << "the writer never stalled (" << writer.sent << " bytes sent)";
    std::string partial;
    auto got = c.recv_exact(total, Millis(30000), &partial);
    writer.join();
    ASSERT_TRUE(got.has_value()) << "only " << partial.size() << " of " << total << " bytes came back";
    EXPECT_EQ(writer.sent, total);
    const std::string want = client::expected_echo(EchoMode::upper, pattern);
    for (std::size_t at = 0; at < total; at += want.size())
        ASSERT_EQ(got->compare(at, want.size(), want), 0) << "echo differs in the MiB at " << at;
    EXPECT_EQ(server.stop(), 0);
}

TEST_P(NonBlocking, SeesAFinQueuedBehindData) {
    // Data and FIN in one segment (TCP_CORK holds the data; shutdown sends
    // it with the FIN): one readiness event for both. A server that stops at
    // the short read never learns of the FIN and never closes. (The first
    // echo makes sure the connection is accepted and the server is back
    // waiting, so that no earlier signal can give it a lucky second look.)
    ServerProcess server(server_named(GetParam()));
    auto c = Connection::open(server.address());
    expect_echo(c, "a", "client");
    int one = 1;
    ASSERT_EQ(::setsockopt(c.fd(), IPPROTO_TCP, TCP_CORK, &one, sizeof one), 0);
    ASSERT_TRUE(c.send_all("hello"));
    c.shutdown_write();
    auto got = c.recv_exact(5, Millis(10000));
    ASSERT_TRUE(got.has_value());
    EXPECT_EQ(*got, "HELLO");
    EXPECT_TRUE(c.expect_eof(Millis(10000))) << "the server did not close after the half-close";
    EXPECT_EQ(server.stop(), 0);
}

TEST_P(NonBlocking, EmfileStormLeavesNoClientHanging) {
    raise_nofile_limit(1024);
    ServerProcess server(server_named(GetParam()), {.nofile = 64});
    auto first = Connection::open(server.address());
    expect_echo(first, "first", "first client");

    // 100 more clients: more than the server has descriptors for. Each one
    // must either be served or be closed — none left queued and unanswered.
    std::vector<Connection> storm;
    for (int i = 0; i < 100; ++i) storm.push_back(Connection::open(server.address()));
    for (auto& c : storm) c.send_all("x");  // may fail: a client turned away is reset
    int answered = 0, served = 0;
    auto deadline = Clock::now() + Millis(15000);
    std::vector<bool> done(storm.size(), false);
    while (answered < static_cast<int>(storm.size()) && Clock::now() < deadline) {
        std::vector<pollfd> fds;
        std::vector<std::size_t> which;
        for (std::size_t i = 0; i < storm.size(); ++i)
            if (!done[i]) fds.push_back({storm[i].fd(), POLLIN, 0}), which.push_back(i);
        if (::poll(fds.data(), fds.size(), 1000) <= 0) continue;
        for (std::size_t k = 0; k < fds.size(); ++k) {
            if (fds[k].revents == 0) continue;
            char b = 0;
            ssize_t n = ::recv(fds[k].fd, &b, 1, MSG_DONTWAIT);
            if (n < 0 && errno == EAGAIN) continue;
            done[which[k]] = true;
            ++answered;
            served += n == 1 && b == 'X';
        }
    }
    EXPECT_EQ(answered, 100) << "clients left queued with no answer, neither echoed nor closed";
    EXPECT_GT(served, 0);
    EXPECT_LT(served, 100) << "with 64 descriptors, some of the storm must have been turned away";

    expect_echo(first, "still here", "first client, during the storm");
    // Once the storm leaves, new clients are served again. The server learns
    // of those 100 closes as it sweeps; a client that comes before it has may
    // still be turned away (closed at once), so a few tries are allowed.
    storm.clear();
    bool served_after = false;
    for (int attempt = 0; attempt < 20 && !served_after; ++attempt) {
        auto after = Connection::open(server.address());
        if (!after.send_all("after")) continue;
        auto got = after.recv_exact(5, Millis(10000));
        served_after = got && *got == "AFTER";
    }
    EXPECT_TRUE(served_after) << "no new client served after the storm";
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GT(server.counter("accept_errors"), 0u);
}

TEST_P(NonBlocking, RefusesBeyondMaxConnections) {
    ServerProcess server(server_named(GetParam()), {.args = {"--max-connections", "2"}});
    auto a = Connection::open(server.address());
    auto b = Connection::open(server.address());
    expect_echo(a, "a", "first client");
    expect_echo(b, "b", "second client");
    auto third = Connection::open(server.address());
    EXPECT_TRUE(third.expect_eof(Millis(10000))) << "a third client should be closed at once";
    expect_echo(a, "still", "first client, after the refusal");
    ASSERT_EQ(server.stop(), 0);
    EXPECT_EQ(server.counter("refused"), 1u);
    EXPECT_EQ(server.counter("peak_connections"), 2u);
}

INSTANTIATE_TEST_SUITE_P(Servers, NonBlocking, ::testing::Values("nio_server", "sigio_server"),
                         [](const auto& p) { return std::string(p.param); });

}  // namespace
}  // namespace iom::test
