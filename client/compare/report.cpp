// The report of `ioclient compare`. Two tables drive everything here: the
// columns of the side-by-side table (terminal and web page) and the charts
// (each a .dat and a .gp file that gnuplot turns into an SVG, with a short
// text: what to look for, and which claim of the classic texts it tests).
// The web page's HTML, style and script are client/compare/page.html.
#include "client/compare/report.hpp"

#include "client/compare/page.hpp"
#include "client/lib/server_process.hpp"
#include "common/json.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

namespace iom::client {

namespace {

namespace fs = std::filesystem;

// --- the table ------------------------------------------------------------------

enum class Kind { number, check, percent_of };

struct Column {
    const char* header;  // short: the terminal's column
    const char* meaning;  // the web page's legend
    const char* scenario;
    const char* label;  // the load (Load::label())
    const char* metric;
    int precision;
    bool terminal;  // also in the terminal table (the page has all)
    Kind kind = Kind::number;
    const char* other_label = "";  // percent_of: 100 * this load / that load
};

const Column columns[] = {
    {"check", "conformance cases passed / run (ioclient check)", "conformance", "", "passed", 0, true, Kind::check},
    {"p50 us", "one client, 64 B: median round trip, microseconds", "latency", "1c 64B", "p50_us", 0, true},
    {"p99 us", "one client, 64 B: 99th percentile round trip", "latency", "1c 64B", "p99_us", 0, true},
    {"msg/s 1c", "one connection, 64 B: messages per second", "throughput", "1c 64B", "msgs_per_s", 0, false},
    {"msg/s 100c", "100 connections, 64 B: messages per second", "throughput", "100c 64B", "msgs_per_s", 0, true},
    {"p99 100c", "100 connections, 64 B: p99 round trip, microseconds", "throughput", "100c 64B", "p99_us", 0,
     false},
    {"+1k idle", "50 active clients beside 1,000 idle connections: messages per second", "idle",
     "50c 64B +1000 idle", "msgs_per_s", 0, true},
    {"+10k idle", "50 active clients beside 10,000 idle connections: messages per second", "idle",
     "50c 64B +10000 idle", "msgs_per_s", 0, false},
    {"fds/wait", "beside 1,000 idle: descriptors handed to or scanned by each wait call (wait_fds / wait_calls)",
     "idle", "50c 64B +1000 idle", "fds_per_wait", 0, true},
    {"idle CPU%", "100 idle connections, no traffic: server CPU, percent of one core", "idle_cpu", "100 idle",
     "cpu_percent", 1, true},
    {"KiB/conn", "memory (anonymous Pss of the server and its children) added per idle connection, at 1,000", "memory",
     "1000 idle", "kib_per_conn", 1, true},
    {"thr/conn", "threads (or processes) added per idle connection, at 1,000", "memory", "1000 idle",
     "threads_per_conn", 2, true},
    {"sys/msg", "system calls the server made per echoed message, one client", "syscalls", "1c 64B",
     "syscalls_per_msg", 2, true},
    {"slow msg/s", "10 clients with --work-us 200 (a slow handler): messages per second", "slow_handler",
     "10c 64B work 200us", "msgs_per_s", 0, true},
    {"slow %", "the slow handler's throughput as a percentage of the same load without it", "slow_handler",
     "10c 64B work 200us", "msgs_per_s", 0, true, Kind::percent_of, "10c 64B"},
};

std::string number(double v, int precision) { return std::isfinite(v) ? fmt::format("{:.{}f}", v, precision) : "n/a"; }

// A cell: "" if this run was not part of this comparison (e.g. --quick).
// `why` (if given) gets the skip reason or the error.
std::string cell(const ServerResult& s, const Column& c, std::string* why = nullptr) {
    const Run* run = s.find(c.scenario, c.label);
    if (!run) return "";
    if (why) *why = run->skipped.empty() ? run->error : run->skipped;
    if (!run->skipped.empty()) return "skip";
    if (!run->error.empty()) return "error";
    switch (c.kind) {
        case Kind::check:
            return fmt::format("{}/{}", run->value("passed"), run->value("passed") + run->value("failed"));
        case Kind::percent_of: {
            const Run* base = s.find(c.scenario, c.other_label);
            double b = base && base->skipped.empty() ? base->value(c.metric) : NAN;
            return number(100 * run->value(c.metric) / b, 0) + (std::isfinite(b) ? "%" : "");
        }
        case Kind::number: break;
    }
    return number(run->value(c.metric), c.precision);
}

bool column_used(const CompareResult& r, const Column& c) {
    return std::any_of(r.servers.begin(), r.servers.end(), [&](auto& s) { return s.find(c.scenario, c.label); });
}

// Runs that were skipped, grouped by server and reason; runs with notes or errors.
std::vector<std::string> skip_lines(const CompareResult& r) {
    std::vector<std::string> out;
    for (const auto& s : r.servers) {
        std::vector<std::pair<std::string, std::string>> groups;  // reason, loads
        for (const auto& run : s.runs) {
            if (run.skipped.empty()) continue;
            auto it = std::find_if(groups.begin(), groups.end(), [&](auto& g) { return g.first == run.skipped; });
            std::string what = run.scenario + " " + run.load.label();
            if (it == groups.end()) groups.emplace_back(run.skipped, what);
            else it->second += ", " + what;
        }
        for (const auto& [why, loads] : groups) out.push_back(fmt::format("{}: {} — {}", s.name, loads, why));
    }
    return out;
}

std::vector<std::string> note_lines(const CompareResult& r) {
    std::vector<std::string> out;
    for (const auto& s : r.servers)
        for (const auto& run : s.runs) {
            std::string text = run.error.empty() ? run.note : "error: " + run.error;
            if (!run.error.empty() && !run.note.empty()) text += "; " + run.note;
            if (!text.empty()) out.push_back(fmt::format("{}, {} {}: {}", s.name, run.scenario, run.load.label(),
                                                         text));
        }
    return out;
}

// --- the charts -----------------------------------------------------------------

struct Chart {
    const char* name;  // NAME.dat, NAME.gp, NAME.svg
    const char* title;
    const char* ylabel;
    const char* scenario;
    const char* metric;
    std::size_t size;  // lines: x = connections, for this message size; 0: bars, a group per server
    bool logy;
    const char* text;  // what to look for; the claim it tests
    std::string (*series)(const Load&) = nullptr;  // bars: a load's name in the key (default: its label)
};

std::string by_idle(const Load& l) { return fmt::format("{} idle", l.idle); }
std::string by_work(const Load& l) { return l.work_us ? fmt::format("{} us of work", l.work_us) : "no work"; }

const Chart charts[] = {
    {"throughput_64", "Throughput by connections, 64 B messages", "messages per second", "throughput",
     "msgs_per_s", 64, false,
     "Where does each line stop rising? More connections keep more messages in flight until the server, or the "
     "cores it shares with the client, saturates. The C10K claim, <em>a thread per connection does not scale</em>, "
     "is confirmed if bio_threads_server falls clearly below epoll_server and uring_server at 1,000 connections, "
     "refuted for this machine if it keeps pace. The pool serves 4 clients; the rest go unanswered (notes)."},
    {"throughput_4k", "Throughput by connections, 4 KiB messages", "messages per second", "throughput",
     "msgs_per_s", 4096, false,
     "The same with 4 KiB messages: copying 4 KiB each way, which every model does alike, now weighs more, so "
     "the ways of waiting differ less."},
    {"latency_64", "p99 round trip by connections, 64 B", "p99 round trip, microseconds (log)", "throughput",
     "p99_us", 64, true,
     "The slowest 1% of round trips. Once saturated, a message waits behind the others, so every tail grows with "
     "connections (latency = connections / throughput). Look for tails that grow faster: busy polling "
     "(nio_server) and a sweep per signal (sigio_server) visit idle and busy sockets alike."},
    {"idle_throughput", "50 active clients beside idle connections", "messages per second", "idle", "msgs_per_s",
     0, false,
     "The same 50 active clients beside 0, 1,000 (full run: and 10,000) idle connections. The claim: <em>select "
     "and poll are O(n) in the descriptors watched, epoll is O(ready)</em>. Confirmed if the select/poll (and "
     "busy-polling) bars drop as idle connections are added while epoll_server and uring_server stay level. "
     "select_server's missing bars are FD_SETSIZE (1024): the other half of its lesson.", by_idle},
    {"fds_per_wait", "Descriptors handed to or scanned by each wait call", "descriptors per wait call", "idle",
     "fds_per_wait", 0, false,
     "The same claim from the servers' own counters (wait_fds / wait_calls): select and poll hand the kernel "
     "every descriptor on every call, so this grows with the idle connections; epoll_wait is handed none (the "
     "interest list lives in the kernel) and counts 0. Blocking servers make no wait call: no bar.", by_idle},
    {"idle_cpu", "Server CPU with 100 idle connections, no traffic", "percent of one core", "idle_cpu",
     "cpu_percent", 0, false,
     "The claim: <em>busy polling wastes CPU</em>. Confirmed if nio_server, asking every socket again and again, "
     "uses about a whole core while nothing happens, and every model that sleeps in the kernel (recv, select, "
     "poll, epoll, io_uring, a signal) uses close to none."},
    {"memory", "Memory per connection (1,000 idle)", "KiB per connection (anonymous Pss)", "memory", "kib_per_conn",
     0, false,
     "The anonymous memory the server and its children allocated (Pss_Anon: heap, stacks, buffers), per idle "
     "connection. A page a forked child still shares with its parent counts 1/k in each of the k processes "
     "sharing it, so it counts once; code and libraries, which the server did not allocate, are not in it, nor "
     "are socket buffers (kernel memory). The claim: <em>a thread per connection costs memory</em> (a stack "
     "each), a process more. Confirmed if bio_threads_server and bio_fork_server sit well above the event "
     "loops (a struct and buffers each)."},
    {"syscalls", "System calls per echoed message (one client)", "system calls per message (log)", "syscalls",
     "syscalls_per_msg", 0, true,
     "Counted accept, recv, send and wait calls (io_uring: io_uring_enter only) per message echoed. Blocking "
     "needs a recv and a send; a reactor adds its wait and often a recv answering EAGAIN. The claim: <em>io_uring "
     "needs fewer system calls per message</em>: confirmed if uring_server is below epoll_server. Busy polling "
     "shows the questions it asks for nothing."},
    {"slow_handler", "10 clients, without and with 200 us of work per message", "messages per second",
     "slow_handler", "msgs_per_s", 0, false,
     "Each message costs the server 200 us of CPU (--work-us 200). The claim: <em>a slow handler stalls a "
     "single-threaded event loop</em>: every client waits while one is handled (at most 5,000 messages/s), "
     "while threads spread the work over the cores. Confirmed if the thread-per-connection server keeps more "
     "of its throughput than the loops; the pool serves 4 of the 10 clients.", by_work},
};

// One table of numbers per chart: a header row, then rows of label + values.
struct Data {
    std::vector<std::string> header;
    std::vector<std::pair<std::string, std::vector<double>>> rows;
};

double value_of(const Run* run, const char* metric) {
    return run && run->skipped.empty() && run->error.empty() ? run->value(metric) : NAN;
}

Data chart_data(const CompareResult& r, const Chart& c) {
    Data d;
    if (c.size > 0) {  // lines: x = connections, a column per server
        d.header.push_back("connections");
        std::set<unsigned> xs;
        for (const auto& s : r.servers) {
            d.header.push_back(s.name);
            for (const auto& run : s.runs)
                if (run.scenario == c.scenario && run.load.size == c.size) xs.insert(run.load.connections);
        }
        for (unsigned x : xs) {
            auto& row = d.rows.emplace_back(std::to_string(x), std::vector<double>{});
            for (const auto& s : r.servers)
                row.second.push_back(value_of(s.find(c.scenario, Load{x, c.size}.label()), c.metric));
        }
        return d;
    }
    d.header.push_back("server");  // bars: a group per server, a bar per load
    std::vector<std::string> loads;
    for (const auto& s : r.servers)
        for (const auto& run : s.runs)
            if (run.scenario == c.scenario && std::find(loads.begin(), loads.end(), run.load.label()) == loads.end()) {
                loads.push_back(run.load.label());
                d.header.push_back(c.series ? c.series(run.load) : run.load.label());
            }
    for (const auto& s : r.servers) {
        auto& row = d.rows.emplace_back(s.name, std::vector<double>{});
        for (const auto& load : loads) row.second.push_back(value_of(s.find(c.scenario, load), c.metric));
    }
    return d;
}

bool has_data(const Data& d) {
    return std::any_of(d.rows.begin(), d.rows.end(), [](auto& row) {
        return std::any_of(row.second.begin(), row.second.end(), [](double v) { return std::isfinite(v); });
    });
}

std::string dat_text(const Data& d) {
    std::string s;
    for (std::size_t i = 0; i < d.header.size(); ++i) s += (i ? "\t" : "") + d.header[i];
    s += '\n';
    for (const auto& [label, values] : d.rows) {
        s += label;
        for (double v : values) s += std::isfinite(v) ? fmt::format("\t{}", v) : "\tNaN";
        s += '\n';
    }
    return s;
}

// Twelve distinguishable colours, so eleven servers never share one.
std::string palette() {
    std::string s;
    int i = 0;
    for (const char* c : {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f",
                          "#bcbd22", "#17becf", "#000000", "#aec7e8"})
        s += fmt::format("set linetype {} lc rgb \"{}\" lw 2\n", ++i, c);
    return s + "set linetype cycle 12\n";
}

std::string gp_text(const Chart& c, const Data& d) {
    std::string s = fmt::format(
        "# Redraw with: gnuplot {0}.gp  (data: {0}.dat; made by ioclient compare)\n"
        "set terminal svg size 960,480 noenhanced font \"sans,13\" background \"#ffffff\"\n"
        "set output \"{0}.svg\"\nset datafile separator \"\\t\"\n"
        "set title \"{1}\"\nset ylabel \"{2}\"\nset grid ytics\nset key outside right top\n{3}",
        c.name, c.title, c.ylabel, palette());
    if (c.logy) s += "set logscale y\n";
    else s += "set yrange [0:*]\n";
    if (c.size > 0) {
        return s + fmt::format("set xlabel \"connections (log)\"\nset logscale x\nset offsets graph 0.05, "
                               "graph 0.05, 0, 0\nplot for [i=2:{}] \"{}.dat\" using 1:i with linespoints lw 2 "
                               "pt (i-1) ps 1.2 title columnheader(i)\n",
                               d.header.size(), c.name);
    }
    return s + fmt::format("set style data histograms\nset style histogram clustered gap 1\n"
                           "set style fill solid 0.85 border -1\nset xtics rotate by -30 scale 0\n"
                           "plot for [i=2:{}] \"{}.dat\" using i:xtic(1) title columnheader(i)\n",
                           d.header.size(), c.name);
}

std::string find_in_path(const std::string& program) {
    const char* path = std::getenv("PATH");
    std::istringstream dirs(path ? path : "/usr/bin:/bin");
    for (std::string dir; std::getline(dirs, dir, ':');) {
        std::string candidate = dir + "/" + program;
        if (!dir.empty() && ::access(candidate.c_str(), X_OK) == 0) return candidate;
    }
    return {};
}

// --- text formats ---------------------------------------------------------------

std::string html_escape(const std::string& s) {
    std::string out;
    for (char ch : s) {
        if (ch == '<') out += "&lt;";
        else if (ch == '>') out += "&gt;";
        else if (ch == '&') out += "&amp;";
        else if (ch == '"') out += "&quot;";
        else out += ch;
    }
    return out;
}

std::string csv_field(const std::string& s) {
    if (s.find_first_of(",\"\n") == std::string::npos) return s;
    std::string out = "\"";
    for (char ch : s) out += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return out + "\"";
}

std::string join(const std::vector<std::string>& v, const std::string& sep) {
    std::string s;
    for (std::size_t i = 0; i < v.size(); ++i) s += (i ? sep : "") + v[i];
    return s;
}

// The page template (client/compare/page.html) with each {{name}} replaced
// by its text. A placeholder alone on its line stands for whole lines: its
// text ends with a newline, and with none the line disappears.
std::string fill(std::string_view page, const std::vector<std::pair<std::string, std::string>>& parts) {
    std::string out(page);
    for (const auto& [name, text] : parts) {
        const std::string key = "{{" + name + "}}";
        auto at = out.find(key);
        if (at == std::string::npos) throw std::logic_error("page.html has no " + key);
        std::size_t len = key.size();
        bool own_line = (at == 0 || out[at - 1] == '\n') && at + len < out.size() && out[at + len] == '\n';
        if (own_line && (text.empty() || text.back() == '\n')) ++len;
        out.replace(at, len, text);
    }
    return out;
}

std::string html_page(const CompareResult& r, const std::vector<std::pair<const Chart*, bool>>& drawn) {
    std::string rows = "<tr><th>server</th>";
    for (const auto& c : columns)
        if (column_used(r, c)) rows += fmt::format("<th title=\"{}\">{}</th>", html_escape(c.meaning), c.header);
    rows += "</tr>\n";
    for (const auto& s : r.servers) {
        rows += "<tr><td>" + s.name + "</td>";
        for (const auto& c : columns) {
            if (!column_used(r, c)) continue;
            std::string why, v = cell(s, c, &why);
            std::string skip = why.empty() ? "" : " class=\"skip\" title=\"" + html_escape(why) + "\"";
            rows += fmt::format("<td{}>{}</td>", skip, html_escape(v));
        }
        rows += "</tr>\n";
    }
    std::string legend;
    for (const auto& c : columns)
        if (column_used(r, c)) legend += fmt::format("<dt>{}</dt><dd>{}</dd>\n", c.header, html_escape(c.meaning));
    std::string sections;
    for (const auto& [c, ok] : drawn) {
        sections += fmt::format("<section>\n<h3>{}</h3>\n", c->title);
        sections += ok ? fmt::format("<img src=\"{}.svg\" alt=\"{}\">\n", c->name, c->title)
                       : "<p><em>Not drawn: gnuplot is missing or failed (see what ioclient printed; "
                         "scripts/install-deps.sh installs gnuplot-nox).</em></p>\n";
        sections += fmt::format("<p>{}</p>\n</section>\n", c->text);
    }
    auto items = [](const std::vector<std::string>& lines) {
        std::string li;
        for (const auto& line : lines) li += "<li>" + html_escape(line) + "</li>\n";
        return li;
    };
    return fill(kPageTemplate, {{"command", html_escape(r.command_line)},
                                {"cpu_model", html_escape(r.cpu_model)},
                                {"nproc", std::to_string(r.nproc)},
                                {"kernel", html_escape(r.kernel)},
                                {"date", html_escape(r.date)},
                                {"mode", r.settings.quick ? "Quick" : "Full"},
                                {"duration", fmt::format("{}", r.settings.duration)},
                                {"warmup", fmt::format("{}", r.settings.warmup)},
                                {"table_rows", rows},
                                {"legend", legend},
                                {"charts", sections},
                                {"skipped", items(skip_lines(r))},
                                {"notes", items(note_lines(r))}});
}

void write_file(const fs::path& path, const std::string& text) {
    std::ofstream out(path);
    out << text;
    if (!out.flush()) throw std::runtime_error("cannot write " + path.string());
}

}  // namespace

void print_table(const CompareResult& r, std::FILE* out) {
    std::vector<const Column*> shown;
    for (const auto& c : columns)
        if (c.terminal && column_used(r, c)) shown.push_back(&c);
    std::size_t name_width = 6;
    for (const auto& s : r.servers) name_width = std::max(name_width, s.name.size());
    std::string line = fmt::format("{:<{}}", "server", name_width);
    for (const Column* c : shown) line += fmt::format(" {:>10}", c->header);
    fmt::print(out, "\n{}\n", line);
    for (const auto& s : r.servers) {
        line = fmt::format("{:<{}}", s.name, name_width);
        for (const Column* c : shown) line += fmt::format(" {:>10}", cell(s, *c));
        fmt::print(out, "{}\n", line);
    }
    if (auto skips = skip_lines(r); !skips.empty()) fmt::print(out, "\nskipped:\n  {}\n", join(skips, "\n  "));
    if (auto notes = note_lines(r); !notes.empty()) fmt::print(out, "\nnotes:\n  {}\n", join(notes, "\n  "));
    std::fflush(out);
}

std::string to_json(const CompareResult& r) {
    auto or_null = [](const std::string& text) { return text.empty() ? Json() : Json(text); };
    Json j = {{"tool", "ioclient compare"},
              {"command", r.command_line},
              {"machine", Json{{"kernel", r.kernel}, {"nproc", r.nproc}, {"cpu_model", r.cpu_model}, {"date", r.date}}},
              {"settings", Json{{"quick", r.settings.quick},
                                {"duration_s", r.settings.duration},
                                {"warmup_s", r.settings.warmup},
                                {"cpu_window_s", r.settings.cpu_window}}},
              {"scenarios", Json::array()},
              {"servers", Json::array()}};
    for (const auto& sc : r.scenarios) j["scenarios"].push_back(Json{{"key", sc.key}, {"title", sc.title}});
    for (const auto& s : r.servers) {
        Json runs = Json::array();
        for (const auto& run : s.runs) {
            Json values = Json::object();
            for (const auto& [k, v] : run.values) values[k] = v;  // NaN (not measured) is written as null
            runs.push_back(Json{{"scenario", run.scenario},
                                {"load", Json{{"label", run.load.label()},
                                              {"connections", run.load.connections},
                                              {"size", run.load.size},
                                              {"idle", run.load.idle},
                                              {"work_us", run.load.work_us}}},
                                {"skipped", or_null(run.skipped)},
                                {"error", or_null(run.error)},
                                {"note", or_null(run.note)},
                                {"values", values}});
        }
        j["servers"].push_back(Json{{"name", s.name}, {"traits", s.traits}, {"runs", runs}});
    }
    return json_document(j);
}

std::string to_csv(const CompareResult& r) {
    std::string csv = "server,scenario,load,connections,size,idle,work_us,metric,value,skipped,error,note\n";
    for (const auto& s : r.servers) {
        for (const auto& run : s.runs) {
            std::string shape = fmt::format("{},{},{},{},{},{}", s.name, run.scenario, run.load.label(),
                                            run.load.connections, run.load.size, run.load.idle);
            std::string tail = fmt::format("{},{},{}", csv_field(run.skipped), csv_field(run.error),
                                           csv_field(run.note));
            if (run.values.empty()) csv += fmt::format("{},{},,,{}\n", shape, run.load.work_us, tail);
            for (const auto& [k, v] : run.values)
                csv += fmt::format("{},{},{},{},{}\n", shape, run.load.work_us, k,
                                   std::isfinite(v) ? fmt::format("{}", v) : "", tail);
        }
    }
    return csv;
}

std::vector<std::string> write_report(const CompareResult& r, const std::string& dir_name) {
    std::vector<std::string> messages;
    const fs::path dir = fs::absolute(dir_name);
    fs::create_directories(dir);
    write_file(dir / "results.json", to_json(r));
    write_file(dir / "results.csv", to_csv(r));
    const std::string gnuplot = find_in_path("gnuplot");
    if (gnuplot.empty()) messages.push_back("gnuplot not found: charts not drawn (scripts/install-deps.sh installs "
                                            "gnuplot-nox); the table, JSON and CSV are written");
    std::vector<std::pair<const Chart*, bool>> drawn;
    // The scripts name their files relative to DIR: gnuplot starts there ('' is a quote in '...').
    const std::string cd = "cd '" + std::regex_replace(dir.string(), std::regex("'"), "''") + "'";
    for (const auto& c : charts) {
        Data d = chart_data(r, c);
        if (!has_data(d)) continue;
        auto file = [&](const char* ext) { return dir / (std::string(c.name) + ext); };
        write_file(file(".dat"), dat_text(d));
        write_file(file(".gp"), gp_text(c, d));
        fs::remove(file(".svg"));
        auto res = gnuplot.empty() ? RunResult{} : run_command({gnuplot, "-e", cd, std::string(c.name) + ".gp"});
        bool ok = res.exit_code == 0 && fs::exists(file(".svg"));
        if (!ok && !gnuplot.empty()) messages.push_back(fmt::format("gnuplot {}.gp failed: {}", c.name, res.err));
        drawn.emplace_back(&c, ok);
    }
    write_file(dir / "index.html", html_page(r, drawn));
    return messages;
}

}  // namespace iom::client
