// What the two yardstick servers (min_epoll_server, min_uring_server) share:
// their command line and their listening socket. Deliberately independent of
// the project's code (no common/): a bug there cannot make a server and its
// yardstick agree.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace yardstick {

[[noreturn]] inline void die(const char* server, const char* what, int err) {
    std::fprintf(stderr, "%s: %s: %s\n", server, what, std::strerror(err));
    std::exit(1);
}

// `--port P`. The options the project's tools pass to every server
// (bench/pair.sh: --echo, --max-connections; the tests: --stats-file) are
// accepted and ignored; anything else prints the usage and exits 2.
inline int parse_port(const char* server, int argc, char** argv) {
    int port = -1;
    bool ok = argc % 2 == 1;
    for (int i = 1; ok && i + 1 < argc; i += 2) {
        std::string opt = argv[i];
        if (opt == "--port") port = std::atoi(argv[i + 1]);
        else ok = opt == "--echo" || opt == "--max-connections" || opt == "--stats-file";
    }
    if (!ok || port < 0 || port > 65535) {
        std::fprintf(stderr, "usage: %s --port P [--echo plain] [--max-connections N] [--stats-file F]\n"
                             "  (the last three are accepted and ignored)\n", server);
        std::exit(2);
    }
    return port;
}

// A listening socket on 127.0.0.1:port (0: any free port), backlog 4096.
// Prints the ready line the project's tools wait for: "listening on
// 127.0.0.1:PORT".
inline int listen_on(const char* server, int port, int type_flags) {
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | type_flags, 0);
    if (fd < 0) die(server, "socket", errno);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<std::uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) < 0) die(server, "bind", errno);
    if (listen(fd, 4096) < 0) die(server, "listen", errno);
    socklen_t len = sizeof addr;
    getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    std::printf("listening on 127.0.0.1:%d\n", ntohs(addr.sin_port));
    std::fflush(stdout);
    return fd;
}

// Every echo goes out at once (the servers of the project do the same).
inline void nodelay(int fd) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

}  // namespace yardstick
