// ioclient top against real servers: every running server shows up, the load
// shows on the server that carries it, a server killed outright disappears,
// and the interactive screen works as a person would use it, driven in tmux.
// Each test gives its servers and its `ioclient top` a live-counters
// directory of its own (IOM_LIVE_DIR, inherited by the processes it starts).
#include "built_servers.hpp"

#include "client/lib/connection.hpp"
#include "common/json.hpp"
#include "common/live_counters.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <optional>
#include <thread>

namespace iom::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

class TopTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string templ = ::testing::TempDir() + "/iom_top_XXXXXX";
        ASSERT_NE(mkdtemp(templ.data()), nullptr);
        dir = templ;
        setenv("IOM_LIVE_DIR", dir.c_str(), 1);
    }
    void TearDown() override {
        unsetenv("IOM_LIVE_DIR");
        fs::remove_all(dir);
    }

    Json top_once() {
        RunResult r = run_command({ioclient_path(), "top", "--once", "--json"});
        EXPECT_EQ(r.exit_code, 0) << r.err;
        return Json::parse(r.out);
    }
    static const Json* row_of(const Json& sample, const ServerProcess& srv) {
        for (const Json& s : sample["servers"])
            if (s["pid"] == srv.pid()) return &s;
        return nullptr;
    }
    // Wait (bounded) until the server's published counters satisfy `ok`: the state, not a sleep.
    bool wait_for_counters(const ServerProcess& srv, const std::function<bool(const LiveServer&)>& ok) {
        for (auto end = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < end;) {
            for (const LiveServer& s : read_live_servers(dir))
                if (s.pid == srv.pid() && ok(s)) return true;
            std::this_thread::sleep_for(20ms);
        }
        return false;
    }

    std::string dir;
};

// Ping-pong on one connection until told to stop: the load, from the client library.
class Load {
public:
    explicit Load(const Address& server) : conn_(client::Connection::open(server)) {
        thread_ = std::thread([this] {
            while (!stop_) {
                if (!conn_.send_all("hello\n") || !conn_.recv_exact(6, 10s)) {
                    failed_ = true;
                    return;
                }
                ++messages_;
            }
        });
    }
    ~Load() {
        stop_ = true;
        thread_.join();
    }
    bool failed() const { return failed_; }

private:
    client::Connection conn_;
    std::atomic<bool> stop_{false}, failed_{false};
    std::atomic<long> messages_{0};
    std::thread thread_;
};

TEST_F(TopTest, OnceJsonShowsEveryServerAndTheLoadOnTheRightOne) {
    ServerProcess epoll(server_named("epoll_server"));
    ServerProcess poll(server_named("poll_server"));
    ServerProcess threads(server_named("bio_threads_server"));
    Load load(poll.address());
    ASSERT_TRUE(wait_for_counters(poll, [](const LiveServer& s) { return s["recv_calls"] > 10; }));

    Json sample = top_once();
    ASSERT_EQ(sample["servers"].size(), 3u) << sample.dump();
    for (const ServerProcess* srv : {&epoll, &poll, &threads}) {
        const Json* row = row_of(sample, *srv);
        ASSERT_NE(row, nullptr) << srv->spec().name << " missing: " << sample.dump();
        EXPECT_EQ((*row)["name"], srv->spec().name);
        EXPECT_EQ((*row)["port"], srv->port());
        EXPECT_FALSE((*row)["cpu_percent"].is_null()) << "two readings: rates exist";
        EXPECT_GT((*row)["memory_kib"].get<long>(), 0);
        EXPECT_GE((*row)["threads"].get<long>(), 1);
    }
    EXPECT_EQ((*row_of(sample, epoll))["family"], "multiplexing");
    EXPECT_EQ((*row_of(sample, threads))["family"], "blocking");
    const Json& loaded = *row_of(sample, poll);
    EXPECT_GT(loaded["msgs_per_s"].get<double>(), 0) << loaded.dump();
    EXPECT_EQ(loaded["connections"], 1);
    EXPECT_GT(loaded["syscalls_per_msg"].get<double>(), 0);
    EXPECT_GE(loaded["fds_per_wait"].get<double>(), 2) << "poll hands in the listener and the connection";
    EXPECT_EQ((*row_of(sample, epoll))["msgs_per_s"], 0) << "no load there";
    EXPECT_EQ((*row_of(sample, threads))["msgs_per_s"], 0) << "no load there";
    EXPECT_FALSE(load.failed());
}

// The reactors' own figures: connections per loop (each loop's slot), and
// hand-offs per message (a pool: to a worker and back, 2).
TEST_F(TopTest, OnceJsonShowsConnectionsPerLoopAndHandOffsPerMessage) {
    ServerProcess loops(server_named("epoll_loops_server"), {.args = {"--loops", "2", "--accept", "handoff"}});
    ServerProcess pool(server_named("epoll_pool_server"));
    std::vector<client::Connection> held;
    for (int i = 0; i < 5; ++i) {
        held.push_back(client::Connection::open(loops.address()));
        ASSERT_TRUE(held.back().send_all("x") && held.back().recv_exact(1, 10s) == "X");
    }
    Load load(pool.address());
    ASSERT_TRUE(wait_for_counters(pool, [](const LiveServer& s) { return s["recv_calls"] > 10; }));
    Json sample = top_once();
    ASSERT_NE(row_of(sample, loops), nullptr) << sample.dump();
    ASSERT_NE(row_of(sample, pool), nullptr) << sample.dump();
    EXPECT_EQ((*row_of(sample, loops))["per_loop"], "3/2") << "round robin over two loops";
    EXPECT_NEAR((*row_of(sample, pool))["handoffs_per_msg"].get<double>(), 2, 0.2) << sample.dump();
    EXPECT_FALSE(load.failed());
}

TEST_F(TopTest, AServerKilledWithSigkillDisappears) {
    ServerProcess stays(server_named("select_server"));
    ServerProcess killed(server_named("uring_server"));
    EXPECT_EQ(top_once()["servers"].size(), 2u);
    const std::string file = dir + "/iomodels-uring_server-" + std::to_string(killed.pid());
    ASSERT_TRUE(fs::exists(file));

    EXPECT_EQ(killed.stop(SIGKILL), 128 + SIGKILL);
    ASSERT_TRUE(fs::exists(file)) << "killed outright, it could not remove its file";
    Json sample = top_once();
    ASSERT_EQ(sample["servers"].size(), 1u) << sample.dump();
    EXPECT_EQ(sample["servers"][0]["pid"], stays.pid());
    EXPECT_FALSE(fs::exists(file)) << "the reader removed the file of a process that is gone";
}

TEST_F(TopTest, AServerStoppedWithSigtermRemovesItsFile) {
    ServerProcess fork_server(server_named("bio_fork_server"));
    const std::string file = dir + "/iomodels-bio_fork_server-" + std::to_string(fork_server.pid());
    {
        Load load(fork_server.address());  // served by a child, counting in a slot of its own
        ASSERT_TRUE(wait_for_counters(fork_server, [](const LiveServer& s) { return s["recv_calls"] > 10; }));
    }
    ASSERT_TRUE(fs::exists(file));
    EXPECT_EQ(fork_server.stop(), 0);
    EXPECT_FALSE(fs::exists(file));
    EXPECT_GT(fork_server.counter("recv_calls"), 10u) << "the child's slot reached the exit report";
}

// --- the screen, as a person uses it: tmux presses the keys and reads the screen ---------

class Tmux {
public:
    explicit Tmux(const std::string& command)
        : socket_("iomtop-" + std::to_string(getpid())) {
        RunResult r = run({"new-session", "-d", "-s", "top", "-x", "100", "-y", "30", command});
        started_ = r.exit_code == 0;
    }
    ~Tmux() { run({"kill-server"}); }
    bool started() const { return started_; }
    RunResult run(std::vector<std::string> args) {
        args.insert(args.begin(), {"/usr/bin/env", "tmux", "-u", "-L", socket_});  // -u: UTF-8, whatever the locale
        return run_command(args, {}, 20s);
    }
    std::string screen() { return run({"capture-pane", "-p", "-t", "top"}).out; }
    void press(const std::string& key) { run({"send-keys", "-t", "top", key}); }
    bool alive() { return run({"has-session", "-t", "top"}).exit_code == 0; }
    // The screen once `ok` holds, or nullopt after a generous bound.
    std::optional<std::string> wait_for(const std::function<bool(const std::string&)>& ok) {
        for (auto end = std::chrono::steady_clock::now() + 30s; std::chrono::steady_clock::now() < end;) {
            std::string s = screen();
            if (ok(s)) return s;
            std::this_thread::sleep_for(50ms);
        }
        return std::nullopt;
    }

private:
    std::string socket_;
    bool started_ = false;
};

// The line of the screen that shows `name` (without its "_server").
std::string line_of(const std::string& screen, const std::string& name) {
    auto at = screen.find(name);
    if (at == std::string::npos) return {};
    auto start = screen.rfind('\n', at);
    start = start == std::string::npos ? 0 : start + 1;
    return screen.substr(start, screen.find('\n', at) - start);
}

TEST_F(TopTest, TheScreenShowsRowsAndSparklinesAndAnswersKeys) {
    if (run_command({"/usr/bin/env", "tmux", "-V"}).exit_code != 0) GTEST_SKIP() << "tmux is not installed (scripts/install-deps.sh)";
    ServerProcess epoll(server_named("epoll_server"));
    ServerProcess select(server_named("select_server"));
    Load load(epoll.address());
    Tmux tmux("env IOM_LIVE_DIR=" + dir + " LANG=C.UTF-8 " + ioclient_path() + " top");
    ASSERT_TRUE(tmux.started());

    // Both rows, and a sparkline on the loaded one: a bar of block characters.
    auto screen = tmux.wait_for([](const std::string& s) {
        std::string row = line_of(s, "epoll ");
        bool bar = false;
        for (const char* block : {"▁", "▂", "▃", "▄", "▅", "▆", "▇", "█"}) bar = bar || row.find(block) != std::string::npos;
        return !line_of(s, "select ").empty() && bar;
    });
    ASSERT_TRUE(screen) << tmux.screen();
    EXPECT_NE(screen->find("2 servers"), std::string::npos) << *screen;
    EXPECT_NE(screen->find("MSG/S"), std::string::npos) << *screen;
    EXPECT_NE(line_of(*screen, "epoll ").find(std::to_string(epoll.port())), std::string::npos) << *screen;

    tmux.press("s");
    EXPECT_TRUE(tmux.wait_for([](const std::string& s) { return s.find("sort: msg/s") != std::string::npos; }))
        << tmux.screen();
    tmux.press("h");
    EXPECT_TRUE(tmux.wait_for([](const std::string& s) { return s.find("this help") != std::string::npos; }))
        << tmux.screen();
    tmux.press("x");  // any key leaves the help
    EXPECT_TRUE(tmux.wait_for([](const std::string& s) { return s.find("sort: msg/s") != std::string::npos; }))
        << tmux.screen();
    tmux.press("p");
    EXPECT_TRUE(tmux.wait_for([](const std::string& s) { return s.find("PAUSED") != std::string::npos; }))
        << tmux.screen();
    tmux.press("q");
    bool quit = false;
    for (auto end = std::chrono::steady_clock::now() + 30s; !quit && std::chrono::steady_clock::now() < end;) {
        quit = !tmux.alive();  // the pane's only program ended: the session is gone
        if (!quit) std::this_thread::sleep_for(50ms);
    }
    EXPECT_TRUE(quit) << "q did not quit: " << tmux.screen();
    EXPECT_FALSE(load.failed());
}

// scripts/classroom.sh starts servers on their default ports, which a test
// cannot own; its help and its refusal of a bad option are tested here, the
// rest by hand (docs/classroom.md).
TEST(ClassroomScript, HelpNamesItsOptionsAndABadOptionIsRefused) {
    const std::string script = std::string(IOM_SOURCE_DIR) + "/scripts/classroom.sh";
    RunResult help = run_command({script, "--help"});
    EXPECT_EQ(help.exit_code, 0) << help.err;
    for (const char* option : {"--build", "--session", "--host", "--no-attach"})
        EXPECT_NE(help.out.find(option), std::string::npos) << option << " missing from:\n" << help.out;
    RunResult bad = run_command({script, "--no-such-option"});
    EXPECT_EQ(bad.exit_code, 2);
    EXPECT_NE(bad.err.find("unknown option --no-such-option"), std::string::npos) << bad.err;
}

}  // namespace
}  // namespace iom::test
