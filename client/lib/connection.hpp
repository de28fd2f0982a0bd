// A blocking client connection with deadlines: what the check cases and the
// tests use to talk to a server. And the one non-blocking connect, for the
// clients that open many connections at once (bench, compare's idle
// connections, the hostile crowds) and wait for them together.
#pragma once

#include "common/echo.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace iom::client {

using Millis = std::chrono::milliseconds;

class Connection {
public:
    // Connect (blocking). Throws std::system_error naming the address.
    static Connection open(const Address& server);

    int fd() const { return fd_.get(); }

    // Send every byte (blocking). False if the server reset or closed.
    bool send_all(std::string_view bytes);

    // Read until exactly `n` bytes arrived. nullopt if the deadline passes or
    // the connection ends first; what did arrive is left in *partial if given.
    std::optional<std::string> recv_exact(std::size_t n, Millis timeout, std::string* partial = nullptr);

    // Wait up to `timeout` for any bytes: "" on EOF, nullopt on timeout/error.
    std::optional<std::string> recv_some(Millis timeout);

    // True if the server closes the connection (EOF) within `timeout`.
    bool expect_eof(Millis timeout);

    // True if nothing at all arrives within `timeout` (and the connection stays open).
    bool expect_silence(Millis timeout);

    void shutdown_write();  // half-close: SHUT_WR, the server sees EOF
    void reset();           // close with SO_LINGER 0: the server sees RST
    void close() { fd_.reset(); }

private:
    explicit Connection(Fd fd) : fd_(std::move(fd)) {}
    Fd fd_;
};

// A non-blocking socket with its connect() started (TCP_NODELAY set, as
// connect_tcp does): many at once, no thread each. The connect completes
// when the socket turns writable; connect_result then says how. Throws
// std::system_error naming the call if it cannot even start.
Fd start_connect(const Address& server);

// 0 once a non-blocking connect has succeeded, else its errno (SO_ERROR).
int connect_result(int fd);

// What the server sends back for `input` under `mode`.
std::string expected_echo(EchoMode mode, std::string_view input);

// `n` pseudo-random bytes (all 256 values) from `seed`: the same seed gives the same bytes.
std::string random_bytes(std::size_t n, std::uint64_t seed);

}  // namespace iom::client
