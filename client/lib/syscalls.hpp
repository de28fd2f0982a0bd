// The system calls a server made, from its own counters: the one formula that
// `ioclient compare` (per echoed message, after the run) and `ioclient top`
// (per message, live) divide by the messages.
#pragma once

#include <functional>

namespace iom::client {

// `counter(name)` reads one counter. An io_uring server's accepts, recvs and
// sends are submission entries, not system calls: only io_uring_enter counts.
// A server that passes work between threads adds its eventfd/pipe reads and
// writes (notify_calls); the futex calls of its locks are not counted.
inline double system_calls(const std::function<double(const char*)>& counter, bool uring) {
    double enter = counter("wait_calls");
    if (uring) return enter;
    return enter + counter("accepts") + counter("accept_eagain") + counter("accept_errors") + counter("recv_calls") +
           counter("send_calls") + counter("notify_calls");
}

}  // namespace iom::client
