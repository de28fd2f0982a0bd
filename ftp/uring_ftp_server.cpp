// uring_ftp_server — the capstone on io_uring: the same FTP server as a proactor (port 2122)
//
// THE POINT. epoll_ftp_server waits for sockets and cannot wait for the
// disk: a regular file is always "ready", so its reads, writes, opens and
// renames run on the loop, and a page-cache miss stops every session. A
// proactor hands the kernel whole operations and is told when each is done,
// and to io_uring a file read is an operation like a socket receive. So here
// everything a session does is a submission (SQE) and its end a completion
// (CQE). The protocol is the same core (ftp/session.hpp), unchanged.
//
// WHERE IT WAITS. Only in io_uring_enter, for the next completion. Meanwhile
// the kernel accepts (the server's listener, each session's passive
// Listener), receives commands and sends replies on the Control connection,
// connects, moves a Transfer's bytes, reads and writes files (a cold read
// waits in the kernel, and the loop serves everyone else), opens, stats,
// makes, removes and renames (ftp/uring_fs.hpp: `list` alone runs on the
// loop, io_uring has no getdents), and counts down timers. A transfer's
// life (CONNECT, a pipeline of READ+SEND or RECV+WRITE, SPLICE for
// downloads, its end by cancellation) is in ftp/uring_transfer.hpp, the
// passive listener's in ftp/uring_listener.hpp.
//
// TIME IS A COMPLETION TOO. Each session has ONE timer: an absolute TIMEOUT
// for its earliest deadline (ftp/clock.hpp: login, idle, a failed login's
// delay, the passive connect, a stall, the rate window). A deadline that
// moves later leaves it be (it completes early and is armed again); one
// that moves earlier updates it in place. The kernel keeps the timers.
//
// OWNERSHIP. What is in flight belongs to the kernel: the buffer a READ
// fills, the socket a RECV waits on. ABOR submits an ASYNC_CANCEL for each
// operation of the transfer, and only once every one has completed is the
// data connection closed and 426 + 226 sent. A session ends the same way:
// all its operations cancelled, its memory freed at its last completion.
//
// FTPS. OpenSSL never touches a socket here: it works on memory buffers,
// the ring moves the ciphertext, and its wants become submissions (ftp/tls.hpp).
//
// LENGTH. The reactor's story plus ownership: every operation has a
// submission, a completion handler and a cancellation. Kernel: Linux 5.15
// (MKDIRAT); a missing operation is one line and exit 1.
//
// TRY IN CLASS.
//   ./uring_ftp_server --root /tmp/ftp --user alice:secret --trace   # every SQE and CQE
//   curl -o /dev/null ftp://alice:secret@127.0.0.1:2122/big         # SPLICE, SPLICE, ...
//   scripts/lab-disk-stall.sh    # both servers, cold files: whose control session stalls?

#include "async/uring_setup.hpp"
#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "ftp/clock.hpp"
#include "ftp/data_address.hpp"
#include "ftp/fs.hpp"
#include "ftp/server_setup.hpp"
#include "ftp/session.hpp"
#include "ftp/uring_fs.hpp"
#include "ftp/uring_listener.hpp"
#include "ftp/uring_transfer.hpp"

#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <optional>
#include <unordered_set>
#include <variant>
#include <vector>

namespace {

namespace ftp = iom::ftp;
using ftp::Nanos, ftp::never, ftp::ms, ftp::TransferStatus;
using Transfer = ftp::UringTransfer;  // the data connection: ftp/uring_transfer.hpp

// THE USER_DATA OF EVERY SQE: which session, which operation. A Control is
// aligned to 16 bytes, so the low 4 bits of its address hold the op.
//
//    63                                             4 3        0
//   +-------------------------------------------------+----------+
//   |  Control*  (0 for the server's own operations)  |    op    |
//   +-------------------------------------------------+----------+
//
//   op             Control?  the operation                       handler
//   op_accept      -         ACCEPT on the server's listener     Server::on_accept
//   op_pause       -         TIMEOUT: out of descriptors, 100 ms (accept again)
//   op_stop        -         POLL_ADD on the stop eventfd        Server::on_stop
//   op_ignore      -         ASYNC_CANCEL, TIMEOUT update        (none: the target's CQE tells)
//   op_ctl_recv    yes       RECV on the control connection      on_recv
//   op_ctl_send    yes       SEND replies                        on_send
//   op_ctl_urgent  yes       POLL_ADD(POLLPRI): urgent data      on_urgent
//   op_timer       yes       TIMEOUT (absolute): the deadline    on_time
//   op_fs          yes       one step of an FsRequest            UringFs::completed
//   op_pasv        yes       ACCEPT on the passive listener      UringListener::completed
//   op_connect     yes       CONNECT (PORT/EPRT)                 UringTransfer::completed
//   op_data_send   yes       SEND (or SPLICE pipe -> socket)     UringTransfer::completed
//   op_data_recv   yes       RECV on the data connection         UringTransfer::completed
//   op_file_read   yes       READ (or SPLICE file -> pipe)       UringTransfer::completed
//   op_file_write  yes       WRITE to the file                   UringTransfer::completed
//
// A session has at most one of each op in flight (a bit each in `armed`), so
// its user_data is unique and cancellable by value, and the session is
// freed when `armed` is empty.
enum Op : std::uint64_t {
    op_accept = 1, op_pause, op_stop, op_ignore, op_ctl_recv, op_ctl_send, op_ctl_urgent, op_timer, op_fs,
    op_pasv, op_connect, op_data_send, op_data_recv, op_file_read, op_file_write,
};
constexpr const char* op_names[] = {"", "accept", "pause", "stop", "ignore", "control recv", "control send",
                                     "urgent poll", "timer", "fs", "passive accept", "connect", "data send",
                                     "data recv", "file read", "file write"};
constexpr unsigned bit(Op op) { return 1u << op; }
constexpr Op op_of(Transfer::Op t) { return static_cast<Op>(op_connect + unsigned{t}); }  // the transfer's, in order
static_assert(op_of(Transfer::file_write) == op_file_write);

struct Server;
struct Control;

// A session's control connection: owns the Session, its passive listener
// and its transfer, and every operation they have in flight.
struct alignas(16) Control final : Transfer::Ring {
    Control(Server& s, int fd);
    void perform(ftp::FsRequest& r);  // one for each request of the core (ftp/requests.hpp)
    void perform(ftp::PassiveRequest& r);
    void perform(ftp::TransferRequest& r);
    void perform(ftp::AbortRequest&);
    void perform(ftp::DelayRequest& r);
    void perform(ftp::TlsRequest&);
    void perform(ftp::CloseRequest&);
    void drive();  // after every completion

    io_uring_sqe* submit(Op op);
    io_uring_sqe* submit(Transfer::Op op) override { return submit(op_of(op)); }
    bool in_flight(Transfer::Op op) const override { return is(op_of(op)); }
    void cancel(Transfer::Op op) override { cancel(op_of(op)); }
    bool is(Op op) const { return armed & bit(op); }
    void cancel(Op op);
    void cancel_all(unsigned ops);
    void completed(Op op, int res);
    void on_recv(int res);
    void on_send(int res);
    void on_urgent(int res);
    void gone(bool reset);
    Nanos deadline() const;
    void arm_timer();
    void on_time();
    void on_passive_accept(int res);
    void report_transfer();

    Server& server;
    iom::Fd sock;
    ftp::Session session;
    ftp::ControlClock clock;
    unsigned armed = 0, cancelled = 0;  // bit(op): in flight (freed when none is); a cancel for it submitted
    bool closing = false, peer_gone = false, urgent_seen = false;
    Nanos close_by = never, timer_at = never;
    __kernel_timespec timer_ts{};
    char in[4096];             // RECV's buffer on the control connection
    std::string out, sending;  // replies to send; what the SEND in flight reads
    ftp::UringFs fs;           // the FsRequest in flight: ftp/uring_fs.hpp
    ftp::UringListener listener;     // PASV/EPSV's: ftp/uring_listener.hpp
    iom::Fd passive_data;            // its connection, until the transfer that uses it
    std::unique_ptr<Transfer> transfer;
    std::unique_ptr<ftp::TlsBuffers> tls;  // after AUTH TLS: OpenSSL on buffers (ftp/tls.hpp)
};

struct Server {
    explicit Server(ftp::Served& s) : served(s), cfg(s.cfg), k(s.k) {}
    ~Server() {
        if (ring_ok) io_uring_queue_exit(&ring);  // first: the kernel lets go of our memory
        for (Control* c : sessions) delete c;
    }
    void setup();
    void run();  // setup(), then THE LOOP
    io_uring_sqe* sqe(std::uint64_t user_data) {
        io_uring_sqe* s = iom::uring::get_sqe(ring, k);  // a full ring is submitted first
        io_uring_sqe_set_data64(s, user_data);
        return s;
    }
    void cancel(std::uint64_t target) { io_uring_prep_cancel64(sqe(op_ignore), target, 0); }
    void arm_accept();
    void on_accept(int res);
    void on_stop();
    void dispatch(std::uint64_t user_data, int res);
    void end_session(Control& c);

    ftp::Served& served;  // users, root, registry, Site: ftp/server_setup.hpp
    const ftp::Config& cfg;
    iom::Counters& k;
    iom::ReserveFd reserve;
    io_uring ring{};
    bool ring_ok = false, accept_armed = false, paused = false, stopping = false;
    iom::Fd listener;
    std::unordered_set<Control*> sessions;
    Nanos now = ftp::monotonic_now();
};

std::uint64_t user_data(Control* c, Op op) { return reinterpret_cast<std::uintptr_t>(c) | op; }

io_uring_sqe* Control::submit(Op op) {
    armed |= bit(op);
    return server.sqe(user_data(this, op));
}

void Control::cancel(Op op) {
    if (!is(op) || (cancelled & bit(op))) return;
    iom::trace("fd {}: ASYNC_CANCEL of its {}", sock.get(), op_names[op]);
    cancelled |= bit(op);
    server.cancel(user_data(this, op));
}

void Control::cancel_all(unsigned ops) {
    for (unsigned op = op_ctl_recv; op <= op_file_write; ++op)
        if (ops & bit(static_cast<Op>(op))) cancel(static_cast<Op>(op));
}

// ---- the control connection -----------------------------------------------------------

Control::Control(Server& s, int fd)
    : server(s), sock(fd), session(s.served.site, iom::peer_address(fd), iom::local_address(fd)), clock(s.now),
      fs([this] { return submit(op_fs); }, fd),
      listener({[this] { return submit(op_pasv); }, [this] { cancel(op_pasv); }}, s.k, s.reserve, fd) {}

// After every completion: perform what the Session asks, send its replies,
// submit what to wait for next (a command, urgent data, the timer).
void Control::drive() {
    if (!closing) {
        while (auto req = session.next_request()) std::visit([this](auto& r) { perform(r); }, *req);
        out += session.take_output();
        if (session.closed()) {
            closing = true;
            close_by = server.now + 5'000 * ms;  // time to send the last replies
        }
    }
    if (!is(op_ctl_send) && !peer_gone && !server.stopping) {
        if (sending.empty()) sending = tls ? tls->seal(std::exchange(out, {})) : std::exchange(out, {});
        if (!sending.empty())
            io_uring_prep_send(submit(op_ctl_send), sock.get(), sending.data(), sending.size(), MSG_NOSIGNAL);
    }
    if (closing) {  // cancel all but the last replies' SEND (until close_by); freed at the last CQE
        bool flushing = is(op_ctl_send) && !server.stopping && server.now < close_by;
        cancel_all(flushing ? ~bit(op_ctl_send) & ~bit(op_timer) : ~0u);
        if (flushing) arm_timer();
        if (armed == 0) server.end_session(*this);  // deletes this
        return;
    }
    // Bounded memory: no more commands while the client leaves its replies unread.
    // During the TLS handshake the Session wants nothing, and OpenSSL the next flight.
    bool handshaking = tls && !tls->ready();
    bool read = (session.wants_input() || handshaking) && out.size() + sending.size() < ftp::max_unsent && !peer_gone;
    if (read && !is(op_ctl_recv)) io_uring_prep_recv(submit(op_ctl_recv), sock.get(), in, sizeof in, 0);
    if (!peer_gone && !urgent_seen && !is(op_ctl_urgent))
        io_uring_prep_poll_add(submit(op_ctl_urgent), sock.get(), POLLPRI);
    arm_timer();
}

void Control::on_recv(int res) {
    ++server.k.recv_calls;
    urgent_seen = false;  // past the urgent byte (or about to be): watch for the next
    if (res > 0) {
        server.k.recv_bytes += static_cast<unsigned>(res);
        clock.last_command = server.now;
        iom::trace("cqe recv(fd {}) -> {} bytes of commands", sock.get(), res);
        if (!tls) session.receive({in, static_cast<std::size_t>(res)});
        else if (!tls->control_received({in, static_cast<std::size_t>(res)}, session)) gone(false);  // its close_notify
    } else if (res != -ECANCELED) {
        iom::trace("cqe recv(fd {}) -> {}: the client is gone", sock.get(), res == 0 ? "EOF" : std::strerror(-res));
        gone(res < 0);
    }
}

// The client closed (EOF) or reset the connection: the Session is told once.
void Control::gone(bool reset) { ftp::control_peer_gone(session, peer_gone, server.k, reset); }

// POLLPRI: the client's Telnet Synch (ftplib's ABOR), before the line is read.
void Control::on_urgent(int res) {
    urgent_seen = true;  // watched again after the next RECV (a hang-up also ends a poll: no spin)
    if (res > 0 && (res & POLLPRI)) {
        iom::trace("fd {}: POLLPRI: urgent data, an ABOR on its way", sock.get());
        session.urgent();
    }
}

void Control::on_send(int res) {
    ++server.k.send_calls;
    if (res > 0) {  // maybe short: the rest goes next, before `out`
        server.k.send_bytes += static_cast<unsigned>(res);
        sending.erase(0, static_cast<std::size_t>(res));
        return;
    }
    sending.clear();
    out.clear();
    if (res != -ECANCELED) gone(true);
}

// ---- the one timer of a session ------------------------------------------------------

Nanos Control::deadline() const {
    if (closing) return close_by;
    Nanos at = clock.deadline(session, server.cfg.limits);
    return transfer ? std::min(at, transfer->deadline()) : at;
}

// One absolute TIMEOUT at the earliest deadline. Later deadlines leave it be
// (it completes early and is armed again); an earlier one updates it.
void Control::arm_timer() {
    Nanos at = deadline();
    if (at == never || (is(op_timer) && at >= timer_at)) return;
    timer_ts = {.tv_sec = at / 1'000'000'000, .tv_nsec = at % 1'000'000'000};
    if (is(op_timer))  // the kernel reads timer_ts when it takes the SQE
        io_uring_prep_timeout_update(server.sqe(op_ignore), &timer_ts, user_data(this, op_timer), IORING_TIMEOUT_ABS);
    else
        io_uring_prep_timeout(submit(op_timer), &timer_ts, 0, IORING_TIMEOUT_ABS);
    timer_at = at;
}

void Control::on_time() {
    timer_at = never;
    if (clock.delay_until <= server.now) {
        clock.delay_until = never;
        session.complete(ftp::Delayed{});
    } else if (!transfer && deadline() <= server.now) {
        iom::trace("fd {}: {} time is up", sock.get(), session.logged_in() ? "idle" : "login");
        ++server.k.idle_timeouts;
        session.timed_out(session.logged_in() ? ftp::Timeout::idle : ftp::Timeout::login);
    }
    if (transfer) transfer->on_time();
}

// ---- performing the Session's requests --------------------------------------------

void Control::perform(ftp::FsRequest& r) {
    if (r.op == ftp::FsOp::list) {  // no getdents in io_uring: the one call that runs on the loop
        iom::trace("fd {}: list \"{}\": synchronous (io_uring has no getdents); the loop waits", sock.get(), r.path);
        ++server.k.fs_calls;
        return session.complete(ftp::execute(r));
    }
    if (auto result = fs.start(std::move(r))) session.complete(std::move(*result));
}

// PASV/EPSV: one listener per session (a new one replaces the old).
void Control::perform(ftp::PassiveRequest& r) {
    passive_data.reset();
    if (auto reply = listener.open(r)) session.complete(*reply);
}

void Control::perform(ftp::TransferRequest& r) {
    ++server.k.ftp_transfers;
    transfer = std::make_unique<Transfer>(*this, std::move(r), server.now, server.cfg, server.k, sock.get(), tls.get());
    if (transfer->request().passive) {
        if (passive_data) transfer->begin(std::move(passive_data));
        else if (!listener.waiting()) transfer->end(TransferStatus::connect_failed);
        return report_transfer();  // else on_passive_accept hands the connection over when it comes
    }
    listener.retire();  // PORT/EPRT: connect from the control connection's address
    passive_data.reset();
    transfer->connect();
    report_transfer();
}

void Control::perform(ftp::DelayRequest& r) { clock.delay_until = server.now + Nanos{r.ms} * ms; }

// AUTH TLS: from now on the RECVs bring ciphertext for OpenSSL, and the SENDs
// take what it seals; the 234 still goes out in clear (TlsBuffers::seal).
void Control::perform(ftp::TlsRequest&) { tls = std::make_unique<ftp::TlsBuffers>(*server.served.tls, sock.get()); }

// The last request: drive() sees session.closed(), cancels what is in
// flight, and the session is freed at its last completion.
void Control::perform(ftp::CloseRequest&) {}

void Control::perform(ftp::AbortRequest&) {
    if (!transfer || transfer->ending()) return;  // it ended first: its result answers the ABOR
    ++server.k.ftp_aborts;
    iom::trace("fd {}: ABOR: cancel what the transfer has in flight", sock.get());
    transfer->end(TransferStatus::aborted);
    report_transfer();
}

// ---- the passive listener ---------------------------------------------------------------

void Control::on_passive_accept(int res) {
    auto [data, reply, error] = listener.completed(res);
    if (reply) session.complete(*reply);  // a PASV that waited for the old listener's ACCEPT
    bool wanted = transfer && transfer->connecting() && !transfer->ending();
    if (error && wanted) transfer->end(TransferStatus::connect_failed, error);
    else if (data && wanted) transfer->begin(std::move(data));
    else if (data) passive_data = std::move(data);  // until the transfer command comes
}

// ---- the data connection ------------------------------------------------------------

// After anything happened to the transfer: once it has ended and its last
// CQE is back (its data connection closed), the Session hears the result.
void Control::report_transfer() {
    auto result = transfer ? transfer->result() : std::nullopt;
    if (!result) return;
    ftp::TransferResult r = *result;
    iom::trace("fd {}: transfer over, {} bytes: {}", sock.get(), r.bytes, ftp::name_of(r.status));
    transfer.reset();
    listener.retire();
    clock.last_command = server.now;  // idleness counts from the end of the transfer
    session.complete(r);
}

// ---- completions ---------------------------------------------------------------------------

// A CQE of this session: the op is no longer in flight; handle it (a closing
// session only sends its last replies and closes what a late ACCEPT or
// OPENAT brought), then drive.
void Control::completed(Op op, int res) {
    armed &= ~bit(op);
    cancelled &= ~bit(op);
    if (op >= op_connect) iom::trace("fd {}: cqe {} -> {}", sock.get(), op_names[op], res);
    if (closing) {
        if (op == op_ctl_send) on_send(res);  // the last replies
        if (res >= 0 && (op == op_pasv || (op == op_fs && fs.opening()))) ::close(res);  // late arrivals
        return drive();
    }
    switch (op) {
    case op_ctl_recv: on_recv(res); break;
    case op_ctl_send: on_send(res); break;
    case op_ctl_urgent: on_urgent(res); break;
    case op_timer: on_time(); break;
    case op_fs:
        if (auto result = fs.completed(res)) session.complete(std::move(*result));
        break;
    case op_pasv: on_passive_accept(res); break;
    case op_connect: case op_data_send: case op_data_recv: case op_file_read: case op_file_write:
        transfer->completed(static_cast<Transfer::Op>(op - op_connect), res);
        session.transferred(transfer->bytes());  // what STAT tells during the transfer
        break;
    default: break;  // the server's own ops never reach a session
    }
    report_transfer();
    drive();
}

void Server::dispatch(std::uint64_t user_data, int res) {
    auto* c = reinterpret_cast<Control*>(user_data & ~std::uint64_t{15});
    auto op = static_cast<Op>(user_data & 15);
    switch (op) {
    case op_accept: return on_accept(res);
    case op_pause:
        paused = false;
        if (!stopping) arm_accept();
        return;
    case op_stop: return on_stop();
    case op_ignore: return;  // a cancel's or an update's own result: the target's CQE tells
    default: return c->completed(op, res);
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
        Control* c = *sessions.insert(new Control(*this, res)).first;
        ftp::control_connection_opened(served, res, sessions.size());  // TCP_NODELAY, SO_OOBINLINE (ABOR)
        c->session.start();  // 220, or 421 past the session limits
        c->drive();
    } else if (res == -EMFILE || res == -ENFILE) {
        iom::uring::shed_and_pause(ring, k, reserve, listener.get(), -res, op_pause);
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
    for (Control* c : std::vector<Control*>(sessions.begin(), sessions.end())) {
        c->closing = true;
        c->drive();
    }
}

void Server::end_session(Control& c) {
    iom::trace("close session fd {}", c.sock.get());
    ++k.closed;
    sessions.erase(&c);
    delete &c;
}

void Server::setup() {
    io_uring_params p = iom::uring::init_ring(ring, 1024);
    ring_ok = true;
    static constexpr std::pair<int, const char*> own[] = {
        {IORING_OP_ACCEPT, "ACCEPT"}, {IORING_OP_RECV, "RECV"}, {IORING_OP_SEND, "SEND"},
        {IORING_OP_TIMEOUT, "TIMEOUT"}, {IORING_OP_TIMEOUT_REMOVE, "TIMEOUT_REMOVE"},
        {IORING_OP_POLL_ADD, "POLL_ADD"}, {IORING_OP_ASYNC_CANCEL, "ASYNC_CANCEL"}};
    for (auto ops : {iom::uring::Operations(own), iom::uring::Operations(ftp::UringFs::operations),
                     iom::uring::Operations(Transfer::operations)})
        iom::uring::require_operations(ring, ops, "Linux 5.15+");
    iom::trace("io_uring: {} SQ / {} CQ entries, {}", p.sq_entries, p.cq_entries,
               p.flags ? "single issuer, deferred task work" : "plain setup");
    if (!cfg.sendfile) iom::trace("--no-sendfile: downloads go through the buffer (READ + SEND), not SPLICE");
    listener = iom::open_listener(cfg.server, /*nonblocking=*/true);  // non-blocking: for ReserveFd::shed
}

// THE LOOP: submit what is queued and wait for a completion in one
// io_uring_enter, copy the batch out, dispatch each by its user_data.
void Server::run() {
    setup();
    io_uring_prep_poll_add(sqe(op_stop), iom::stop_fd(), POLLIN);  // a stop is one more completion
    arm_accept();
    iom::announce(listener);
    std::vector<iom::uring::Reaped> reaped(1024);
    while (!stopping || !sessions.empty() || accept_armed || paused) {
        iom::trace("io_uring_enter: submit {} SQEs, wait for a completion ({} sessions)", io_uring_sq_ready(&ring),
                   sessions.size());
        int n = io_uring_submit_and_wait(&ring, 1);  // the only place this process waits
        ++k.wait_calls;
        if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) iom::throw_errno(-n, "io_uring_enter");
        k.sqes += static_cast<unsigned>(std::max(n, 0));
        now = ftp::monotonic_now();
        unsigned got = iom::uring::reap(ring, k, reaped);  // copied out: handling submits
        for (unsigned i = 0; i < got; ++i) dispatch(reaped[i].user_data, reaped[i].res);
    }
    iom::trace("stopped: every operation is back");
}

}  // namespace

int main(int argc, char** argv) {
    const char* about = "uring_ftp_server: a multi-user FTP server on one io_uring (a proactor). Every operation "
                        "is a submission, file reads and writes too: a slow disk stalls only its own transfer.";
    return ftp::run_server(argc, argv, {"uring_ftp_server", 2122, about}, [](ftp::Served& s) { Server(s).run(); });
}
