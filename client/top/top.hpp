// ioclient top: every running server's counters, live, side by side — the
// projector view. Each server publishes its counters in a shared-memory file
// (common/live_counters.hpp); top reads them twice a second with /proc
// (client/lib/procfs.hpp) and shows one row per server: what it serves, what
// it asks of the kernel per message, what it costs in CPU, memory, threads.
#pragma once

#include "client/lib/procfs.hpp"
#include "common/live_counters.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <string>
#include <vector>

namespace iom::client {

struct TopOptions {
    bool once = false;       // print one sample (two readings --interval apart) and exit
    bool json = false;       // with --once: as JSON
    double interval = 0.5;   // seconds between readings
};

CLI::App* add_top_command(CLI::App& app, TopOptions& opt);
int top_main(const TopOptions& opt);

// One server read at one moment: its counters and its process tree in /proc.
struct TopReading {
    LiveServer server;
    ProcSample proc;
    std::chrono::steady_clock::time_point at;
};
std::vector<TopReading> read_servers(const std::string& dir = live_dir());

// One server between two readings. Rates are per second; NaN when there is
// no earlier reading (or, per message, no message). A "message" here is a
// read that brought data (recv_calls - recv_eagain): in a ping-pong load,
// one per message the client sent.
struct TopRow {
    std::string name, family;
    pid_t pid = 0;
    std::uint16_t port = 0;
    bool counting = true;
    double connections = 0;  // accepted and not yet closed, refused, reset or timed out
    double msgs_per_s, mb_per_s, syscalls_per_msg, waits_per_s, fds_per_wait, eagain_per_s;
    double cpu_percent, cpu_user_percent, cpu_system_percent;
    long memory_kib = -1, threads = -1;
    bool ftp = false;  // an FTP server: sessions, transfers, file MB/s
    std::uint64_t ftp_sessions = 0, ftp_transfers = 0;
    double file_mb_per_s;
    // Servers with several loops or a pool (epoll_loops_server, epoll_pool_server):
    // connections open on each loop ("5/5": from each loop's slot), and items
    // passed between threads per message (a pool: 2, to a worker and back).
    std::string per_loop;
    double handoffs_per_msg;
    // The figures that hold a lesson right now (named as in the JSON): CPU
    // burnt with no traffic, descriptors scanned per wait far beyond those
    // ready, EAGAIN answers outnumbering messages, threads following clients,
    // fewer system calls than messages.
    std::vector<std::string> marks;

    bool marked(std::string_view figure) const;
};

// `before` may be empty (no rates) or hold servers that are gone since.
std::vector<TopRow> rows_between(const std::vector<TopReading>& before, const std::vector<TopReading>& after);

std::string rows_json(const std::vector<TopRow>& rows);
// The table as text, `width` columns wide (more columns when wider).
std::string rows_text(const std::vector<TopRow>& rows, int width);

}  // namespace iom::client
