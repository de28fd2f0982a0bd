// What a server asked of the kernel, counted. Printed at exit and written as
// JSON by --stats-file; `ioclient compare` divides them by the messages it
// echoed to get, say, syscalls per message.
//
// Plain integers, incremented on the hot path: one add, no atomics. They live
// in shared memory other processes can read (common/live_counters.hpp); a
// server with several threads or processes gives each a Counters slot there.
//
// Configured with -DIOM_COUNTERS=OFF, every counter becomes a Count that
// counts nothing and compiles to nothing: bench/run.sh builds the servers
// both ways to show that counting costs nothing measurable.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace iom {

#ifdef IOM_NO_COUNTERS
struct Count {  // accepts every update, keeps none, always reads 0
    constexpr Count& operator++() noexcept { return *this; }
    constexpr Count& operator+=(std::uint64_t) noexcept { return *this; }
    constexpr Count& operator=(std::uint64_t) noexcept { return *this; }
    constexpr operator std::uint64_t() const noexcept { return 0; }
};
#else
using Count = std::uint64_t;
#endif

// X(name, merge, meaning): merge is sum for event counts, max for peaks.
#define IOM_COUNTERS(X)                                                                          \
    X(accepts, sum, "connections accepted")                                                      \
    X(accept_eagain, sum, "accept answered EAGAIN (nothing pending)")                            \
    X(accept_errors, sum, "accept failed otherwise (EMFILE, ENFILE, ...)")                       \
    X(refused, sum, "connections closed at once: over --max-connections or a model's limit")     \
    X(closed, sum, "connections closed after being served")                                      \
    X(resets, sum, "connections ended by an error (ECONNRESET, EPIPE, ...)")                     \
    X(recv_calls, sum, "recv/read calls")                                                        \
    X(recv_eagain, sum, "recv answered EAGAIN (no data yet)")                                    \
    X(recv_nobufs, sum, "io_uring recv found its provided-buffer ring empty (ENOBUFS)")          \
    X(recv_bytes, sum, "bytes received")                                                         \
    X(send_calls, sum, "send/write calls")                                                       \
    X(send_eagain, sum, "send answered EAGAIN (socket buffer full)")                             \
    X(send_bytes, sum, "bytes sent")                                                             \
    X(wait_calls, sum, "calls to the model's wait: select, poll, epoll_wait, io_uring_enter...") \
    X(wait_fds, sum, "descriptors handed to or scanned by those waits")                          \
    X(wait_ready, sum, "ready events or completions those waits returned")                       \
    X(wakeups, sum, "times the process woke up with something to do (signals, events)")          \
    X(sqes, sum, "io_uring submission queue entries submitted")                                  \
    X(cqes, sum, "io_uring completion queue entries reaped")                                     \
    X(idle_timeouts, sum, "connections closed for being idle too long")                          \
    X(peak_connections, max, "most connections open at once")                                    \
    X(peak_threads, max, "most threads (or processes) serving at once")                          \
    X(ftp_sessions, sum, "FTP sessions started (control connections)")                           \
    X(ftp_transfers, sum, "FTP data transfers started (downloads, uploads, listings)")           \
    X(ftp_aborts, sum, "FTP transfers stopped by ABOR")                                          \
    X(transfer_timeouts, sum, "FTP data connections that never came, or that stalled")           \
    X(data_strangers, sum, "passive data connections from another host, closed unserved")        \
    X(data_accepts, sum, "FTP passive data connections accepted (not in accepts: not sessions)")   \
    X(rate_waits, sum, "data sockets left out of the wait until the rate budget refilled")       \
    X(fs_calls, sum, "filesystem requests (open, stat, list, rename...) run on the loop")        \
    X(file_reads, sum, "read/pread calls on files (each may wait for the disk)")                 \
    X(file_read_bytes, sum, "bytes read from files: by sendfile or splice, or by read")          \
    X(file_writes, sum, "write/pwrite calls on files")                                           \
    X(file_write_bytes, sum, "bytes written to files")                                           \
    X(user_copy_bytes, sum, "file bytes copied through user space (read+send, recv+write)")      \
    X(sendfile_calls, sum, "sendfile calls (io_uring: SPLICE pipe to socket): file to socket, no user copy") \
    X(loops, sum, "event loops, each counted in its own slot: a slot with loops=1 is one loop's figures")      \
    X(handoffs, sum, "taken from another thread: a connection dealt to a loop, a message, a reply to the loop") \
    X(notify_calls, sum, "eventfd/pipe reads and writes that pass a hand-off or wake another thread")          \
    X(queue_peak, max, "most messages waiting at once in a pool's bounded queue")                              \
    X(queue_full, sum, "times a connection was left unread because the pool's queue was full (backpressure)")

struct Counters {
#define IOM_DECLARE(name, merge, meaning) Count name{};
    IOM_COUNTERS(IOM_DECLARE)
#undef IOM_DECLARE

    // Merge another thread's (or process's) counters into these.
    Counters& operator+=(const Counters& other) noexcept;

    // {"accepts": 3, ...}: every counter, zeros included, so readers can rely on the keys.
    std::string to_json() const;
    // "accepts=3 recv_calls=10 ...": the non-zero counters, for a human.
    std::string to_line() const;
};

// Write {"server": NAME, "counters": {...}} to `path`, atomically (a reader
// never sees half a file). Throws std::system_error on failure.
void write_stats_file(const std::string& path, std::string_view server, const Counters& k);

}  // namespace iom
