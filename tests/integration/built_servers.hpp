// The servers and binaries of this build, for the integration tests: every
// server the build registers (iom_add_server) is one row of all_servers();
// ServerProcess (from the client library, shared with `ioclient compare`)
// starts one on --port 0, waits for its ready line, and stops it with SIGTERM.
#pragma once

#include "client/lib/server_process.hpp"

#include <gtest/gtest.h>

#include <ostream>
#include <string>
#include <vector>

namespace iom::client {
// How GoogleTest prints a ServerSpec parameter: its name.
inline void PrintTo(const ServerSpec& s, std::ostream* os) { *os << s.name; }
}  // namespace iom::client

namespace iom::test {

using client::raise_nofile_limit;
using client::run_command;
using client::RunResult;
using client::ServerProcess;
using client::ServerSpec;
using client::StartOptions;

// Every server of the build, in registration order (from bin/servers.txt).
const std::vector<ServerSpec>& all_servers();
const ServerSpec& server_named(const std::string& name);

// For INSTANTIATE_TEST_SUITE_P: a server's name is its test name.
std::string server_test_name(const ServerSpec& s);
struct ServerName {  // INSTANTIATE_TEST_SUITE_P(..., ValuesIn(all_servers()), ServerName())
    std::string operator()(const ::testing::TestParamInfo<ServerSpec>& p) const { return p.param.name; }
};

// The ioclient binary of this build.
std::string ioclient_path();
// Any binary of this build's bin/ (the yardsticks of bench/, say).
std::string bin_path(const std::string& name);

}  // namespace iom::test
