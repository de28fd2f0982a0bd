// ioclient soak: every server of the build at once, for a set time, under a
// mixed, verified, rate-bounded load; then is each one still correct and flat
// (no descriptor leaked, memory not grown)? This is reliability, not speed:
// the whole soak stays well under one core.
//
// Each server runs in its own process (--port 0) with its own driver thread,
// which cycles through the loads of kLoads: ping-pong on long-lived
// connections (1 B to 64 KiB), connection churn, half-close, reset
// mid-transfer, 1 MiB written while reading, idle connections held a while.
// Every echo is verified byte for byte. /proc is sampled at a quiescent start
// (after one warm-up cycle, no soak connection open), periodically for the
// maximum, and at a quiescent end (every soak connection closed, settled).
#pragma once

#include "client/lib/server_process.hpp"

#include <CLI/CLI.hpp>

#include <array>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

namespace iom::client {

struct SoakOptions {
    double duration = 600;             // seconds of soak per server (all servers at once)
    std::vector<std::string> servers;  // empty: every server of the manifest
    std::string bin_dir;               // where servers.txt and the servers are; empty: next to ioclient
    std::string json_file;             // empty: no JSON
    std::string command_line;          // recorded in the JSON
};

// The loads a driver cycles through, in this order.
enum class SoakLoad { pingpong, churn, half_close, reset, large, idle };
inline constexpr std::array<const char*, 6> kLoadNames = {"pingpong", "churn",     "half-close",
                                                          "reset",    "1MiB-duplex", "idle"};

struct LoadCounts {
    std::uint64_t messages = 0;  // echoes verified in full
    std::uint64_t bytes = 0;     // payload bytes of those echoes
    std::uint64_t failures = 0;  // echoes that came back with different bytes
    std::uint64_t errors = 0;    // connection errors we did not cause: refused, reset, EOF or timeout mid-echo
};

struct SoakServerResult {
    std::string name;
    std::vector<std::string> traits;
    std::string start_error;  // the server did not start: why (then nothing else is meaningful)
    std::array<LoadCounts, kLoadNames.size()> loads{};
    std::vector<std::string> problems;  // the first few failure and error messages, each naming server and load
    std::vector<std::string> args;      // the options it was started with, beyond --port 0 and --stats-file
    ProcSample start, end, max;         // max: of every sample, start and end included
    double cpu_seconds = 0;             // the server's CPU (user + system, with reaped children) over its life
    int exit_code = -1;                 // after SIGTERM; -1: did not exit in time
    bool exited_early = false;          // it exited during the soak, before SIGTERM (exit_code: how)
    LoadCounts total() const;
};

struct SoakResult {
    std::string command_line, date;
    double duration = 0, elapsed = 0;  // asked for; wall time of the whole command
    double client_cpu_seconds = 0;     // this ioclient process, every driver thread
    std::vector<SoakServerResult> servers;
};

// The flatness rule: descriptors (own + live children) at the end equal those
// at the start, and memory at the end <= memory at the start + max(2 MiB,
// 10 %). Memory is client/lib/procfs.hpp's memory_kib, summed over the
// server's processes: what a leak would grow.
long memory_bound_kib(long memory_start_kib);
inline long descriptors(const ProcSample& s) { return s.fds < 0 ? -1 : s.fds + s.children; }
// Empty if flat; otherwise what grew, in one line.
std::string flatness(const ProcSample& start, const ProcSample& end);
extern const char* const kFlatRule;  // the rule in words, for --help and the table footer

// "ok", or every reason this server fails the soak, "; "-separated.
std::string verdict(const SoakServerResult& r);
bool passed(const SoakResult& r);  // every server's verdict is "ok" (and there is at least one)

SoakResult run_soak(const SoakOptions& opt);
void print_table(const SoakResult& r, std::FILE* out);
std::string to_json(const SoakResult& r);

// `ioclient soak`: its options, and the whole job. Returns the exit code:
// 0 if every server passed, 1 if one did not, 2 for a bad option value.
CLI::App* add_soak_command(CLI::App& app, SoakOptions& opt);
int soak_main(SoakOptions opt, int argc, char** argv);

}  // namespace iom::client
