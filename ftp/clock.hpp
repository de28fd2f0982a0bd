// Time, as both FTP servers keep it: one clock, the deadlines of a control
// connection and of a transfer, and the rate limit's window.
//
// The core never looks at a clock (session.hpp): timers are the server's. The
// reactor keeps its deadlines in a list and sleeps in epoll_wait until the
// earliest; the proactor hands the earliest to the kernel as a TIMEOUT SQE.
// What a deadline IS (when a login must be done, when a transfer has stalled,
// when the next rate window opens) is the same in both, and lives here.
#pragma once

#include "ftp/limits.hpp"
#include "ftp/session.hpp"

#include <time.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>

namespace iom::ftp {

// CLOCK_MONOTONIC in nanoseconds (io_uring's timeouts count on the same
// clock). A server reads it once per round of its loop.
using Nanos = std::int64_t;
inline constexpr Nanos never = INT64_MAX;
inline constexpr Nanos ms = 1'000'000;

inline Nanos monotonic_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return Nanos{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// `from` plus a limit in seconds. A limit of 0 is off, and nothing comes
// after never: both give never.
inline Nanos after(Nanos from, double seconds) {
    return seconds > 0 && from != never ? from + static_cast<Nanos>(seconds * 1e9) : never;
}

// The timers of a control connection: the login timer runs from the connect
// until the login, the idle timer from the last command (outside transfers),
// and a failed login's reply waits for delay_until (the core's DelayRequest).
struct ControlClock {
    explicit ControlClock(Nanos now) : started(now), last_command(now) {}
    Nanos started, last_command;
    Nanos delay_until = never;

    Nanos deadline(const Session& s, const Limits& l) const {
        Nanos at = delay_until;
        if (!s.logged_in()) at = std::min(at, after(started, l.login_timeout));
        else if (!s.transferring()) at = std::min(at, after(last_command, l.idle_timeout));
        return at;
    }
};

// --rate-limit BYTES/S per session (a session has one transfer at a time): a
// tenth of the rate per 100 ms window. Once a window's bytes are spent, the
// transfer waits for the next one; the client's TCP window fills meanwhile,
// which is backpressure across the network.
struct RateWindow {
    std::uint64_t budget = ~std::uint64_t{0};  // bytes left in this window
    Nanos refill_at = 0;                       // when the next window opens

    // How much of `most` may move now: a new window when one is due; 0 when
    // this one is spent (wait for refill_at). Without a rate: `most`.
    std::size_t allow(Nanos now, std::uint64_t rate, std::size_t most) {
        if (!rate) return most;
        if (now >= refill_at) budget = std::max<std::uint64_t>(1, rate / 10), refill_at = now + 100 * ms;
        return static_cast<std::size_t>(std::min<std::uint64_t>(most, budget));
    }
    void spend(std::uint64_t n) { budget -= std::min(budget, n); }
};

// The timers of a transfer: the passive connect (or active connect) must come
// by connect_by, then each move of bytes restarts the stall timer; a transfer
// held by the rate limit waits for its next window instead.
struct TransferClock {
    explicit TransferClock(Nanos now, const Limits& l) : connect_by(after(now, l.passive_timeout)) {}
    Nanos connect_by, last_progress = 0;
    RateWindow rate;
    bool throttled = false;  // waiting for rate.refill_at

    Nanos deadline(bool connected, const Limits& l) const {
        if (throttled) return rate.refill_at;
        if (!connected) return connect_by;
        return after(last_progress, l.stall_timeout);
    }
    // How many bytes the next move may take: one buffer, within the rate
    // window; 0 when the window is spent (throttled until rate.refill_at).
    std::size_t allow(Nanos now, const Limits& l) {
        std::size_t most = rate.allow(now, l.rate_limit, l.transfer_buffer);
        throttled = most == 0;
        return most;
    }
    void moved(Nanos now, std::uint64_t n) {  // progress: the stall timer restarts
        if (n == 0) return;
        last_progress = now;
        rate.spend(n);
    }
    void unthrottle(Nanos now) {  // the next window is open
        throttled = false;
        last_progress = now;
    }
};

}  // namespace iom::ftp
