#include "client/lib/connection.hpp"

#include "common/error.hpp"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <random>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;

// Wait until fd is readable or the deadline passes. False on timeout.
bool wait_readable(int fd, Clock::time_point deadline) {
    for (;;) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left < 0) left = 0;
        pollfd p{fd, POLLIN, 0};
        int rc = poll(&p, 1, static_cast<int>(left));
        if (rc > 0) return true;
        if (rc == 0) return false;
        if (errno != EINTR) return false;
    }
}

}  // namespace

Connection Connection::open(const Address& server) { return Connection(connect_tcp(server)); }

Fd start_connect(const Address& server) {
    Fd fd(::socket(server.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!fd) throw_sys("socket");
    set_nodelay(fd.get());
    if (::connect(fd.get(), server.sa(), server.len) < 0 && errno != EINPROGRESS)
        throw_sys("connect {}", server.to_string());
    return fd;
}

int connect_result(int fd) {
    int err = 0;
    socklen_t len = sizeof err;
    if (::getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) return errno;
    return err;
}

bool Connection::send_all(std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd_.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return false;
        }
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

std::optional<std::string> Connection::recv_exact(std::size_t n, Millis timeout, std::string* partial) {
    auto deadline = Clock::now() + timeout;
    std::string got;
    got.reserve(n);
    char buf[65536];
    bool ok = true;
    while (got.size() < n) {
        if (!wait_readable(fd_.get(), deadline)) {
            ok = false;
            break;
        }
        std::size_t want = std::min(sizeof buf, n - got.size());
        ssize_t r = ::recv(fd_.get(), buf, want, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r <= 0) {
            ok = false;
            break;
        }
        got.append(buf, static_cast<std::size_t>(r));
    }
    if (ok) return got;
    if (partial) *partial = std::move(got);
    return std::nullopt;
}

std::optional<std::string> Connection::recv_some(Millis timeout) {
    auto deadline = Clock::now() + timeout;
    char buf[65536];
    for (;;) {
        if (!wait_readable(fd_.get(), deadline)) return std::nullopt;
        ssize_t r = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) return std::nullopt;
        return std::string(buf, static_cast<std::size_t>(r));
    }
}

bool Connection::expect_eof(Millis timeout) {
    auto deadline = Clock::now() + timeout;
    char buf[65536];
    for (;;) {
        if (!wait_readable(fd_.get(), deadline)) return false;
        ssize_t r = ::recv(fd_.get(), buf, sizeof buf, MSG_DONTWAIT);
        if (r == 0) return true;
        if (r < 0 && (errno == EINTR || errno == EAGAIN)) continue;
        if (r < 0) return errno == ECONNRESET;  // closed hard: closed all the same
        // bytes still arriving: keep reading until the end
    }
}

bool Connection::expect_silence(Millis timeout) {
    return !wait_readable(fd_.get(), Clock::now() + timeout);
}

void Connection::shutdown_write() { ::shutdown(fd_.get(), SHUT_WR); }

void Connection::reset() {
    linger lg{1, 0};  // linger on, zero seconds: close sends RST, not FIN
    ::setsockopt(fd_.get(), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    fd_.reset();
}

std::string expected_echo(EchoMode mode, std::string_view input) {
    std::string out(input);
    echo_transform(mode, out);
    return out;
}

std::string random_bytes(std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::string out(n, '\0');
    for (std::size_t i = 0; i < n; i += 8) {
        std::uint64_t v = rng();
        for (std::size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
    }
    return out;
}

}  // namespace iom::client
