// The multiplexing servers' own lessons and pitfalls, each against the real
// binary: select's FD_SETSIZE limit, what 5,000 idle clients cost poll and
// epoll per wait, the edge-triggered read-once stall, EMFILE without a spin,
// a client that never reads, and level-triggered epoll's conformance.
#include "client/check/check.hpp"
#include "client/lib/connection.hpp"
#include "built_servers.hpp"

#include <poll.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

namespace iom::test {
namespace {

using client::Connection;
using client::Millis;
using Clock = std::chrono::steady_clock;
using Clients = std::vector<std::unique_ptr<Connection>>;


Clients connect_many(const Address& server, std::size_t n) {
    Clients out;
    out.reserve(n);
    for (std::size_t i = 0; i < n; ++i) out.push_back(std::make_unique<Connection>(Connection::open(server)));
    return out;
}

bool echoes(Connection& c, const std::string& text, Millis timeout = Millis(10000)) {
    return c.send_all(text) && c.recv_exact(text.size(), timeout) == client::expected_echo(EchoMode::upper, text);
}

// What became of each client: asked to echo one byte, it was served, found
// its connection closed by the server, or heard nothing before the deadline.
enum class Fate { served, closed, silent };
struct Fates {
    std::vector<Fate> of;
    std::size_t count(Fate f) const { return static_cast<std::size_t>(std::count(of.begin(), of.end(), f)); }
};

// Ask all at once, then wait on all together: n clients cost one timeout, not n.
Fates probe(const Clients& clients, Millis timeout) {
    Fates f;
    f.of.assign(clients.size(), Fate::silent);
    std::vector<pollfd> waiting;
    for (const auto& c : clients) {
        ::send(c->fd(), "x", 1, MSG_NOSIGNAL);  // fails on a closed one: recv below says so
        waiting.push_back({c->fd(), POLLIN, 0});
    }
    std::size_t left = clients.size();
    auto deadline = Clock::now() + timeout;
    while (left > 0) {
        auto ms = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (ms <= 0 || ::poll(waiting.data(), waiting.size(), static_cast<int>(ms)) <= 0) break;
        for (std::size_t i = 0; i < waiting.size(); ++i) {
            if (waiting[i].fd < 0 || waiting[i].revents == 0) continue;
            char ch = 0;
            ssize_t n = ::recv(waiting[i].fd, &ch, 1, MSG_DONTWAIT);
            if (n < 0 && errno == EAGAIN) continue;
            f.of[i] = n == 1 && ch == 'X' ? Fate::served : Fate::closed;
            waiting[i].fd = -1;  // poll ignores negative descriptors
            --left;
        }
    }
    return f;
}

// A fresh client, retried until served or the deadline: once clients have
// left, the server frees their descriptors as it reads their EOFs.
bool new_client_served(const Address& server, Millis timeout = Millis(10000)) {
    auto deadline = Clock::now() + timeout;
    while (Clock::now() < deadline) {
        Clients one = connect_many(server, 1);
        auto f = probe(one, timeout);
        if (f.of[0] == Fate::served) return true;
        if (f.of[0] == Fate::silent) return false;
    }
    return false;
}

// --- select: FD_SETSIZE --------------------------------------------------------

TEST(Select, RefusesDescriptorsPastFdSetsizeAndServesTheRest) {
    constexpr std::size_t total = 1100;  // > FD_SETSIZE (1024) descriptors in the server
    if (raise_nofile_limit(4000) < total + 100) GTEST_SKIP() << "cannot open enough descriptors here";
    ServerProcess server(server_named("select_server"), {.args = {"--backlog", "2048"}, .nofile = 4000});

    Clients clients = connect_many(server.address(), 10);
    for (auto& c : clients) ASSERT_TRUE(echoes(*c, "early")) << "the first clients are surely accepted";
    for (auto& c : connect_many(server.address(), total - clients.size())) clients.push_back(std::move(c));

    Fates f = probe(clients, Millis(10000));
    EXPECT_TRUE(server.running()) << "FD_SET past the bitmap must never happen\n" << server.stderr_text();
    for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(f.of[i], Fate::served) << "early client " << i;
    EXPECT_GT(f.count(Fate::closed), 0u) << "connections on descriptors >= 1024 are closed at once";
    EXPECT_LE(f.count(Fate::served), 1024u);
    EXPECT_EQ(f.count(Fate::silent), 0u) << "every client is either served or closed";
    EXPECT_NE(server.stderr_text().find("FD_SETSIZE"), std::string::npos) << "one line per refused connection";

    clients.erase(clients.begin(), clients.begin() + 100);  // some leave...
    EXPECT_TRUE(new_client_served(server.address())) << "...and their descriptors serve a new client";
    EXPECT_TRUE(echoes(*clients.front(), "still here")) << "a client from before is still served";

    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GT(server.counter("refused"), 0u);
    EXPECT_LE(server.counter("peak_connections"), 1024u);
}

// --- poll vs epoll: what an idle connection costs per wait ------------------

struct IdleRun {
    std::uint64_t wait_calls, wait_fds, wait_ready, peak;
};

// Hold `idle` silent connections while one active client does `echoes` round
// trips; the counters say what the server's waits cost.
IdleRun hold_idle(const std::string& name, std::size_t idle, int round_trips) {
    ServerProcess server(server_named(name), {.args = {"--backlog", "4096"}, .nofile = idle + 500});
    Clients quiet = connect_many(server.address(), idle);
    Clients active = connect_many(server.address(), 1);
    // Accepted in order: once the active client is served, so are all the idle ones.
    for (int i = 0; i < round_trips; ++i) {
        if (!echoes(*active[0], "ping " + std::to_string(i))) {
            ADD_FAILURE() << name << ": round trip " << i << " failed\n" << server.stderr_text();
            break;
        }
    }
    EXPECT_TRUE(echoes(*quiet.front(), "first")) << name;
    EXPECT_TRUE(echoes(*quiet.back(), "last")) << name;
    EXPECT_EQ(server.stop(), 0) << name << server.stderr_text();
    return {server.counter("wait_calls"), server.counter("wait_fds"), server.counter("wait_ready"),
            server.counter("peak_connections")};
}

TEST(PollAndEpoll, HoldFiveThousandIdleConnectionsPollScansThemAllEpollNone) {
    constexpr std::size_t idle = 5000;
    constexpr int round_trips = 300;
    if (raise_nofile_limit(2 * idle + 1000) < idle + 200) GTEST_SKIP() << "cannot open enough descriptors here";

    IdleRun poll = hold_idle("poll_server", idle, round_trips);
    IdleRun epoll = hold_idle("epoll_server", idle, round_trips);
    for (const auto& [name, r] : {std::pair{"poll", poll}, std::pair{"epoll", epoll}}) {
        std::printf("%s: %llu waits, %.1f descriptors handed in and %.2f events returned per wait\n", name,
                    static_cast<unsigned long long>(r.wait_calls), double(r.wait_fds) / double(r.wait_calls),
                    double(r.wait_ready) / double(r.wait_calls));
    }
    EXPECT_GE(poll.peak, idle + 1);
    EXPECT_GE(epoll.peak, idle + 1);

    // poll: each round trip needed at least one poll over all 5,000+ entries.
    EXPECT_GE(poll.wait_fds, round_trips * idle) << "poll hands the kernel the whole array, every call";
    // epoll: nothing handed in per call; what comes back is what was ready.
    EXPECT_EQ(epoll.wait_fds, 0u);
    EXPECT_GE(epoll.wait_calls, static_cast<std::uint64_t>(round_trips));
    // Each connection is announced about once when it arrives (edge-triggered,
    // it is writable from the start), then only the active one: total events
    // grow with connections plus messages, never with connections x waits.
    EXPECT_LT(epoll.wait_ready, 3 * (idle + round_trips)) << "epoll returns what is ready, not what is watched";
    EXPECT_LT(epoll.wait_ready * 50, poll.wait_fds);
}

// --- epoll: edge triggering and the read-once bug -----------------------------

constexpr std::size_t burst = 64 << 10;  // four times --buffer-size: one recv cannot take it

// Send `burst` bytes in one go and read the echo; returns the bytes that came back.
std::string burst_echo(ServerProcess& server, Millis timeout) {
    auto c = Connection::open(server.address());
    const std::string input = client::random_bytes(burst, 42);
    EXPECT_TRUE(c.send_all(input));
    std::string partial;
    auto got = c.recv_exact(input.size(), timeout, &partial);
    if (!got) return partial;
    EXPECT_EQ(*got, client::expected_echo(EchoMode::upper, input));
    return *got;
}

TEST(Epoll, ReadOnceStallsUnderEdgeTriggering) {
    // Every segment that arrives is a new edge, and each edge buys one more
    // 1 KiB read. A loaded machine may deliver the burst in several segments
    // (4 x 16 KiB was once enough to read it all), never in 64.
    ServerProcess server(server_named("epoll_server"), {.args = {"--read-once", "--buffer-size", "1024"}});
    std::string got = burst_echo(server, Millis(3000));
    EXPECT_LT(got.size(), burst) << "the rest of the burst is never announced again: a stall";
    EXPECT_GT(got.size(), 0u);
    ASSERT_EQ(server.stop(), 0);
    EXPECT_LT(server.counter("recv_bytes"), burst) << "bytes left in the socket, unread";
}

class EpollBurst : public ::testing::TestWithParam<std::vector<std::string>> {};

std::string burst_mode_name(const ::testing::TestParamInfo<std::vector<std::string>>& p) {
    std::string n;
    for (const auto& a : p.param) n += (n.empty() ? "" : "_") + a.substr(2);
    for (char& ch : n)
        if (ch == '-') ch = '_';
    return n.empty() ? "edge" : n;
}

TEST_P(EpollBurst, IsEchoedInFull) {
    std::vector<std::string> args = GetParam();
    args.insert(args.end(), {"--buffer-size", "16384"});
    ServerProcess server(server_named("epoll_server"), {.args = args});
    EXPECT_EQ(burst_echo(server, Millis(10000)).size(), burst) << server.stderr_text();
    ASSERT_EQ(server.stop(), 0);
    EXPECT_GE(server.counter("recv_calls"), 4u) << "the burst really took more than one recv";
}

INSTANTIATE_TEST_SUITE_P(Modes, EpollBurst,
                         ::testing::Values(std::vector<std::string>{},  // edge-triggered, read until EAGAIN
                                           std::vector<std::string>{"--level"},
                                           // level-triggered forgives one read per wakeup: it reports again
                                           std::vector<std::string>{"--level", "--read-once"}),
                         burst_mode_name);

TEST(Epoll, LevelTriggeredPassesEveryConformanceCase) {
    for (const auto& c : client::check_cases()) {
        ServerProcess server(server_named("epoll_server"), {.args = {"--level"}});
        client::CheckOptions opt;
        opt.server = server.address();
        auto r = client::run_case(c.name, opt);
        EXPECT_TRUE(r.passed()) << c.name << ": " << r.detail;
        EXPECT_EQ(server.stop(), 0) << c.name << server.stderr_text();
    }
}

// --- all three: EMFILE, a client that never reads -----------------------------

// Each server, and epoll level-triggered too: its interest must follow the
// connection's state, or a full buffer or a dead listener spins.
struct Variant {
    std::string server;
    std::vector<std::string> args;
    std::string label;
};
const std::vector<Variant> variants = {
    {"select_server", {}, "select_server"},
    {"poll_server", {}, "poll_server"},
    {"epoll_server", {}, "epoll_server"},
    {"epoll_server", {"--level"}, "epoll_server_level"},
    {"epoll_pool_server", {}, "epoll_pool_server"},
    {"epoll_loops_server", {"--loops", "2"}, "epoll_loops_server"},
    {"epoll_loops_server", {"--loops", "2", "--accept", "handoff"}, "epoll_loops_server_handoff"},
};

void PrintTo(const Variant& v, std::ostream* os) { *os << v.label; }

class Mux : public ::testing::TestWithParam<Variant> {};

TEST_P(Mux, OutOfDescriptorsNeitherSpinsNorDropsClients) {
    raise_nofile_limit(1000);
    ServerProcess server(server_named(GetParam().server), {.args = GetParam().args, .nofile = 64});
    Clients first = connect_many(server.address(), 1);
    ASSERT_TRUE(echoes(*first[0], "first"));

    constexpr std::size_t storm_size = 150;  // far more than 64 descriptors
    Clients storm = connect_many(server.address(), storm_size);
    Fates f = probe(storm, Millis(10000));
    EXPECT_GT(f.count(Fate::closed), 0u) << "some clients could not be held";
    EXPECT_EQ(f.count(Fate::silent), 0u) << "none is left hanging in the backlog";

    // A measuring window, not synchronisation: a server retrying accept on
    // EMFILE would burn a whole core through it.
    double cpu0 = server.cpu_seconds();
    std::this_thread::sleep_for(std::chrono::seconds(1));
    EXPECT_LT(server.cpu_seconds() - cpu0, 0.3) << "EMFILE must not spin";

    EXPECT_TRUE(echoes(*first[0], "still served")) << "an existing client is not dropped";
    storm.clear();
    EXPECT_TRUE(new_client_served(server.address())) << "descriptors freed: new clients served again";
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GT(server.counter("accept_errors"), 0u);
    EXPECT_LE(server.counter("accept_errors"), storm_size) << "at most one EMFILE per arrival, never a retry loop";
    EXPECT_GT(server.counter("refused"), 0u);
}

TEST_P(Mux, ClientThatNeverReadsCannotGrowTheServerNorSpinIt) {
    ServerProcess server(server_named(GetParam().server), {.args = GetParam().args});
    auto other = Connection::open(server.address());
    ASSERT_TRUE(echoes(other, "warm up"));
    long memory0 = server.memory_kib();

    // Write up to 16 MiB and read nothing, for at most a few seconds: the
    // server must stop reading once its bounded output is full (backpressure).
    auto hog = Connection::open(server.address());
    // A small receive buffer: the kernel cannot soak up much of the echo on
    // our side, so a server without a bound would have to keep it in memory.
    int small = 64 << 10;
    ::setsockopt(hog.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    const std::size_t total = 16 << 20;
    const std::string chunk(64 << 10, 'a');
    std::size_t sent = 0;
    double cpu_at_last_send = server.cpu_seconds();
    auto deadline = Clock::now() + std::chrono::seconds(5);
    while (sent < total && Clock::now() < deadline) {
        pollfd p{hog.fd(), POLLOUT, 0};
        if (::poll(&p, 1, 500) <= 0) break;  // no room for half a second: the server stopped reading
        ssize_t n = ::send(hog.fd(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            sent += static_cast<std::size_t>(n);
            cpu_at_last_send = server.cpu_seconds();
        } else if (errno != EAGAIN) {
            break;
        }
    }
    // If all of it left us, give the server's side time to take it (a bounded
    // observation): until our kernel has nothing unacknowledged, or that
    // stops changing.
    for (int last = -1; sent == total && Clock::now() < deadline;) {
        int unacked = 0;
        ::ioctl(hog.fd(), SIOCOUTQ, &unacked);
        if (unacked == 0 || unacked == last) break;
        last = unacked;
        std::this_thread::sleep_for(Millis(500));
    }
    long growth = server.memory_kib() - memory0;
    EXPECT_LT(growth, 8 * 1024) << "KiB grown after the hog sent " << sent << " bytes";
    // While the hog is stuck, a server still asking to read it (or to write
    // to its full socket) would be told "ready" on every wait: a spin.
    EXPECT_LT(server.cpu_seconds() - cpu_at_last_send, 0.25) << "CPU seconds in the last 0.5 s, with nothing to do";
    EXPECT_TRUE(echoes(other, "still served"));
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    // The same, counted: a correct server waits a few dozen times here; a
    // spinning one, on a busy machine that starves it of CPU, thousands.
    EXPECT_LT(server.counter("wait_calls"), 5000u) << "waits told 'ready' with nothing to do";
}

// A short message with the FIN right behind it, arriving together: the echo,
// then EOF. Edge-triggered, a server that takes a short read for "drained"
// never sees that FIN (it was announced with the data) and never closes.
TEST_P(Mux, HalfCloseRightBehindData) {
    ServerProcess server(server_named(GetParam().server), {.args = GetParam().args});
    for (int i = 0; i < 20; ++i) {
        auto c = Connection::open(server.address());
        ASSERT_TRUE(c.send_all("bye"));
        c.shutdown_write();
        ASSERT_EQ(c.recv_exact(3, Millis(10000)), "BYE") << "round " << i;
        ASSERT_TRUE(c.expect_eof(Millis(5000))) << "round " << i << ": the server never saw the FIN";
    }
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

std::string variant_name(const ::testing::TestParamInfo<Variant>& p) { return p.param.label; }

INSTANTIATE_TEST_SUITE_P(Servers, Mux, ::testing::ValuesIn(variants), variant_name);

}  // namespace
}  // namespace iom::test
