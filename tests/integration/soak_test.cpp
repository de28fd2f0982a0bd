// `ioclient soak`: the soak itself runs outside the test suite (scripts/soak.sh,
// ten minutes), but the command is tested here: a short soak of the
// sequential server and a concurrent one passes with a row each; a server
// that echoes the wrong bytes fails it, and the failure names the server, the
// load and the byte; --help states the rule; bad options are refused.
#include "built_servers.hpp"
#include "common/json.hpp"

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <regex>
#include <vector>
#include <sstream>

namespace iom::test {
namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct TempDir {
    fs::path path;
    TempDir() {
        char tmpl[] = "/tmp/iomodels-soak-XXXXXX";
        path = ::mkdtemp(tmpl) ? tmpl : "";
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

// The table row of `server`: its name, messages, MiB, fail, err, ..., verdict.
std::smatch row(const std::string& out, const std::string& server) {
    std::smatch m;
    std::regex re("\\n" + server + " +([0-9]+) +[0-9.]+ +([0-9]+) +([0-9]+) +([0-9]+)/([0-9]+) +([0-9]+)/([0-9]+)/"
                  "([0-9]+) +[0-9-]+/[0-9-]+ +[0-9.]+  ([^\\n]*)\\n");
    std::regex_search(out, m, re);
    return m;
}

TEST(SoakCommand, ShortSoakOfTwoServersPassesWithARowEach) {
    TempDir dir;
    std::string json = (dir.path / "soak.json").string();
    auto r = run_command({ioclient_path(), "soak", "--duration", "3", "--servers", "epoll_server,bio_server", "--json",
                          json});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    for (const char* server : {"epoll_server", "bio_server"}) {
        auto m = row(r.out, server);
        ASSERT_FALSE(m.empty()) << "no row for " << server << ":\n" << r.out;
        EXPECT_GT(std::stoul(m[1]), 0u) << server << " echoed nothing:\n" << r.out;
        EXPECT_EQ(m[2], "0") << r.out;                                    // verification failures
        EXPECT_EQ(m[3], "0") << r.out;                                    // connection errors
        EXPECT_EQ(m[4], m[5]) << r.out;                                   // descriptors start == end
        EXPECT_GE(std::stol(m[8]), std::stol(m[6])) << r.out;             // the max is at least the start
        EXPECT_EQ(m[9], "ok") << r.out;
    }
    EXPECT_NE(r.out.find("memory at the start + max(2 MiB, 10 %)"), std::string::npos) << r.out;  // the footer
    EXPECT_NE(r.out.find("PASS"), std::string::npos) << r.out;
    const std::string text = read_text(json);
    Json j = Json::parse(text, nullptr, false);
    ASSERT_TRUE(j.is_object()) << text;
    EXPECT_EQ(j["passed"], true) << text;
    std::vector<std::string> names;
    for (const auto& server : j["servers"]) {
        names.push_back(server["name"].get<std::string>());
        EXPECT_EQ(server["failures"], 0) << text;
        for (const char* load : {"pingpong", "churn", "half-close", "reset", "1MiB-duplex", "idle"})
            EXPECT_TRUE(server["loads"][load]["messages"].is_number()) << load << "\n" << text;
        for (const char* sample : {"start", "end", "max"})
            EXPECT_GT(server[sample]["memory_kib"].get<long>(), 0) << sample << "\n" << text;
    }
    EXPECT_EQ(names, (std::vector<std::string>{"epoll_server", "bio_server"})) << text;
}

// A "server" that echoes plain bytes where the soak expects them upper-cased:
// a real server binary behind a one-line wrapper, listed in a manifest of its own.
TEST(SoakCommand, WrongBytesFailTheSoakAndSayWhereAndWhat) {
    TempDir dir;
    std::string epoll = fs::path(ioclient_path()).parent_path() / "epoll_server";
    {
        std::ofstream(dir.path / "servers.txt") << "plain_echo_server\t\n";
        std::ofstream(dir.path / "plain_echo_server") << "#!/bin/sh\nexec " << epoll << " \"$@\" --echo plain\n";
    }
    ASSERT_EQ(::chmod((dir.path / "plain_echo_server").c_str(), 0755), 0);
    auto r = run_command({ioclient_path(), "soak", "--duration", "2", "--bin-dir", dir.path.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    auto m = row(r.out, "plain_echo_server");
    ASSERT_FALSE(m.empty()) << r.out;
    EXPECT_GT(std::stoul(m[2]), 0u) << r.out;
    EXPECT_NE(m[9].str().find("verification failures"), std::string::npos) << r.out;
    std::regex what("plain_echo_server: [a-z1-9A-Z-]+: [^\\n]*: byte [0-9]+ of [0-9]+ differs: expected 0x[0-9a-f]{2}, "
                    "got 0x[0-9a-f]{2}");
    EXPECT_TRUE(std::regex_search(r.err, what)) << r.err;  // said as it happens
    EXPECT_TRUE(std::regex_search(r.out, what)) << r.out;  // and again under the table
    EXPECT_NE(r.out.find("FAIL"), std::string::npos) << r.out;
}

// A "server" that dies a second into the soak (a real server behind a shell
// that kills it): the soak says so, stops driving it, and fails; it does not hang.
TEST(SoakCommand, AServerThatDiesFailsTheSoakAndIsNamed) {
    TempDir dir;
    std::string epoll = fs::path(ioclient_path()).parent_path() / "epoll_server";
    {
        std::ofstream(dir.path / "servers.txt") << "dying_server\t\n";
        std::ofstream(dir.path / "dying_server") << "#!/bin/sh\n" << epoll << " \"$@\" &\nsleep 1\nkill -KILL $!\n"
                                                 << "wait\nexit 3\n";
    }
    ASSERT_EQ(::chmod((dir.path / "dying_server").c_str(), 0755), 0);
    auto r = run_command({ioclient_path(), "soak", "--duration", "5", "--bin-dir", dir.path.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_TRUE(std::regex_search(r.out, std::regex("\\ndying_server [^\\n]*exited during the soak \\(3\\)")))
        << r.out;
    EXPECT_NE(r.err.find("the server exited (3)"), std::string::npos) << r.err;
}

TEST(SoakCommand, HelpExplainsTheOptionsAndTheRule) {
    auto r = run_command({ioclient_path(), "soak", "--help"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    for (const char* text : {"--duration", "--servers", "--bin-dir", "--json", "=600",
                             "memory at the end <= memory at the start + max(2 MiB, 10 %)", "descriptors",
                             "exited 0 on SIGTERM"})
        EXPECT_NE(r.out.find(text), std::string::npos) << text << "\n" << r.out;
}

TEST(SoakCommand, BadOptionsAreOneLineAndExitTwo) {
    TempDir dir;
    const std::vector<std::pair<std::vector<std::string>, std::string>> cases = {
        {{"--duration", "0"}, "--duration"},
        {{"--duration", "ten"}, "--duration"},
        {{"--duration", "100000"}, "--duration"},
        {{"--servers", "no_such_server"}, "no server named no_such_server"},
        {{"--bin-dir", (dir.path / "missing").string()}, "--bin-dir"},
        {{"--json", (dir.path / "missing" / "soak.json").string()}, "--json"},
        {{"--frobnicate"}, "--frobnicate"},
    };
    for (const auto& [args, says] : cases) {
        std::vector<std::string> argv{ioclient_path(), "soak"};
        argv.insert(argv.end(), args.begin(), args.end());
        auto r = run_command(argv, {}, std::chrono::milliseconds(30000));
        EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.out << r.err;
        EXPECT_NE(r.err.find(says), std::string::npos) << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
        EXPECT_EQ(r.out, "") << r.out;  // refused before any server started
    }
}

}  // namespace
}  // namespace iom::test
