// --trace: one stderr line per blocking call or readiness event, with a
// timestamp, so a class can *see* where each model waits:
//   [   0.002117 41250] recv(fd 5) ... blocks until data arrives
//   [   2.480992 41250] recv(fd 5) -> 6 bytes
// Off by default; when off, a trace call costs one predictable branch.
#pragma once

#include <fmt/format.h>

#include <string_view>

namespace iom {

extern bool trace_enabled;

void enable_trace(bool on);
// Write one trace line (timestamp and thread id added) with a single write().
void trace_emit(std::string_view message);

template <typename... Args>
inline void trace(fmt::format_string<Args...> f, Args&&... args) {
    if (!trace_enabled) [[likely]] return;
    trace_emit(fmt::format(f, std::forward<Args>(args)...));
}

}  // namespace iom
