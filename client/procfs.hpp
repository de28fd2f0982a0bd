// What /proc says about a server process and everything it started: its
// descendants (the forking server serves in children), their open
// descriptors, memory and CPU time. The hostile cases use these to prove a
// server stays bounded: descriptors come back after a storm, memory does not
// grow with what a client refuses to read, the CPU does not spin.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iom::client {

// `pid` and all its descendants, `pid` first (one pass over /proc/*/stat,
// each process linked to its parent: this kernel has no
// /proc/PID/task/TID/children). Empty if `pid` does not exist.
std::vector<pid_t> process_tree(pid_t pid);

// Open descriptors of one process (entries of /proc/PID/fd); nullopt if unreadable.
std::optional<long> open_fds(pid_t pid);
// Summed over process_tree(pid).
long tree_open_fds(pid_t pid);

// Memory of one process in KiB: its anonymous memory, proportionally
// (Pss_Anon of /proc/PID/smaps_rollup: a page a forked child still shares
// with its parent counts half in each, once across the tree). Shared
// libraries are left out on purpose: a process's share of them changes
// whenever another process mapping them starts or exits. Falls back to Pss,
// then VmRSS, where the kernel lacks the field. nullopt if the process is gone.
std::optional<long> memory_kib(pid_t pid);
// Summed over process_tree(pid).
long tree_memory_kib(pid_t pid);

// User + system CPU seconds of one process, all its threads (fields 14 and 15
// of /proc/PID/stat). nullopt if the process is gone.
std::optional<double> cpu_seconds(pid_t pid);
// Summed over the processes of process_tree(pid) alive now.
double tree_cpu_seconds(pid_t pid);

// Does process `pid` hold the TCP socket listening on `port` (IPv4 or IPv6)?
// The listening sockets come from /proc/net/tcp and tcp6 (state 0A), each
// with its inode; the process holds one if a /proc/PID/fd link reads
// "socket:[INODE]". The hostile cases lower the descriptor limit of the pid
// they are given: this makes sure it is the server's, not any process's.
bool holds_listener(pid_t pid, std::uint16_t port);

// The parsers, exposed for the unit tests.
// From the text of /proc/PID/stat (the command name, in parentheses, may
// hold spaces and parentheses): the parent pid and the clock ticks of
// utime + stime. nullopt if malformed.
struct StatFields {
    pid_t ppid = 0;
    long long cpu_ticks = 0;
};
std::optional<StatFields> parse_stat(std::string_view stat);
// The number after "KEY:" in /proc/PID/status or smaps_rollup text ("VmRSS", "Pss").
std::optional<long> parse_kib_field(std::string_view text, std::string_view key);

}  // namespace iom::client
