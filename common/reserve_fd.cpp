#include "common/reserve_fd.hpp"

#include "common/error.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>

namespace iom {

ReserveFd::ReserveFd() : spare_(check_sys(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open /dev/null")) {}

bool ReserveFd::shed(int listen_fd) {
    // Only if a connection is waiting: on a blocking listener accept would
    // sleep, and then take (and close) the next client to come, even one
    // that arrives after descriptors were freed.
    pollfd waiting{.fd = listen_fd, .events = POLLIN};
    if (::poll(&waiting, 1, 0) != 1 || !(waiting.revents & POLLIN)) return false;
    spare_.reset();
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) ::close(fd);
    spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    return fd >= 0;
}

std::uint64_t ReserveFd::shed_all(int listen_fd) {
    std::uint64_t n = 0;
    while (shed(listen_fd)) ++n;
    return n;
}

void ReserveFd::wait_for_client(int listen_fd) {
    pollfd waiting{.fd = listen_fd, .events = POLLIN};
    ::poll(&waiting, 1, -1);  // a signal (EINTR) or a stop (the listener is shut down) ends it too
}

}  // namespace iom
