// Every server of the build passes every case of `ioclient check`: one test
// per (server, case), each against a fresh server process that must then
// stop cleanly on SIGTERM with exit 0.
#include "client/check/check.hpp"
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <tuple>

namespace iom::test {
namespace {

using client::CheckOptions;

class Conformance : public ::testing::TestWithParam<std::tuple<ServerSpec, std::string>> {};

TEST_P(Conformance, Case) {
    const auto& [spec, name] = GetParam();
    // A pool server serves --threads clients at once, and "concurrent-clients"
    // holds 64 connections open until all are echoed: give the pool room for
    // them, so these cases test the echo, not the pool's size (which
    // blocking_test.cpp tests on its own).
    StartOptions start;
    if (spec.has("pool")) start.args = {"--threads", "64", "--queue", "64"};
    ServerProcess server(spec, start);
    CheckOptions opt;
    opt.server = server.address();
    opt.sequential = spec.has("sequential");
    auto result = client::run_case(name, opt);
    EXPECT_TRUE(result.passed()) << name << ": " << result.detail << "\nserver stderr:\n" << server.stderr_text();
    EXPECT_EQ(server.stop(), 0) << server.stderr_text();
}

std::vector<std::string> case_names() {
    std::vector<std::string> names;
    for (const auto& c : client::check_cases()) names.push_back(c.name);
    return names;
}

std::string test_name(const ::testing::TestParamInfo<Conformance::ParamType>& info) {
    std::string n = std::get<0>(info.param).name + "_" + std::get<1>(info.param);
    for (char& ch : n)
        if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
    return n;
}

INSTANTIATE_TEST_SUITE_P(AllServers, Conformance,
                         ::testing::Combine(::testing::ValuesIn(all_servers()), ::testing::ValuesIn(case_names())),
                         test_name);

// The same cases, upper-casing off: --echo plain must return bytes unchanged.
TEST(ConformancePlain, EveryServerEchoesPlainBytes) {
    for (const auto& spec : all_servers()) {
        ServerProcess server(spec, {.args = {"--echo", "plain"}});
        CheckOptions opt;
        opt.server = server.address();
        opt.echo = EchoMode::plain;
        opt.sequential = spec.has("sequential");
        for (const char* name : {"one-echo", "all-bytes", "half-close"}) {
            auto r = client::run_case(name, opt);
            EXPECT_TRUE(r.passed()) << spec.name << " " << name << ": " << r.detail;
        }
        EXPECT_EQ(server.stop(), 0) << spec.name;
    }
}

}  // namespace
}  // namespace iom::test
