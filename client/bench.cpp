#include "client/bench.hpp"

#include <stdexcept>

namespace iom::client {

BenchResult run_bench(const BenchOptions&) { throw std::runtime_error("bench: not implemented yet"); }
std::string to_json(const BenchResult&) { return "{}"; }
std::string to_text(const BenchResult&) { return ""; }

}  // namespace iom::client
