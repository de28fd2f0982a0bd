// Fairness: a client that floods the server (it sends as fast as it can and
// reads its echo just as fast, so its socket never drains) must not starve
// another client of the same server. An event loop that reads a ready socket
// "until nothing is left" never leaves a socket that is always refilled, so
// pump() ends a turn after a read budget (nonblocking/connection.hpp; the
// budget itself: unit/pump_test.cpp). The flood itself, against every server,
// is the hostile case `flood` (hostile_test: AllServers/Hostile.Case/*_flood).
//
// Here: the edge-triggered servers must then come back by themselves to the
// input a turn left, for nobody will announce it again.
#include "client/lib/connection.hpp"
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iom::test {
namespace {

using client::Connection;
using client::Millis;

// Edge-triggered servers are not told again of input that a turn left
// unread: they must come back to it by themselves (epoll_server's `again`
// list, sigio_server's sweep without sleep). 64 KiB into 1 KiB buffers takes
// 64 reads, four turns; forgotten after the first, the echo stops short.
class BeyondOneTurn : public ::testing::TestWithParam<std::string> {};

TEST_P(BeyondOneTurn, ABurstIsEchoedInFull) {
    ServerProcess server(server_named(GetParam()), {.args = {"--buffer-size", "1024"}});
    auto c = Connection::open(server.address());
    const std::string input = client::random_bytes(64 << 10, 7);
    ASSERT_TRUE(c.send_all(input));
    std::string partial;
    auto got = c.recv_exact(input.size(), Millis(10000), &partial);
    ASSERT_TRUE(got) << "the echo stopped after " << partial.size() << " of " << input.size() << " bytes";
    EXPECT_EQ(*got, client::expected_echo(EchoMode::upper, input));
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
}

// epoll_loops_server keeps an `again` list per loop; epoll_pool_server reads
// one buffer at a time and reads on when the reply is back.
INSTANTIATE_TEST_SUITE_P(EdgeTriggered, BeyondOneTurn,
                         ::testing::Values("epoll_server", "sigio_server", "epoll_pool_server", "epoll_loops_server"),
                         [](const auto& p) { return p.param; });

}  // namespace
}  // namespace iom::test
