// bench/pair.sh, the side-by-side measurement of docs/performance.md: a tiny
// run (two rounds of a fraction of a second) against the dev build, to prove
// that it starts both servers, loads both at once and reports the ratio; and
// that it refuses what it cannot run. What it measures is not tested here:
// timing belongs in benchmarks.
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace iom::test {
namespace {

using namespace std::chrono_literals;

std::string pair_script() { return IOM_SOURCE_DIR "/bench/pair.sh"; }
std::string bin(const std::string& name) { return server_named(name).path; }

TEST(PairScript, LoadsBothServersAtOnceAndPrintsTheMedianRatio) {
    auto r = run_command({"/usr/bin/env", "IOCLIENT=" + ioclient_path(), "bash", pair_script(), bin("epoll_server"),
                          bin("uring_server") + " --batch 4", "2", "8", "64", "0.3"},
                         {}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("B = " + bin("uring_server") + " --batch 4"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("round 1: A"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("round 2: A"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("server CPU per message, B/A: median"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("2 rounds"), std::string::npos) << r.out;
}

TEST(PairScript, RefusesAServerThatIsNotAnExecutable) {
    auto r = run_command({"/usr/bin/env", "IOCLIENT=" + ioclient_path(), "bash", pair_script(), "/nonexistent/server",
                          bin("epoll_server")});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("/nonexistent/server: not an executable"), std::string::npos) << r.err;
}

TEST(PairScript, WithoutTwoServersPrintsItsUsageAndExitsTwo) {
    auto r = run_command({"/bin/bash", pair_script()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.out.find("bench/pair.sh A B"), std::string::npos) << r.out;
}

}  // namespace
}  // namespace iom::test
