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
//   the server          every timer (login, idle, stalled transfer, passive
//                       connect: it calls Session::timed_out), the transfer
//                       buffer and the rate limit (it moves the bytes).
#pragma once

#include "common/net.hpp"

#include <cstddef>
#include <cstdint>
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
    std::uint64_t rate_limit = 0;             // bytes per second per session; 0 = unlimited
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

private:
    const Limits& limits_;
    std::size_t total_ = 0;
    std::unordered_map<std::string, std::size_t> per_address_;
    std::unordered_map<std::string, std::size_t> per_user_;
};

}  // namespace iom::ftp
