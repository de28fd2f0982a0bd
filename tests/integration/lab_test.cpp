// `ioclient lab`: every lab runs in its --quick form and prints its
// structure (claim, what ran, figures, verdict) as JSON. Where a lab's answer
// does not depend on timing (the select limit, the bytes an edge-triggered
// server leaves unread, counters per message, descriptors scanned per wait),
// the answer itself is asserted; where it does (latency, CPU), only the
// structure is, since a lab is an observation, not a test.
#include "built_servers.hpp"

#include "common/json.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace iom::test {
namespace {

// `ioclient lab NAME --quick --json`, parsed, its structure checked.
Json run_lab(const std::string& name) {
    RunResult r = run_command({ioclient_path(), "lab", name, "--quick", "--json"}, {}, std::chrono::seconds(120));
    EXPECT_EQ(r.exit_code, 0) << r.err;
    Json j = Json::parse(r.out, nullptr, false);
    if (j.is_discarded()) {
        ADD_FAILURE() << "not JSON: " << r.out << r.err;
        return Json::object();
    }
    EXPECT_EQ(j["lab"], name);
    EXPECT_FALSE(j["claim"].get<std::string>().empty());
    EXPECT_FALSE(j["ran"].empty());
    EXPECT_FALSE(j["columns"].empty());
    EXPECT_FALSE(j["rows"].empty());
    for (const auto& row : j["rows"]) EXPECT_EQ(row["values"].size(), j["columns"].size()) << row;
    const std::string verdict = j["verdict"];
    EXPECT_TRUE(verdict == "holds" || verdict == "does not hold" || verdict == "holds only when") << verdict;
    if (verdict == "holds only when") {
        EXPECT_FALSE(j["condition"].get<std::string>().empty());
    }
    EXPECT_FALSE(j["reason"].get<std::string>().empty());
    return j;
}

// The figure of row `label`, column `column` (NaN if absent or null).
double value(const Json& j, const std::string& label, const std::string& column) {
    for (const auto& row : j["rows"])
        if (row["label"] == label && row["values"].contains(column) && row["values"][column].is_number())
            return row["values"][column].get<double>();
    return std::nan("");
}

// A lab whose answer does not depend on timing: it must hold, from counters.
Json run_holding_lab(const std::string& name) {
    Json j = run_lab(name);
    EXPECT_TRUE(j.value("deterministic", false)) << name;
    EXPECT_EQ(j.value("verdict", ""), "holds") << j.value("reason", "");
    return j;
}

// The labs whose answer depends on timing: their structure only.
class TimedLab : public ::testing::TestWithParam<std::string> {};

TEST_P(TimedLab, PrintsClaimFiguresAndVerdict) {
    Json j = run_lab(GetParam());
    EXPECT_FALSE(j.value("deterministic", true)) << "a timed lab says its verdict may change between runs";
}

INSTANTIATE_TEST_SUITE_P(Lab, TimedLab,
                         ::testing::Values("cost-per-connection", "busy-polling", "few-connections", "idle-vs-active",
                                           "slow-handler"),
                         [](const auto& p) {
                             std::string n = p.param;
                             for (char& c : n)
                                 if (c == '-') c = '_';
                             return n;
                         });

TEST(Lab, ListsTheTwelveLabsAndRefusesAnUnknownOne) {
    RunResult list = run_command({ioclient_path(), "lab"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    for (const char* name : {"second-client-waits", "cost-per-connection", "busy-polling", "select-limit", "scan-cost",
                             "few-connections", "idle-vs-active", "edge-triggered", "two-syscalls", "proactor",
                             "slow-handler", "coroutines"})
        EXPECT_NE(list.out.find(name), std::string::npos) << name;
    EXPECT_NE(run_command({ioclient_path(), "lab", "no-such-lab"}).exit_code, 0);
}

TEST(Lab, SecondClientWaits) {
    Json j = run_holding_lab("second-client-waits");
    EXPECT_EQ(value(j, "bio_server", "B echoed while A connected"), 0);
    EXPECT_EQ(value(j, "bio_threads_server", "B echoed while A connected"), 1);
}

TEST(Lab, SelectLimit) {
    Json j = run_holding_lab("select-limit");
    EXPECT_EQ(value(j, "select_server", "lowest refused fd"), 1024);
    EXPECT_GT(value(j, "select_server", "refused"), 0);
    EXPECT_EQ(value(j, "poll_server", "refused"), 0);
}

TEST(Lab, ScanCost) {
    Json j = run_holding_lab("scan-cost");
    EXPECT_GE(value(j, "select_server +500 idle", "fds per wait"), 400);
    EXPECT_GE(value(j, "poll_server +500 idle", "fds per wait"), 400);
    EXPECT_EQ(value(j, "epoll_server +500 idle", "fds per wait"), 0);
}

TEST(Lab, EdgeTriggered) {
    Json j = run_holding_lab("edge-triggered");
    EXPECT_GT(value(j, "epoll_server --read-once", "bytes never read"), 0);
    EXPECT_EQ(value(j, "epoll_server", "bytes never read"), 0);
    EXPECT_EQ(value(j, "epoll_server --level --read-once", "bytes never read"), 0);
}

TEST(Lab, TwoSyscalls) {
    Json j = run_holding_lab("two-syscalls");
    EXPECT_NEAR(value(j, "bio_server", "syscalls per msg"), 2, 0.05);
    for (const char* mux : {"select_server", "poll_server", "epoll_server"})
        EXPECT_GE(value(j, mux, "waits per msg"), 0.9) << mux;
}

TEST(Lab, Proactor) {
    Json j = run_holding_lab("proactor");
    EXPECT_LT(value(j, "uring_server", "syscalls per msg"), value(j, "epoll_server", "syscalls per msg"));
}

TEST(Lab, Coroutines) {
    Json j = run_lab("coroutines");
    EXPECT_TRUE(j["deterministic"].get<bool>());
    EXPECT_NE(j["verdict"], "does not hold") << j["reason"];
    for (const char* c : {"io_uring_enter per msg", "cqes per msg", "recv per msg", "send per msg"})
        EXPECT_NEAR(value(j, "uring_server", c), value(j, "uring_coro_server", c), 0.05) << c;
}

}  // namespace
}  // namespace iom::test
