// The one reader of /proc in the client: what it says about a server process
// and everything it started. A server's process tree is the server and its
// live descendants (the forking server serves in children); over that tree
// this reads CPU time, memory, threads and open descriptors. bench, compare,
// check --hostile, soak and the tests all measure a server through here, so a
// figure means the same wherever it is shown.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace iom::client {

// The whole text of a file (a /proc file, or any other); nullopt if it
// cannot be opened.
std::optional<std::string> read_file(const std::string& path);

// `pid` and its live descendants, `pid` first, breadth first. Children are
// found through /proc/PID/task/TID/children of every thread of a process (a
// child belongs to the thread that forked it); zombies (exited, not yet
// reaped) are left out with their descendants. Empty if `pid` does not exist.
std::vector<pid_t> process_tree(pid_t pid);

// The direct children of `pid`, zombies included, with their state letter
// ('Z' for a zombie; see proc(5)).
struct Child {
    pid_t pid = 0;
    char state = '?';
};
std::vector<Child> children(pid_t pid);

// Open descriptors of one process (entries of /proc/PID/fd); nullopt if unreadable.
std::optional<long> open_fds(pid_t pid);
// Summed over process_tree(pid).
long tree_open_fds(pid_t pid);

// A server's memory, in KiB: the one definition every command and test uses.
// Pss_Anon of /proc/PID/smaps_rollup: the anonymous memory the process
// allocated (heap, thread stacks, buffers), a page still shared with a forked
// relative counting 1/k in each of the k processes that share it, so summed
// over a process tree each page counts once. File-backed pages (the binary,
// shared libraries) are left out on purpose: the server did not allocate
// them, and a process's proportional share of them changes whenever any other
// process mapping the same library starts or exits, which would turn into
// noise in a per-connection figure or a leak check. Socket buffers are kernel
// memory, in no process's figure. (A kernel too old to report Pss_Anon: Pss.)
// nullopt if the process is gone.
std::optional<long> memory_kib(pid_t pid);
// Summed over process_tree(pid).
long tree_memory_kib(pid_t pid);

// Threads of one process (Threads: of /proc/PID/status); nullopt if gone.
std::optional<long> threads(pid_t pid);

// User + system CPU seconds of one process, all its threads, and of its
// children it has reaped (fields 14-17 of /proc/PID/stat: a forking server's
// finished children are counted in the parent that waited for them).
// nullopt if the process is gone.
std::optional<double> cpu_seconds(pid_t pid);
// Summed over process_tree(pid): the whole server's CPU time, whichever of
// its processes spent it. nullopt if `pid` is gone.
std::optional<double> tree_cpu_seconds(pid_t pid);

// Seconds the main thread of `pid` has been runnable: on a CPU or waiting in
// the run queue for one (the first two fields of /proc/PID/schedstat), as
// opposed to asleep. A process that never sleeps gains one second per second
// of wall time however little CPU the scheduler gives it. nullopt if gone.
std::optional<double> runnable_seconds(pid_t pid);

// A server's figures at one moment (-1: could not be read).
struct ProcSample {
    long fds = -1;          // the server process's own open descriptors
    long children = 0;      // live descendants (the forking server: one per client being served)
    long memory_kib = -1;   // memory_kib summed over the tree
    long threads = -1;      // threads summed over the tree
    double cpu_seconds = -1;  // cpu_seconds summed over the tree
    double cpu_user_seconds = -1;  // the part of it spent in user space (the rest: in the kernel)
};
ProcSample sample_tree(pid_t pid);

// Does process `pid` hold the TCP socket listening on `port` (IPv4 or IPv6)?
// The listening sockets come from /proc/net/tcp and tcp6 (state 0A), each
// with its inode; the process holds one if a /proc/PID/fd link reads
// "socket:[INODE]". The hostile cases lower the descriptor limit of the pid
// they are given: this makes sure it is the server's, not any process's.
bool holds_listener(pid_t pid, std::uint16_t port);

// The parsers, exposed for the unit tests.
// From the text of /proc/PID/stat (the command name, in parentheses, may
// hold spaces and parentheses): the state, the parent pid and the clock
// ticks of utime + stime + cutime + cstime, and its split: user (utime +
// cutime) and system (stime + cstime). nullopt if malformed.
struct StatFields {
    char state = '?';
    pid_t ppid = 0;
    long long cpu_ticks = 0;
    long long user_ticks = 0;
    long long system_ticks = 0;
};
std::optional<StatFields> parse_stat(std::string_view stat);
// The number after "KEY:" in /proc/PID/status or smaps_rollup text ("Threads", "Pss").
std::optional<long> parse_field(std::string_view text, std::string_view key);

}  // namespace iom::client
