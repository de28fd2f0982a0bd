// The one case runner, for the two suites of `ioclient check`: the
// conformance cases (client/check/check.hpp) and the hostile ones
// (client/check/hostile.hpp). A suite is a list of named cases, each a
// function of the suite's options that passes, fails or skips. Run one by
// name (an exception it throws is a failure), or run them all: a line per
// case and a summary line.
#pragma once

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <exception>
#include <functional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace iom::client {

// skip: the case cannot mean anything as the server was started, or without
// something it needs (the server's pid, say); neither passed nor failed.
enum class Verdict { pass, fail, skip };

struct CaseResult {
    Verdict verdict = Verdict::fail;
    std::string detail;  // why it failed or was skipped, or a figure worth showing
    bool passed() const { return verdict == Verdict::pass; }
};

inline CaseResult pass(std::string detail = {}) { return {Verdict::pass, std::move(detail)}; }
inline CaseResult fail(std::string detail) { return {Verdict::fail, std::move(detail)}; }
inline CaseResult skip(std::string detail) { return {Verdict::skip, std::move(detail)}; }

template <typename Options>
struct Case {
    std::string name;                      // short, stable, used by tests: "half-close", "slowloris", ...
    std::string description;               // one line for humans
    std::vector<std::string> server_args;  // start the server with these for the case to mean something
    std::function<CaseResult(const Options&)> run;
};

// Run the case called `name`; throws std::invalid_argument, naming the
// suite, if there is none.
template <typename Options>
CaseResult run_named_case(const char* suite, const std::vector<Case<Options>>& cases, const std::string& name,
                          const Options& opt) {
    for (const auto& c : cases) {
        if (c.name != name) continue;
        try {
            return c.run(opt);
        } catch (const std::exception& e) {
            return fail(e.what());
        }
    }
    throw std::invalid_argument(fmt::format("no {} case named {}", suite, name));
}

// Run every case (or only those named in `only`), one line each, then
// "SUITE: N passed, N failed, N skipped". Returns the number of failures.
template <typename Options>
int run_cases(const char* suite, const std::vector<Case<Options>>& cases, const Options& opt, std::ostream& out,
              const std::vector<std::string>& only = {}) {
    int counts[3] = {0, 0, 0};
    static constexpr const char* words[] = {"PASS", "FAIL", "SKIP"};
    for (const auto& c : cases) {
        if (!only.empty() && std::find(only.begin(), only.end(), c.name) == only.end()) continue;
        auto t0 = std::chrono::steady_clock::now();
        CaseResult r = run_named_case(suite, cases, c.name, opt);
        double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        auto v = static_cast<int>(r.verdict);
        out << fmt::format("{} {:<22} {:6.2f}s  {}{}\n", words[v], c.name, secs, c.description,
                           r.detail.empty() ? "" : " — " + r.detail);
        out.flush();
        ++counts[v];
    }
    out << fmt::format("{}: {} passed, {} failed, {} skipped\n", suite, counts[0], counts[1], counts[2]);
    return counts[1];
}

}  // namespace iom::client
