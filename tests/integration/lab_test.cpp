// `ioclient lab`: every lab runs in its --quick form and prints its
// structure (claim, what ran, figures, verdict) as JSON. Where a lab's answer
// does not depend on timing (the select limit, the bytes an edge-triggered
// server leaves unread, counters per message, descriptors scanned per wait),
// the answer itself is asserted; where it does (latency, CPU), only the
// structure is, since a lab is an observation, not a test.
#include "built_servers.hpp"

#include "common/json.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <ostream>
#include <vector>
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

// The labs whose answer depends on timing: their structure only.
class TimedLab : public ::testing::TestWithParam<std::string> {};

TEST_P(TimedLab, PrintsClaimFiguresAndVerdict) {
    Json j = run_lab(GetParam());
    EXPECT_FALSE(j.value("deterministic", true)) << "a timed lab says its verdict may change between runs";
}

INSTANTIATE_TEST_SUITE_P(Lab, TimedLab,
                         ::testing::Values("cost-per-connection", "busy-polling", "few-connections", "idle-vs-active",
                                           "slow-handler", "loops-per-core"),
                         [](const auto& p) {
                             std::string n = p.param;
                             std::replace(n.begin(), n.end(), '-', '_');
                             return n;
                         });

TEST(Lab, ListsEveryLabAndRefusesAnUnknownOne) {
    RunResult list = run_command({ioclient_path(), "lab"});
    EXPECT_EQ(list.exit_code, 0) << list.err;
    for (const char* name : {"second-client-waits", "cost-per-connection", "busy-polling", "select-limit", "scan-cost",
                             "few-connections", "idle-vs-active", "edge-triggered", "tls-edge", "two-syscalls", "slow-handler",
                             "loops-per-core", "spreading", "proactor", "coroutines"})
        EXPECT_NE(list.out.find(name), std::string::npos) << name;
    EXPECT_NE(run_command({ioclient_path(), "lab", "no-such-lab"}).exit_code, 0);
}

// The labs whose answer does not depend on timing: each must hold, and
// show these figures, each within its range.
struct Figure {
    std::string row, column;
    double low, high;
};
struct CountedLab {
    std::string name;
    std::vector<Figure> figures;
};
void PrintTo(const CountedLab& lab, std::ostream* os) { *os << lab.name; }

constexpr double kAny = std::numeric_limits<double>::infinity();

class CountedLabs : public ::testing::TestWithParam<CountedLab> {};

TEST_P(CountedLabs, HoldWithTheseFigures) {
    Json j = run_lab(GetParam().name);
    EXPECT_TRUE(j.value("deterministic", false));
    EXPECT_EQ(j.value("verdict", ""), "holds") << j.value("reason", "");
    for (const auto& f : GetParam().figures) {
        double v = value(j, f.row, f.column);
        EXPECT_TRUE(v >= f.low && v <= f.high) << f.row << ", " << f.column << ": " << v << " is not in [" << f.low
                                               << ", " << f.high << "]";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Lab, CountedLabs,
    ::testing::Values(
        // bio_server leaves B unread while A is connected; a thread each serves B at once.
        CountedLab{"second-client-waits",
                   {{"bio_server", "B echoed while A connected", 0, 0},
                    {"bio_threads_server", "B echoed while A connected", 1, 1}}},
        // select refuses from descriptor FD_SETSIZE on; poll takes them all.
        CountedLab{"select-limit",
                   {{"select_server", "lowest refused fd", 1024, 1024},
                    {"select_server", "refused", 1, kAny},
                    {"poll_server", "refused", 0, 0}}},
        // 500 idle connections: select and poll hand in about 500 per wait (the
        // connecting phase's shorter scans lower the average a little), epoll none.
        CountedLab{"scan-cost",
                   {{"select_server +500 idle", "fds per wait", 400, kAny},
                    {"poll_server +500 idle", "fds per wait", 400, kAny},
                    {"epoll_server +500 idle", "fds per wait", 0, 0}}},
        CountedLab{"edge-triggered",
                   {{"epoll_server --read-once", "bytes never read", 1, kAny},
                    {"epoll_server", "bytes never read", 0, 0},
                    {"epoll_server --level --read-once", "bytes never read", 0, 0}}},
        // Commands OpenSSL read ahead wait for a readiness that never comes, unless drained.
        CountedLab{"tls-edge",
                   {{"epoll_ftp_server --tls-read-once", "commands never answered", 1, kAny},
                    {"epoll_ftp_server", "commands never answered", 0, 0},
                    {"uring_ftp_server", "commands never answered", 0, 0}}},
        // recv + send for blocking I/O; a wait before each recv when multiplexing.
        CountedLab{"two-syscalls",
                   {{"bio_server", "syscalls per msg", 1.95, 2.05},
                    {"select_server", "waits per msg", 0.9, kAny},
                    {"poll_server", "waits per msg", 0.9, kAny},
                    {"epoll_server", "waits per msg", 0.9, kAny}}},
        // Round robin deals 10 connections over 4 loops 3/3/2/2, and 1,000 exactly 250 each;
        // the kernel's hash gives every loop some of 1,000, none far beyond an even share.
        CountedLab{"spreading",
                   {{"handoff, 10 connections", "most", 3, 3},
                    {"handoff, 10 connections", "fewest", 2, 2},
                    {"handoff, 1000 connections", "most", 250, 250},
                    {"handoff, 1000 connections", "fewest", 250, 250},
                    {"reuseport, 1000 connections", "fewest", 1, kAny},
                    {"reuseport, 10 connections", "most", 1, 10}}},
        // One client: epoll pays wait + recv + send; io_uring two io_uring_enter at most.
        CountedLab{"proactor",
                   {{"epoll_server", "syscalls per msg", 2.95, kAny}, {"uring_server", "syscalls per msg", 0, 2.9}}}),
    [](const auto& p) {
        std::string n = p.param.name;
        std::replace(n.begin(), n.end(), '-', '_');
        return n;
    });

TEST(Lab, Coroutines) {
    Json j = run_lab("coroutines");
    EXPECT_TRUE(j["deterministic"].get<bool>());
    EXPECT_NE(j["verdict"], "does not hold") << j["reason"];
    for (const char* c : {"io_uring_enter per msg", "cqes per msg", "recv per msg", "send per msg"})
        EXPECT_NEAR(value(j, "uring_server", c), value(j, "uring_coro_server", c), 0.05) << c;
}

}  // namespace
}  // namespace iom::test
