#include "common/shutdown.hpp"

#include "common/error.hpp"

#include <signal.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>

namespace iom {

namespace {

// Lock-free atomics only: they are all a signal handler may touch.
std::atomic<bool> stopping{false};
std::atomic<int> wake_fd{-1};

// One flag per descriptor number: descriptors are unique within a process,
// so the number itself is the slot. 65536 covers any RLIMIT_NOFILE here.
constexpr int max_watched = 65536;
std::atomic<bool> watched[max_watched];
std::atomic<int> highest_watched{-1};

static_assert(std::atomic<bool>::is_always_lock_free && std::atomic<int>::is_always_lock_free);

void shut_watched() noexcept {
    int hi = highest_watched.load();
    for (int fd = 0; fd <= hi; ++fd) {
        if (watched[fd].load()) ::shutdown(fd, SHUT_RDWR);
    }
}

extern "C" void on_stop_signal(int) {
    int saved = errno;
    request_stop();
    errno = saved;
}

}  // namespace

void request_stop() noexcept {
    if (stopping.exchange(true)) return;
    std::uint64_t one = 1;
    if (int fd = wake_fd.load(); fd >= 0) [[maybe_unused]] auto n = ::write(fd, &one, sizeof one);
    shut_watched();
}

bool stop_requested() noexcept { return stopping.load(std::memory_order_relaxed); }

int stop_fd() {
    if (wake_fd.load() < 0) {
        int fd = check_sys(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK), "eventfd");
        int expected = -1;
        if (!wake_fd.compare_exchange_strong(expected, fd)) ::close(fd);
        // A stop that came before the eventfd existed must still wake a waiter.
        if (stopping.load()) {
            std::uint64_t one = 1;
            [[maybe_unused]] auto n = ::write(wake_fd.load(), &one, sizeof one);
        }
    }
    return wake_fd.load();
}

void install_stop_handlers() {
    stop_fd();
    struct sigaction sa {};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0;  // no SA_RESTART: a blocked call returns EINTR
    check_sys(sigaction(SIGINT, &sa, nullptr), "sigaction SIGINT");
    check_sys(sigaction(SIGTERM, &sa, nullptr), "sigaction SIGTERM");
    struct sigaction ignore {};
    ignore.sa_handler = SIG_IGN;
    sigemptyset(&ignore.sa_mask);
    check_sys(sigaction(SIGPIPE, &ignore, nullptr), "sigaction SIGPIPE");
}

void watch_for_stop(int fd) noexcept {
    if (fd < 0 || fd >= max_watched) return;
    watched[fd].store(true);
    int hi = highest_watched.load();
    while (fd > hi && !highest_watched.compare_exchange_weak(hi, fd)) {
    }
    // A stop that came before this socket was watched must still reach it.
    if (stopping.load()) ::shutdown(fd, SHUT_RDWR);
}

void unwatch_for_stop(int fd) noexcept {
    if (fd < 0 || fd >= max_watched) return;
    watched[fd].store(false);
}

}  // namespace iom
