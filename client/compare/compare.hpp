// ioclient compare: start every server of the build, run the same scenarios
// against each (a fresh server process per run, so its counters belong to
// that run alone), and collect what the client measured, what the server
// counted and what /proc says about it. client/compare/report.hpp turns the result
// into the terminal table, JSON, CSV, charts and a web page.
#pragma once

#include <CLI/CLI.hpp>

#include <cstddef>
#include <limits>
#include <string>
#include <utility>
#include <vector>

namespace iom::client {

struct CompareOptions {
    std::string bin_dir;               // where servers.txt and the servers are; empty: next to ioclient
    std::vector<std::string> servers;  // empty: every server of the manifest
    bool quick = false;                // a subset of the loads, shorter runs (< 2 min)
    double duration = 0;               // seconds per measured run; 0: the mode's default
    std::string report_dir;            // empty: print the table only
    std::string command_line;          // recorded in the report
};

// The shape of one run: what the client does to a fresh server.
struct Load {
    unsigned connections = 0;  // active connections, ping-pong
    std::size_t size = 64;     // bytes per message
    unsigned idle = 0;         // idle connections, taken by the server before the load starts
    unsigned work_us = 0;      // the server's --work-us (a slow handler)
    unsigned total() const { return connections + idle; }
    std::string label() const;  // "100c 64B", "50c 64B +1000 idle", "1000 idle", ...
};

// One scenario, one load, one server.
struct Run {
    std::string scenario;  // a ScenarioInfo key
    Load load;
    std::string skipped;  // why it was not run (a stated rule); empty if it ran
    std::string error;    // why it could not be measured (the server did not start, ...)
    std::string note;     // worth knowing: unanswered connections, refusals, a bad exit
    std::vector<std::pair<std::string, double>> values;  // named figures, in a stable order

    double value(const std::string& name) const {  // NaN if absent
        for (const auto& [n, v] : values)
            if (n == name) return v;
        return std::numeric_limits<double>::quiet_NaN();
    }
};

struct ServerResult {
    std::string name;
    std::vector<std::string> traits;
    std::vector<Run> runs;

    // The run of `scenario` whose load has this label ("" = the first), or null.
    const Run* find(const std::string& scenario, const std::string& label = "") const {
        for (const auto& r : runs)
            if (r.scenario == scenario && (label.empty() || r.load.label() == label)) return &r;
        return nullptr;
    }
};

struct ScenarioInfo {
    std::string key;    // "throughput"
    std::string title;  // one line for people
};

struct Settings {
    bool quick = false;
    double duration = 0, warmup = 0, cpu_window = 0;  // seconds: per measured run, before it, idle CPU
};

struct CompareResult {
    std::string command_line, date, kernel, cpu_model;
    unsigned nproc = 0;
    Settings settings;
    std::vector<ScenarioInfo> scenarios;
    std::vector<ServerResult> servers;
};

// Run the comparison; one progress line per run goes to stderr.
CompareResult run_compare(const CompareOptions& opt);

// `ioclient compare`: its options, and the whole job (run, print the table,
// write the report). Returns the exit code.
CLI::App* add_compare_command(CLI::App& app, CompareOptions& opt);
int compare_main(CompareOptions opt, int argc, char** argv);

}  // namespace iom::client
