// The contract of DESIGN.md, checked for every server of the build: the
// ready line, --stats-file, --trace, clean stops on SIGTERM and SIGINT (even
// with a client connected, blocked mid-call), one-line errors for a port in
// use and for a bad option, SIGPIPE never fatal, and which servers serve
// one client at a time.
#include "client/check.hpp"
#include "common/net.hpp"
#include "server_process.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <signal.h>

namespace iom::test {
namespace {

using client::Connection;
using client::Millis;

class Contract : public ::testing::TestWithParam<ServerSpec> {};

int lines(const std::string& s) { return static_cast<int>(std::count(s.begin(), s.end(), '\n')); }

TEST_P(Contract, ReadyLineIsTheOnlyStdoutAndNamesTheRealPort) {
    ServerProcess server(GetParam());
    EXPECT_EQ(server.ready_line(), "listening on 127.0.0.1:" + std::to_string(server.port()));
    EXPECT_NE(server.port(), 0);
    EXPECT_EQ(server.stop(), 0);
}

TEST_P(Contract, CountersAreWrittenAtExit) {
    ServerProcess server(GetParam());
    {
        auto c = Connection::open(server.address());
        ASSERT_TRUE(c.send_all("count me"));
        ASSERT_TRUE(c.recv_exact(8, Millis(10000)));
    }
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GE(server.counter("accepts"), 1u);
    EXPECT_GE(server.counter("recv_bytes"), 8u);
    EXPECT_GE(server.counter("send_bytes"), 8u);
    EXPECT_GE(server.counter("recv_calls"), 1u);
    EXPECT_NE(server.stderr_text().find(GetParam().name + " counters: "), std::string::npos);
}

TEST_P(Contract, TraceShowsEachWait) {
    ServerProcess server(GetParam(), {.args = {"--trace"}});
    {
        auto c = Connection::open(server.address());
        ASSERT_TRUE(c.send_all("traced"));
        ASSERT_TRUE(c.recv_exact(6, Millis(10000)));
    }
    ASSERT_EQ(server.stop(), 0);
    std::string err = server.stderr_text();
    EXPECT_NE(err.find("] "), std::string::npos) << "timestamped lines";
    EXPECT_NE(err.find("recv"), std::string::npos) << err;
}

TEST_P(Contract, NoTraceByDefault) {
    ServerProcess server(GetParam());
    {
        auto c = Connection::open(server.address());
        ASSERT_TRUE(c.send_all("quiet"));
        ASSERT_TRUE(c.recv_exact(5, Millis(10000)));
    }
    ASSERT_EQ(server.stop(), 0);
    EXPECT_EQ(server.stderr_text().find("recv("), std::string::npos) << server.stderr_text();
}

TEST_P(Contract, SigtermWithAClientConnectedExitsZero) {
    ServerProcess server(GetParam());
    auto c = Connection::open(server.address());
    ASSERT_TRUE(c.send_all("x"));
    ASSERT_TRUE(c.recv_exact(1, Millis(10000)));  // the server is now blocked waiting on us (or idle)
    EXPECT_EQ(server.stop(SIGTERM), 0) << server.stderr_text();
    EXPECT_TRUE(c.expect_eof(Millis(10000))) << "the server closes its connections when it stops";
}

TEST_P(Contract, SigintExitsZero) {
    ServerProcess server(GetParam());
    EXPECT_EQ(server.stop(SIGINT), 0) << server.stderr_text();
}

TEST_P(Contract, PortInUseIsOneLineAndNonZero) {
    Fd taken = listen_tcp(parse_address("127.0.0.1", 0), 4, false);
    auto port = std::to_string(local_address(taken.get()).port());
    auto r = run_command({GetParam().path, "--port", port}, {}, Millis(20000));
    EXPECT_NE(r.exit_code, 0);
    EXPECT_EQ(r.out, "");
    EXPECT_EQ(lines(r.err), 1) << r.err;
    EXPECT_NE(r.err.find("bind 127.0.0.1:" + port + ": Address already in use"), std::string::npos) << r.err;
}

TEST_P(Contract, BadOptionIsOneLineAndNonZero) {
    for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
             {"--port", "65536"}, {"--echo", "loud"}, {"--no-such-option"}, {"--host", "not-an-address"}}) {
        std::vector<std::string> argv{GetParam().path};
        argv.insert(argv.end(), bad.begin(), bad.end());
        auto r = run_command(argv, {}, Millis(20000));
        EXPECT_NE(r.exit_code, 0) << bad[0];
        EXPECT_EQ(lines(r.err), 1) << bad[0] << ": " << r.err;
        EXPECT_EQ(r.err.rfind(GetParam().name + ": ", 0), 0u) << r.err;
    }
}

TEST_P(Contract, HelpExplainsEveryCommonOption) {
    auto r = run_command({GetParam().path, "--help"}, {}, Millis(20000));
    EXPECT_EQ(r.exit_code, 0);
    for (const char* opt : {"--host", "--port", "--backlog", "--max-connections", "--buffer-size", "--echo",
                            "--work-us", "--trace", "--stats-file"})
        EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}

TEST_P(Contract, ClientVanishingMidReplyDoesNotKillTheServer) {
    // SIGPIPE: a peer that resets while we still send to it must only end
    // that connection. Send a lot, read nothing, reset, repeatedly.
    ServerProcess server(GetParam());
    for (int i = 0; i < 5; ++i) {
        auto c = Connection::open(server.address());
        c.send_all(client::random_bytes(512 << 10, static_cast<std::uint64_t>(i)));
        c.reset();
    }
    auto c = Connection::open(server.address());
    ASSERT_TRUE(c.send_all("alive"));
    EXPECT_TRUE(c.recv_exact(5, Millis(10000)));
    EXPECT_TRUE(server.running());
    EXPECT_EQ(server.stop(), 0);
}

TEST_P(Contract, ServesConcurrentlyUnlessSequential) {
    // The iterative server's lesson: a second client is not served while the
    // first stays connected. Every other model serves both.
    ServerProcess server(GetParam());
    client::CheckOptions opt;
    opt.server = server.address();
    EXPECT_EQ(client::detect_sequential(opt), GetParam().has("sequential"));
    EXPECT_EQ(server.stop(), 0);
}

INSTANTIATE_TEST_SUITE_P(AllServers, Contract, ::testing::ValuesIn(all_servers()),
                         ServerName());

}  // namespace
}  // namespace iom::test
