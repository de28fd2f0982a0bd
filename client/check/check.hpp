// The conformance suite: what `ioclient check` runs and what the integration
// tests run against every server, case by case.
#pragma once

#include "client/lib/cases.hpp"
#include "client/lib/connection.hpp"
#include "common/echo.hpp"
#include "common/net.hpp"

#include <iosfwd>
#include <string>
#include <vector>

namespace iom::client {

struct CheckOptions {
    Address server;
    EchoMode echo = EchoMode::upper;
    // A server that serves one client at a time (bio_server): the concurrency
    // cases become "the second client waits until the first leaves".
    bool sequential = false;
    Millis timeout{10000};  // generous: proves something does or does not happen
};

using CheckCase = Case<CheckOptions>;  // client/lib/cases.hpp: the runner both suites share

// Every case, in the order `ioclient check` runs them.
const std::vector<CheckCase>& check_cases();

// Run one case by name; throws std::invalid_argument for an unknown name.
CaseResult run_case(const std::string& name, const CheckOptions& opt);

// Does this server serve one client at a time? Connects a first client, then
// a second, and sees whether the second is echoed while the first stays.
bool detect_sequential(const CheckOptions& opt);

// Run every case, printing one line per case and a summary,
// "check: N passed, N failed, 0 skipped", to `out`. Returns the number of failures.
int run_check(const CheckOptions& opt, std::ostream& out);

}  // namespace iom::client
