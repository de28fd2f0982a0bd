// ioclient lab: the framework. The labs themselves are in labs.cpp; this
// file lists them, runs one, and prints what it found, as text or JSON.
#include "client/lab/lab.hpp"

#include "client/lib/procfs.hpp"
#include "client/lib/server_process.hpp"
#include "common/json.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <stdexcept>

namespace iom::client {

const char* to_string(LabVerdict v) {
    switch (v) {
        case LabVerdict::holds: return "holds";
        case LabVerdict::does_not_hold: return "does not hold";
        case LabVerdict::holds_only_when: return "holds only when";
    }
    return "?";
}

double LabResult::value(const std::string& label, const std::string& column) const {
    auto col = std::find(columns.begin(), columns.end(), column);
    auto row = std::find_if(rows.begin(), rows.end(), [&](const LabRow& r) { return r.label == label; });
    if (col == columns.end() || row == rows.end()) {
        std::vector<std::string> labels;
        for (const auto& r : rows) labels.push_back(r.label);
        throw std::logic_error(fmt::format("lab {}: no {} \"{}\" (row \"{}\", column \"{}\"; the rows: {}; the columns: {})",
                                           name, row == rows.end() ? "row" : "column",
                                           row == rows.end() ? label : column, label, column,
                                           fmt::join(labels, ", "), fmt::join(columns, ", ")));
    }
    const auto i = static_cast<std::size_t>(col - columns.begin());
    return i < row->values.size() ? row->values[i] : kNoValue;
}

LabResult run_lab(const std::string& name, const LabContext& ctx) {
    for (const auto& lab : labs()) {
        if (lab.name != name) continue;
        LabResult r;
        r.name = lab.name;
        r.claim = lab.claim;
        Machine m = describe_machine();
        // The load average says how much else wanted the CPUs: timed figures depend on it.
        std::string load = read_file("/proc/loadavg").value_or("?");
        r.machine = fmt::format("{} CPUs, {}, kernel {}, load average {}", m.nproc, m.cpu_model, m.kernel,
                                load.substr(0, load.find(' ')));
        r.date = utc_now();
        lab.run(ctx, r);
        return r;
    }
    std::string known;
    for (const auto& lab : labs()) known += " " + lab.name;
    throw std::invalid_argument("no lab named " + name + "; the labs are:" + known);
}

namespace {

// A figure as a person reads it: up to 4 significant digits, no exponent
// below a million.
std::string figure(double v) {
    if (std::isnan(v)) return "-";
    if (v == std::floor(v) && std::fabs(v) < 1e9) return fmt::format("{:.0f}", v);
    if (std::fabs(v) >= 100) return fmt::format("{:.0f}", v);
    if (std::fabs(v) >= 1) return fmt::format("{:.2f}", v);
    return fmt::format("{:.3f}", v);
}

std::string verdict_line(const LabResult& r) {
    std::string v = to_string(r.verdict);
    if (r.verdict == LabVerdict::holds_only_when) v += " " + r.condition;
    return v;
}

}  // namespace

std::string to_text(const LabResult& r) {
    std::string out = fmt::format("lab {}\nclaim: {}\n\nran:\n", r.name, r.claim);
    for (const auto& line : r.ran) out += "  " + line + "\n";
    // The figures side by side: one column per figure, one row per server or mode.
    std::vector<std::vector<std::string>> cells{{""}};
    for (const auto& c : r.columns) cells[0].push_back(c);
    for (const auto& row : r.rows) {
        cells.push_back({row.label});
        for (double v : row.values) cells.back().push_back(figure(v));
    }
    std::vector<std::size_t> width(cells[0].size(), 0);
    for (const auto& line : cells)
        for (std::size_t i = 0; i < line.size(); ++i) width[i] = std::max(width[i], line[i].size());
    out += "\n";
    for (const auto& line : cells) {
        out += "  ";
        for (std::size_t i = 0; i < line.size(); ++i)
            out += i == 0 ? fmt::format("{:<{}}", line[i], width[i]) : fmt::format("  {:>{}}", line[i], width[i]);
        out += "\n";
    }
    out += fmt::format("\nverdict on this machine: {}\n  because {}\n", verdict_line(r), r.reason);
    out += fmt::format("  ({}; {}; {})\n", r.deterministic ? "from the servers' counters: the verdict does not depend on timing"
                                                           : "from timing: may differ between runs",
                       r.date, r.machine);
    return out;
}

std::string to_json(const LabResult& r) {
    Json rows = Json::array();
    for (const auto& row : r.rows) {
        Json values = Json::object();
        for (std::size_t i = 0; i < r.columns.size() && i < row.values.size(); ++i)
            values[r.columns[i]] = row.values[i];
        rows.push_back(Json{{"label", row.label}, {"values", values}});
    }
    return json_line(Json{{"lab", r.name},
                          {"claim", r.claim},
                          {"ran", r.ran},
                          {"columns", r.columns},
                          {"rows", rows},
                          {"verdict", to_string(r.verdict)},
                          {"condition", r.condition},
                          {"reason", r.reason},
                          {"deterministic", r.deterministic},
                          {"date", r.date},
                          {"machine", r.machine},
                          {"command", r.command_line}});
}

CLI::App* add_lab_command(CLI::App& app, LabOptions& opt) {
    auto* cmd = app.add_subcommand("lab", "One claim of the classic texts, measured end to end on this machine: "
                                          "the claim, what ran, the figures, a verdict (no NAME: list the labs)");
    std::vector<std::string> names;
    for (const auto& lab : labs()) names.push_back(lab.name);
    cmd->add_option("name", opt.name, "The lab to run (no NAME: list them)")->check(CLI::IsMember(names));
    cmd->add_flag("--quick", opt.quick, "Shorter runs, fewer connections: under 15 s");
    cmd->add_flag("--json", opt.json, "Print the result as one JSON object");
    cmd->add_option("--bin-dir", opt.bin_dir, "Where servers.txt and the servers are (default: next to ioclient)");
    return cmd;
}

int lab_main(LabOptions opt, int argc, char** argv) {
    if (opt.name.empty()) {
        std::size_t w = 0;
        for (const auto& lab : labs()) w = std::max(w, lab.name.size());
        for (const auto& lab : labs()) fmt::print("{:<{}}  {}\n", lab.name, w, lab.claim);
        fmt::print("\nioclient lab NAME [--quick] [--json] runs one (docs/labs.md)\n");
        return 0;
    }
    if (opt.bin_dir.empty()) opt.bin_dir = program_dir();
    raise_nofile_limit(20000);  // the idle connections, in this one process and in the servers it starts
    LabResult r = run_lab(opt.name, LabContext{opt.bin_dir, opt.quick});
    r.command_line = command_line(argc, argv);
    std::cout << (opt.json ? to_json(r) + "\n" : to_text(r)) << std::flush;
    return 0;
}

}  // namespace iom::client
