// The access log of both FTP servers: one JSON line per event, to a file,
// standard error (the default) or nowhere (--log none).
//
//   {"time": "2025-01-02T03:04:05.678Z", "event": "transfer", "client": "127.0.0.1", "user": "alice",
//    "direction": "upload", "path": "/docs/b.bin", "bytes": 1048576, "seconds": 0.012, "result": "done"}
//
// Events: connect, login, login_failed, transfer, disconnect (and refused: a
// session turned away at its greeting, 421; tls_failed: a control
// connection's TLS handshake that failed, with OpenSSL's reason). JSON lines rather than vsftpd's
// xferlog: xferlog has transfers only (no logins, failed logins or
// connections), its fields are space-separated so a path with a space breaks
// it, and its time has no year zone or fraction; a JSON line keeps every
// field named and escaped, and jq, Python, Loki, Elastic and every log
// shipper read it as it is.
//
// The Session writes the events (it knows logins and transfers, and is
// started and destroyed with the control connection); the Site holds the
// sink, so both servers log the same lines with no code of their own. A
// password never reaches it: the Session passes names, never PASS's argument.
// Each line is one write(2) on the loop (O_APPEND): lines from one process
// never interleave; a slow log disk slows the loop, as any write on it would.
#pragma once

#include "common/fd.hpp"
#include "common/net.hpp"

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace iom::ftp {

class AccessLog {
public:
    // "none": off; "" or "-": standard error; else a file, appended to (created 0640).
    // Throws std::system_error naming the file when it cannot be opened.
    explicit AccessLog(const std::string& where = "none");

    bool enabled() const { return fd_ >= 0; }
    // The log's clock (monotonic), for a transfer's seconds.
    static std::chrono::steady_clock::time_point now() { return std::chrono::steady_clock::now(); }

    void connect(const Address& client);
    void refused(const Address& client);
    void login(const Address& client, std::string_view user);
    void login_failed(const Address& client, std::string_view user, unsigned delay_ms);
    void transfer(const Address& client, std::string_view user, std::string_view direction, std::string_view path,
                  std::uint64_t bytes, double seconds, std::string_view result);
    void disconnect(const Address& client, std::string_view user);
    void tls_failed(const Address& client, std::string_view reason);

private:
    void write(std::string line);

    Fd owned_;
    int fd_ = -1;
};

}  // namespace iom::ftp
