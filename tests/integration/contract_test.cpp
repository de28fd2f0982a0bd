// The contract of DESIGN.md, checked for every server of the build: the
// ready line, --stats-file, --trace, clean stops on SIGTERM and SIGINT (even
// with a client connected, blocked mid-call), one-line errors for a port in
// use and for a bad option, SIGPIPE never fatal, and which servers serve
// one client at a time.
#include "client/check/check.hpp"
#include "common/net.hpp"
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <sstream>
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

// Safe default: loopback, silently. An address other machines can reach is
// the user's choice, and the server says so on stderr.
TEST_P(Contract, WarnsWhenListeningBeyondLoopback) {
    ServerProcess quiet(GetParam());
    EXPECT_EQ(quiet.stop(), 0);
    EXPECT_EQ(quiet.stderr_text().find("warning"), std::string::npos) << quiet.stderr_text();
    ServerProcess open(GetParam(), {.args = {"--host", "0.0.0.0"}});
    EXPECT_EQ(open.ready_line(), "listening on 0.0.0.0:" + std::to_string(open.port()));
    EXPECT_EQ(open.stop(), 0);
    EXPECT_NE(open.stderr_text().find("warning: listening on 0.0.0.0:"), std::string::npos) << open.stderr_text();
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
    // An event library makes the recv calls itself and does not say how many.
    if (!GetParam().has("library")) {
        EXPECT_GE(server.counter("recv_calls"), 1u);
    }
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
             {"--port", "65536"}, {"--echo", "loud"}, {"--host", "not-an-address"}}) {
        std::vector<std::string> argv{GetParam().path};
        argv.insert(argv.end(), bad.begin(), bad.end());
        auto r = run_command(argv, {}, Millis(20000));
        EXPECT_NE(r.exit_code, 0) << bad[0];
        EXPECT_EQ(lines(r.err), 1) << bad[0] << ": " << r.err;
        EXPECT_EQ(r.err.rfind(GetParam().name + ": ", 0), 0u) << r.err;
    }
}

const std::vector<std::string> common_options = {"--host",    "--port",     "--backlog",      "--max-connections",
                                                  "--buffer-size", "--echo", "--work-us", "--idle-timeout",
                                                  "--trace",   "--stats-file"};

TEST_P(Contract, HelpExplainsEveryCommonOption) {
    auto r = run_command({GetParam().path, "--help"}, {}, Millis(20000));
    EXPECT_EQ(r.exit_code, 0);
    for (const auto& opt : common_options) EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}

// Each server's own options, with values they must refuse (flags take none).
const std::map<std::string, std::vector<std::vector<std::string>>> own_bad_values = {
    {"bio_pool_server", {{"--threads", "0"}, {"--threads", "4097"}, {"--queue", "0"}, {"--queue", "65537"}}},
    {"nio_server", {{"--sleep-us", "-1"}, {"--sleep-us", "1000001"}}},
    {"epoll_server", {{"--level=2"}, {"--read-once=2"}}},
    {"epoll_pool_server", {{"--threads", "0"}, {"--threads", "257"}, {"--queue", "0"}, {"--queue", "65537"}}},
    {"epoll_loops_server", {{"--loops", "0"}, {"--loops", "257"}, {"--accept", "fork"}}},
    {"uring_server", {{"--ring-buffers", "0"}, {"--ring-buffers", "3"}, {"--ring-buffers", "65536"},
                      {"--no-multishot=2"}, {"--batch", "0"}, {"--batch", "257"}, {"--batch-wait-us", "0"},
                      {"--batch-wait-us", "100001"}}},
};

// The options --help lists beyond the common ones: the server's own.
std::vector<std::string> own_options(const std::string& help) {
    std::vector<std::string> found;
    std::istringstream lines(help);
    for (std::string line; std::getline(lines, line);) {
        if (line.rfind("  --", 0) != 0) continue;
        std::string name = line.substr(2, line.find_first_of(" =", 2) - 2);
        if (std::find(common_options.begin(), common_options.end(), name) == common_options.end())
            found.push_back(name);
    }
    return found;
}

TEST_P(Contract, EveryBadValueExitsTwoWithOneLineNamingTheOption) {
    std::vector<std::vector<std::string>> cases = {
        {"--port", "70000"},  {"--buffer-size", "0"}, {"--max-connections", "0"}, {"--idle-timeout", "-1"},
        {"--backlog", "0"},   {"--trace=2"},          {"--no-such-option"}};
    if (auto own = own_bad_values.find(GetParam().name); own != own_bad_values.end())
        cases.insert(cases.end(), own->second.begin(), own->second.end());
    for (const auto& bad : cases) {
        std::vector<std::string> argv{GetParam().path, "--port", "0"};  // never a default port: nothing may listen
        argv.insert(argv.end(), bad.begin(), bad.end());
        auto r = run_command(argv, {}, Millis(20000));
        std::string option = bad[0].substr(2, bad[0].find('=') - 2);  // "--level=2" -> "level"
        EXPECT_EQ(r.exit_code, 2) << bad[0] << ": " << r.err;
        EXPECT_EQ(r.out, "") << bad[0];
        EXPECT_EQ(lines(r.err), 1) << bad[0] << ": " << r.err;
        EXPECT_EQ(r.err.rfind(GetParam().name + ": ", 0), 0u) << r.err;
        EXPECT_NE(r.err.find(option), std::string::npos) << "the error names " << option << ": " << r.err;
    }
    // Every option of the server's own is in the table above, so it is checked too.
    auto help = run_command({GetParam().path, "--help"}, {}, Millis(20000));
    for (const auto& name : own_options(help.out)) {
        bool covered = false;
        if (auto own = own_bad_values.find(GetParam().name); own != own_bad_values.end())
            for (const auto& bad : own->second) covered = covered || bad[0].rfind(name, 0) == 0;
        EXPECT_TRUE(covered) << name << " has no bad value in own_bad_values";
    }
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
