// `ioclient compare`: a short run against the sequential server and one
// concurrent server, then everything it promises: the table, the skip rules,
// results.json and results.csv, every chart the page shows, and the page
// itself loading in headless Chromium with every image and no console error.
#include "built_servers.hpp"
#include "common/json.hpp"

#include <gtest/gtest.h>

#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace iom::test {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string read_text(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

std::string find_program(const std::string& name) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');)
        if (!dir.empty() && ::access((dir + "/" + name).c_str(), X_OK) == 0) return dir + "/" + name;
    return {};
}

// A concurrent server of this build: poll_server if there is one.
std::string concurrent_server() {
    for (const char* name : {"poll_server", "epoll_server", "nio_server"})
        for (const auto& s : all_servers())
            if (s.name == name) return name;
    for (const auto& s : all_servers())
        if (!s.has("sequential")) return s.name;
    return {};
}

// Each part of what compare promises, checked on one run (ctest runs every
// TEST in its own process, so one TEST keeps it to one comparison).

void check_table(const RunResult& r, const std::string& other) {
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    std::regex bio_row("\\nbio_server +[0-9]+/[0-9]+ ");  // a row per server, conformance first
    EXPECT_TRUE(std::regex_search(r.out, bio_row)) << r.out;
    EXPECT_NE(r.out.find("\n" + other + " "), std::string::npos) << r.out;
    // The sequential server's multi-client scenarios are skipped, with the reason.
    EXPECT_NE(r.out.find("bio_server: throughput 100c 64B"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("serves one client at a time"), std::string::npos) << r.out;
    EXPECT_NE(r.err.find(other + " "), std::string::npos) << r.err;  // progress, on stderr
}

void check_json(const fs::path& dir, const std::string& other) {
    const std::string text = read_text(dir / "results.json");
    Json j = Json::parse(text, nullptr, false);  // NaN or Infinity leaked in would not parse
    ASSERT_TRUE(j.is_object()) << "results.json is not a JSON object:\n" << text;
    for (const char* key : {"kernel", "nproc", "cpu_model", "date"}) EXPECT_TRUE(j["machine"].contains(key)) << key;
    EXPECT_TRUE(j["command"].is_string());
    std::set<std::string> names, scenarios;
    for (const auto& server : j["servers"]) {
        names.insert(server["name"].get<std::string>());
        for (const auto& run : server["runs"]) {
            scenarios.insert(run["scenario"].get<std::string>());
            for (const auto& [k, v] : run["values"].items()) EXPECT_TRUE(v.is_number() || v.is_null()) << k;
        }
    }
    EXPECT_TRUE(names.count("bio_server"));
    EXPECT_TRUE(names.count(other)) << other;
    for (const std::string key : {"conformance", "latency", "throughput", "idle", "idle_cpu", "memory", "syscalls",
                                  "slow_handler"})
        EXPECT_TRUE(scenarios.count(key)) << key;
}

void check_csv(const fs::path& dir, const std::string& other) {
    std::istringstream csv(read_text(dir / "results.csv"));
    std::string header;
    ASSERT_TRUE(std::getline(csv, header));
    EXPECT_EQ(header.rfind("server,scenario,load,", 0), 0u) << header;
    int rows = 0, other_rows = 0;
    for (std::string line; std::getline(csv, line); ++rows) {
        EXPECT_TRUE(line.rfind("bio_server,", 0) == 0 || line.rfind(other + ",", 0) == 0) << line;
        other_rows += line.rfind(other + ",throughput,", 0) == 0;
    }
    EXPECT_GT(rows, 20);
    EXPECT_GT(other_rows, 0);
}

void check_charts(const fs::path& dir) {
    ASSERT_FALSE(find_program("gnuplot").empty()) << "gnuplot is not installed: run scripts/install-deps.sh";
    std::string html = read_text(dir / "index.html");
    ASSERT_NE(html.find("<table id=\"results\">"), std::string::npos) << html;
    std::regex ref("<(?:img src|object data)=\"([^\"]+)\"");
    int charts = 0;
    for (std::sregex_iterator it(html.begin(), html.end(), ref), end; it != end; ++it, ++charts) {
        fs::path chart = dir / (*it)[1].str();
        EXPECT_TRUE(fs::exists(chart)) << chart;
        EXPECT_NE(read_text(chart).find("<svg"), std::string::npos) << chart;
    }
    EXPECT_GE(charts, 7) << html;  // throughput, latency, idle, fds per wait, idle CPU, memory, syscalls, ...
}

// The page in headless Chromium: it loads from disk, every image loads, and
// nothing is logged to the console.
void check_page_in_chromium(const fs::path& dir) {
    std::string chromium = find_program("chromium");
    if (chromium.empty()) chromium = find_program("chromium-browser");
    ASSERT_FALSE(chromium.empty()) << "chromium is not installed: run scripts/install-deps.sh";
    char tmpl[] = "/tmp/iomodels-chromium-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    auto r = run_command({chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          std::string("--user-data-dir=") + tmpl, "--enable-logging=stderr", "--v=0", "--dump-dom",
                          "file://" + (dir / "index.html").string()},
                         "", 90s);
    fs::remove_all(tmpl);
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("<table id=\"results\">"), std::string::npos) << r.out;
    // The page's own script marks the body once every image has loaded.
    EXPECT_TRUE(std::regex_search(r.out, std::regex("<body[^>]* data-ok=\"1\""))) << "not every image loaded:\n"
                                                                                  << r.out;
    std::istringstream log(r.err);
    for (std::string line; std::getline(log, line);)
        EXPECT_EQ(line.find(":CONSOLE"), std::string::npos) << "console message: " << line;
}

TEST(CompareReport, QuickRunPrintsTheTableAndWritesJsonCsvChartsAndAPageThatLoads) {
    char tmpl[] = "/tmp/iomodels-compare-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const fs::path dir = tmpl;
    const std::string other = concurrent_server();
    ASSERT_FALSE(other.empty()) << "no concurrent server in this build";
    auto r = run_command({ioclient_path(), "compare", "--quick", "--duration", "0.3", "--servers",
                          "bio_server," + other, "--report", dir.string()},
                         "", 240s);
    {
        SCOPED_TRACE("the table");
        check_table(r, other);
    }
    {
        SCOPED_TRACE("results.json");
        check_json(dir, other);
    }
    {
        SCOPED_TRACE("results.csv");
        check_csv(dir, other);
    }
    {
        SCOPED_TRACE("the charts");
        check_charts(dir);
    }
    {
        SCOPED_TRACE("the page in chromium");
        check_page_in_chromium(dir);
    }
    fs::remove_all(dir);
}

TEST(Compare, RefusesAnUnknownServerNamingTheKnownOnes) {
    auto r = run_command({ioclient_path(), "compare", "--quick", "--servers", "no_such_server"});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no server named no_such_server"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("bio_server"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace iom::test
