#include "client/top/top.hpp"

#include "client/lib/syscalls.hpp"
#include "client/top/screen.hpp"
#include "common/json.hpp"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <iostream>
#include <limits>
#include <stdexcept>
#include <thread>

namespace iom::client {

namespace {
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kMB = 1e6;
}  // namespace

bool TopRow::marked(std::string_view figure) const {
    return std::find(marks.begin(), marks.end(), figure) != marks.end();
}

std::vector<TopReading> read_servers(const std::string& dir) {
    std::vector<TopReading> out;
    for (LiveServer& s : read_live_servers(dir)) {
        ProcSample proc = sample_tree(s.pid);
        if (proc.cpu_seconds < 0) continue;  // gone between the two reads
        out.push_back({std::move(s), proc, std::chrono::steady_clock::now()});
    }
    return out;
}

namespace {

// What one server did between two readings, and the lessons it shows.
TopRow row_between(const TopReading* before, const TopReading& now) {
    const LiveServer& s = now.server;
    TopRow r;
    r.name = s.name;
    r.family = s.family;
    r.pid = s.pid;
    r.port = s.port;
    r.counting = s.counting;
    auto total = [&](const char* c) { return static_cast<double>(s[c]); };
    r.connections = std::max(0.0, total("accepts") - total("refused") - total("closed") - total("resets") -
                                      total("idle_timeouts"));
    r.memory_kib = now.proc.memory_kib;
    r.threads = now.proc.threads;
    r.ftp = s.family == "ftp";
    r.ftp_sessions = s["ftp_sessions"];
    r.ftp_transfers = s["ftp_transfers"];
    if (auto loops = s.loop_connections(); loops.size() > 1) r.per_loop = fmt::format("{}", fmt::join(loops, "/"));
    r.msgs_per_s = r.mb_per_s = r.syscalls_per_msg = r.waits_per_s = r.fds_per_wait = r.eagain_per_s = kNaN;
    r.cpu_percent = r.cpu_user_percent = r.cpu_system_percent = r.file_mb_per_s = r.handoffs_per_msg = kNaN;
    if (!before) return r;

    const double dt = std::chrono::duration<double>(now.at - before->at).count();
    if (dt <= 0) return r;
    const double cpu = now.proc.cpu_seconds - before->proc.cpu_seconds;
    const double user = now.proc.cpu_user_seconds - before->proc.cpu_user_seconds;
    r.cpu_percent = std::max(0.0, cpu) / dt * 100;
    r.cpu_user_percent = std::clamp(user / dt * 100, 0.0, r.cpu_percent);
    r.cpu_system_percent = r.cpu_percent - r.cpu_user_percent;
    if (!s.counting) return r;  // built with -DIOM_COUNTERS=OFF: the counters' figures stay "-"
    auto delta = [&](const char* c) {  // a counter read mid-update may lag: never below 0
        return std::max(0.0, total(c) - static_cast<double>(before->server[c]));
    };
    const double msgs = delta("recv_calls") - delta("recv_eagain");
    const double waits = delta("wait_calls");
    r.msgs_per_s = std::max(0.0, msgs) / dt;
    if (s.family == "libraries") {  // the library makes the calls and counts none: bytes only, the rest "-"
        r.msgs_per_s = kNaN;
        r.mb_per_s = (delta("recv_bytes") + delta("send_bytes")) / kMB / dt;
        return r;
    }
    r.mb_per_s = (delta("recv_bytes") + delta("send_bytes")) / kMB / dt;
    // An io_uring server is known by its submissions (the FTP one lives in ftp/).
    const bool uring = s["sqes"] > 0;
    r.syscalls_per_msg = msgs > 0 ? system_calls(delta, uring) / msgs : kNaN;
    r.waits_per_s = waits / dt;
    r.fds_per_wait = waits > 0 ? delta("wait_fds") / waits : kNaN;
    r.eagain_per_s = (delta("accept_eagain") + delta("recv_eagain") + delta("send_eagain")) / dt;
    r.file_mb_per_s = (delta("file_read_bytes") + delta("file_write_bytes")) / kMB / dt;
    r.handoffs_per_msg = msgs > 0 ? delta("handoffs") / msgs : kNaN;

    // The lessons, when they show.
    const double ready_per_wait = waits > 0 ? delta("wait_ready") / waits : 0;
    if (r.cpu_percent >= 20 && r.msgs_per_s < 1) r.marks.push_back("cpu_percent");  // busy with nobody to serve
    if (r.fds_per_wait >= 16 && r.fds_per_wait >= 4 * std::max(1.0, ready_per_wait))
        r.marks.push_back("fds_per_wait");  // scanning many to find few
    if (r.eagain_per_s >= 100 && r.eagain_per_s > r.msgs_per_s) r.marks.push_back("eagain_per_s");  // asked in vain
    if (r.threads >= 8 && r.connections >= 4) r.marks.push_back("threads");  // a thread (or process) per client
    if (r.syscalls_per_msg < 1) r.marks.push_back("syscalls_per_msg");  // batched: fewer calls than messages
    return r;
}

Json number(double v) { return std::isfinite(v) ? Json(std::round(v * 100) / 100) : Json(nullptr); }

}  // namespace

std::vector<TopRow> rows_between(const std::vector<TopReading>& before, const std::vector<TopReading>& after) {
    std::vector<TopRow> rows;
    for (const TopReading& now : after) {
        auto was = std::find_if(before.begin(), before.end(),
                                [&](const TopReading& b) { return b.server.path == now.server.path; });
        rows.push_back(row_between(was == before.end() ? nullptr : &*was, now));
    }
    return rows;
}

std::string rows_json(const std::vector<TopRow>& rows) {
    Json servers = Json::array();
    for (const TopRow& r : rows) {
        Json j{{"name", r.name},
               {"family", r.family},
               {"pid", r.pid},
               {"port", r.port},
               {"counting", r.counting},
               {"connections", static_cast<long>(r.connections)},
               {"msgs_per_s", number(r.msgs_per_s)},
               {"mb_per_s", number(r.mb_per_s)},
               {"syscalls_per_msg", number(r.syscalls_per_msg)},
               {"waits_per_s", number(r.waits_per_s)},
               {"fds_per_wait", number(r.fds_per_wait)},
               {"eagain_per_s", number(r.eagain_per_s)},
               {"cpu_percent", number(r.cpu_percent)},
               {"cpu_user_percent", number(r.cpu_user_percent)},
               {"cpu_system_percent", number(r.cpu_system_percent)},
               {"memory_kib", r.memory_kib},
               {"threads", r.threads},
               {"per_loop", r.per_loop},
               {"handoffs_per_msg", number(r.handoffs_per_msg)},
               {"marks", r.marks}};
        if (r.ftp) {
            j["ftp_sessions"] = r.ftp_sessions;
            j["ftp_transfers"] = r.ftp_transfers;
            j["file_mb_per_s"] = number(r.file_mb_per_s);
        }
        servers.push_back(std::move(j));
    }
    return json_line(Json{{"dir", live_dir()}, {"servers", servers}});
}

std::string rows_text(const std::vector<TopRow>& rows, int width) {
    const auto columns = choose_columns(width, 0);
    std::string out = header_line(columns) + "\n";
    for (const TopRow& r : rows) {
        for (const Column& c : columns) {
            std::string cell = c.cell(r);
            out += fmt::format("{:>{}}{}", cell, c.width, r.marked(c.figure) ? '*' : ' ');
        }
        if (out.back() == ' ') out.pop_back();
        out += '\n';
    }
    if (rows.empty()) out += fmt::format("no server is running (looked in {})\n", live_dir());
    else out += "* a figure that holds a lesson right now (ioclient top, key h, says which)\n";
    return out;
}

CLI::App* add_top_command(CLI::App& app, TopOptions& opt) {
    auto* cmd = app.add_subcommand(
        "top", "Every running server of the suite, live, one row each (the projector view): connections, "
               "messages/s, system calls per message, descriptors per wait, EAGAIN/s, CPU, memory, threads, "
               "a sparkline of the last minute. Keys: s sort, p pause, h help, q quit. Servers are found in "
               "$IOM_LIVE_DIR, else $XDG_RUNTIME_DIR, else /dev/shm");
    cmd->add_flag("--once", opt.once, "Print one sample (two readings --interval apart) as a table and exit");
    cmd->add_flag("--json", opt.json, "With --once: print the sample as one JSON object");
    cmd->add_option("--interval", opt.interval, "Seconds between readings (the screen's refresh)")
        ->capture_default_str()
        ->check(CLI::Range(0.1, 60.0));
    return cmd;
}

int top_main(const TopOptions& opt) {
    if (!opt.once) {
        if (!isatty(STDOUT_FILENO)) throw std::runtime_error("top draws on a terminal: in a script, use --once (--json)");
        return run_screen(opt);
    }
    auto first = read_servers();
    std::this_thread::sleep_for(std::chrono::duration<double>(opt.interval));
    auto rows = rows_between(first, read_servers());
    std::stable_sort(rows.begin(), rows.end(), [](const TopRow& a, const TopRow& b) { return a.port < b.port; });
    std::cout << (opt.json ? rows_json(rows) + "\n" : rows_text(rows, 80)) << std::flush;
    return 0;
}

}  // namespace iom::client
