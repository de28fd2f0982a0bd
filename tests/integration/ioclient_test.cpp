// The ioclient command line: chat on a pipe, check against our own servers
// and against an echo server nobody here wrote (socat), and check failing
// when the server is wrong.
#include "common/net.hpp"
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

namespace iom::test {
namespace {

using namespace std::chrono_literals;

TEST(IoclientChat, EchoesLinesFromAPipe) {
    ServerProcess server(server_named("bio_server"));
    auto r = run_command({ioclient_path(), "chat", "--port", std::to_string(server.port())},
                         "hello world\nsecond line\n");
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.out, "HELLO WORLD\nSECOND LINE\n");
}

TEST(IoclientCheck, PassesAgainstBioServerDetectingSequential) {
    ServerProcess server(server_named("bio_server"));
    auto r = run_command({ioclient_path(), "check", "--port", std::to_string(server.port())});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("one client at a time"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("0 failed"), std::string::npos) << r.out;
}

TEST(IoclientCheck, SequentialFlagPasses) {
    ServerProcess server(server_named("bio_server"));
    auto r = run_command({ioclient_path(), "check", "--sequential", "--port", std::to_string(server.port())});
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
}

TEST(IoclientCheck, FailsWhenTheEchoIsWrong) {
    // The server upper-cases; telling check to expect plain bytes must fail.
    ServerProcess server(server_named("bio_server"));
    auto r = run_command({ioclient_path(), "check", "--echo", "plain", "--port", std::to_string(server.port())});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.out.find("FAIL one-echo"), std::string::npos) << r.out;
}

TEST(IoclientCheck, FailsClearlyWhenNothingListens) {
    Fd l = listen_tcp(parse_address("127.0.0.1", 0), 1, false);
    auto port = std::to_string(local_address(l.get()).port());
    l.reset();
    auto r = run_command({ioclient_path(), "check", "--port", port});
    EXPECT_NE(r.exit_code, 0);
    EXPECT_NE(r.err.find("Connection refused"), std::string::npos) << r.err;
}

TEST(IoclientCheck, PassesAgainstSocatPlainEcho) {
    // socat TCP-LISTEN:P,fork EXEC:cat — a plain echo server nobody here wrote.
    if (access("/usr/bin/socat", X_OK) != 0) GTEST_SKIP() << "socat not installed (scripts/install-deps.sh)";
    Fd probe = listen_tcp(parse_address("127.0.0.1", 0), 1, false);
    auto port = local_address(probe.get()).port();
    probe.reset();
    pid_t pid = fork();
    if (pid == 0) {
        int devnull = ::open("/dev/null", O_WRONLY);
        dup2(devnull, STDERR_FILENO);
        execl("/usr/bin/socat", "socat", ("TCP-LISTEN:" + std::to_string(port) + ",bind=127.0.0.1,reuseaddr,fork").c_str(),
              "EXEC:cat", static_cast<char*>(nullptr));
        _exit(127);
    }
    // Wait (bounded) until socat accepts connections.
    bool up = false;
    for (auto deadline = std::chrono::steady_clock::now() + 10s; !up && std::chrono::steady_clock::now() < deadline;) {
        try {
            connect_tcp(parse_address("127.0.0.1", port));
            up = true;
        } catch (const std::system_error&) {
            poll(nullptr, 0, 20);
        }
    }
    ASSERT_TRUE(up) << "socat did not start";
    auto r = run_command({ioclient_path(), "check", "--echo", "plain", "--port", std::to_string(port)}, {}, 120s);
    kill(pid, SIGTERM);
    waitpid(pid, nullptr, 0);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("0 failed"), std::string::npos) << r.out;
}

TEST(IoclientHostile, RunsEveryCaseAndSkipsWhatItWasNotTold) {
    // Started for slowloris, told its pid but neither --idle-timeout nor
    // --max-connections: those two cases say what they need and are skipped.
    ServerProcess server(server_named("epoll_server"), {.args = {"--max-connections", "2000", "--backlog", "2048"}});
    auto r = run_command({ioclient_path(), "check", "--hostile", "--port", std::to_string(server.port()),
                          "--server-pid", std::to_string(server.pid())},
                         {}, 180s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("PASS slowloris"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("PASS emfile-storm"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("SKIP idle-timeout"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("SKIP max-connections-flood"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("--max-connections 50"), std::string::npos) << "a skip names the flag to add: " << r.out;
    EXPECT_NE(r.out.find("hostile: 7 passed, 0 failed, 2 skipped"), std::string::npos) << r.out;
    EXPECT_EQ(server.stop(), 0);
}

TEST(IoclientHostile, CaseRunsOnlyTheNamedCasesAndRefusesUnknownOnes) {
    ServerProcess server(server_named("epoll_server"), {.args = {"--buffer-size", "1024"}});
    auto r = run_command({ioclient_path(), "check", "--hostile", "--port", std::to_string(server.port()), "--case",
                          "all-bytes", "--case", "flood"},
                         {}, 120s);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("PASS all-bytes"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("PASS flood"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("hostile: 2 passed, 0 failed, 0 skipped"), std::string::npos) << r.out;

    auto bad = run_command({ioclient_path(), "check", "--hostile", "--port", std::to_string(server.port()), "--case",
                            "no-such-case"});
    EXPECT_EQ(bad.exit_code, 2) << bad.out << bad.err;
    EXPECT_NE(bad.err.find("--case"), std::string::npos) << bad.err;
    EXPECT_EQ(server.stop(), 0);
}

TEST(IoclientHostile, RefusesAPidThatIsNotTheServers) {
    // emfile-storm lowers the descriptor limit of --server-pid: a wrong pid
    // (here this test's own) must stop the run before anything is touched.
    ServerProcess server(server_named("epoll_server"));
    auto r = run_command({ioclient_path(), "check", "--hostile", "--port", std::to_string(server.port()),
                          "--server-pid", std::to_string(getpid())});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.err.find("does not hold the socket listening on port " + std::to_string(server.port())),
              std::string::npos) << r.err;
    EXPECT_EQ(r.out.find("PASS"), std::string::npos) << "no case may run: " << r.out;
    EXPECT_EQ(server.stop(), 0);
}

TEST(IoclientHostile, FailsWhenTheServerDoesNotDoWhatItWasToldItDoes) {
    // Told --max-connections 50, the server (at its default 10000) refuses
    // no one: the flood case must fail, and the exit code say so.
    ServerProcess server(server_named("epoll_server"));
    auto r = run_command({ioclient_path(), "check", "--hostile", "--port", std::to_string(server.port()),
                          "--max-connections", "50"},
                         {}, 180s);
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("FAIL max-connections-flood"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1 failed"), std::string::npos) << r.out;
    EXPECT_EQ(server.stop(), 0);
}

TEST(IoclientHostile, HelpNamesWhatEachCaseNeeds) {
    auto r = run_command({ioclient_path(), "check", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    for (const char* s : {"--hostile", "--server-pid", "--pool", "--idle-timeout", "--max-connections",
                          "max-connections-flood: server --max-connections 50"})
        EXPECT_NE(r.out.find(s), std::string::npos) << s << "\n" << r.out;
    r = run_command({ioclient_path(), "check", "--port", "9", "--server-pid", "1"});
    EXPECT_EQ(r.exit_code, 2) << "--server-pid without --hostile: " << r.err;
}

TEST(IoclientCli, BadOptionsAreOneLine) {
    auto r = run_command({ioclient_path(), "check"});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.err.find("--port"), std::string::npos) << r.err;
    r = run_command({ioclient_path(), "frobnicate"});
    EXPECT_NE(r.exit_code, 0);
}

}  // namespace
}  // namespace iom::test
