// Start a real server binary on --port 0, wait for its ready line (never a
// sleep), talk to it, stop it with SIGTERM and see how it exited, read its
// counters and /proc figures. Shared by `ioclient compare` and the
// integration tests.
#pragma once

#include "client/lib/procfs.hpp"
#include "common/net.hpp"

#include <sys/resource.h>
#include <sys/types.h>

#include <chrono>
#include <ostream>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace iom::client {

struct ServerSpec {
    std::string name;                 // "bio_server"
    std::string path;                 // the built binary
    std::vector<std::string> traits;  // "sequential", "threaded", "uring", ...
    bool has(const std::string& trait) const;
};

// The servers listed in DIR/servers.txt, the manifest the build writes next
// to the binaries: one line per server, "NAME<TAB>trait;trait". Empty if
// there is no manifest.
std::vector<ServerSpec> load_manifest(const std::string& bin_dir);

// The servers of the manifest named in `names` (each once, in that order),
// or all of them when `names` is empty. Throws, naming the servers this
// build has, when a name is unknown or the manifest is empty.
std::vector<ServerSpec> select_servers(const std::string& bin_dir, const std::vector<std::string>& names);

// The directory this program's binary is in: where compare and soak look for
// servers.txt unless told (the build puts ioclient next to the servers).
std::string program_dir();

// The command, argv joined with spaces, and the time, "2026-11-22T16:13:00Z",
// as a report records them.
std::string command_line(int argc, char** argv);
std::string utc_now();

struct StartOptions {
    std::vector<std::string> args;            // extra command-line options
    std::optional<rlim_t> nofile;             // RLIMIT_NOFILE for the server process
    std::chrono::milliseconds ready_timeout{30000};
};

class ServerProcess {
public:
    ServerProcess(const ServerSpec& spec, StartOptions opt = {});
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;
    ~ServerProcess();  // SIGKILL if still running

    const ServerSpec& spec() const { return spec_; }
    pid_t pid() const { return pid_; }
    std::uint16_t port() const { return port_; }
    const Address& address() const { return address_; }
    const std::string& ready_line() const { return ready_line_; }

    bool running();  // not exited yet (reaps it if it has)

    // SIGTERM (or `sig`), then wait up to `timeout` for it to exit. Returns
    // the exit code, 128+N if killed by signal N, or -1 if it did not exit
    // in time (it is then killed).
    int stop(int sig = 15, std::chrono::milliseconds timeout = std::chrono::milliseconds(20000));

    // Everything the server wrote to stderr so far.
    std::string stderr_text() const;

    // After stop(): the counter named `name` from --stats-file (which is
    // always passed). Throws if the file or the key is missing.
    std::uint64_t counter(const std::string& name) const;

    // Live figures from /proc (client/lib/procfs.hpp): the CPU seconds and
    // the memory of the whole server (its process tree, reaped children
    // included), and the threads of the server process itself.
    double cpu_seconds() const;
    long threads() const;
    long memory_kib() const;
    // Children of the server that are zombies (exited, not reaped).
    int zombie_children() const;
    // Direct children of the server that are alive.
    int live_children() const;
    // Descriptors, descendants, memory, threads and CPU, read now.
    ProcSample sample() const;

private:
    ServerSpec spec_;
    pid_t pid_ = -1;
    int exit_status_ = -1;
    bool exited_ = false;
    std::uint16_t port_ = 0;
    Address address_;
    std::string ready_line_;
    std::string dir_;  // private temp dir: stderr.txt, stats.json
};

// After stop(): the counter `name`, or NaN if the server wrote none.
double counter_or_nan(const ServerProcess& srv, const std::string& name);

// After stop(): the system calls the server made, by its counters: accept
// (answered or not), recv, send and the model's wait. An io_uring server's
// accepts, recvs and sends are submission entries, not system calls: only
// its io_uring_enter calls (wait_calls) count. NaN if a counter is missing,
// and for a server on an event library (trait library): the library makes
// its calls and counts none, and n/a is better than a zero that looks real.
double syscalls(const ServerProcess& srv);

// The machine a measurement ran on, as a report records it.
struct Machine {
    std::string kernel, cpu_model;
    unsigned nproc = 0;
};
Machine describe_machine();

// Run a command to its end (bounded by `timeout`, then SIGKILL), feeding
// it `input` on stdin; what it printed and how it exited.
struct RunResult {
    int exit_code = -1;  // 128+N if killed by signal N; -1 if it timed out
    std::string out, err;
};
RunResult run_command(const std::vector<std::string>& argv, const std::string& input = {},
                      std::chrono::milliseconds timeout = std::chrono::milliseconds(60000));

// Raise this (test) process's RLIMIT_NOFILE soft limit to `n` (or the hard
// limit, whichever is lower); returns the new soft limit.
rlim_t raise_nofile_limit(rlim_t n);

}  // namespace iom::client
