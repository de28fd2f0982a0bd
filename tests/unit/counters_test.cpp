#include "common/counters.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <system_error>

namespace iom {
namespace {

TEST(Counters, MergeSumsEventsAndTakesTheMaxOfPeaks) {
    Counters a, b;
    a.recv_calls = 3;
    a.peak_connections = 10;
    b.recv_calls = 4;
    b.peak_connections = 7;
    a += b;
    EXPECT_EQ(a.recv_calls, 7u);
    EXPECT_EQ(a.peak_connections, 10u);
}

TEST(Counters, JsonHasEveryKeyEvenZero) {
    Counters c;
    c.accepts = 2;
    std::string j = c.to_json();
    EXPECT_NE(j.find("\"accepts\": 2"), std::string::npos) << j;
    EXPECT_NE(j.find("\"recv_calls\": 0"), std::string::npos) << j;
    EXPECT_NE(j.find("\"peak_threads\": 0"), std::string::npos) << j;
    EXPECT_EQ(j.front(), '{');
    EXPECT_EQ(j.back(), '}');
}

TEST(Counters, LineShowsOnlyNonZero) {
    Counters c;
    EXPECT_EQ(c.to_line(), "(all zero)");
    c.send_bytes = 5;
    EXPECT_EQ(c.to_line(), "send_bytes=5");
}

TEST(Counters, StatsFileIsWrittenWhole) {
    Counters c;
    c.wait_calls = 42;
    std::string path = ::testing::TempDir() + "/iom_stats_test.json";
    write_stats_file(path, "test_server", c);
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    EXPECT_NE(ss.str().find("\"server\": \"test_server\""), std::string::npos);
    EXPECT_NE(ss.str().find("\"wait_calls\": 42"), std::string::npos);
    std::remove(path.c_str());
}

TEST(Counters, StatsFileErrorNamesThePath) {
    try {
        write_stats_file("/nonexistent-dir/x.json", "s", Counters{});
        FAIL() << "expected an error";
    } catch (const std::system_error& e) {
        EXPECT_NE(std::string(e.what()).find("/nonexistent-dir/x.json"), std::string::npos) << e.what();
    }
}

}  // namespace
}  // namespace iom
