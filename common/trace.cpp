#include "common/trace.hpp"

#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>

namespace iom {

bool trace_enabled = false;

namespace {
const auto start_time = std::chrono::steady_clock::now();
}

void enable_trace(bool on) { trace_enabled = on; }

void trace_emit(std::string_view message) {
    std::chrono::duration<double> since = std::chrono::steady_clock::now() - start_time;
    auto tid = static_cast<long>(syscall(SYS_gettid));
    std::string line = fmt::format("[{:12.6f} {}] {}\n", since.count(), tid, message);
    // One write per line: lines from several threads never interleave.
    [[maybe_unused]] auto n = ::write(STDERR_FILENO, line.data(), line.size());
}

}  // namespace iom
