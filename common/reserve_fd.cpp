#include "common/reserve_fd.hpp"

#include "common/error.hpp"

#include <fcntl.h>
#include <sys/socket.h>

namespace iom {

ReserveFd::ReserveFd() : spare_(check_sys(::open("/dev/null", O_RDONLY | O_CLOEXEC), "open /dev/null")) {}

bool ReserveFd::shed(int listen_fd) {
    spare_.reset();
    int fd = ::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
    if (fd >= 0) ::close(fd);
    spare_.reset(::open("/dev/null", O_RDONLY | O_CLOEXEC));
    return fd >= 0;
}

}  // namespace iom
