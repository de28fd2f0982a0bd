// What `ioclient compare` shows: the side-by-side table in the terminal, and
// the report directory (results.json, results.csv, gnuplot charts as SVG,
// index.html that works opened from disk).
#pragma once

#include "client/compare/compare.hpp"

#include <cstdio>
#include <string>
#include <vector>

namespace iom::client {

// Servers as rows, a few key columns; then what was skipped and why, and notes.
void print_table(const CompareResult& r, std::FILE* out);

std::string to_json(const CompareResult& r);
std::string to_csv(const CompareResult& r);

// Write everything into `dir` (created if missing). Returns lines worth
// telling the user, e.g. that gnuplot is missing and the charts were not drawn.
std::vector<std::string> write_report(const CompareResult& r, const std::string& dir);

}  // namespace iom::client
