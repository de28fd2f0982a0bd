// iom::nb::pump(), the echo step every non-blocking server shares, on a
// socketpair: its read budget (FAIRNESS in nonblocking/connection.hpp).
#include "nonblocking/connection.hpp"

#include <fcntl.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <string>
#include <thread>

namespace iom::nb {
namespace {

struct Pair {  // ours: non-blocking, as the servers' sockets are
    Fd ours, peer;
    Pair() {
        int sv[2];
        EXPECT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
        ours = Fd(sv[0]), peer = Fd(sv[1]);
        ::fcntl(sv[0], F_SETFL, O_NONBLOCK);
    }
    void feed(std::size_t n) {  // queue n bytes for `ours` to read
        std::string bytes(n, 'a');
        ASSERT_EQ(::send(peer.get(), bytes.data(), n, 0), static_cast<ssize_t>(n));
    }
    std::size_t drain() {  // what `ours` echoed, read on the peer's side
        std::string sink(1 << 20, '\0');
        ssize_t n = ::recv(peer.get(), sink.data(), sink.size(), MSG_DONTWAIT);
        return n > 0 ? static_cast<std::size_t>(n) : 0;
    }
};

ServerOptions plain() {
    ServerOptions opt;
    opt.echo = EchoMode::plain;
    return opt;
}

TEST(Pump, ReadsAtMostItsBudgetPerTurnAndSaysInputWasLeft) {
    Pair p;
    constexpr std::size_t buffer = 64;
    p.feed(buffer * (kReadsPerTurn + 10));  // more than one turn's worth
    Connection c(std::move(p.ours), buffer);
    Counters k;
    Interest in = pump(c, plain(), k, Reads::until_eagain);
    EXPECT_TRUE(in.open);
    EXPECT_TRUE(in.unfinished) << "input was left: the caller must come back";
    EXPECT_EQ(k.recv_calls, static_cast<std::uint64_t>(kReadsPerTurn));
    EXPECT_EQ(k.recv_bytes, buffer * kReadsPerTurn);
    EXPECT_EQ(p.drain(), buffer * kReadsPerTurn) << "what it read, it echoed";

    // The next turn goes on where this one stopped, and ends when nothing is left.
    in = pump(c, plain(), k, Reads::until_eagain);
    EXPECT_FALSE(in.unfinished);
    EXPECT_EQ(k.recv_bytes, buffer * (kReadsPerTurn + 10));
    EXPECT_EQ(k.recv_eagain, 1u);
}

TEST(Pump, ATurnThatEmptiesTheSocketIsFinished) {
    Pair p;
    p.feed(100);  // a short read: nothing more is queued
    Connection c(std::move(p.ours), 64);
    Counters k;
    Interest in = pump(c, plain(), k, Reads::until_drained);
    EXPECT_FALSE(in.unfinished);
    EXPECT_EQ(k.recv_bytes, 100u);
}

}  // namespace
}  // namespace iom::nb
