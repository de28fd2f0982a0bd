// ioclient lab: every claim of the classic texts about I/O models, as one
// command that measures it on this machine. `ioclient lab` lists the labs;
// `ioclient lab NAME` starts the servers the lab needs from the build (on
// --port 0, as compare does), runs the load, reads the servers' counters and
// /proc, and prints the claim, what it ran, the figures side by side and a
// verdict with its one-line reason.
//
// A lab is an observation, not a test: it exits 0 whatever the verdict, and
// non-zero only when it could not run (a server did not start, say). Where
// the answer does not depend on timing (the select limit, the bytes an
// edge-triggered server leaves unread, counters per message, descriptors
// scanned per wait) it is computed from counters, so it is the same on every
// run; `deterministic` says so and the integration tests assert it.
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <limits>
#include <string>
#include <vector>

namespace iom::client {

struct LabOptions {
    std::string name;           // empty: list the labs
    bool quick = false;         // under 15 s
    bool json = false;
    std::string bin_dir;        // where servers.txt and the servers are; empty: next to ioclient
    std::string command_line;   // recorded in the output
};

enum class LabVerdict { holds, does_not_hold, holds_only_when };
const char* to_string(LabVerdict v);  // "holds", "does not hold", "holds only when"

// One row of the figures: what it measured (a server, a mode), and a value per column.
struct LabRow {
    std::string label;
    std::vector<double> values;  // NaN: not measured for this row
};

struct LabResult {
    std::string name, claim;
    std::vector<std::string> ran;      // what it ran, a line each
    std::vector<std::string> columns;  // the figures' names, with their unit
    std::vector<LabRow> rows;
    LabVerdict verdict = LabVerdict::does_not_hold;
    std::string condition;  // for holds_only_when: "... when ..." completes the sentence
    std::string reason;     // one line: why this verdict, from the figures
    bool deterministic = false;  // the verdict comes from counters, not from timing
    std::string date, machine, command_line;

    // The figure of row `label` in column `column` (NaN if that row did not
    // measure it). A row or a column that does not exist is a mistake in the
    // lab, not a figure: it throws std::logic_error naming the lab, the row
    // and the column, so a typo fails loudly instead of reading as NaN and a
    // silent "does not hold".
    double value(const std::string& label, const std::string& column) const;
};

// What a lab is given: where the servers are and how long to measure.
struct LabContext {
    std::string bin_dir;
    bool quick = false;
    double pick(double quick_value, double full_value) const { return quick ? quick_value : full_value; }
};

struct Lab {
    std::string name;   // "select-limit"
    std::string claim;  // one sentence
    std::string family; // the docs page: blocking, nonblocking, multiplexing, async
    std::function<void(const LabContext&, LabResult&)> run;  // fills ran, columns, rows, verdict, reason
};

// The labs, in the order of docs/labs.md.
const std::vector<Lab>& labs();

// Run one lab by name (throws std::invalid_argument naming the labs if unknown).
LabResult run_lab(const std::string& name, const LabContext& ctx);

std::string to_text(const LabResult& r);
std::string to_json(const LabResult& r);

// `ioclient lab`: its options, and the whole job. Returns the exit code.
CLI::App* add_lab_command(CLI::App& app, LabOptions& opt);
int lab_main(LabOptions opt, int argc, char** argv);

inline constexpr double kNoValue = std::numeric_limits<double>::quiet_NaN();

}  // namespace iom::client
