// --idle-timeout, for every server: a connection with no progress in either
// direction for that long is closed and counted (idle_timeouts); one that
// keeps talking is not; without the option nothing is ever closed for
// idleness. Each test starts its own server and uses one client at a time
// (plus, where the model serves several, a second one), so the sequential
// bio_server is tested the same way.
#include "client/lib/connection.hpp"
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <chrono>
#include <thread>

namespace iom::test {
namespace {

using client::Connection;
using client::Millis;

class IdleTimeout : public ::testing::TestWithParam<ServerSpec> {};

const std::vector<std::string> one_second = {"--idle-timeout", "1"};

// Echo one message, to prove the connection is being served.
void echo_once(Connection& c, const std::string& msg) {
    ASSERT_TRUE(c.send_all(msg));
    auto back = c.recv_exact(msg.size(), Millis(10000));
    ASSERT_TRUE(back);
    EXPECT_EQ(*back, client::expected_echo(EchoMode::upper, msg));
}

TEST_P(IdleTimeout, SilentClientIsClosedAndCounted) {
    ServerProcess server(GetParam(), {.args = one_second});
    auto c = Connection::open(server.address());
    echo_once(c, "hello, then nothing");
    // Silent from here on: the server closes it (EOF, or a reset) well within 10 s.
    EXPECT_TRUE(c.expect_eof(Millis(10000))) << "a silent client must be closed by --idle-timeout 1";
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GE(server.counter("idle_timeouts"), 1u);
}

TEST_P(IdleTimeout, ClientThatKeepsTalkingIsNotClosed) {
    ServerProcess server(GetParam(), {.args = one_second});
    auto c = Connection::open(server.address());
    // A message every 200 ms for 3 s: never 1 s without progress.
    for (int i = 0; i < 15; ++i) {
        echo_once(c, "tick " + std::to_string(i));
        if (HasFatalFailure()) return;
        std::this_thread::sleep_for(Millis(200));
    }
    echo_once(c, "still here");
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_EQ(server.counter("idle_timeouts"), 0u);
}

// Offer bytes without reading any reply until the kernel takes no more for
// half a second: the whole pipe (our send buffer, the server's receive
// buffer, its own buffer, its send buffer, our receive buffer) is full, so the
// server is stuck on output. Bounded at 32 MiB.
void fill_the_pipe(int fd) {
    const std::string chunk(1 << 20, 'x');
    for (std::size_t total = 0; total < (32u << 20);) {
        ssize_t n = ::send(fd, chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n > 0) {
            total += static_cast<std::size_t>(n);
            continue;
        }
        ASSERT_TRUE(n < 0 && (errno == EAGAIN || errno == EINTR)) << "send failed: errno " << errno;
        pollfd p{.fd = fd, .events = POLLOUT, .revents = 0};
        if (::poll(&p, 1, 500) == 0) return;  // no room for half a second: stuck
    }
}

// True once the connection has been closed by the server: reset, or hung up
// (both directions shut). Looks without reading, which would be progress.
bool closed_within(int fd, Millis timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd p{.fd = fd, .events = 0, .revents = 0};
        if (::poll(&p, 1, 100) > 0 && (p.revents & (POLLHUP | POLLERR))) return true;
    }
    return false;
}

TEST_P(IdleTimeout, ClientThatNeverReadsIsClosedOthersAreServed) {
    ServerProcess server(GetParam(), {.args = one_second});
    auto stuck = Connection::open(server.address());
    fill_the_pipe(stuck.fd());
    if (HasFatalFailure()) return;
    stuck.shutdown_write();  // says nothing more, and never reads: its output is stuck
    if (!GetParam().has("sequential")) {
        auto other = Connection::open(server.address());
        echo_once(other, "served meanwhile");
    }
    EXPECT_TRUE(closed_within(stuck.fd(), Millis(10000))) << "a client whose output is stuck must be closed";
    // The iterative server serves the next client only now.
    auto next = Connection::open(server.address());
    echo_once(next, "served after");
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GE(server.counter("idle_timeouts"), 1u);
}

TEST_P(IdleTimeout, OffByDefault) {
    ServerProcess server(GetParam());
    auto c = Connection::open(server.address());
    echo_once(c, "hello, then nothing");
    EXPECT_TRUE(c.expect_silence(Millis(3000))) << "without --idle-timeout a silent client stays open";
    echo_once(c, "still served");
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_EQ(server.counter("idle_timeouts"), 0u);
}

INSTANTIATE_TEST_SUITE_P(AllServers, IdleTimeout, ::testing::ValuesIn(all_servers()), ServerName());

}  // namespace
}  // namespace iom::test
