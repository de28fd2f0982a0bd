// min_epoll_server — the yardstick for epoll_server: the least an epoll echo
// server can do. bench/pair.sh measures it beside epoll_server (what the
// project's server costs beyond the model: counters, the fairness budget,
// bounded buffers) and beside min_uring_server (what the model itself costs
// against io_uring's, with nothing else in the way).
//
// One thread, one level-triggered epoll instance, TCP_NODELAY. A readable
// socket gets one recv into a 64 KiB scratch buffer and one send of what came;
// what the send could not take is kept and the socket watched for EPOLLOUT
// instead until it is gone (unbounded: a yardstick, not a server to expose).
// No counters, no EMFILE handling, no graceful stop: SIGTERM ends it.
//
//   min_epoll_server --port P    -> "listening on 127.0.0.1:PORT", serves until killed
//
// Built with the rest of the project (bench/CMakeLists.txt).
#include "yardstick.hpp"

#include <sys/epoll.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <unordered_map>

int main(int argc, char** argv) {
    const char* me = "min_epoll_server";
    int listener = yardstick::listen_on(me, yardstick::parse_port(me, argc, argv), SOCK_NONBLOCK);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{.events = EPOLLIN, .data = {.fd = listener}};
    if (ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, listener, &ev) < 0) yardstick::die(me, "epoll", errno);
    auto watch = [&](int fd, unsigned events, int op) {
        epoll_event e{.events = events, .data = {.fd = fd}};
        epoll_ctl(ep, op, fd, &e);
    };
    std::unordered_map<int, std::string> unsent;  // only sockets whose send was short
    static char buf[65536];
    epoll_event events[256];
    for (;;) {
        int n = epoll_wait(ep, events, 256, -1);
        if (n < 0 && errno != EINTR) yardstick::die(me, "epoll_wait", errno);
        for (int i = 0; i < n; ++i) {
            int fd = events[i].data.fd;
            if (fd == listener) {  // accept every waiting client
                for (int c; (c = accept4(listener, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;)
                    yardstick::nodelay(c), watch(c, EPOLLIN, EPOLL_CTL_ADD);
                continue;
            }
            bool done = false;
            if (events[i].events & EPOLLOUT) {  // the rest of a short send
                std::string& rest = unsent[fd];
                ssize_t w = send(fd, rest.data(), rest.size(), MSG_NOSIGNAL);
                if (w > 0) rest.erase(0, static_cast<std::size_t>(w));
                else if (errno != EAGAIN) done = true;
                if (!done && rest.empty()) unsent.erase(fd), watch(fd, EPOLLIN, EPOLL_CTL_MOD);
            } else {  // readable: one recv, one send (level-triggered: what is left is reported again)
                ssize_t r = recv(fd, buf, sizeof buf, 0);
                if (r == 0 || (r < 0 && errno != EAGAIN)) done = true;
                if (r > 0) {
                    ssize_t w = send(fd, buf, static_cast<std::size_t>(r), MSG_NOSIGNAL);
                    if (w < 0 && errno != EAGAIN) done = true;
                    if (!done && w < r) {  // keep the rest; stop reading until it is out
                        unsent[fd].assign(buf + std::max<ssize_t>(w, 0), buf + r);
                        watch(fd, EPOLLOUT, EPOLL_CTL_MOD);
                    }
                }
            }
            if (done) unsent.erase(fd), close(fd);  // closing also takes it out of the epoll set
        }
    }
}
