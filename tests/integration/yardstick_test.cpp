// The yardsticks of docs/performance.md (bench/min_*): a yardstick that is
// wrong measures nothing, so each one must do what it stands for. The two
// minimal servers must pass the same `ioclient check` as the suite's servers
// (partial reads and writes, half-close, resets, many clients), and the
// minimal client must really load a server. How fast they are is not tested
// here: timing belongs in benchmarks.
#include "built_servers.hpp"
#include "common/json.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace iom::test {
namespace {

using namespace std::chrono_literals;

ServerSpec yardstick(const std::string& name) { return {name, bin_path(name), {}}; }

class MinServer : public ::testing::TestWithParam<std::string> {};

TEST_P(MinServer, PassesEveryCaseOfIoclientCheck) {
    ServerProcess server(yardstick(GetParam()));
    auto r = run_command({ioclient_path(), "check", "--echo", "plain", "--port", std::to_string(server.port())}, {},
                         120s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find(" passed, 0 failed"), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("FAIL"), std::string::npos) << r.out;
}

TEST_P(MinServer, ServesManyClientsAtOnceWithEveryByteVerified) {
    ServerProcess server(yardstick(GetParam()));
    auto r = run_command({ioclient_path(), "bench", "--echo", "plain", "-c", "300", "-s", "5000", "-d", "0.5",
                          "--port", std::to_string(server.port()), "--json"},
                         {}, 60s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    Json j = Json::parse(r.out, nullptr, false);
    ASSERT_TRUE(j.is_object()) << r.out;
    EXPECT_EQ(j["errors"], 0) << r.out;
    EXPECT_GT(j["messages"].get<std::uint64_t>(), 0u) << r.out;
}

TEST_P(MinServer, AnUnknownOptionPrintsTheUsageAndExitsTwo) {
    auto r = run_command({bin_path(GetParam()), "--port", "0", "--batch", "8"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("usage: " + GetParam() + " --port P"), std::string::npos) << r.err;
}

INSTANTIATE_TEST_SUITE_P(Yardsticks, MinServer, ::testing::Values("min_epoll_server", "min_uring_server"),
                         [](const auto& p) { return p.param; });

TEST(MinClient, LoadsAServerAndReportsItsRate) {
    ServerProcess server(server_named("epoll_server"), {.args = {"--echo", "plain"}});
    auto r = run_command({bin_path("min_client"), "127.0.0.1", std::to_string(server.port()), "20", "64", "0.3",
                          "0.1"},
                         {}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("\"messages_per_second\""), std::string::npos) << r.out;
    EXPECT_EQ(r.out.find("\"messages\": 0,"), std::string::npos) << r.out;
    ASSERT_EQ(server.stop(), 0) << server.stderr_text();
    EXPECT_GT(server.counter("send_bytes"), 0u);
}

TEST(MinClient, WrongArgumentsPrintTheUsageAndExitTwo) {
    auto r = run_command({bin_path("min_client"), "127.0.0.1"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("usage: min_client HOST PORT"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace iom::test
