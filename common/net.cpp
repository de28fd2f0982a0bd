#include "common/net.hpp"

#include "common/error.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/tcp.h>

#include <cstring>
#include <stdexcept>

namespace iom {

std::uint16_t Address::port() const {
    if (family() == AF_INET6) return ntohs(reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_port);
    return ntohs(reinterpret_cast<const sockaddr_in*>(&storage)->sin_port);
}

bool Address::is_loopback() const {
    if (family() == AF_INET6) {
        return IN6_IS_ADDR_LOOPBACK(&reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr);
    }
    auto ip = ntohl(reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr.s_addr);
    return (ip >> 24) == 127;
}

std::string Address::to_string() const {
    if (family() != AF_INET && family() != AF_INET6) return "(disconnected)";
    char text[INET6_ADDRSTRLEN] = "?";
    if (family() == AF_INET6) {
        inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6*>(&storage)->sin6_addr, text, sizeof text);
        return fmt::format("[{}]:{}", text, port());
    }
    inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&storage)->sin_addr, text, sizeof text);
    return fmt::format("{}:{}", text, port());
}

Address parse_address(const std::string& host_in, std::uint16_t port) {
    std::string host = host_in == "localhost" ? "127.0.0.1" : host_in;
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
    Address a;
    auto* v4 = reinterpret_cast<sockaddr_in*>(&a.storage);
    if (inet_pton(AF_INET, host.c_str(), &v4->sin_addr) == 1) {
        v4->sin_family = AF_INET;
        v4->sin_port = htons(port);
        a.len = sizeof(sockaddr_in);
        return a;
    }
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&a.storage);
    if (inet_pton(AF_INET6, host.c_str(), &v6->sin6_addr) == 1) {
        v6->sin6_family = AF_INET6;
        v6->sin6_port = htons(port);
        a.len = sizeof(sockaddr_in6);
        return a;
    }
    throw std::invalid_argument(
        fmt::format("'{}' is not an IPv4 or IPv6 address (use e.g. 127.0.0.1, ::1 or localhost)", host_in));
}

Address local_address(int fd) {
    Address a;
    a.len = sizeof a.storage;
    check_sys(getsockname(fd, a.sa(), &a.len), "getsockname fd {}", fd);
    return a;
}

Address peer_address(int fd) noexcept {
    Address a;
    a.len = sizeof a.storage;
    if (getpeername(fd, a.sa(), &a.len) < 0) return Address{};
    return a;
}

Fd listen_tcp(const Address& addr, int backlog, bool nonblocking, bool reuse_port) {
    int type = SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0);
    Fd fd(check_sys(socket(addr.family(), type, 0), "socket for {}", addr.to_string()));
    int one = 1;
    // Restarting a server must not fail while old connections sit in TIME_WAIT.
    check_sys(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one), "setsockopt SO_REUSEADDR");
    if (reuse_port) check_sys(setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one), "setsockopt SO_REUSEPORT");
    check_sys(bind(fd.get(), addr.sa(), addr.len), "bind {}", addr.to_string());
    check_sys(listen(fd.get(), backlog), "listen {} backlog {}", addr.to_string(), backlog);
    return fd;
}

Fd connect_tcp(const Address& addr) {
    Fd fd(check_sys(socket(addr.family(), SOCK_STREAM | SOCK_CLOEXEC, 0), "socket for {}", addr.to_string()));
    int rc;
    do {
        rc = connect(fd.get(), addr.sa(), addr.len);
    } while (rc < 0 && errno == EINTR);
    check_sys(rc, "connect {}", addr.to_string());
    set_nodelay(fd.get());
    return fd;
}

void set_nonblocking(int fd, bool on) {
    int flags = check_sys(fcntl(fd, F_GETFL), "fcntl F_GETFL fd {}", fd);
    flags = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
    check_sys(fcntl(fd, F_SETFL, flags), "fcntl F_SETFL O_NONBLOCK fd {}", fd);
}

void set_nodelay(int fd) {
    int one = 1;
    check_sys(setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one), "setsockopt TCP_NODELAY fd {}", fd);
}

}  // namespace iom
