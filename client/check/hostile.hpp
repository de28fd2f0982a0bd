// The hostile suite: what `ioclient check --hostile` runs and what the
// integration tests run against every server. Not "does it echo" (that is
// check.hpp) but "does it keep echoing, lose nothing and stay bounded under
// what real networks and curious students do": slowloris, idle clients, a
// flood past --max-connections, a storm of resets, clients that never read,
// running out of descriptors, every byte value, a client that floods.
//
// Some cases mean something only if the server was started a certain way
// (`server_args`, e.g. --max-connections 50 for the flood), and some need to
// look at the server from outside (its pid, for /proc). A case that lacks
// what it needs says so and is skipped, neither passed nor failed.
#pragma once

#include "client/check/check.hpp"

#include <sys/types.h>

#include <iosfwd>
#include <string>
#include <vector>

namespace iom::client {

// What the conformance cases need (the server, its echo, whether it is
// sequential: there a case whose load needs concurrency checks the model's
// limit instead), and what the hostile ones add.
struct HostileOptions : CheckOptions {
    // A fixed pool of workers (bio_pool_server): each held connection holds
    // a worker, and past workers + queue new clients are refused.
    bool pool = false;
    pid_t server_pid = 0;             // 0 = unknown: the /proc checks are skipped
    double idle_timeout = 0;          // the server's --idle-timeout in seconds; 0 = none
    std::size_t max_connections = 0;  // the server's --max-connections; 0 = unknown
    // no-read-64mib: how much the server's memory (client/lib/procfs.hpp,
    // memory_kib: of it and its children) may grow while one client pushes
    // 64 MiB and never reads.
    // The default holds for every model of the suite; a caller that knows
    // the model states a tighter one (tests/integration/hostile_test.cpp).
    long memory_bound_kib = 16 << 10;

    const CheckOptions& check() const { return *this; }
};

using HostileCase = Case<HostileOptions>;  // client/lib/cases.hpp: the runner both suites share

// Every case, in the order `ioclient check --hostile` runs them.
const std::vector<HostileCase>& hostile_cases();

// Run one case by name (an exception is a failure); throws
// std::invalid_argument for an unknown name.
CaseResult run_hostile_case(const std::string& name, const HostileOptions& opt);

// Run every case (or only those named in `only`), one line each and a
// summary, "hostile: N passed, N failed, N skipped". Returns the number of failures.
int run_hostile(const HostileOptions& opt, std::ostream& out, const std::vector<std::string>& only = {});

}  // namespace iom::client
