// uring_ftp_server — the capstone on io_uring: the same FTP server as a proactor (port 2122)
//
// THE POINT. epoll_ftp_server waits for sockets and cannot wait for the
// disk: a regular file is always "ready", so its reads, writes, opens and
// renames run on the loop, and a page-cache miss stops every session. A
// proactor hands the kernel whole operations and is told when each is done,
// and to io_uring a file read is an operation like a socket receive. So here
// EVERYTHING a session does is a submission (SQE) and its end a completion
// (CQE): the loop never makes a call that can wait. The protocol is the same
// core, unchanged (ftp/session.hpp): only the way of waiting differs.
//
// WHERE IT WAITS. Only in io_uring_enter, for the next completion. Meanwhile
// the kernel: accepts connections (the server's listener and each session's
// passive listener), receives commands and sends replies, connects active
// data connections, receives and sends data, reads and writes files (a read
// that misses the page cache waits for the disk in the kernel — by an
// asynchronous buffered read, or in an io-wq worker thread — and the loop
// serves everyone else), opens, stats, makes, removes and renames files,
// and counts down timers.
//
//   request (requests.hpp)  submitted as
//   FsRequest               OPENAT2 (RESOLVE_IN_ROOT, the security boundary), then STATX(fd, "",
//                           AT_EMPTY_PATH), MKDIRAT, UNLINKAT, RENAMEAT or OPENAT, one after
//                           another: the next needs the descriptor the last one opened, so
//                           they cannot be linked. `list` ALONE runs on the loop, through the
//                           synchronous executor (fs.hpp): io_uring has no getdents operation.
//                           The counter fs_calls counts those listings, nothing else.
//   PassiveRequest          socket/bind/listen (never wait: no io_uring op needed), then ACCEPT
//   TransferRequest         ACCEPT or CONNECT, then SPLICE+SPLICE (TYPE I downloads) or READ+SEND,
//                           RECV+WRITE (uploads)
//   AbortRequest            ASYNC_CANCEL of each operation of the transfer in flight
//   DelayRequest            the session's TIMEOUT (below)
//   control connection      RECV, SEND; POLL_ADD(POLLPRI) for urgent data (ftplib's ABOR)
//
// DOWNLOADS IN TYPE I: SPLICE, file -> pipe -> socket. The reactor's
// sendfile moves page-cache pages to the socket without copying them, but
// runs on the loop. Its proactor twin is two SPLICE operations through a
// pipe of the transfer's own (1 MiB, below): one moves file
// pages into the pipe (references, no copy), the other moves them on to
// the data socket. Both are submitted like any operation, and io_uring
// runs each in an io-wq worker thread (a splice cannot start without
// blocking, so the kernel never tries inline): a cold file waits there, and
// a slow client too — its socket is blocking, so its worker sleeps in the
// send while the loop serves everyone else. The price: a pipe (two
// descriptors) per download, and a worker hand-off per splice, so each
// moves up to half the pipe. What that buys and costs against the buffer
// path below (READ + SEND: two copies, no worker for a cached file), warm
// and cold: bench/ftp.sh --servers epoll,uring,uring-copy (docs/ftp.md).
// Counters: a splice from the file is a file read (file_reads), one to the
// socket is this server's sendfile (sendfile_calls); --no-sendfile takes
// the buffer path below instead, so a class can compare the two, as with
// the reactor.
//
// EVERYTHING ELSE GOES THROUGH A BUFFER: uploads (RECV then WRITE), TYPE A
// (converted in user space), and downloads with --no-sendfile or when no
// pipe can be had (out of descriptors). Each transfer owns one buffer
// (--transfer-buffer) in two halves, a PIPELINE: while a SEND drains one
// half, a READ fills the other (an upload: RECV fills, WRITE drains); the
// splice path pipelines its pipe the same way. So the disk and the network
// work at once, one SQE each in flight — what the reactor cannot do: its
// read IS the loop's time. Memory per session stays bounded whatever the
// clients do, and a half is the kernel's while the SQE that names it is in
// flight (user_copy_bytes counts the copies).
//
// TIME IS A COMPLETION TOO. Each session has ONE timer: an absolute TIMEOUT
// SQE for its earliest deadline — login, idle, the failed-login Delay, the
// passive connect, a stalled transfer, the end of the rate limit's window.
// A deadline that moves later (progress) leaves the timer as it is: it
// completes early, finds nothing due, and is armed again; one that moves
// earlier updates it in place (TIMEOUT with IORING_TIMEOUT_UPDATE). No
// sweep over the sessions, no deadline list in user space: the kernel keeps
// the timers.
//
// RATE LIMIT (--rate-limit BYTES/S per session). A tenth of the rate per
// 100 ms window; once spent, the next SEND (or RECV) is not submitted: the
// timer holds it until the window ends. The client's TCP window fills
// meanwhile, as with the reactor.
//
// ABOR, AND CLOSING: OWNERSHIP. What is in flight belongs to the kernel: the
// buffer a READ fills, the socket a RECV waits on. ABOR submits an
// ASYNC_CANCEL for each operation of the transfer (a socket wait is
// cancelled at once; a file read already running in a worker may finish
// first), and only when every one of them has completed is the data
// connection closed and 426 + 226 sent. A session ends the same way: all
// its operations cancelled, its memory freed at its last completion. (A
// close() with an operation in flight would not even close the socket: the
// operation holds a reference to it.)
//
// THE USER_DATA OF EVERY SQE: which session, which operation.
//
//    63                                            4 3        0
//   +-----------------------------------------------+----------+
//   |  Sess*  (alignas(16): low 4 bits free; 0: none) |    op    |
//   +-----------------------------------------------+----------+
//
//   op             Sess?  the operation                            handler
//   op_accept      -      ACCEPT on the server's listener          on_accept
//   op_pause       -      TIMEOUT: out of descriptors, 100 ms      (re-arms op_accept)
//   op_stop        -      POLL_ADD on the stop eventfd             on_stop
//   op_ignore      -      ASYNC_CANCEL, TIMEOUT update: their own  (none: the target's CQE
//                         result                                    tells)
//   op_ctl_recv    yes    RECV on the control connection           on_ctl_recv
//   op_ctl_send    yes    SEND replies                             on_ctl_send
//   op_ctl_urgent  yes    POLL_ADD(POLLPRI): urgent data           on_urgent
//   op_timer       yes    TIMEOUT (absolute): earliest deadline    on_timer
//   op_fs          yes    one step of an FsRequest                 on_fs
//   op_pasv        yes    ACCEPT on the passive listener           on_pasv
//   op_connect     yes    CONNECT (PORT/EPRT)                      on_connect
//   op_data_send   yes    SEND (or SPLICE pipe -> data connection)  on_data_send
//   op_data_recv   yes    RECV on the data connection              on_data_recv
//   op_file_read   yes    READ (or SPLICE file -> pipe), at offset  on_file_read
//   op_file_write  yes    WRITE to the file, at the offset         on_file_write
//
// A session has at most one of each op in flight (a bit each in `armed`), so
// its user_data is unique, cancellable by value, and the session is freed
// when `armed` is empty.
//
// KERNEL. Linux 5.15 for MKDIRAT; the probe is checked at start and a missing
// operation is one line and exit 1, as the echo io_uring servers do.
//
// WHY MORE THAN 250 LINES. The reactor's story plus ownership: every
// operation has a submission, a completion handler and a cancellation, and
// a filesystem request is a chain of them. Splitting it would hide that it
// is all one loop. The protocol is in ftp/, unchanged.
//
// TRY IN CLASS.
//   ./uring_ftp_server --root /tmp/ftp --user alice:secret --trace   # every SQE and CQE
//   curl -o /dev/null ftp://alice:secret@127.0.0.1:2122/big        # READ, SEND, READ, SEND...
//   scripts/lab-disk-stall.sh    # both servers, cold files: whose control session stalls?

#include "async/uring_setup.hpp"
#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "ftp/ascii.hpp"
#include "ftp/data_address.hpp"
#include "ftp/fs.hpp"
#include "ftp/server_setup.hpp"
#include "ftp/session.hpp"

#include <fcntl.h>
#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <variant>
#include <vector>

namespace {

namespace ftp = iom::ftp;
using ftp::FsOp;
using ftp::TransferStatus;

enum Op : std::uint64_t {
    op_accept = 1, op_pause, op_stop, op_ignore, op_ctl_recv, op_ctl_send, op_ctl_urgent, op_timer, op_fs,
    op_pasv, op_connect, op_data_send, op_data_recv, op_file_read, op_file_write,
};
constexpr const char* op_names[] = {"", "accept", "pause", "stop", "ignore", "control recv", "control send",
                                     "urgent poll", "timer", "fs", "passive accept", "connect", "data send",
                                     "data recv", "file read", "file write"};
constexpr unsigned bit(Op op) { return 1u << op; }
// The operations of a transfer: ABOR cancels these.
constexpr unsigned transfer_ops =
    bit(op_connect) | bit(op_data_send) | bit(op_data_recv) | bit(op_file_read) | bit(op_file_write);

// Time: CLOCK_MONOTONIC in ns (io_uring's timeouts count on the same clock), read once per batch.
constexpr std::int64_t never = INT64_MAX, ms = 1'000'000;
std::int64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
std::int64_t plus_seconds(std::int64_t t, double seconds) {  // a limit of 0 is off
    return seconds > 0 ? t + static_cast<std::int64_t>(seconds * 1e9) : never;
}

struct Server;

// A transfer in flight: one data connection, one file, and one buffer or,
// for a spliced download, one pipe.
struct Xfer {
    ftp::TransferRequest req;
    iom::Fd data;
    bool waiting = true;                   // no data connection yet (accept or connect to come)
    std::optional<TransferStatus> ending;  // decided; reported once its operations are all back
    std::unique_ptr<char[]> buf;           // two halves; a half is the kernel's while an SQE names it
    struct Half {
        char* base = nullptr;
        std::size_t head = 0, tail = 0;    // base[head, tail): filled, not yet drained
    } half[2];
    unsigned fill = 0, drain = 0;          // the half the next fill goes into; the next drain comes from
    iom::Fd pipe_r, pipe_w;                // a spliced download: file -> pipe_w, pipe_r -> data
    std::size_t in_pipe = 0, pipe_cap = 0; // bytes spliced in and not yet out; the pipe's size
    bool eof = false;                      // the file (download) or the data connection (upload) has ended
    std::uint64_t offset, bytes = 0, accepted = 0;  // offset: of the next file op; accepted: for the file
    int error = 0;
    ftp::AsciiEncoder encoder;
    ftp::AsciiDecoder decoder;
    std::int64_t connect_by, last_progress = 0, refill_at = 0;
    std::uint64_t budget = ~std::uint64_t{0};  // --rate-limit: bytes left in this window
    bool throttled = false;                    // the next send/recv waits for refill_at
};

struct alignas(16) Sess {
    Sess(Server& s, int fd);
    void drive();
    void perform(ftp::FsRequest& r);
    void perform(ftp::PassiveRequest& r);
    void perform(ftp::TransferRequest& r);
    void perform(ftp::AbortRequest&);
    void perform(ftp::DelayRequest& r);
    void perform(ftp::CloseRequest&) {}  // session.closed(): drive() ends the session

    io_uring_sqe* submit(Op op);
    bool is(Op op) const { return armed & bit(op); }
    void cancel(Op op);
    void cancel_all(unsigned ops);
    void completed(Op op, int res);
    void on_ctl_recv(int res);
    void on_ctl_send(int res);
    void on_urgent(int res);
    void on_fs(int res);
    void on_timer();
    void arm_timer();
    std::int64_t deadline() const;
    void fs_step(int res);
    io_uring_sqe* fs_sqe(const char* what);
    void fs_open(int dirfd, const std::string& path, int flags, mode_t mode);
    void fs_parent(const std::string& path);
    void fs_done(int error);
    void open_passive(const ftp::PassiveRequest& r);
    void retire_listener();
    void on_pasv(int res);
    void begin();
    bool splice_pipe(Xfer& t);
    void pump();
    void pump_pipe();
    bool held(std::size_t& most);
    void moved(std::size_t n);
    void filled(std::size_t n);
    void drained(std::size_t n);
    void on_connect(int res);
    void on_file_read(int res);
    void on_file_write(int res);
    void on_data_send(int res);
    void on_data_recv(int res);
    void data_failed(int res);
    void end(TransferStatus s, int error = 0);

    Server& srv;
    iom::Fd ctl;
    ftp::Session session;
    unsigned armed = 0, cancelled = 0;  // bit(op): in flight (freed when none is); a cancel for it submitted
    bool closing = false, peer_gone = false, urgent_seen = false;
    std::int64_t started, last_command, delay_until = never, close_by = never, timer_at = never;
    __kernel_timespec timer_ts{};
    char in[4096];             // RECV's buffer on the control connection
    std::string out, sending;  // replies to send; what the SEND in flight reads
    // the FsRequest in flight: its fields and what its steps opened
    ftp::FsRequest fs;
    ftp::FsResult fs_result;
    int fs_stage = 0;
    bool fs_opening = false;
    iom::Fd fs_dir1, fs_dir2;
    open_how how{};
    struct statx stx{};
    // the passive listener (one per session) and its connection
    iom::Fd listener, passive_data;
    bool listener_retired = false;  // close it when its ACCEPT comes back
    std::optional<ftp::PassiveRequest> pasv_next;  // waits for that
    iom::Address pasv_peer, from;
    std::unique_ptr<Xfer> x;
};

struct Server {
    explicit Server(ftp::Served& s) : served(s), cfg(s.cfg), k(s.k), site(s.site) {}
    ~Server() {
        if (ring_ok) io_uring_queue_exit(&ring);  // first: the kernel lets go of our memory
        for (Sess* s : sessions) delete s;
    }
    void setup();
    void run();
    io_uring_sqe* sqe(std::uint64_t user_data);
    void cancel(std::uint64_t target) { io_uring_prep_cancel64(sqe(op_ignore), target, 0); }
    void arm_accept();
    void on_accept(int res);
    void on_stop();
    void dispatch(std::uint64_t user_data, int res);
    void end_session(Sess& s);

    ftp::Served& served;  // users, root, registry, Site: ftp/server_setup.hpp
    const ftp::Config& cfg;
    iom::Counters& k;
    const ftp::Site& site;
    iom::ReserveFd reserve;
    io_uring ring{};
    bool ring_ok = false, accept_armed = false, paused = false, stopping = false;
    __kernel_timespec pause_for{0, 100 * ms};
    iom::Fd listener;
    std::unordered_set<Sess*> sessions;
    std::int64_t now = monotonic_ns();
};

std::uint64_t ud(Sess* s, Op op) { return reinterpret_cast<std::uintptr_t>(s) | op; }

// ---- submitting -------------------------------------------------------------------

io_uring_sqe* Server::sqe(std::uint64_t user_data) {
    io_uring_sqe* s;
    while (!(s = io_uring_get_sqe(&ring))) {  // the submission ring is full: hand it over first
        int n = io_uring_submit(&ring);
        k.sqes += static_cast<unsigned>(std::max(n, 0));
    }
    io_uring_sqe_set_data64(s, user_data);
    return s;
}

io_uring_sqe* Sess::submit(Op op) {
    armed |= bit(op);
    return srv.sqe(ud(this, op));
}

void Sess::cancel(Op op) {
    if (!is(op) || (cancelled & bit(op))) return;
    iom::trace("fd {}: ASYNC_CANCEL of its {}", ctl.get(), op_names[op]);
    cancelled |= bit(op);
    srv.cancel(ud(this, op));
}

void Sess::cancel_all(unsigned ops) {
    for (unsigned op = op_ctl_recv; op <= op_file_write; ++op)
        if (ops & bit(static_cast<Op>(op))) cancel(static_cast<Op>(op));
}

// ---- the control connection -----------------------------------------------------------

Sess::Sess(Server& s, int fd)
    : srv(s), ctl(fd), session(s.site, iom::peer_address(fd), iom::local_address(fd)), started(s.now),
      last_command(s.now) {}

// After every completion: perform what the Session asks, send its replies,
// submit what to wait for next (a command, urgent data, the timer).
void Sess::drive() {
    if (!closing) {
        while (auto req = session.next_request()) std::visit([this](auto& r) { perform(r); }, *req);
        out += session.take_output();
        if (session.closed()) closing = true, close_by = srv.now + 5'000 * ms;  // time to send the last replies
    }
    if (!is(op_ctl_send) && !peer_gone && !srv.stopping) {
        if (sending.empty()) std::swap(sending, out);
        if (!sending.empty())
            io_uring_prep_send(submit(op_ctl_send), ctl.get(), sending.data(), sending.size(), MSG_NOSIGNAL);
    }
    if (closing) {  // cancel all but the last replies' SEND (until close_by); freed at the last CQE
        bool flushing = is(op_ctl_send) && !srv.stopping && srv.now < close_by;
        cancel_all(flushing ? ~bit(op_ctl_send) & ~bit(op_timer) : ~0u);
        if (flushing) arm_timer();
        if (armed == 0) srv.end_session(*this);  // deletes this
        return;
    }
    // Bounded memory: no more commands while the client leaves its replies unread.
    constexpr std::size_t most_unsent = 16 << 10;
    bool read = session.wants_input() && out.size() + sending.size() < most_unsent && !peer_gone;
    if (read && !is(op_ctl_recv)) io_uring_prep_recv(submit(op_ctl_recv), ctl.get(), in, sizeof in, 0);
    if (!peer_gone && !urgent_seen && !is(op_ctl_urgent))
        io_uring_prep_poll_add(submit(op_ctl_urgent), ctl.get(), POLLPRI);
    arm_timer();
}

void Sess::on_ctl_recv(int res) {
    ++srv.k.recv_calls;
    urgent_seen = false;  // past the urgent byte (or about to be): watch for the next
    if (res > 0) {
        srv.k.recv_bytes += static_cast<unsigned>(res);
        last_command = srv.now;
        iom::trace("cqe recv(fd {}) -> {} bytes of commands", ctl.get(), res);
        session.receive({in, static_cast<std::size_t>(res)});
    } else if (res != -ECANCELED && !peer_gone) {
        iom::trace("cqe recv(fd {}) -> {}: the client is gone", ctl.get(), res == 0 ? "EOF" : std::strerror(-res));
        if (res < 0) ++srv.k.resets;
        peer_gone = true;
        session.peer_closed();
    }
}

// POLLPRI: the client's Telnet Synch (ftplib's ABOR), before the line is read.
void Sess::on_urgent(int res) {
    urgent_seen = true;  // watched again after the next RECV (a hang-up also ends a poll: no spin)
    if (res > 0 && (res & POLLPRI)) {
        iom::trace("fd {}: POLLPRI: urgent data, an ABOR on its way", ctl.get());
        session.urgent();
    }
}

void Sess::on_ctl_send(int res) {
    ++srv.k.send_calls;
    if (res > 0) {  // maybe short: the rest goes next, before `out`
        srv.k.send_bytes += static_cast<unsigned>(res);
        sending.erase(0, static_cast<std::size_t>(res));
        return;
    }
    sending.clear(), out.clear();
    if (res == -ECANCELED || peer_gone) return;
    ++srv.k.resets;
    peer_gone = true;
    session.peer_closed();
}

// ---- the one timer of a session ------------------------------------------------------

std::int64_t Sess::deadline() const {
    if (closing) return close_by;
    const ftp::Limits& l = srv.cfg.limits;
    std::int64_t at = delay_until;
    if (!session.logged_in()) at = std::min(at, plus_seconds(started, l.login_timeout));
    else if (!session.transferring()) at = std::min(at, plus_seconds(last_command, l.idle_timeout));
    if (x && !x->ending)
        at = std::min(at, x->throttled ? x->refill_at
                          : x->waiting ? x->connect_by
                                       : plus_seconds(x->last_progress, l.stall_timeout));
    return at;
}

// One absolute TIMEOUT at the earliest deadline. Later deadlines leave it be
// (it completes early and is armed again); an earlier one updates it.
void Sess::arm_timer() {
    std::int64_t at = deadline();
    if (at == never || (is(op_timer) && at >= timer_at)) return;
    timer_ts = {.tv_sec = at / 1'000'000'000, .tv_nsec = at % 1'000'000'000};
    if (is(op_timer))  // the kernel reads timer_ts when it takes the SQE
        io_uring_prep_timeout_update(srv.sqe(op_ignore), &timer_ts, ud(this, op_timer), IORING_TIMEOUT_ABS);
    else
        io_uring_prep_timeout(submit(op_timer), &timer_ts, 0, IORING_TIMEOUT_ABS);
    timer_at = at;
}

void Sess::on_timer() {
    timer_at = never;
    const std::int64_t now = srv.now;
    if (delay_until <= now) {
        delay_until = never;
        session.complete(ftp::Delayed{});
    } else if (!x && deadline() <= now) {
        iom::trace("fd {}: {} time is up", ctl.get(), session.logged_in() ? "idle" : "login");
        ++srv.k.idle_timeouts;
        session.timed_out(session.logged_in() ? ftp::Timeout::idle : ftp::Timeout::login);
    }
    if (!x || x->ending) return;
    if (x->throttled && now >= x->refill_at) {  // a new window: the held send (or recv) goes now
        x->throttled = false;
        x->last_progress = now;
        pump();
    } else if (!x->throttled && deadline() <= now) {
        iom::trace("fd {}: {}", ctl.get(), x->waiting ? "no data connection in time" : "transfer stalled");
        ++srv.k.transfer_timeouts;
        end(x->waiting ? TransferStatus::connect_failed : TransferStatus::stalled);
    }
}

// ---- filesystem requests: chains of SQEs --------------------------------------------

void Sess::perform(ftp::FsRequest& r) {
    if (r.op == FsOp::list) {  // no getdents in io_uring: the one call that runs on the loop
        iom::trace("fd {}: list \"{}\": synchronous (io_uring has no getdents); the loop waits", ctl.get(), r.path);
        ++srv.k.fs_calls;
        return session.complete(ftp::execute(r));
    }
    bool named = r.op != FsOp::stat && r.op != FsOp::open;
    if ((named && !ftp::one_component(r.name)) || (r.op == FsOp::rename && !ftp::one_component(r.name2)))
        return session.complete(ftp::FsResult{.error = EINVAL});
    fs = std::move(r);
    fs_result = {};
    fs_stage = 0;
    fs_step(0);
}

// The next SQE of the FsRequest's chain, `what` for --trace.
io_uring_sqe* Sess::fs_sqe(const char* what) {
    static constexpr const char* names[] = {"open_home", "stat", "open", "create", "mkdir", "rmdir", "unlink",
                                            "rename", "list"};
    iom::trace("fd {}: {} \"{}\" \"{}\": {} submitted, the loop goes on", ctl.get(), names[static_cast<int>(fs.op)],
               fs.path, fs.name, what);
    return submit(op_fs);
}

void Sess::fs_open(int dirfd, const std::string& path, int flags, mode_t mode) {
    how = ftp::make_open_how(flags, mode);  // RESOLVE_IN_ROOT: the kernel keeps the path inside dirfd
    io_uring_prep_openat2(fs_sqe("OPENAT2"), dirfd, path.c_str(), &how);
    fs_opening = true;
}

// The directory a name is in: an OPENAT2 SQE, or (empty path) dirfd itself at once.
void Sess::fs_parent(const std::string& path) {
    if (path.empty()) return fs_step(-1);
    fs_open(fs.dirfd, path, O_PATH | O_DIRECTORY, 0);
}
void keep(int res, iom::Fd& into) {
    if (res >= 0) into.reset(res);
}
int dir_of(const iom::Fd& parent, int dirfd) { return parent ? parent.get() : dirfd; }

// Stage by stage: `res` is the last SQE's result (-1 after an empty parent).
// The names of requests.hpp's table, one SQE each.
void Sess::fs_step(int res) {
    const int stage = fs_stage++;
    const char* name = fs.name.c_str();
    fs_opening = false;
    switch (fs.op) {
    case FsOp::open_home:  // MKDIRAT, OPENAT2
        if (stage == 0) return io_uring_prep_mkdirat(fs_sqe("MKDIRAT"), fs.dirfd, name, 0755);
        if (stage == 1) return fs_open(fs.dirfd, fs.name, O_PATH | O_DIRECTORY, 0);
        fs_result.fd.reset(res);
        return fs_done(0);
    case FsOp::stat:  // OPENAT2, STATX
    case FsOp::open:
        if (stage == 0) return fs_open(fs.dirfd, fs.path, fs.op == FsOp::open ? fs.flags : O_PATH, fs.mode);
        if (stage == 1) {
            fs_result.fd.reset(res);
            return io_uring_prep_statx(fs_sqe("STATX"), res, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx);
        }
        fs_result.stat = ftp::entry_from_statx(stx, ftp::last_component(fs.path));
        if (fs.op == FsOp::stat) fs_result.fd.reset();
        return fs_done(0);
    case FsOp::create:  // OPENAT2 of the parent, OPENAT of the name
        if (stage == 0) return fs_parent(fs.path);
        if (stage == 1) {
            keep(res, fs_dir1);
            io_uring_prep_openat(fs_sqe("OPENAT"), dir_of(fs_dir1, fs.dirfd), name, fs.flags | O_CLOEXEC, fs.mode);
            fs_opening = true;
            return;
        }
        fs_result.fd.reset(res);
        fs_result.dir = fs_dir1 ? std::move(fs_dir1) : iom::Fd(fcntl(fs.dirfd, F_DUPFD_CLOEXEC, 0));
        return fs_done(0);
    case FsOp::mkdir:  // OPENAT2 of the parent, MKDIRAT or UNLINKAT
    case FsOp::rmdir:
    case FsOp::unlink:
        if (stage == 0) return fs_parent(fs.path);
        if (stage == 1) {
            keep(res, fs_dir1);
            int dir = dir_of(fs_dir1, fs.dirfd);
            if (fs.op == FsOp::mkdir) return io_uring_prep_mkdirat(fs_sqe("MKDIRAT"), dir, name, fs.mode);
            return io_uring_prep_unlinkat(fs_sqe("UNLINKAT"), dir, name, fs.op == FsOp::rmdir ? AT_REMOVEDIR : 0);
        }
        return fs_done(0);
    case FsOp::rename:  // OPENAT2 of both parents, RENAMEAT
        if (stage == 0) return fs_parent(fs.path);
        if (stage == 1) {
            keep(res, fs_dir1);
            return fs_parent(fs.path2);
        }
        if (stage == 2) {
            keep(res, fs_dir2);
            return io_uring_prep_renameat(fs_sqe("RENAMEAT"), dir_of(fs_dir1, fs.dirfd), name,
                                          dir_of(fs_dir2, fs.dirfd), fs.name2.c_str(), 0);
        }
        return fs_done(0);
    case FsOp::list:
        break;
    }
}

void Sess::on_fs(int res) {
    bool exists_is_fine = fs.op == FsOp::open_home && fs_stage == 1 && res == -EEXIST;  // the home is there
    if (res < 0 && !exists_is_fine) return fs_done(-res);
    fs_step(res);
}

void Sess::fs_done(int error) {
    ftp::FsResult r = std::move(fs_result);
    r.error = error;
    if (error) r.fd.reset(), r.dir.reset();  // a failure hands back nothing
    fs_dir1.reset(), fs_dir2.reset();
    session.complete(std::move(r));
}

// ---- the passive listener ---------------------------------------------------------------

// One listener per session: a new PASV first waits for the old one's ACCEPT to come back.
void Sess::perform(ftp::PassiveRequest& r) {
    passive_data.reset();
    if (is(op_pasv)) {
        retire_listener();
        pasv_next = r;
        return;
    }
    open_passive(r);
}

void Sess::open_passive(const ftp::PassiveRequest& r) {
    listener.reset();
    try {
        listener = iom::listen_tcp(r.local, 8, /*nonblocking=*/true);  // non-blocking: for ReserveFd::shed
    } catch (const std::system_error& e) {
        iom::trace("fd {}: passive listener: {}", ctl.get(), e.what());
        return session.complete(ftp::PassiveResult{.error = e.code().value()});
    }
    pasv_peer = r.peer;
    from.len = sizeof from.storage;
    io_uring_prep_accept(submit(op_pasv), listener.get(), from.sa(), &from.len, SOCK_CLOEXEC);
    auto port = iom::local_address(listener.get()).port();
    iom::trace("fd {}: passive listener fd {} on port {}: ACCEPT submitted", ctl.get(), listener.get(), port);
    session.complete(ftp::PassiveResult{.port = port});
}

void Sess::retire_listener() {
    if (is(op_pasv)) listener_retired = true, cancel(op_pasv);
    else listener.reset();
}

void Sess::on_pasv(int res) {
    iom::Fd conn(res >= 0 ? res : -1);
    if (res >= 0) ++srv.k.accepts;
    if (listener_retired) {  // cancelled (or raced in): the listener goes, its connection too
        listener_retired = false, listener.reset();
        if (pasv_next) open_passive(*std::exchange(pasv_next, std::nullopt));
        return;
    }
    bool stranger = res >= 0 && !ftp::same_host(from, pasv_peer);
    if (stranger || res == -ECONNABORTED || res == -EINTR) {  // a stranger is closed unserved; the wait goes on
        iom::trace("cqe accept(fd {}) -> {}: {}", listener.get(), res,
                   stranger ? "not the client's host, closed" : "again");
        srv.k.data_strangers += stranger;
        from.len = sizeof from.storage;
        io_uring_prep_accept(submit(op_pasv), listener.get(), from.sa(), &from.len, SOCK_CLOEXEC);
        return;
    }
    if (res < 0) {  // out of descriptors: shed the waiting one; no data connection for this PASV
        ++srv.k.accept_errors;
        if (res == -EMFILE || res == -ENFILE) srv.reserve.shed(listener.get());
        listener.reset();
        if (x && x->waiting) end(TransferStatus::connect_failed, -res);
        return;
    }
    iom::trace("cqe accept(fd {}) -> data connection fd {}", listener.get(), res);
    listener.reset();  // it served its one connection
    passive_data = std::move(conn);
    if (x && x->waiting && !x->ending) x->data = std::move(passive_data), begin();
}

// ---- transfers -----------------------------------------------------------------------------

void Sess::perform(ftp::TransferRequest& r) {
    ++srv.k.ftp_transfers;
    auto connect_by = plus_seconds(srv.now, srv.cfg.limits.passive_timeout);
    x = std::make_unique<Xfer>(Xfer{.req = std::move(r), .connect_by = connect_by});
    x->offset = x->req.offset;
    // The core opens with O_NONBLOCK (a FIFO must not hang the open). On a
    // filesystem that cannot read without waiting, io_uring would then answer
    // a READ with EAGAIN instead of waiting for the disk itself: drop the flag.
    if (int fl = x->req.file ? fcntl(x->req.file.get(), F_GETFL) : -1; fl >= 0 && (fl & O_NONBLOCK))
        fcntl(x->req.file.get(), F_SETFL, fl & ~O_NONBLOCK);
    if (x->req.passive) {
        if (passive_data) x->data = std::move(passive_data), begin();
        else if (!is(op_pasv) || listener_retired) end(TransferStatus::connect_failed);
        return;  // else on_pasv hands the connection over when it comes
    }
    retire_listener();  // PORT/EPRT: connect from the control connection's address
    passive_data.reset();
    x->data.reset(socket(x->req.peer.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!x->data || bind(x->data.get(), x->req.local.sa(), x->req.local.len) < 0)
        return end(TransferStatus::connect_failed, errno);
    iom::trace("fd {}: CONNECT to {} submitted", ctl.get(), x->req.peer.to_string());
    io_uring_prep_connect(submit(op_connect), x->data.get(), x->req.peer.sa(), x->req.peer.len);
}

// A download's pipe. Each splice is a hand-off to an io-wq worker, so the
// bigger the pipe, the fewer of them: ask for 1 MiB (the default
// /proc/sys/fs/pipe-max-size; more if --transfer-buffer is larger) and keep
// what the kernel grants (at least the 64 KiB every pipe has). It holds
// references to page-cache pages, not copies: no memory of this process.
// No descriptor for a pipe: the buffer path instead.
bool Sess::splice_pipe(Xfer& t) {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return false;
    t.pipe_r.reset(p[0]);
    t.pipe_w.reset(p[1]);
    const std::size_t want = std::max<std::size_t>(srv.cfg.limits.transfer_buffer, 1 << 20);
    int size = fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(want));
    if (size < 0) size = fcntl(p[1], F_GETPIPE_SZ);
    t.pipe_cap = size > 0 ? static_cast<std::size_t>(size) : std::size_t{64} << 10;
    return true;
}

void Sess::begin() {
    Xfer& t = *x;
    t.waiting = false;
    t.last_progress = srv.now;
    const std::size_t half = srv.cfg.limits.transfer_buffer / 2;
    const bool download = t.req.direction == ftp::Direction::send;
    if (t.req.file && download && !t.req.ascii && srv.cfg.sendfile && splice_pipe(t)) {
        iom::trace("fd {}: download by SPLICE through pipe {} -> {}", ctl.get(), t.pipe_w.get(), t.pipe_r.get());
    } else if (t.req.file) {
        t.buf = std::make_unique_for_overwrite<char[]>(2 * half);
        t.half[0].base = t.buf.get(), t.half[1].base = t.buf.get() + half;
    } else {  // a listing: the bytes are there, one half's worth
        t.half[0] = {t.req.data.data(), 0, t.req.data.size()};
        t.eof = true;
    }
    pump();
}

// --rate-limit: a new window when due; a spent budget holds the next send or
// recv until the timer ends the window. Else `most` shrinks to the budget.
bool Sess::held(std::size_t& most) {
    std::uint64_t rate = srv.cfg.limits.rate_limit;
    if (!rate) return false;
    if (srv.now >= x->refill_at) x->budget = std::max<std::uint64_t>(1, rate / 10), x->refill_at = srv.now + 100 * ms;
    if (x->budget == 0) {
        iom::trace("fd {}: rate budget spent: the next operation waits {} ms for the timer", ctl.get(),
                   (x->refill_at - srv.now) / ms);
        ++srv.k.rate_waits;
        return x->throttled = true;
    }
    most = static_cast<std::size_t>(std::min<std::uint64_t>(most, x->budget));
    return false;
}

void Sess::moved(std::size_t n) {
    x->bytes += n;
    x->last_progress = srv.now;
    x->budget -= std::min<std::uint64_t>(x->budget, n);
}

// The next steps of the transfer: a PIPELINE of two halves. One operation
// fills a half (a download: READ from the file; an upload: RECV) while
// another drains the other (SEND; WRITE), so the disk and the network work
// at the same time, each with one SQE in flight. Halves are filled and
// drained in turn, so the bytes keep their order.
void Sess::pump() {
    Xfer& t = *x;
    if (t.ending) {  // reported once everything it submitted is back: then the data socket closes
        if (armed & transfer_ops) return;
        ftp::TransferResult r{.status = *t.ending, .bytes = t.bytes, .error = t.error};
        iom::trace("fd {}: transfer over, {} bytes, status {}", ctl.get(), t.bytes, static_cast<int>(r.status));
        x.reset();
        retire_listener();
        last_command = srv.now;  // idleness counts from the end of the transfer
        return session.complete(r);
    }
    if (t.waiting || t.throttled) return;
    if (t.pipe_r) return pump_pipe();
    const bool download = t.req.direction == ftp::Direction::send;
    const Op fill_op = download ? op_file_read : op_data_recv, drain_op = download ? op_data_send : op_file_write;
    const std::size_t half = srv.cfg.limits.transfer_buffer / 2;
    Xfer::Half& d = t.half[t.drain];
    if (!is(drain_op) && d.head < d.tail) {
        std::size_t most = d.tail - d.head;
        if (!download) {  // WRITE at the offset (an O_APPEND file: at its end, whatever the offset)
            ++srv.k.file_writes;
            io_uring_prep_write(submit(op_file_write), t.req.file.get(), d.base + d.head, static_cast<unsigned>(most),
                                t.offset);
        } else if (!held(most)) {
            ++srv.k.send_calls;
            io_uring_prep_send(submit(op_data_send), t.data.get(), d.base + d.head, most, MSG_NOSIGNAL);
        }
    }
    Xfer::Half& f = t.half[t.fill];
    if (!is(fill_op) && !t.eof && f.head == f.tail && !t.throttled) {
        if (download) {  // READ the next piece (TYPE A: a third of the half, converted into its front)
            std::size_t want = t.req.ascii ? half / 3 : half;
            ++srv.k.file_reads;
            io_uring_prep_read(submit(op_file_read), t.req.file.get(), f.base + (half - want),
                               static_cast<unsigned>(want), t.offset);
        } else if (std::size_t most = t.req.ascii ? half / 2 - 1 : half; !held(most)) {
            ++srv.k.recv_calls;  // TYPE A: into the second part of the half, converted into its front
            io_uring_prep_recv(submit(op_data_recv), t.data.get(), t.req.ascii ? f.base + half / 2 : f.base, most, 0);
        }
    }
    bool empty = t.half[0].head == t.half[0].tail && t.half[1].head == t.half[1].tail;
    if (t.eof && empty && !(armed & transfer_ops)) end(TransferStatus::done);
}

// The same pipeline for a spliced download, with the pipe as the buffer:
// one SPLICE fills it from the file, half a pipe at a time, while the other
// drains what it holds into the data socket.
void Sess::pump_pipe() {
    Xfer& t = *x;
    if (std::size_t most = t.in_pipe; !is(op_data_send) && most > 0 && !held(most)) {
        ++srv.k.sendfile_calls;
        io_uring_prep_splice(submit(op_data_send), t.pipe_r.get(), -1, t.data.get(), -1,
                             static_cast<unsigned>(most), 0);
    }
    const std::size_t chunk = t.pipe_cap / 2;
    if (!is(op_file_read) && !t.eof && t.pipe_cap - t.in_pipe >= chunk && !t.throttled) {
        ++srv.k.file_reads;
        io_uring_prep_splice(submit(op_file_read), t.req.file.get(), static_cast<std::int64_t>(t.offset),
                             t.pipe_w.get(), -1, static_cast<unsigned>(chunk), 0);
    }
    if (t.eof && t.in_pipe == 0 && !(armed & transfer_ops)) end(TransferStatus::done);
}

// A fill completed into t.half[t.fill]: `n` bytes there now; the next fill takes the other half.
void Sess::filled(std::size_t n) {
    Xfer& t = *x;
    t.half[t.fill].head = 0, t.half[t.fill].tail = n;
    if (n > 0) t.fill ^= 1;
}

// A drain completed: `n` bytes of t.half[t.drain] are gone; emptied, the next drain takes the other.
void Sess::drained(std::size_t n) {
    Xfer::Half& d = x->half[x->drain];
    d.head += n;
    if (d.head == d.tail) d.head = d.tail = 0, x->drain ^= 1;
}

// The completions of a transfer, one handler each. None runs once the
// transfer is ending: completed() hands those CQEs to pump().
void Sess::on_connect(int res) {
    if (res < 0) return end(TransferStatus::connect_failed, -res);
    begin();
}

void Sess::on_file_read(int res) {
    Xfer& t = *x;
    if (res < 0) return end(TransferStatus::file_error, -res);
    auto n = static_cast<std::size_t>(res);
    if (n == 0) t.eof = true;
    t.offset += n;
    srv.k.file_read_bytes += n;
    if (t.pipe_r) {  // spliced: the pages are in the pipe, nothing copied
        t.in_pipe += n;
        return pump();
    }
    srv.k.user_copy_bytes += n;
    const std::size_t half = srv.cfg.limits.transfer_buffer / 2, want = t.req.ascii ? half / 3 : half;
    char* base = t.half[t.fill].base;  // TYPE A: LF becomes CRLF, into the front of the half
    filled(t.req.ascii ? t.encoder.convert(base + (half - want), n, base) : n);
    pump();
}

void Sess::on_file_write(int res) {
    if (res < 0) {
        bool full = res == -ENOSPC || res == -EDQUOT;
        return end(full ? TransferStatus::no_space : TransferStatus::file_error, -res);
    }
    auto n = static_cast<std::size_t>(res);  // maybe short: pump() writes the rest
    srv.k.file_write_bytes += n;
    srv.k.user_copy_bytes += n;
    x->offset += n;
    drained(n);
    pump();
}

// A send or recv on the data connection failed: the transfer is lost.
void Sess::data_failed(int res) {
    iom::trace("fd {}: data connection: {}", ctl.get(), std::strerror(-res));
    ++srv.k.resets;
    end(TransferStatus::connection_lost, -res);
}

void Sess::on_data_send(int res) {
    if (res < 0) return data_failed(res);
    auto n = static_cast<std::size_t>(res);
    moved(n);
    srv.k.send_bytes += n;
    if (x->pipe_r) x->in_pipe -= n;
    else drained(n);
    pump();
}

void Sess::on_data_recv(int res) {
    if (res < 0) return data_failed(res);
    Xfer& t = *x;
    auto n = static_cast<std::size_t>(res);
    moved(n);
    srv.k.recv_bytes += n;
    const std::size_t half = srv.cfg.limits.transfer_buffer / 2;
    char* base = t.half[t.fill].base;
    std::size_t len;
    if (n == 0) {  // the client closed the data connection: the file is whole
        t.eof = true;
        len = t.req.ascii ? t.decoder.finish(base) : 0;
    } else {  // TYPE A: CRLF becomes LF, from the second part of the half into its front
        len = t.req.ascii ? t.decoder.convert(base + half / 2, n, base) : n;
    }
    if ((t.accepted += len) > t.req.max_bytes) return end(TransferStatus::too_large);
    filled(len);
    pump();
}

// Decide how the transfer ends; cancel what it has in flight; pump() reports
// once the last of it is back.
void Sess::end(TransferStatus s, int error) {
    if (x->ending) return;
    x->ending = s;
    x->error = error;
    cancel_all(armed & transfer_ops);
    pump();
}

void Sess::perform(ftp::AbortRequest&) {
    if (!x || x->ending) return;  // it ended first: its result answers the ABOR
    ++srv.k.ftp_aborts;
    iom::trace("fd {}: ABOR: cancel what the transfer has in flight", ctl.get());
    end(TransferStatus::aborted);
}

void Sess::perform(ftp::DelayRequest& r) { delay_until = srv.now + std::int64_t{r.ms} * ms; }

// ---- completions ---------------------------------------------------------------------------

// A CQE of this session: the op is no longer in flight; handle it (a closing
// session only sends its last replies and closes what a late ACCEPT or
// OPENAT brought), then drive.
void Sess::completed(Op op, int res) {
    armed &= ~bit(op), cancelled &= ~bit(op);
    if (op >= op_connect) iom::trace("fd {}: cqe {} -> {}", ctl.get(), op_names[op], res);
    if (closing) {
        if (op == op_ctl_send) on_ctl_send(res);  // the last replies
        if (res >= 0 && (op == op_pasv || (op == op_fs && fs_opening))) ::close(res);
        return drive();
    }
    if ((bit(op) & transfer_ops) && x->ending) return pump(), drive();  // whatever it did, the transfer is over
    switch (op) {
    case op_ctl_recv: on_ctl_recv(res); break;
    case op_ctl_send: on_ctl_send(res); break;
    case op_ctl_urgent: on_urgent(res); break;
    case op_timer: on_timer(); break;
    case op_fs: on_fs(res); break;
    case op_pasv: on_pasv(res); break;
    case op_connect: on_connect(res); break;
    case op_data_send: on_data_send(res); break;
    case op_data_recv: on_data_recv(res); break;
    case op_file_read: on_file_read(res); break;
    case op_file_write: on_file_write(res); break;
    default: break;  // the server's own ops never reach a session
    }
    drive();
}

void Server::dispatch(std::uint64_t user_data, int res) {
    auto* s = reinterpret_cast<Sess*>(user_data & ~std::uint64_t{15});
    auto op = static_cast<Op>(user_data & 15);
    switch (op) {
    case op_accept: return on_accept(res);
    case op_pause:
        paused = false;
        if (!stopping) arm_accept();
        return;
    case op_stop: return on_stop();
    case op_ignore: return;  // a cancel's or an update's own result: the target's CQE tells
    default: return s->completed(op, res);
    }
}

// ---- sessions come and go --------------------------------------------------------------------

void Server::arm_accept() {
    io_uring_prep_accept(sqe(op_accept), listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    accept_armed = true;
}

void Server::on_accept(int res) {
    accept_armed = false;
    if (res >= 0 && stopping) {
        ::close(res);
    } else if (res >= 0) {
        ++k.accepts;
        iom::trace("cqe accept -> control connection fd {} from {}", res, iom::PeerOf{res});
        Sess* s = *sessions.insert(new Sess(*this, res)).first;
        ftp::control_connection_opened(served, res, sessions.size());  // TCP_NODELAY, SO_OOBINLINE (ABOR)
        s->session.start();  // 220, or 421 past the session limits
        s->drive();
    } else if (res == -EMFILE || res == -ENFILE) {
        // An ACCEPT takes the descriptor before it looks for a connection:
        // re-armed now it fails now, forever. Shed the waiting clients, pause.
        ++k.accept_errors;
        iom::trace("cqe accept -> error {}: out of descriptors, shed the backlog, pause 100 ms", -res);
        while (reserve.shed(listener.get())) ++k.refused;
        io_uring_prep_timeout(sqe(op_pause), &pause_for, 0, 0);
        paused = true;
        return;
    } else if (res != -ECANCELED && res != -ECONNABORTED && res != -EINTR) {
        iom::throw_errno(-res, "accept (io_uring)");
    }
    if (!stopping) arm_accept();
}

// SIGTERM/SIGINT: stop accepting, cancel everything of every session, reap until quiet.
void Server::on_stop() {
    iom::trace("cqe poll(stop eventfd): stop, cancel {} sessions", sessions.size());
    stopping = true;
    if (accept_armed) cancel(op_accept);
    if (paused) cancel(op_pause);
    for (Sess* s : std::vector<Sess*>(sessions.begin(), sessions.end())) s->closing = true, s->drive();
}

void Server::end_session(Sess& s) {
    iom::trace("close session fd {}", s.ctl.get());
    ++k.closed;
    sessions.erase(&s);
    delete &s;
}

// The operations this server submits; a kernel without one gets one line and exit 1.
void require_operations(io_uring& ring) {
    static constexpr std::pair<int, const char*> needed[] = {
        {IORING_OP_ACCEPT, "ACCEPT"},   {IORING_OP_CONNECT, "CONNECT"},   {IORING_OP_RECV, "RECV"},
        {IORING_OP_SEND, "SEND"},       {IORING_OP_READ, "READ"},         {IORING_OP_WRITE, "WRITE"},
        {IORING_OP_OPENAT, "OPENAT"},   {IORING_OP_OPENAT2, "OPENAT2"},   {IORING_OP_STATX, "STATX"},
        {IORING_OP_MKDIRAT, "MKDIRAT"}, {IORING_OP_UNLINKAT, "UNLINKAT"}, {IORING_OP_RENAMEAT, "RENAMEAT"},
        {IORING_OP_TIMEOUT, "TIMEOUT"}, {IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE (update)"},
        {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}, {IORING_OP_POLL_ADD, "POLL_ADD"}, {IORING_OP_SPLICE, "SPLICE"}};
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    for (auto [op, name] : needed) {
        if (probe && io_uring_opcode_supported(probe, op)) continue;
        io_uring_free_probe(probe);
        throw std::runtime_error(fmt::format("io_uring has no {} operation on this kernel (Linux 5.15+ needed)", name));
    }
    io_uring_free_probe(probe);
}

void Server::setup() {
    io_uring_params p = iom::uring::init_ring(ring, 1024);
    ring_ok = true;
    require_operations(ring);
    iom::trace("io_uring: {} SQ / {} CQ entries, {}", p.sq_entries, p.cq_entries,
               p.flags ? "single issuer, deferred task work" : "plain setup");
    if (!cfg.sendfile) iom::trace("--no-sendfile: downloads go through the buffer (READ + SEND), not SPLICE");
    listener = iom::open_listener(cfg.server, /*nonblocking=*/true);  // non-blocking: for ReserveFd::shed
}

void Server::run() {
    io_uring_prep_poll_add(sqe(op_stop), iom::stop_fd(), POLLIN);  // a stop is one more completion
    arm_accept();
    iom::announce(listener);
    struct Done {
        std::uint64_t user_data;
        int res;
    };
    std::vector<Done> reaped(1024);
    while (!stopping || !sessions.empty() || accept_armed || paused) {
        iom::trace("io_uring_enter: submit {} SQEs, wait for a completion ({} sessions)", io_uring_sq_ready(&ring),
                   sessions.size());
        int n = io_uring_submit_and_wait(&ring, 1);  // the only place this process waits
        ++k.wait_calls;
        if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) iom::throw_errno(-n, "io_uring_enter");
        k.sqes += static_cast<unsigned>(std::max(n, 0));
        now = monotonic_ns();
        // Copy the batch out and free the completion ring first: handling submits.
        unsigned head, got = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            if (got == reaped.size()) break;
            reaped[got++] = {cqe->user_data, cqe->res};
        }
        io_uring_cq_advance(&ring, got);
        k.cqes += got;
        k.wait_ready += got;
        for (unsigned i = 0; i < got; ++i) dispatch(reaped[i].user_data, reaped[i].res);
    }
    iom::trace("stopped: every operation is back");
}

}  // namespace

int main(int argc, char** argv) {
    return ftp::run_server(argc, argv,
                           {"uring_ftp_server", 2122,
                            "uring_ftp_server: a multi-user FTP server on one io_uring. Every operation of every "
                            "session (accepts, commands, replies, data, file reads and writes, opens, renames, "
                            "timers) is a submission; the loop waits only for completions, so a slow disk stalls "
                            "only its own transfer."},
                           [](ftp::Served& served) {
                               Server server(served);
                               server.setup();
                               server.run();
                           });
}
