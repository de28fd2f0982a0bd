// min_client — the yardstick for `ioclient bench`: the least a ping-pong
// load generator can do, so that bench/run.sh can show how much of the
// machine `ioclient bench` itself costs.
//
// One thread, one epoll instance, C non-blocking connections. Each sends an
// S-byte message, reads until S bytes are back (any split), and sends the
// next. It verifies nothing but the length: no byte comparison, no latency
// histogram, no clock read per message (the clock is read once per
// epoll_wait). Deliberately independent of the project's code (no common/,
// no client/): a bug there cannot make both clients agree. For the same
// reason its one line of JSON is a printf, not common/json.hpp.
//
//   min_client HOST PORT CONNECTIONS SIZE DURATION WARMUP
//   -> {"messages": N, "seconds": D, "messages_per_second": R}
//
// Built with the rest of the project (bench/CMakeLists.txt; bench/run.sh measures the release build).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

struct Conn {
    int fd = -1;
    bool connected = false;
    std::size_t sent = 0, got = 0;  // of the current message
};

[[noreturn]] void die(const char* what) {
    std::fprintf(stderr, "min_client: %s: %s\n", what, std::strerror(errno));
    std::exit(1);
}

double now() {
    using namespace std::chrono;
    return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 7) {
        std::fprintf(stderr, "usage: min_client HOST PORT CONNECTIONS SIZE DURATION WARMUP\n");
        return 2;
    }
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(std::atoi(argv[2])));
    if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1) {
        std::fprintf(stderr, "min_client: %s: not an IPv4 address\n", argv[1]);
        return 2;
    }
    const std::size_t nconn = std::strtoul(argv[3], nullptr, 10);
    const std::size_t size = std::strtoul(argv[4], nullptr, 10);
    const double duration = std::atof(argv[5]), warmup = std::atof(argv[6]);
    if (nconn == 0 || size == 0 || duration <= 0 || warmup < 0) {
        std::fprintf(stderr, "min_client: connections, size and duration must be positive\n");
        return 2;
    }

    rlimit rl{};  // C connections need C descriptors: take all we may
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }

    std::vector<char> out(size, 'x'), in(size);
    std::vector<Conn> conns(nconn);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (ep < 0) die("epoll_create1");
    for (std::size_t i = 0; i < nconn; ++i) {
        int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        if (fd < 0) die("socket");
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);  // small messages go out at once
        if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0 && errno != EINPROGRESS) die("connect");
        // Registered once, edge-triggered, for both directions: the loop
        // never calls epoll_ctl again.
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT | EPOLLET;
        ev.data.u64 = i;
        if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) < 0) die("epoll_ctl");
        conns[i].fd = fd;
    }

    // Send what is left of the current message; EAGAIN waits for EPOLLOUT.
    auto send_rest = [&](Conn& c) {
        while (c.sent < size) {
            ssize_t n = send(c.fd, out.data() + c.sent, size - c.sent, MSG_NOSIGNAL);
            if (n > 0) c.sent += static_cast<std::size_t>(n);
            else if (errno == EAGAIN) return;
            else if (errno != EINTR) die("send");
        }
    };

    const double start = now() + warmup, end = start + duration;
    unsigned long long messages = 0;
    std::vector<epoll_event> events(1024);
    for (;;) {
        int n = epoll_wait(ep, events.data(), static_cast<int>(events.size()), 100);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        const double t = now();  // one clock read per wait, not per message
        if (t >= end) break;
        const bool counting = t >= start;
        for (int e = 0; e < n; ++e) {
            Conn& c = conns[events[e].data.u64];
            if (!c.connected) {
                int err = 0;
                socklen_t len = sizeof err;
                getsockopt(c.fd, SOL_SOCKET, SO_ERROR, &err, &len);
                if (err != 0) { errno = err; die("connect"); }
                if (!(events[e].events & EPOLLOUT)) continue;
                c.connected = true;
                send_rest(c);
                continue;
            }
            if (events[e].events & EPOLLIN) {
                // Edge-triggered: read until the reply is whole or EAGAIN. Never
                // ask for more than the reply: the length is all we check.
                while (c.got < size) {
                    ssize_t r = recv(c.fd, in.data(), size - c.got, 0);
                    if (r > 0) c.got += static_cast<std::size_t>(r);
                    else if (r == 0) { errno = ECONNRESET; die("recv: the server closed"); }
                    else if (errno == EAGAIN) break;
                    else if (errno != EINTR) die("recv");
                }
                if (c.got == size) {
                    messages += counting;
                    c.sent = c.got = 0;
                    send_rest(c);
                    continue;
                }
            }
            if (events[e].events & EPOLLOUT) send_rest(c);
        }
    }
    for (Conn& c : conns) close(c.fd);
    std::printf("{\"messages\": %llu, \"seconds\": %g, \"messages_per_second\": %.1f}\n", messages, duration,
                static_cast<double>(messages) / duration);
    return 0;
}
