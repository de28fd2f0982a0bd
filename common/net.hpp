// Socket set-up shared by every server and the client: addresses, listening,
// connecting, O_NONBLOCK and TCP_NODELAY. The calls that *are* a model —
// accept, recv, send and the waiting — stay in each server's own file.
#pragma once

#include "common/fd.hpp"

#include <fmt/format.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <cstdint>
#include <string>

namespace iom {

// An IPv4 or IPv6 socket address.
struct Address {
    sockaddr_storage storage{};
    socklen_t len = 0;

    const sockaddr* sa() const { return reinterpret_cast<const sockaddr*>(&storage); }
    sockaddr* sa() { return reinterpret_cast<sockaddr*>(&storage); }
    int family() const { return storage.ss_family; }
    std::uint16_t port() const;
    bool is_loopback() const;
    // "127.0.0.1:9001" or "[::1]:9001" ("(disconnected)" if empty).
    std::string to_string() const;
};

// Parse a numeric host ("127.0.0.1", "::1", "[::1]", "0.0.0.0", "::") or
// "localhost" and a port. Throws std::invalid_argument with a clear message.
Address parse_address(const std::string& host, std::uint16_t port);

// The address a socket is bound to (getsockname); throws on failure.
Address local_address(int fd);
// The address a socket is connected to (getpeername). Never throws: a peer
// may have reset before we ask, and that must not take a server down; the
// result then prints as "(disconnected)".
Address peer_address(int fd) noexcept;

// The peer of `fd`, looked up only when it is formatted: trace lines take
// it, so a server that does not trace makes no getpeername call.
//   iom::trace("accept -> fd {} from {}", fd, iom::PeerOf{fd});
struct PeerOf {
    int fd;
};

// socket + SO_REUSEADDR + bind + listen. Errors name the call and the
// address: "bind 127.0.0.1:9023: Address already in use". `reuse_port`
// sets SO_REUSEPORT too: several sockets may then listen on the same port,
// and the kernel spreads new connections over them by a hash of the
// addresses (epoll_loops_server --accept reuseport).
Fd listen_tcp(const Address& addr, int backlog, bool nonblocking, bool reuse_port = false);

// A blocking connect (with TCP_NODELAY set: a client that writes a request in
// pieces must not wait for delayed ACKs either).
Fd connect_tcp(const Address& addr);

void set_nonblocking(int fd, bool on = true);
// Disable Nagle's algorithm: without it a reply written in two sends waits
// ~40 ms for the peer's delayed ACK (see docs/pitfalls).
void set_nodelay(int fd);

}  // namespace iom

template <>
struct fmt::formatter<iom::PeerOf> : fmt::formatter<std::string_view> {
    auto format(iom::PeerOf p, fmt::format_context& ctx) const {
        return fmt::formatter<std::string_view>::format(iom::peer_address(p.fd).to_string(), ctx);
    }
};
