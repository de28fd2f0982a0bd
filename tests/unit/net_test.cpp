#include "common/error.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

#include <fcntl.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <stdexcept>
#include <system_error>

namespace iom {
namespace {

TEST(Fd, ClosesOnDestructionAndMoves) {
    int raw;
    {
        Fd a(::open("/dev/null", O_RDONLY));
        raw = a.get();
        ASSERT_GE(raw, 0);
        Fd b(std::move(a));
        EXPECT_FALSE(a);
        EXPECT_EQ(b.get(), raw);
        EXPECT_NE(fcntl(raw, F_GETFD), -1);
    }
    EXPECT_EQ(fcntl(raw, F_GETFD), -1);  // closed
}

TEST(Fd, ReleaseGivesUpOwnership) {
    Fd a(::open("/dev/null", O_RDONLY));
    int raw = a.release();
    EXPECT_FALSE(a);
    EXPECT_NE(fcntl(raw, F_GETFD), -1);
    ::close(raw);
}

TEST(Address, ParsesIpv4Ipv6AndLocalhost) {
    EXPECT_EQ(parse_address("127.0.0.1", 9001).to_string(), "127.0.0.1:9001");
    EXPECT_EQ(parse_address("localhost", 80).to_string(), "127.0.0.1:80");
    EXPECT_EQ(parse_address("::1", 9001).to_string(), "[::1]:9001");
    EXPECT_EQ(parse_address("[::1]", 9001).to_string(), "[::1]:9001");
    EXPECT_EQ(parse_address("0.0.0.0", 1).family(), AF_INET);
    EXPECT_EQ(parse_address("::", 1).family(), AF_INET6);
}

TEST(Address, KnowsLoopback) {
    EXPECT_TRUE(parse_address("127.0.0.1", 1).is_loopback());
    EXPECT_TRUE(parse_address("127.1.2.3", 1).is_loopback());
    EXPECT_TRUE(parse_address("::1", 1).is_loopback());
    EXPECT_FALSE(parse_address("0.0.0.0", 1).is_loopback());
    EXPECT_FALSE(parse_address("::", 1).is_loopback());
}

TEST(Address, RejectsNamesWithAClearMessage) {
    try {
        parse_address("example.org", 1);
        FAIL();
    } catch (const std::invalid_argument& e) {
        EXPECT_NE(std::string(e.what()).find("example.org"), std::string::npos);
    }
}

TEST(Listen, PortZeroGetsARealPortAndConnectWorks) {
    Fd l = listen_tcp(parse_address("127.0.0.1", 0), 16, false);
    Address bound = local_address(l.get());
    EXPECT_NE(bound.port(), 0);
    Fd c = connect_tcp(bound);
    int v = 0;
    socklen_t len = sizeof v;
    getsockopt(c.get(), IPPROTO_TCP, TCP_NODELAY, &v, &len);
    EXPECT_NE(v, 0) << "connect_tcp sets TCP_NODELAY";
}

TEST(Listen, Ipv6Loopback) {
    Fd l = listen_tcp(parse_address("::1", 0), 16, false);
    Address bound = local_address(l.get());
    Fd c = connect_tcp(bound);
    EXPECT_EQ(peer_address(c.get()).to_string(), bound.to_string());
}

TEST(Listen, PortInUseNamesTheCallAndAddress) {
    Fd first = listen_tcp(parse_address("127.0.0.1", 0), 16, false);
    Address bound = local_address(first.get());
    try {
        listen_tcp(bound, 16, false);
        FAIL() << "second bind should fail";
    } catch (const std::system_error& e) {
        EXPECT_EQ(std::string(e.what()), "bind " + bound.to_string() + ": Address already in use");
        EXPECT_EQ(e.code().value(), EADDRINUSE);
    }
}

TEST(Address, PeerOfAResetConnectionIsNotAnError) {
    Fd l = listen_tcp(parse_address("127.0.0.1", 0), 16, false);
    Fd c = connect_tcp(local_address(l.get()));
    linger lg{1, 0};
    setsockopt(c.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    c.reset();  // RST before the server accepts
    Fd s(accept(l.get(), nullptr, nullptr));
    ASSERT_TRUE(s);
    EXPECT_EQ(peer_address(s.get()).to_string(), "(disconnected)");
}

TEST(Listen, NonblockingFlag) {
    Fd l = listen_tcp(parse_address("127.0.0.1", 0), 16, true);
    EXPECT_TRUE(fcntl(l.get(), F_GETFL) & O_NONBLOCK);
    set_nonblocking(l.get(), false);
    EXPECT_FALSE(fcntl(l.get(), F_GETFL) & O_NONBLOCK);
}

TEST(Connect, RefusedNamesTheAddress) {
    Fd l = listen_tcp(parse_address("127.0.0.1", 0), 16, false);
    Address bound = local_address(l.get());
    l.reset();  // nobody listens there now
    try {
        connect_tcp(bound);
        FAIL();
    } catch (const std::system_error& e) {
        EXPECT_EQ(std::string(e.what()), "connect " + bound.to_string() + ": Connection refused");
    }
}

TEST(CheckSys, PassesResultsThroughAndThrowsOnMinusOne) {
    EXPECT_EQ(check_sys(5, "x"), 5);
    errno = EBADF;
    try {
        check_sys(-1, "close fd {}", 42);
        FAIL();
    } catch (const std::system_error& e) {
        EXPECT_EQ(std::string(e.what()), "close fd 42: Bad file descriptor");
    }
}

}  // namespace
}  // namespace iom
