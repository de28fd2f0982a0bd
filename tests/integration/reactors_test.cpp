// The reactor's two answers to a slow handler (docs/multiplexing.md, Three
// reactors), beyond what every server is held to (conformance, contract,
// hostile, idle, fairness: those iterate over every server):
//   epoll_pool_server   the queue to the pool is bounded: when it is full, a
//                       connection with a message to hand off is not read
//                       any further; replies keep their order; --trace shows
//                       the hand-off from the loop's thread to a worker's.
//   epoll_loops_server  --accept handoff deals connections round robin,
//                       exactly; reuseport lets every loop's listener take
//                       some; --max-connections holds for the whole server.
// Per-loop figures come from the live counters (a slot per loop, loops=1),
// read while the server runs.
#include "client/lib/connection.hpp"
#include "built_servers.hpp"
#include "common/live_counters.hpp"

#include <gtest/gtest.h>

#include <fmt/format.h>

#include <chrono>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace iom::test {
namespace {

using client::Connection;
using client::Millis;
using Clock = std::chrono::steady_clock;

LiveServer live(const ServerProcess& srv) {
    auto s = read_live_file(fmt::format("{}/iomodels-{}-{}", live_dir(), srv.spec().name, srv.pid()));
    if (!s) throw std::runtime_error("no live counters for " + srv.spec().name);
    return *s;
}

// Wait (at most 20 s: a generous timeout, not a measurement) until `done` holds for the live counters.
bool eventually(const ServerProcess& srv, const std::function<bool(const LiveServer&)>& done) {
    for (auto deadline = Clock::now() + std::chrono::seconds(20); Clock::now() < deadline;) {
        if (done(live(srv))) return true;
        std::this_thread::sleep_for(Millis(10));
    }
    return false;
}

// Each loop's own counters: the slots marked loops=1, in slot order.
std::vector<Counters> loop_slots(const ServerProcess& srv) {
    std::vector<Counters> out;
    for (const Counters& c : live(srv).slots)
        if (c.loops == 1) out.push_back(c);
    return out;
}

std::string upper(const std::string& s) { return client::expected_echo(EchoMode::upper, s); }

// One worker, one place in the queue, half a second per message: A is being
// handled, B waits in the queue, C's first message finds it full. C is then
// not read at all until a place frees: what it sends meanwhile stays in the
// kernel (recv_bytes does not move). Every reply comes back, in order.
TEST(EpollPoolServer, AFullQueueStopsReadingTheConnectionsThatFoundItFull) {
    ServerProcess server(server_named("epoll_pool_server"),
                         {.args = {"--threads", "1", "--queue", "1", "--work-us", "500000", "--buffer-size", "4096"}});
    auto a = Connection::open(server.address()), b = Connection::open(server.address()),
         c = Connection::open(server.address());
    const std::string ma(100, 'a'), mb(100, 'b'), mc(100, 'c'), more = client::random_bytes(4000, 1);
    ASSERT_TRUE(a.send_all(ma));
    ASSERT_TRUE(eventually(server, [](const LiveServer& s) { return s["handoffs"] >= 1; }));  // a worker has A
    ASSERT_TRUE(b.send_all(mb));
    ASSERT_TRUE(eventually(server, [](const LiveServer& s) { return s["recv_bytes"] == 200; }));  // B is queued
    ASSERT_TRUE(c.send_all(mc));
    ASSERT_TRUE(eventually(server, [](const LiveServer& s) { return s["queue_full"] >= 1; }));
    ASSERT_TRUE(c.send_all(more));
    std::this_thread::sleep_for(Millis(100));  // room for a wrong server to read it; a right one cannot for 0.4 s
    EXPECT_EQ(live(server)["recv_bytes"], 300u) << "C was read while its message waited for a place";

    EXPECT_EQ(a.recv_exact(100, Millis(20000)), upper(ma));
    EXPECT_EQ(b.recv_exact(100, Millis(20000)), upper(mb));
    EXPECT_EQ(c.recv_exact(100 + more.size(), Millis(20000)), upper(mc + more)) << "C's replies, in order";
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_EQ(server.counter("queue_peak"), 1u) << "never more than --queue messages wait";
    EXPECT_GE(server.counter("queue_full"), 1u);
    // No client closed: every recv brought a message or EAGAIN.
    EXPECT_EQ(server.counter("handoffs"), 2 * (server.counter("recv_calls") - server.counter("recv_eagain")))
        << "each message that was read went to a worker and came back";
}

// Many connections, a small pool: every stream comes back whole and in
// order, however the messages of different connections interleave.
TEST(EpollPoolServer, EveryConnectionsRepliesKeepTheirOrder) {
    ServerProcess server(server_named("epoll_pool_server"),
                         {.args = {"--threads", "3", "--queue", "4", "--buffer-size", "1024"}});
    std::vector<std::thread> clients;
    std::vector<int> ok(16, 0);
    for (int i = 0; i < 16; ++i)
        clients.emplace_back([&, i] {
            auto conn = Connection::open(server.address());
            const std::string input = client::random_bytes(64 << 10, static_cast<std::uint64_t>(i));
            std::thread sender([&] { conn.send_all(input); });
            ok[i] = conn.recv_exact(input.size(), Millis(30000)) == upper(input);
            sender.join();
        });
    for (auto& t : clients) t.join();
    for (int i = 0; i < 16; ++i) EXPECT_TRUE(ok[i]) << "client " << i;
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_LE(server.counter("queue_peak"), 4u);
}

// The trace shows the hand-off and the wake-up, each on its own thread.
TEST(EpollPoolServer, TraceShowsTheHandOffBetweenThreads) {
    ServerProcess server(server_named("epoll_pool_server"), {.args = {"--trace", "--threads", "1"}});
    auto c = Connection::open(server.address());
    ASSERT_TRUE(c.send_all("hi"));
    ASSERT_EQ(c.recv_exact(2, Millis(10000)), "HI");
    ASSERT_EQ(server.stop(), 0);
    const std::string err = server.stderr_text();
    auto tid_of = [&](const std::string& what) {  // "[    0.001234 4321] what..." -> "4321"
        auto at = err.find(what);
        if (at == std::string::npos) return "missing: " + what;
        std::istringstream line(err.substr(err.rfind('[', at) + 1));
        std::string time, tid;
        line >> time >> tid;
        return tid;
    };
    const std::string loop = tid_of("bytes handed to the pool"), worker = tid_of("worker takes fd");
    EXPECT_EQ(tid_of("eventfd write wakes the loop"), worker) << err;
    EXPECT_EQ(tid_of("eventfd read:"), loop) << err;
    EXPECT_NE(loop, worker) << err;
}

// Round robin is exact: 10 connections over 3 loops are 4, 3 and 3, counted
// by each loop as hand-offs it took from its pipe.
TEST(EpollLoopsServer, HandoffDealsRoundRobin) {
    ServerProcess server(server_named("epoll_loops_server"), {.args = {"--loops", "3", "--accept", "handoff"}});
    std::vector<Connection> conns;
    for (int i = 0; i < 10; ++i) {
        conns.push_back(Connection::open(server.address()));
        ASSERT_TRUE(conns.back().send_all("x"));
        ASSERT_EQ(conns.back().recv_exact(1, Millis(10000)), "X");
    }
    auto loops = loop_slots(server);
    ASSERT_EQ(loops.size(), 3u);
    EXPECT_EQ(loops[0].handoffs, 4u);
    EXPECT_EQ(loops[1].handoffs, 3u);
    EXPECT_EQ(loops[2].handoffs, 3u);
    for (const auto& l : loops) EXPECT_EQ(l.accepts, 0u) << "only the acceptor accepts";
    EXPECT_EQ(live(server)["accepts"], 10u);
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
}

// SO_REUSEPORT: every loop listens, and the kernel's hash gives each some of
// 200 connections (all on one loop would be a 1 in 2^199 chance).
TEST(EpollLoopsServer, ReuseportGivesEveryLoopSomeConnections) {
    ServerProcess server(server_named("epoll_loops_server"), {.args = {"--loops", "2"}});
    std::vector<Connection> conns;
    for (int i = 0; i < 200; ++i) conns.push_back(Connection::open(server.address()));
    ASSERT_TRUE(eventually(server, [](const LiveServer& s) { return s["accepts"] >= 200; }));
    auto loops = loop_slots(server);
    ASSERT_EQ(loops.size(), 2u);
    EXPECT_EQ(loops[0].accepts + loops[1].accepts, 200u);
    EXPECT_GT(loops[0].accepts, 0u);
    EXPECT_GT(loops[1].accepts, 0u);
    for (auto& c : conns) ASSERT_TRUE(c.send_all("y") && c.recv_exact(1, Millis(10000)) == "Y");
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_EQ(server.counter("peak_connections"), 200u) << "the whole server's, not one loop's";
}

// --max-connections is the server's, whichever loop accepts: exactly that many are served.
TEST(EpollLoopsServer, MaxConnectionsHoldsAcrossLoops) {
    for (const char* mode : {"reuseport", "handoff"}) {
        ServerProcess server(server_named("epoll_loops_server"),
                             {.args = {"--loops", "2", "--accept", mode, "--max-connections", "10"}});
        std::vector<Connection> conns;
        int served = 0, closed = 0;
        for (int i = 0; i < 14; ++i) {
            conns.push_back(Connection::open(server.address()));
            if (conns.back().send_all("z") && conns.back().recv_exact(1, Millis(10000)) == "Z") ++served;
            else ++closed;
        }
        EXPECT_EQ(served, 10) << mode;
        EXPECT_EQ(closed, 4) << mode;
        ASSERT_EQ(server.stop(), 0) << server.stderr_text();
        EXPECT_EQ(server.counter("refused"), 4u) << mode;
    }
}

// The trace shows the acceptor dealing a connection and a loop taking it, on two threads.
TEST(EpollLoopsServer, TraceShowsTheDealBetweenThreads) {
    ServerProcess server(server_named("epoll_loops_server"), {.args = {"--trace", "--loops", "2", "--accept", "handoff"}});
    auto c = Connection::open(server.address());
    ASSERT_TRUE(c.send_all("hi"));
    ASSERT_EQ(c.recv_exact(2, Millis(10000)), "HI");
    ASSERT_EQ(server.stop(), 0);
    const std::string err = server.stderr_text();
    EXPECT_NE(err.find("dealt to loop 1 (a write to its pipe)"), std::string::npos) << err;
    EXPECT_NE(err.find("handed over by the acceptor, served by loop 1"), std::string::npos) << err;
}

}  // namespace
}  // namespace iom::test
