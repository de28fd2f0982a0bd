#include "common/counters.hpp"
#include "common/json.hpp"

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
    Json j = Json::parse(ss.str());
    EXPECT_EQ(j["server"], "test_server");
    EXPECT_EQ(j["counters"]["wait_calls"], 42);
    EXPECT_EQ(j["counters"].size(), Json::parse(c.to_json()).size());
    // One line, in the layout the docs' one-liners grep: "wait_calls": 42.
    EXPECT_EQ(ss.str().find('\n'), ss.str().size() - 1) << ss.str();
    EXPECT_NE(ss.str().find("\"wait_calls\": 42"), std::string::npos) << ss.str();
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
