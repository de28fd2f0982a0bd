// bio_fork_server — a process per connection, the classic way (port 9003)
//
// THE MODEL. The parent accepts; for every client it fork()s a child that
// runs bio_server's recv/send loop on that one connection and exits. After
// the fork both processes hold both sockets: the child closes the listening
// socket, the parent closes the connection — each keeps only what it serves.
// Clients are isolated: a crash or a leak in one child touches no other.
//
// WHERE IT WAITS. A read has two phases: (1) waiting for data to arrive and
// (2) the kernel copying it from the socket's receive buffer into ours.
//   accept()  the parent sleeps until a client connects — or a child exits:
//             SIGCHLD interrupts it and it fails with EINTR.
//   recv()    a child sleeps through phase 1 and stays in the kernel for
//             phase 2: both phases block, but only that child.
//   send()    blocks that child while its client's send buffer is full.
//
// THE LESSON. Two classic bugs, both guarded (blocking_test.cpp: ForkServer.*):
//   zombies: a child that exits stays a zombie (its exit status kept for the
//     parent) until the parent calls waitpid. Unreaped, they fill the process
//     table. We reap in the SIGCHLD handler, in a loop with WNOHANG: several
//     children can exit while one signal is pending, and signals do not queue.
//   EINTR: a signal handler installed without SA_RESTART makes the blocked
//     accept() fail with EINTR. That is not an error: go round and accept again.
// The cost: a process per client (page tables, its written pages, a fork each).
//
// TRY IN CLASS.
//   ./bio_fork_server --trace               # the [time pid] column changes per client
//   nc 127.0.0.1 9003   (twice)             # both are echoed at once
//   ps --ppid $(pgrep -o bio_fork) -o pid,stat,rss,cmd   # one child per client
//   ...close an nc: its child is gone at once, no <defunct> left behind.

#include "blocking/serve_client.hpp"
#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <unordered_map>
#include <vector>

namespace {

// Reaping. Why in the handler, not in the accept loop after EINTR? A child
// that exits after the loop has reaped but before accept() is entered sends
// its SIGCHLD too early to interrupt anything: accept sleeps, and the zombie
// waits for the next client. In the handler there is no such window. waitpid
// is async-signal-safe; the handler passes each pid to the loop through a
// ring of atomics (one writer, one reader) for the bookkeeping.
std::vector<std::atomic<pid_t>> reaped;  // longer than the most children alive: never overflows
std::atomic<std::size_t> reaped_head{0}, reaped_tail{0};

extern "C" void on_sigchld(int) {
    int saved = errno;
    pid_t pid;
    while ((pid = waitpid(-1, nullptr, WNOHANG)) > 0) {  // loop: signals don't queue
        std::size_t t = reaped_tail.load(std::memory_order_relaxed);
        reaped[t % reaped.size()].store(pid, std::memory_order_relaxed);
        reaped_tail.store(t + 1, std::memory_order_release);
    }
    errno = saved;
}

// A child counts straight into its slot of the live counters: a file mapped
// MAP_SHARED stays shared across fork, so the parent (and `ioclient top`)
// sees the child's counts as it makes them. Once the parent has reaped the
// child, nobody writes the slot: it goes back, its counts kept in it.
struct Children {
    iom::LiveCounters& slots;
    std::unordered_map<pid_t, iom::Counters*> slot_of;  // live children

    // The children the handler has reaped: free their slots.
    void collect() {
        std::size_t tail = reaped_tail.load(std::memory_order_acquire);
        for (std::size_t h = reaped_head.load(); h != tail; ++h) {
            pid_t pid = reaped[h % reaped.size()].load(std::memory_order_relaxed);
            auto it = slot_of.find(pid);
            if (it == slot_of.end()) continue;
            slots.release(*it->second);
            slot_of.erase(it);
            iom::trace("child {} reaped; {} children left", pid, slot_of.size());
        }
        reaped_head.store(tail);
    }

    // Stop: the children hold the connections, so tell each of them (one by
    // one: kill(0, ...) would signal our whole process group, which may be a
    // shell or a test). Then wait for every one, SIGCHLD blocked so that the
    // handler cannot reap the pid we are waiting for.
    void stop_all() {
        sigset_t chld;
        sigemptyset(&chld);
        sigaddset(&chld, SIGCHLD);
        sigprocmask(SIG_BLOCK, &chld, nullptr);
        collect();
        for (const auto& [pid, slot] : slot_of) kill(pid, SIGTERM);
        for (const auto& [pid, slot] : slot_of) {
            while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) continue;
            slots.release(*slot);
        }
        slot_of.clear();
        iom::trace("every child has exited");
    }

    ~Children() {  // serve() ended by an error? no child may outlive us all the same
        if (!slot_of.empty()) stop_all();
    }
};

// The child's whole life. It never returns: _exit, because the exit report,
// the stats file and the destructors up the stack belong to the parent.
[[noreturn]] void run_child(iom::Fd conn, iom::Fd& listener, iom::Counters& mine, const iom::ServerOptions& opt) {
    try {
        signal(SIGCHLD, SIG_DFL);               // a child has no children of its own
        iom::unwatch_for_stop(listener.get());  // the stop handler we inherited must leave it alone
        listener.reset();                       // the parent accepts, not us
        iom::set_nodelay(conn.get());
        iom::watch_for_stop(conn.get());  // SIGTERM from the parent (or a ^C) ends our recv
        std::vector<char> buf(opt.buffer_size);
        // With --idle-timeout the child gives its socket SO_RCVTIMEO/SO_SNDTIMEO
        // (serve_client); its idle_timeouts reach the parent through the shared slot.
        iom::blocking::serve_client(conn.get(), opt, buf, mine, "this child");
    } catch (const std::exception&) {  // e.g. the client reset before we set it up: this child only
        ++mine.resets;
        _exit(1);
    }
    _exit(0);
}

void serve(const iom::ServerOptions& opt, iom::LiveCounters& slots) {
    iom::Counters& k = slots.counters();  // the parent's slot
    Children kids{slots};
    reaped = std::vector<std::atomic<pid_t>>(opt.max_connections + 1);
    struct sigaction sa {};
    sa.sa_handler = on_sigchld;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_NOCLDSTOP;  // no SA_RESTART: accept fails with EINTR, so the loop collects
    iom::check_sys(sigaction(SIGCHLD, &sa, nullptr), "sigaction SIGCHLD");

    iom::Fd listener = iom::open_listener(opt, /*nonblocking=*/false);
    iom::watch_for_stop(listener.get());
    iom::ReserveFd reserve;
    iom::announce(listener);

    while (!iom::stop_requested()) {
        iom::trace("accept(fd {}) blocks the parent until a client connects (or a child exits)", listener.get());
        int fd = accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        kids.collect();
        if (fd < 0) {
            const int err = errno;
            if (err == EINTR) {  // a SIGCHLD (or a stop): not an error — accept again
                iom::trace("accept -> EINTR: a signal interrupted it");
                ++k.wakeups;
            }
            iom::blocking::after_failed_accept(err, listener.get(), reserve, k);  // blocking/serve_client.hpp
            continue;
        }
        iom::Fd conn(fd);
        ++k.accepts;
        if (kids.slot_of.size() >= opt.max_connections) {  // the bound on processes
            iom::trace("fd {}: {} children already serving: refused, closed at once", fd, kids.slot_of.size());
            ++k.refused;
            continue;
        }
        iom::Counters& slot = slots.acquire();
        pid_t pid = fork();
        if (pid == 0) run_child(std::move(conn), listener, slot, opt);
        if (pid < 0) {  // no process to be had (EAGAIN, ENOMEM): refuse this one, carry on
            iom::trace("fork failed ({}): fd {} refused", errno, fd);
            slots.release(slot);
            ++k.refused;
            continue;
        }
        kids.slot_of.emplace(pid, &slot);  // the parent: `conn` closes our copy; the child's keeps the connection
        iom::trace("accept -> fd {}: child {} serves it; {} children", fd, pid, kids.slot_of.size());
        k.peak_threads = k.peak_connections = std::max<std::uint64_t>(k.peak_threads, kids.slot_of.size());
    }

    kids.stop_all();
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9003;
    opt.max_connections = 1000;  // a process each: 1000 is already heavy (see docs/blocking.md)
    CLI::App app{"bio_fork_server: a process per connection. The parent accepts and forks; the child "
                 "serves one client with blocking recv/send and exits; SIGCHLD is reaped. "
                 "--max-connections bounds the live children: past it new clients are closed at once.",
                 "bio_fork_server"};
    iom::add_server_options(app, opt);
    return iom::server_main(app, argc, argv, opt, [&](iom::LiveCounters& live) { serve(opt, live); });
}
