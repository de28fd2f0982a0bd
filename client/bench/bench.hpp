// The load generator behind `ioclient bench`: C connections ping-pong S-byte
// messages for D seconds after a warm-up, on non-blocking sockets driven by
// one epoll loop per thread. Every reply is verified byte for byte.
#pragma once

#include "common/echo.hpp"
#include "common/net.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>

namespace iom::client {

struct BenchOptions {
    Address server;
    unsigned connections = 50;
    std::size_t size = 64;       // bytes per message
    double duration = 5.0;       // seconds measured
    double warmup = 1.0;         // seconds before measuring
    unsigned threads = 1;        // client threads, each with its own epoll loop
    unsigned idle = 0;           // extra connections opened and left idle
    unsigned think_us = 0;       // each connection's pause after a reply before its next message (0: none)
    EchoMode echo = EchoMode::upper;
    pid_t server_pid = 0;        // if set: report the server's CPU time per message
};

struct BenchResult {
    std::uint64_t messages = 0;     // verified round trips in the measured interval
    std::uint64_t bytes = 0;        // payload bytes echoed in that interval
    double seconds = 0;             // the measured interval
    double messages_per_second = 0;
    double megabytes_per_second = 0;  // MB = 10^6 bytes, one direction
    double p50_us = 0, p99_us = 0, p999_us = 0, max_us = 0;  // round-trip latency
    std::uint64_t errors = 0;       // wrong bytes, resets, failed connects
    std::string first_error;        // what the first error was
    double server_cpu_seconds = -1; // -1 when no --server-pid
    double server_cpu_us_per_message = -1;
    // Active connections whose message was still unanswered when the run
    // ended (after a short grace): a stalled server, or one that serves one
    // client at a time. Not an error: the server is slow, not wrong.
    std::uint64_t unanswered = 0;
    // The run's shape, so a JSON line stands on its own.
    unsigned connections = 0;
    std::size_t size = 0;
    unsigned threads = 0;
    unsigned idle = 0;
    unsigned think_us = 0;
    std::string echo;               // "upper" or "plain"
};

BenchResult run_bench(const BenchOptions& opt);

std::string to_json(const BenchResult& r);
std::string to_text(const BenchResult& r);

}  // namespace iom::client
