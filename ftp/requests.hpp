// What a Session asks its server to do, and what the server tells it back.
//
// The session performs no I/O. Everything that touches a socket, a file or
// a clock is a request the server carries out, then reports with
// Session::complete(). The requests are plain data so that the epoll server
// can perform them with ordinary calls (fs.hpp's synchronous executor) and
// the io_uring server can turn the same fields into submissions:
//
//   request           epoll server                  io_uring server
//   FsRequest         fs.hpp execute()              OPENAT2 / STATX / MKDIRAT / UNLINKAT /
//                                                   RENAMEAT / OPENAT SQEs; `list` only
//                                                   through execute() (there is no getdents op)
//   PassiveRequest    socket/bind/listen            the same (no io_uring op: cheap, never blocks)
//   TransferRequest   accept or connect, then       ACCEPT or CONNECT, then READ/WRITE (or
//                     sendfile/recv+write            splice) and SEND/RECV, all SQEs
//   AbortRequest      close the data connection     ASYNC_CANCEL, then close
//   DelayRequest      a timer                       TIMEOUT
//   TlsRequest        flush the 234 in clear, then  the same, OpenSSL on memory
//                     OpenSSL on the socket         buffers the ring fills and drains
//   CloseRequest      flush the output, close all   the same
//
// Descriptors travel as iom::Fd (owned): whoever holds one closes it.
#pragma once

#include "common/fd.hpp"
#include "common/net.hpp"
#include "ftp/listing.hpp"

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <variant>
#include <vector>

namespace iom::ftp {

// ---- the filesystem --------------------------------------------------------
// Every path is a virtual absolute path ("/a/b") resolved by
//     openat2(dirfd, path, {flags, mode, RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS})
// so the kernel keeps it inside dirfd (the user's root) — see fs.hpp. An empty
// path means "dirfd itself" (no openat2). `name` is always ONE component
// (never "", "." or ".."), used with a *at() call on the directory `path` names.
// Never hand a multi-component path to statx, mkdirat, unlinkat or renameat
// directly: they have no RESOLVE_IN_ROOT, and a symlink would lead outside.
// Hence stat is OPENAT2(O_PATH) then STATX(fd, "", AT_EMPTY_PATH), and so on.
// The executor adds O_CLOEXEC to every open (fs.hpp: make_open_how).
enum class FsOp : std::uint8_t {
    open_home,  // mkdirat(dirfd, name, 0755) (EEXIST is fine); openat2(dirfd, name, O_PATH|O_DIRECTORY) -> fd
    stat,       // openat2(dirfd, path, O_PATH) + statx(fd, "", AT_EMPTY_PATH)         -> stat
    open,       // openat2(dirfd, path, flags, mode) + statx(fd, "", AT_EMPTY_PATH)     -> fd, stat
    create,     // openat2(dirfd, path, O_PATH|O_DIRECTORY) -> dir; openat(dir, name, flags, mode) -> fd, dir
    mkdir,      // parent = openat2(dirfd, path, O_PATH|O_DIRECTORY); mkdirat(parent, name, mode)
    rmdir,      // parent as above; unlinkat(parent, name, AT_REMOVEDIR)
    unlink,     // parent as above; unlinkat(parent, name, 0)
    rename,     // parents of both; renameat2(parent, name, parent2, name2, rename_flags)
    list,       // openat2(dirfd, path, O_PATH) + statx -> stat; a directory: its entries (getdents,
                // fstatat; a symlink entry shows what it resolves to inside the root)
    set_mtime,  // parent as above; utimensat(parent, name, {now-as-is, mtime}, AT_SYMLINK_NOFOLLOW) (MFMT)
};

// For --trace: the name of each operation.
constexpr const char* name_of(FsOp op) {
    constexpr const char* names[] = {"open_home", "stat", "open", "create", "mkdir", "rmdir", "unlink", "rename", "list", "set_mtime"};
    return names[static_cast<int>(op)];
}

struct FsRequest {
    FsOp op = FsOp::stat;
    int dirfd = -1;     // the user's root (or, with an empty path, the directory itself)
    std::string path;   // the file (stat, open, list) or the parent directory (the others)
    std::string name;   // one component: open_home, create, mkdir, rmdir, unlink, rename
    int flags = 0;      // open, create: open(2) flags, exactly as to pass them
    mode_t mode = 0;    // open, create, mkdir
    std::string path2;  // rename: the target's parent directory (resolved in dirfd too)
    std::string name2;  // rename: the target's name
    std::int64_t mtime = 0;  // set_mtime: seconds since the epoch
    unsigned rename_flags = 0;  // rename: renameat2's flags; RENAME_NOREPLACE: EEXIST rather than replace a file
};

struct FsResult {
    int error = 0;               // an errno value; 0: done
    Fd fd;                       // open_home, open, create: what was opened
    Fd dir;                      // create: the directory the file was created in
    Entry stat;                  // stat, open, list: the path itself (name: its last component)
    std::vector<Entry> entries;  // list of a directory: its entries, sorted by name ("." and ".." left out)
};

// ---- the data connection ---------------------------------------------------
// Listen on `local` (the control connection's local address, port 0), after
// closing any passive listener (and any data connection it accepted) this
// session had: one listener per session.
// Accept as soon as a connection comes: clients connect right after the
// 227/229 reply, BEFORE they send RETR or STOR. Accept only from `peer`'s host
// (the control connection's peer; port ignored): a connection from any other
// host is closed at once, gets no byte, and the wait goes on. Keep the one
// accepted connection for the next TransferRequest, and close the listener
// then: it serves one data connection.
// With a port range (--passive-ports), listen on a free port of it; none
// free: the error EADDRINUSE (the session answers 425 and goes on).
struct PassiveRequest {
    Address local;
    Address peer;
    std::uint16_t port_lo = 0, port_hi = 0;  // 0: any port
};
struct PassiveResult {
    int error = 0;           // errno; 0: listening
    std::uint16_t port = 0;  // the port the kernel chose
};

enum class Direction : std::uint8_t { send, receive };

// Open the data connection, move the bytes, close it, report.
//  passive: use the connection accepted on the last PassiveRequest's
//           listener, or wait for it (same rule: only from `peer`'s host);
//           the passive-connect timer runs from here until it is there
//           (then connect_failed).
//  active:  close any passive listener; bind to `local` (port 0), connect to
//           `peer` (already checked: the client's own host, port >= 1024).
// send:    from `file` (starting at `offset`; read to end of file) or, with
//          no file, the bytes of `data` (a listing, already CRLF).
// receive: into `file` at `offset` (pwrite; an O_APPEND file: write), until
//          the peer closes; at most `max_bytes` bytes written to the file
//          (past that: stop, too_large).
// Either way the data connection is closed at the end, whatever the result:
// in stream mode its end is the end of the file.
// ascii:   TYPE A: convert line ends (ascii.hpp) — no sendfile then.
// tls:     PROT P: the data connection is TLS (the server is its TLS server;
//          its handshake comes first, then the bytes, then close_notify) —
//          no sendfile then either: the bytes must pass through the cipher.
struct TransferRequest {
    Direction direction = Direction::send;
    bool passive = true;
    Address peer;
    Address local;
    Fd file;
    std::string data;
    std::uint64_t offset = 0;
    std::uint64_t file_size = 0;  // send from a file: its size when opened (progress, sendfile counts)
    bool ascii = false;
    bool tls = false;
    std::uint64_t max_bytes = 0;  // receive only
};

enum class TransferStatus : std::uint8_t {
    done,             // all bytes moved, data connection closed cleanly   -> 226
    aborted,          // stopped by an AbortRequest                        -> 426 (+ 226 for the ABOR)
    connect_failed,   // no data connection (refused, passive wait timed out) -> 425
    connection_lost,  // the data connection failed midway (reset)         -> 426
    stalled,          // no progress for Limits::stall_timeout              -> 426
    no_space,         // a write to the file failed with ENOSPC or EDQUOT   -> 452
    too_large,        // the upload passed max_bytes                        -> 552
    file_error,       // another read/write error on the file               -> 451
    tls_failed,       // PROT P: no TLS handshake on the data connection    -> 425
    tls_not_resumed,  // --tls-session-reuse required: a TLS session of its own -> 522
};
constexpr const char* name_of(TransferStatus s) {
    constexpr const char* names[] = {"done", "aborted", "connect_failed", "connection_lost", "stalled",
                                     "no_space", "too_large", "file_error", "tls_failed", "tls_not_resumed"};
    return names[static_cast<int>(s)];
}
struct TransferResult {
    TransferStatus status = TransferStatus::done;
    std::uint64_t bytes = 0;  // bytes moved on the data connection
    int error = 0;            // errno for file_error / connection_lost, if known
};

// ---- the rest ----------------------------------------------------------------
// Cancel the transfer in flight. No completion of its own: the transfer's
// TransferResult (status aborted, or whatever it reached first) answers it.
struct AbortRequest {};
// Come back after `ms` milliseconds with complete(Delayed{}).
struct DelayRequest {
    unsigned ms = 0;
};
struct Delayed {};
// AUTH TLS (RFC 4217): write the output taken so far (the 234) in clear,
// then be the TLS server of the control connection; complete(TlsResult)
// once the handshake is over, either way. Bytes that came in clear after
// the AUTH TLS line are the session's to discard (it does), never TLS's.
struct TlsRequest {};
struct TlsResult {
    std::string error;  // "": the control connection is TLS now; else why the handshake failed
};
// The session is over: abort anything in flight, write the output that is
// left (take_output), then close every descriptor of the session.
struct CloseRequest {};

using Request =
    std::variant<FsRequest, PassiveRequest, TransferRequest, AbortRequest, DelayRequest, TlsRequest, CloseRequest>;

// Why the server's timer fired (Session::timed_out). Stalled transfers and
// passive connects that never come are TransferResults, not timeouts.
enum class Timeout : std::uint8_t { login, idle };

}  // namespace iom::ftp
