#include "common/server.hpp"

#include <gtest/gtest.h>

#include <vector>

namespace iom {
namespace {

int parse(ServerOptions& opt, std::vector<std::string> args) {
    CLI::App app{"test", "test_server"};
    add_server_options(app, opt);
    std::vector<char*> argv{const_cast<char*>("test_server")};
    for (auto& a : args) argv.push_back(a.data());
    return parse_command_line(app, static_cast<int>(argv.size()), argv.data());
}

TEST(ServerOptions, DefaultsAreSafe) {
    ServerOptions opt;
    opt.port = 9001;
    EXPECT_EQ(parse(opt, {}), -1);
    EXPECT_EQ(opt.host, "127.0.0.1");  // loopback unless told otherwise
    EXPECT_EQ(opt.port, 9001);
    EXPECT_EQ(opt.echo, EchoMode::upper);
    EXPECT_FALSE(opt.trace);
    EXPECT_EQ(opt.idle_timeout, 0.0);  // idle connections are never closed unless asked
}

TEST(ServerOptions, EveryCommonOptionParses) {
    ServerOptions opt;
    EXPECT_EQ(parse(opt, {"--host", "::1", "--port", "0", "--backlog", "8", "--max-connections", "5",
                          "--buffer-size", "4096", "--echo", "plain", "--work-us", "200", "--trace",
                          "--stats-file", "/tmp/x.json", "--idle-timeout", "0.5"}),
              -1);
    EXPECT_EQ(opt.host, "::1");
    EXPECT_EQ(opt.port, 0);
    EXPECT_EQ(opt.backlog, 8);
    EXPECT_EQ(opt.max_connections, 5u);
    EXPECT_EQ(opt.buffer_size, 4096u);
    EXPECT_EQ(opt.echo, EchoMode::plain);
    EXPECT_EQ(opt.work_us, 200u);
    EXPECT_TRUE(opt.trace);
    EXPECT_EQ(opt.stats_file, "/tmp/x.json");
    EXPECT_DOUBLE_EQ(opt.idle_timeout, 0.5);
}

TEST(ServerOptions, BadValuesAreOneLineErrors) {
    for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
             {"--port", "70000"}, {"--port", "x"}, {"--echo", "shout"}, {"--buffer-size", "1"},
             {"--max-connections", "0"}, {"--idle-timeout", "-1"},
             {"--idle-timeout", "86401"}, {"--no-such-option"}}) {
        ServerOptions opt;
        ::testing::internal::CaptureStderr();
        int rc = parse(opt, bad);
        std::string err = ::testing::internal::GetCapturedStderr();
        EXPECT_EQ(rc, 2) << bad[0];
        EXPECT_EQ(err.rfind("test_server: ", 0), 0u) << err;
        EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
    }
}

TEST(ServerOptions, HelpExitsZero) {
    ServerOptions opt;
    ::testing::internal::CaptureStdout();
    EXPECT_EQ(parse(opt, {"--help"}), 0);
    std::string out = ::testing::internal::GetCapturedStdout();
    EXPECT_NE(out.find("--max-connections"), std::string::npos);
}

}  // namespace
}  // namespace iom
