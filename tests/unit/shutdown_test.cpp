#include "common/fd.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/shutdown.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <thread>

namespace iom {
namespace {

// Each test runs in a forked child: the stop state is process-wide and one-way.
template <typename F>
int in_child(F&& f) {
    pid_t pid = fork();
    if (pid == 0) _exit(f());
    int status = 0;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status);
}

TEST(Shutdown, SigtermMakesStopFdReadable) {
    EXPECT_EQ(in_child([] {
                  install_stop_handlers();
                  if (stop_requested()) return 1;
                  pollfd p{stop_fd(), POLLIN, 0};
                  if (poll(&p, 1, 0) != 0) return 2;
                  kill(getpid(), SIGTERM);
                  if (!stop_requested()) return 3;
                  if (poll(&p, 1, 1000) != 1) return 4;
                  return 0;
              }),
              0);
}

TEST(Shutdown, SigpipeIsIgnored) {
    EXPECT_EQ(in_child([] {
                  install_stop_handlers();
                  int sv[2];
                  socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
                  ::close(sv[1]);
                  ssize_t n = ::write(sv[0], "x", 1);  // would kill us with SIGPIPE
                  return (n == -1 && errno == EPIPE) ? 0 : 1;
              }),
              0);
}

TEST(Shutdown, WatchedBlockingAcceptReturnsOnStop) {
    EXPECT_EQ(in_child([] {
                  install_stop_handlers();
                  Fd l = listen_tcp(parse_address("127.0.0.1", 0), 4, false);
                  watch_for_stop(l.get());
                  std::thread signaller([] {
                      std::this_thread::sleep_for(std::chrono::milliseconds(100));
                      kill(getpid(), SIGINT);
                  });
                  int fd = accept(l.get(), nullptr, nullptr);  // blocks until the stop
                  signaller.join();
                  return (fd < 0 && stop_requested()) ? 0 : 1;
              }),
              0);
}

TEST(Shutdown, WatchAfterStopShutsDownAtOnce) {
    EXPECT_EQ(in_child([] {
                  install_stop_handlers();
                  request_stop();
                  Fd l = listen_tcp(parse_address("127.0.0.1", 0), 4, false);
                  watch_for_stop(l.get());  // the race: a stop that came first
                  int fd = accept(l.get(), nullptr, nullptr);
                  return fd < 0 ? 0 : 1;
              }),
              0);
}

TEST(ReserveFd, ShedsAWaitingConnectionWhenOutOfDescriptors) {
    EXPECT_EQ(in_child([] {
                  Fd l = listen_tcp(parse_address("127.0.0.1", 0), 16, true);
                  Fd client = connect_tcp(local_address(l.get()));
                  ReserveFd reserve;
                  // Use up every descriptor but the reserve.
                  rlimit lim{};
                  getrlimit(RLIMIT_NOFILE, &lim);
                  lim.rlim_cur = 64;
                  setrlimit(RLIMIT_NOFILE, &lim);
                  std::vector<Fd> hog;
                  for (;;) {
                      int fd = ::dup(0);
                      if (fd < 0) break;
                      hog.emplace_back(fd);
                  }
                  if (accept(l.get(), nullptr, nullptr) >= 0 || errno != EMFILE) return 1;
                  if (!reserve.shed(l.get())) return 2;
                  char b;
                  // The dropped client sees its connection closed.
                  return ::recv(client.get(), &b, 1, 0) == 0 ? 0 : 3;
              }),
              0);
}

}  // namespace
}  // namespace iom
