// The live counters file (common/live_counters.hpp): its format, its life
// (created, published, removed), and a reader meeting the file of a process
// that is gone. Each test publishes into a directory of its own
// (IOM_LIVE_DIR), so tests running in parallel never see each other's files.
#include "common/live_counters.hpp"

#include "common/json.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace iom {
namespace {

namespace fs = std::filesystem;

class LiveCountersTest : public ::testing::Test {
protected:
    void SetUp() override {
        std::string templ = ::testing::TempDir() + "/iom_live_XXXXXX";
        ASSERT_NE(mkdtemp(templ.data()), nullptr);
        dir = templ;
        setenv("IOM_LIVE_DIR", dir.c_str(), 1);
        // The reader checks that the pid still runs the program named in the
        // file (pids are reused): so publish under this program's own name.
        std::ifstream comm("/proc/self/comm");
        std::getline(comm, name);
    }
    void TearDown() override {
        unsetenv("IOM_LIVE_DIR");
        fs::remove_all(dir);
    }
    std::string file() const { return dir + "/iomodels-" + name + "-" + std::to_string(getpid()); }

    std::string dir, name;
};

TEST_F(LiveCountersTest, TheFileIsNamedAfterTheServerAndItsPidAndHoldsWhatItIs) {
    LiveCounters live(name, "tests", 8);
    EXPECT_EQ(live.path(), file());
    ASSERT_TRUE(fs::exists(file()));
    // Page 0 the header, then 8 slots of 64-byte-aligned counters (sparse: untouched slots cost nothing).
    EXPECT_EQ(fs::file_size(file()) % 64, 0u);
    EXPECT_GE(fs::file_size(file()), 4096 + 8 * sizeof(Counters));
    std::ifstream raw(file(), std::ios::binary);
    char magic[8];
    raw.read(magic, 8);
    EXPECT_EQ(std::string(magic, 8), "iomlive\n");

    auto s = read_live_file(file());
    ASSERT_TRUE(s);
    EXPECT_EQ(s->name, name);
    EXPECT_EQ(s->family, "tests");
    EXPECT_EQ(s->pid, getpid());
    EXPECT_EQ(s->port, 0) << "not listening yet";
    EXPECT_GT(s->started_unix_ms, 0);
    live.set_port(9023);
    EXPECT_EQ(read_live_file(file())->port, 9023);
}

TEST_F(LiveCountersTest, TheServersCountersAreTheMappedMemoryReadAsTheyGrow) {
    LiveCounters live(name, "tests", 4);
    Counters& k = live.counters();
    ++k.accepts;
    k.recv_calls += 41;
    ++k.recv_calls;
    auto s = read_live_file(file());
    ASSERT_TRUE(s);
#ifdef IOM_NO_COUNTERS
    EXPECT_FALSE(s->counting);
    EXPECT_EQ((*s)["recv_calls"], 0u);
#else
    EXPECT_TRUE(s->counting);
    EXPECT_EQ((*s)["accepts"], 1u);
    EXPECT_EQ((*s)["recv_calls"], 42u);  // no copy, no flush: the reader sees the server's own memory
    EXPECT_EQ((*s)["send_calls"], 0u);
    EXPECT_EQ((*s)["no_such_counter"], 0u);
    EXPECT_EQ(s->counters.size(), Json::parse(Counters{}.to_json()).size()) << "every counter, zeros included";
#endif
}

TEST_F(LiveCountersTest, SlotsAddUpSumsAndPeaksAndKeepTheirCountsWhenReused) {
    LiveCounters live(name, "tests", 3);
    live.counters().recv_bytes = 100;
    live.counters().peak_connections = 2;
    Counters& a = live.acquire();
    Counters& b = live.acquire();
    a.recv_bytes = 10;
    a.peak_connections = 7;
    b.recv_bytes = 1;
    EXPECT_THROW(live.acquire(), std::runtime_error) << "3 slots: the main one and two";
    live.release(a);
    Counters& again = live.acquire();
    EXPECT_EQ(&again, &a) << "a released slot is handed out again";
    again.recv_bytes += 5;  // the next owner adds to what the last one left
#ifndef IOM_NO_COUNTERS
    EXPECT_EQ(live.total().recv_bytes, 116u);
    EXPECT_EQ(live.total().peak_connections, 7u) << "a peak is the largest, not a sum";
    auto s = read_live_file(file());
    ASSERT_TRUE(s);
    EXPECT_EQ((*s)["recv_bytes"], 116u);
    EXPECT_EQ((*s)["peak_connections"], 7u);
#endif
}

TEST_F(LiveCountersTest, TheFileIsRemovedWhenTheServerEnds) {
    { LiveCounters live(name, "tests", 1); }
    EXPECT_FALSE(fs::exists(file()));
    EXPECT_TRUE(read_live_servers(dir).empty());
}

TEST_F(LiveCountersTest, AReaderIgnoresAndRemovesTheFileOfAProcessThatIsGone) {
    // A child publishes, then dies without its destructors: what SIGKILL leaves.
    pid_t pid = fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
        new LiveCounters(name, "tests", 1);  // never destroyed
        _exit(0);
    }
    int status = 0;
    ASSERT_EQ(waitpid(pid, &status, 0), pid);
    std::string left = dir + "/iomodels-" + name + "-" + std::to_string(pid);
    ASSERT_TRUE(fs::exists(left)) << "the dead child's file is still there";

    LiveCounters mine(name, "tests", 1);  // a live one beside it
    auto servers = read_live_servers(dir);
    ASSERT_EQ(servers.size(), 1u);
    EXPECT_EQ(servers[0].pid, getpid());
    EXPECT_FALSE(read_live_file(left));
    EXPECT_FALSE(fs::exists(left)) << "the reader removed it";
}

TEST_F(LiveCountersTest, AReaderSkipsFilesThatAreNotLiveCounters) {
    std::ofstream(dir + "/iomodels-junk-1") << "not a live counters file";
    std::ofstream(dir + "/unrelated") << "x";
    EXPECT_TRUE(read_live_servers(dir).empty());
    EXPECT_TRUE(fs::exists(dir + "/unrelated")) << "a reader removes only what it knows to be stale";
}

// Found by the live_counters fuzz target (tests/fuzz): a file with slot_stride 0
// and counting 0 made the reader divide by zero (SIGFPE: ioclient top died), and
// a stride that is not a multiple of 8 made it load counters misaligned.
TEST_F(LiveCountersTest, AReaderSkipsAFileWhoseSlotStrideIsZeroOrMisaligned) {
    LiveCounters live(name, "tests", 2);
    std::ifstream in(file(), std::ios::binary);
    const std::string valid{std::istreambuf_iterator<char>(in), {}};
    // LiveHeader (common/live_counters.cpp): magic[8], then u32 version, counter_count,
    // counting, slot_stride: counting at byte 16, slot_stride at byte 20.
    auto damaged = [&](std::uint32_t counting, std::uint32_t stride) {
        std::string bytes = valid;
        std::memcpy(bytes.data() + 16, &counting, 4);
        std::memcpy(bytes.data() + 20, &stride, 4);
        std::string path = dir + "/iomodels-damaged";
        std::ofstream(path, std::ios::binary) << bytes;
        return path;
    };
    std::uint32_t stride = 0;
    std::memcpy(&stride, valid.data() + 20, 4);
    ASSERT_TRUE(read_live_file(damaged(1, stride))) << "the header as written reads";
    EXPECT_FALSE(read_live_file(damaged(0, 0)));
    EXPECT_FALSE(read_live_file(damaged(1, 0)));
    EXPECT_FALSE(read_live_file(damaged(1, stride + 4)));
    EXPECT_FALSE(read_live_file(damaged(0, 4)));
}

TEST_F(LiveCountersTest, WithoutAUsableDirectoryTheServerStillCounts) {
    setenv("IOM_LIVE_DIR", (dir + "/does/not/exist").c_str(), 1);
    LiveCounters live(name, "tests", 2);
    EXPECT_TRUE(live.path().empty());
    live.counters().accepts += 3;
#ifndef IOM_NO_COUNTERS
    EXPECT_EQ(live.total().accepts, 3u);
#endif
}

}  // namespace
}  // namespace iom
