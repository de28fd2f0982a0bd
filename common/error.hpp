// Errors from system calls, as exceptions whose message names the call and
// its arguments: "bind 127.0.0.1:9023: Address already in use".
#pragma once

#include <fmt/format.h>

#include <cerrno>
#include <string>
#include <system_error>

namespace iom {

// Throw std::system_error for `err` (an errno value), described by `what`.
[[noreturn]] inline void throw_errno(int err, const std::string& what) {
    throw std::system_error(err, std::generic_category(), what);
}

// Throw for the current errno; the message is only formatted on failure.
template <typename... Args>
[[noreturn]] void throw_sys(fmt::format_string<Args...> f, Args&&... args) {
    int err = errno;
    throw_errno(err, fmt::format(f, std::forward<Args>(args)...));
}

// `rc` is a system call's result: -1 means failure (errno set).
template <typename... Args>
int check_sys(int rc, fmt::format_string<Args...> f, Args&&... args) {
    if (rc < 0) [[unlikely]] throw_sys(f, std::forward<Args>(args)...);
    return rc;
}

}  // namespace iom
