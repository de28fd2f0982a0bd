// The one /proc reader of the client (client/lib/procfs.hpp): the parsers on
// fixed text, then each reader on this very process (and a child of it).
#include "client/lib/procfs.hpp"

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <memory>
#include <vector>

namespace iom::client {
namespace {

TEST(Procfs, ParseStatFindsParentAndCpuTicksPastAnAwkwardCommandName) {
    // A command name with spaces and a ')' must not shift the fields.
    std::string stat = "4242 (a (weird) name) S 17 4242 4242 0 -1 4194560 100 0 0 0 250 31 0 0 20 0 3 0 1000 "
                       "1000000 500 18446744073709551615";
    auto f = parse_stat(stat);
    ASSERT_TRUE(f);
    EXPECT_EQ(f->state, 'S');
    EXPECT_EQ(f->ppid, 17);
    EXPECT_EQ(f->cpu_ticks, 250 + 31);
    EXPECT_EQ(f->user_ticks, 250);  // utime + cutime: what `ioclient top` shows as usr
    EXPECT_EQ(f->system_ticks, 31);
}

TEST(Procfs, ParseStatRejectsTruncatedText) {
    EXPECT_FALSE(parse_stat("4242 (x) S 17 4242"));
    EXPECT_FALSE(parse_stat("no parenthesis at all"));
    EXPECT_FALSE(parse_stat(""));
}

TEST(Procfs, ParseKibFieldTakesTheExactKey) {
    std::string text = "Rss:                1796 kB\nPss_Anon:     99 kB\nPss:                 181 kB\n";
    EXPECT_EQ(parse_field(text, "Pss"), 181);
    EXPECT_EQ(parse_field(text, "Rss"), 1796);
    EXPECT_EQ(parse_field("VmRSS:\t  5120 kB\n", "VmRSS"), 5120);
    EXPECT_FALSE(parse_field(text, "VmRSS"));
}

TEST(Procfs, HoldsListenerFindsThisProcessesListeningSocketOnly) {
    int l = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(l, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ASSERT_EQ(::bind(l, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
    socklen_t len = sizeof a;
    ASSERT_EQ(::getsockname(l, reinterpret_cast<sockaddr*>(&a), &len), 0);
    const auto port = ntohs(a.sin_port);
    EXPECT_FALSE(holds_listener(getpid(), port)) << "bound, not listening yet";
    ASSERT_EQ(::listen(l, 1), 0);
    EXPECT_TRUE(holds_listener(getpid(), port));
    EXPECT_FALSE(holds_listener(getppid(), port)) << "another process";
    ::close(l);
    EXPECT_FALSE(holds_listener(getpid(), port)) << "closed";
}

TEST(Procfs, OpenDescriptorsFollowWhatThisProcessOpens) {
    auto before = open_fds(getpid());
    ASSERT_TRUE(before);
    int fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    EXPECT_EQ(open_fds(getpid()), *before + 1);
    ::close(fd);
    EXPECT_EQ(open_fds(getpid()), *before);
    EXPECT_FALSE(open_fds(-1));
}

TEST(Procfs, MemoryGrowsWithPagesTouched) {
    long before = memory_kib(getpid()).value_or(-1);
    ASSERT_GT(before, 0);
    constexpr std::size_t size = 32 << 20;
    auto block = std::make_unique<char[]>(size);
    std::memset(block.get(), 1, size);  // touched: resident now
    long after = memory_kib(getpid()).value_or(-1);
    EXPECT_GT(after - before, 24 << 10) << before << " -> " << after;
    EXPECT_EQ(block[size - 1], 1);
}

TEST(Procfs, CpuSecondsCountsWorkDone) {
    double before = cpu_seconds(getpid()).value_or(-1);
    ASSERT_GE(before, 0);
    // Spin until the kernel's own clock says this process used 0.3 s of CPU
    // (on a loaded machine that takes longer than 0.3 s of wall time), then
    // /proc must say so too, within its 10 ms ticks.
    auto cpu_now = [] {
        timespec t{};
        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
    };
    const double start = cpu_now();
    const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    volatile unsigned long spin = 0;
    while (cpu_now() - start < 0.3 && std::chrono::steady_clock::now() < give_up) spin = spin + 1;
    ASSERT_GE(cpu_now() - start, 0.3) << "did not get 0.3 s of CPU in 60 s";
    double after = cpu_seconds(getpid()).value_or(-1);
    EXPECT_GT(after - before, 0.2);
}

TEST(Procfs, TheTreeHoldsChildrenAndTheirDescriptorsAndMemory) {
    long fds_alone = tree_open_fds(getpid());
    long memory_alone = tree_memory_kib(getpid());
    int ready[2];
    ASSERT_EQ(pipe(ready), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        // Private memory of its own, then wait to be killed.
        constexpr std::size_t size = 16 << 20;
        char* block = new char[size];
        std::memset(block, 2, size);
        (void)!write(ready[1], "x", 1);
        pause();
        _exit(block[0]);
    }
    char x;
    ASSERT_EQ(read(ready[0], &x, 1), 1);
    auto tree = process_tree(getpid());
    ASSERT_GE(tree.size(), 2u);
    EXPECT_EQ(tree.front(), getpid());
    EXPECT_NE(std::find(tree.begin(), tree.end(), child), tree.end());
    EXPECT_GT(tree_open_fds(getpid()), fds_alone);  // the child holds descriptors too
    EXPECT_GT(tree_memory_kib(getpid()) - memory_alone, 12 << 10);  // its 16 MiB, counted once
    kill(child, SIGKILL);
    waitpid(child, nullptr, 0);
    ::close(ready[0]);
    ::close(ready[1]);
    auto after = process_tree(getpid());
    EXPECT_EQ(std::find(after.begin(), after.end(), child), after.end());
    EXPECT_TRUE(process_tree(-1).empty());
}

TEST(Procfs, SampleTreeReadsEveryFigureOfALiveProcessAndNoneOfAGoneOne) {
    ProcSample s = sample_tree(getpid());
    EXPECT_GT(s.fds, 2);
    EXPECT_GT(s.memory_kib, 0);
    EXPECT_GE(s.threads, 1);
    EXPECT_GE(s.cpu_seconds, 0);
    ProcSample gone = sample_tree(-1);
    EXPECT_EQ(gone.fds, -1);
    EXPECT_EQ(gone.memory_kib, -1);
    EXPECT_FALSE(tree_cpu_seconds(-1));
}

TEST(Procfs, AnExitedChildIsAZombieChildUntilReapedAndNeverInTheTree) {
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) _exit(0);
    // Wait until it has exited without reaping it (WNOWAIT): a zombie now,
    // still our child, not part of the tree.
    siginfo_t info{};
    ASSERT_EQ(waitid(P_PID, static_cast<id_t>(child), &info, WEXITED | WNOWAIT), 0);
    std::vector<Child> kids = children(getpid());
    auto it = std::find_if(kids.begin(), kids.end(), [&](const Child& c) { return c.pid == child; });
    ASSERT_NE(it, kids.end());
    EXPECT_EQ(it->state, 'Z');
    auto tree = process_tree(getpid());
    EXPECT_EQ(std::find(tree.begin(), tree.end(), child), tree.end()) << "a zombie is not part of the tree";
    waitpid(child, nullptr, 0);
    kids = children(getpid());
    EXPECT_TRUE(std::none_of(kids.begin(), kids.end(), [&](const Child& c) { return c.pid == child; }));
}

}  // namespace
}  // namespace iom::client
