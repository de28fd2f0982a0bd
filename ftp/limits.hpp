// The limits of an FTP server, and the registry that counts sessions.
//
// Defaults are sized for a class on one machine, where every session comes
// from 127.0.0.1 and logs in as the same user: 200 such sessions (and the
// benchmark's 1,000 idle ones) work out of the box. A server exposed to a
// network wants much lower per-address and per-user limits (--help says so).
//
// Who enforces what:
//   the core (Session)  line length, failed logins and their delay, largest
//                       upload (as Transfer::max_bytes), sessions per user (at PASS);
//   the registry        sessions in all and per address (Session::greeting
//                       asks it, so the refusal is a 421 like any other);
//                       failed logins per address across sessions (their
//                       delay, doubling; 421 to a guesser's new sessions);
//   the server          every timer (login, idle, stalled transfer, passive
//                       connect: it calls Session::timed_out), the transfer
//                       buffer and the rate limit (it moves the bytes).
#pragma once

#include "common/net.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <unordered_map>

namespace iom::ftp {

struct Limits {
    std::size_t max_line = 4096;              // command line, bytes (longer: 500, discarded)
    std::size_t max_sessions = 2000;          // sessions at once, in all
    std::size_t max_per_address = 2000;       // ... from one client address
    std::size_t max_per_user = 2000;          // ... logged in as one user
    unsigned max_login_failures = 3;          // failed PASS before 421 and close
    unsigned login_delay_ms = 1000;           // the Delay before each failed login's reply
    double login_timeout = 60;                // seconds from connect to logged in
    double idle_timeout = 600;                // seconds without a command, outside transfers
    double stall_timeout = 60;                // seconds a transfer may make no progress
    double passive_timeout = 30;              // seconds for the client to connect to a passive port
    std::uint64_t max_upload = 1ULL << 40;    // largest file an upload may make, bytes (past it: 552)
    std::size_t transfer_buffer = 256 << 10;  // bytes of buffer per transfer
    std::uint16_t passive_lo = 0, passive_hi = 0;  // --passive-ports LO-HI; 0: any port the kernel gives
    std::uint64_t rate_limit = 0;             // bytes per second per session; 0 = unlimited
    // Failed logins per client address, across its sessions (SessionRegistry::login_failed):
    unsigned throttle_after = 10;             // failures within the window before the delays double
    double throttle_window = 600;             // seconds a failure is remembered
    unsigned throttle_max_ms = 60000;         // the longest delay before a failed login's reply
    unsigned guesser_refused_after = 100;     // failures within the window past which new sessions get 421
};

// Sessions in all, per client address and per user. Pure bookkeeping, owned
// by the server's loop (one thread: no locks).
class SessionRegistry {
public:
    explicit SessionRegistry(const Limits& limits) : limits_(limits) {}

    // A new control connection from `peer`: false (and nothing counted) when
    // it would pass max_sessions or max_per_address.
    bool open(const Address& peer);
    void close(const Address& peer);
    // A login as `user`: false (nothing counted) past max_per_user.
    bool login(const std::string& user);
    void logout(const std::string& user);

    std::size_t sessions() const { return total_; }

    // A failed login from `peer`: the milliseconds to wait before its reply.
    // The first throttle_after failures of an address within the window wait
    // login_delay_ms; each further one twice the one before, up to
    // throttle_max_ms: a guesser with many sessions gets few answers, and
    // other addresses (and every successful login) are not slowed at all.
    unsigned login_failed(const Address& peer);
    // True when `peer` failed more than guesser_refused_after times within
    // the window: its new sessions get 421 at once.
    bool guessing(const Address& peer);

    // The registry's clock: monotonic; a test may set its own.
    using Clock = std::chrono::steady_clock;
    std::function<Clock::time_point()> now = [] { return Clock::now(); };

private:
    struct Failures {
        unsigned count = 0;
        Clock::time_point since;  // the window's start
    };
    Failures& failures_of(const Address& peer);
    std::unordered_map<std::string, Failures> failures_;  // per address, within the window

    const Limits& limits_;
    std::size_t total_ = 0;
    std::unordered_map<std::string, std::size_t> per_address_;
    std::unordered_map<std::string, std::size_t> per_user_;
};

}  // namespace iom::ftp
