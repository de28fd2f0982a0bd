// When is a connection idle? --idle-timeout seconds without progress in
// either direction: nothing received and nothing sent.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ctime>

namespace iom {

// --idle-timeout's bookkeeping: every model but the blocking one (whose
// sockets time out by themselves, SO_RCVTIMEO) stamps each connection with
// the time of its last progress and compares it with now. Time is
// CLOCK_MONOTONIC_COARSE in nanoseconds: a few milliseconds' resolution is
// plenty for timeouts of seconds, and reading it costs a memory load (vDSO),
// no system call. With the option off (0) nothing reads it.
struct IdleClock {
    explicit IdleClock(double seconds)
        : timeout(seconds > 0 ? std::max<std::int64_t>(1, static_cast<std::int64_t>(seconds * 1e9)) : 0),
          // A sweep every quarter of the timeout (at most every second, at
          // least every millisecond: never a spin): an idle connection is
          // closed within timeout + timeout/4 of its last progress.
          period(std::clamp<std::int64_t>(timeout / 4, 1'000'000, 1'000'000'000)) {}

    static std::int64_t now() {
        timespec ts{};
        clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
        return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
    }
    bool on() const { return timeout > 0; }
    bool expired(std::int64_t last_progress, std::int64_t t) const { return t - last_progress >= timeout; }
    // A sweep is due (and the next one is scheduled) once per period.
    bool sweep_due(std::int64_t t) {
        if (!on() || t < next_sweep) return false;
        next_sweep = t + period;
        return true;
    }
    // How long a wait may sleep before the next sweep, in milliseconds (-1: forever).
    int wait_ms(std::int64_t t) const {
        if (!on()) return -1;
        return static_cast<int>(std::max<std::int64_t>(0, (next_sweep - t + 999'999) / 1'000'000));
    }

    std::int64_t timeout;      // 0: off
    std::int64_t period;
    std::int64_t next_sweep = 0;
};

}  // namespace iom
