// epoll_ftp_server — the capstone: a multi-user FTP server on one epoll loop (port 2121)
//
// THE ASSIGNMENT. With I/O multiplexing, an FTP server where several users
// upload and download at once. This is epoll_server's reactor doing real
// work: one thread, one epoll instance, every socket non-blocking, and the
// FTP clients people already have (curl, lftp, Python's ftplib) as clients.
// The protocol (commands, replies, login, paths, listings) is the core in
// ftp/session.hpp: a Session that never touches a socket, a file or a clock.
// It emits requests; this file performs them and reports back.
//
// THE HANDLERS. Each session is up to three handlers in the same loop:
//   Control   its control connection: feeds the client's lines to the Session,
//             writes the replies, performs the Session's requests;
//   Listener  its passive listener (PASV/EPSV): one per session, it accepts
//             the one data connection (clients connect before RETR or STOR)
//             and closes;
//   Transfer  its data connection: moves one file or listing, then closes.
// Beside them, the server's listening socket and the stop eventfd.
//
// WHAT THE REACTOR WAITS FOR. Sockets: a control connection with a command
// (EPOLLIN) or urgent data (EPOLLPRI), or room for replies (EPOLLOUT); a
// passive listener with a connection in its backlog; a data connection
// with room to send or bytes to receive; an active data connection whose
// connect has finished (it becomes writable). And time: every timer of
// every session (login, idle, the failed-login delay, the passive connect,
// a stalled transfer, the rate limit's refill) is a deadline in one ordered
// list, epoll_wait's timeout is the time to the earliest, and after each
// wait the expired ones fire. One mechanism for all of them, and no
// descriptor per timer (a timerfd each would cost a descriptor, and a
// timerfd_settime call whenever a deadline moves).
//
// WHAT IT CANNOT WAIT FOR: THE DISK. A regular file is always "ready" as far
// as poll is concerned, so epoll_ctl refuses one outright (EPERM; --trace
// shows it at start). Every file operation is therefore an ordinary call
// that runs to its end on this one thread: open, stat, a directory listing
// (ftp/fs.hpp's synchronous executor), a read, a write. From the page cache
// they take microseconds. A read that misses the page cache waits for the
// disk, and while it waits the whole loop waits: every session, every
// transfer, every ABOR. That is the reactor's limit, and why
// uring_ftp_server submits its file reads to io_uring like its socket reads.
//
// DOWNLOADS: sendfile(2). In TYPE I a file goes out with sendfile(socket,
// file, &offset, n): the kernel hands page-cache pages to the socket without
// copying them into this process — no read, no user buffer, one call where a
// copy takes two. On a page-cache miss sendfile reads the disk inside the
// call, and the loop waits exactly as it would in read. --no-sendfile reads
// (pread) into the transfer's buffer and sends from it, so a class can
// compare: sendfile_calls against file_reads and user_copy_bytes. TYPE A
// must copy: its line ends are converted in user space (ftp/ascii.hpp).
//
// UPLOADS: recv into the transfer's buffer, pwrite to the file. splice(2)
// (socket -> pipe -> file) would skip the copy through user space, but it
// needs a pipe per transfer (two more descriptors), cannot convert TYPE A,
// and blocks the loop on the file just as a write does. A pwrite copies into
// the page cache; it waits for the disk only when the kernel throttles a
// writer that has dirtied too many pages.
//
// BACKPRESSURE, BOUNDED MEMORY, FAIRNESS. Each transfer has one buffer
// (--transfer-buffer) and moves at most one buffer's worth per turn (a
// sendfile at most 64 KiB), so twenty downloads share the loop. A file is read only once the socket has
// taken the bytes before it: a full data socket stops the file reads
// (sendfile is called only when the socket is writable). An upload goes to
// the file as it arrives: nothing piles up. A control connection whose
// client never reads stops being read once its unsent replies pass a few
// KiB, and whenever the Session stops wanting input (commands queued behind
// an operation). Level-triggered: the interest set follows what each
// handler can do next (epoll_ctl when it changes), so a handler that cannot
// act is not reported ready again and again.
//
// RATE LIMIT (--rate-limit BYTES/S per session; a session has one transfer
// at a time). A transfer may move a tenth of the rate per 100 ms window;
// once it has, its data socket leaves the interest set (EPOLL_CTL_DEL) and
// a timer puts it back at the next window. The client's TCP window fills
// meanwhile: backpressure across the network. On loopback this is what makes
// a progress bar visible.
//
// ABOR. ftplib sends ABOR as urgent (out-of-band) data; lftp after Telnet
// IAC IP/DM (the core strips those). With SO_OOBINLINE the urgent byte
// arrives in order with the rest, and epoll reports EPOLLPRI: the Session is
// told (urgent()) before the line is read. The control socket stays in the
// interest set during a transfer, so the ABOR is read in the same round as
// the data socket's readiness and the transfer stops at once: data socket
// closed, 426, then 226.
//
// PASSIVE CONNECTIONS. A passive listener accepts only from the control
// connection's peer: a connection from any other host is closed at once,
// unserved (counter data_strangers), and the wait goes on (PITFALLS.md).
// The client's connection is kept until its RETR, STOR or LIST comes.
//
// WHY MORE THAN 250 LINES. One loop, three kinds of handler per session,
// the timers, and two ways to move a file: they are one story, and splitting
// it would hide its point, that everything waits in one place. What is not
// the lesson (the protocol, paths, listings, users, limits) is in ftp/.
//
// TRY IN CLASS.
//   ./epoll_ftp_server --root /tmp/ftp --user alice:secret --trace
//   mkdir -p /tmp/ftp/alice; head -c 100M /dev/urandom > /tmp/ftp/alice/big   # alice's home
//   curl -o /dev/null ftp://alice:secret@127.0.0.1:2121/big   # EPSV, then RETR by sendfile
//   ./epoll_ftp_server --root /tmp/ftp --user alice:secret --rate-limit 2M   # the bars move
//   ./epoll_ftp_server ... --no-sendfile     # then compare the counters at exit

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
#include "nonblocking/connection.hpp"  // accept_next: accept until EAGAIN, shed on EMFILE

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <cstring>
#include <ctime>
#include <map>
#include <memory>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

namespace ftp = iom::ftp;
using ftp::TransferStatus;

// Time is CLOCK_MONOTONIC in nanoseconds, read once per round.
constexpr std::int64_t never = INT64_MAX;
constexpr std::int64_t ms = 1'000'000;
std::int64_t clock_now() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}
// `from` plus a limit in seconds; a limit of 0 is off: never.
std::int64_t after(std::int64_t from, double seconds) {
    return seconds > 0 && from != never ? from + static_cast<std::int64_t>(seconds * 1e9) : never;
}

struct Handler;
using Timers = std::multimap<std::int64_t, Handler*>;  // the deadline list: earliest first

// What epoll_event.data.ptr points at. A handler that is done is retired:
// its socket is closed at once (which also takes it out of the interest
// set), the object freed after the round, so that an event of the same
// round still pointing at it finds `retired` and is skipped.
struct Handler {
    iom::Fd sock;
    bool retired = false;
    std::uint32_t watched = 0;  // the events epoll watches for; 0: not in the interest set
    Timers::iterator timer;     // its place in the deadline list, when `armed`
    bool armed = false;

    virtual void handle(std::uint32_t events) = 0;
    virtual std::int64_t deadline() const { return never; }  // when on_time() is due
    virtual void on_time() {}
    virtual ~Handler() = default;
};

struct Server;
struct Control;

// The passive listener of one session: accepts one connection from `peer`'s host.
struct Listener final : Handler {
    Listener(Control& c, iom::Fd s, const iom::Address& from) : owner(c), peer(from) { sock = std::move(s); }
    void handle(std::uint32_t events) override;
    Control& owner;
    iom::Address peer;
};

// One data connection: opens (accepted or connected), moves the bytes, closes.
struct Transfer final : Handler {
    Transfer(Control& c, ftp::TransferRequest r);
    void handle(std::uint32_t events) override;
    std::int64_t deadline() const override;
    void on_time() override;

    bool connect();  // active (PORT/EPRT)
    void begin();    // the data connection is up
    std::optional<TransferStatus> turn();
    std::optional<TransferStatus> send_some(std::size_t most);
    std::optional<TransferStatus> receive_some(std::size_t most);
    std::optional<TransferStatus> socket_error(iom::Count& eagain);
    bool read_file();
    std::optional<TransferStatus> write_file(const char* p, std::size_t n);
    void moved(std::size_t n);
    void finish(TransferStatus s);

    Control& owner;
    Server& server;
    ftp::TransferRequest req;
    bool connecting = true;
    std::size_t cap;                  // --transfer-buffer
    std::unique_ptr<char[]> buf;      // only when bytes pass through user space
    std::size_t head = 0, tail = 0;   // buf[head, tail): read from the file, not yet sent (a listing: req.data)
    off_t offset;                     // in the file
    std::uint64_t bytes = 0, written = 0;  // on the data connection; into the file
    int error = 0;
    ftp::AsciiEncoder encoder;
    ftp::AsciiDecoder decoder;
    std::int64_t connect_by, last_progress = 0;
    std::uint64_t budget = ~std::uint64_t{0};  // --rate-limit: bytes left in this window
    std::int64_t refill_at = 0;
    bool throttled = false;           // out of the interest set until refill_at
};

// A session's control connection; owns the Session and the other two handlers.
struct Control final : Handler {
    Control(Server& s, iom::Fd fd);
    void handle(std::uint32_t events) override;
    std::int64_t deadline() const override;
    void on_time() override;

    void read_commands();
    bool flush();
    void drive();
    void perform(ftp::FsRequest& r);
    void perform(ftp::PassiveRequest& r);
    void perform(ftp::TransferRequest& r);
    void perform(ftp::AbortRequest&);
    void perform(ftp::DelayRequest& r);
    void perform(ftp::CloseRequest&) {}  // the Session is closed(): drive() ends the session
    void start_passive();
    void end_transfer(ftp::TransferResult r);

    Server& server;
    ftp::Session session;
    std::string out;                     // replies not yet sent
    std::unique_ptr<Listener> listener;  // PASV/EPSV's, until its connection comes
    iom::Fd passive_data;                // that connection, until the transfer that uses it
    std::unique_ptr<Transfer> transfer;  // the data connection in flight
    std::int64_t started, last_command;
    std::int64_t delay_until = never;    // a failed login's DelayRequest
    bool peer_gone = false, in_urgent = false;
};

// The listening socket and the stop eventfd are handlers too.
struct Acceptor final : Handler {
    Server& server;
    explicit Acceptor(Server& s) : server(s) {}
    void handle(std::uint32_t) override;
};
struct Stopper final : Handler {
    bool fired = false;
    void handle(std::uint32_t) override { fired = true; }
};

struct Server {
    explicit Server(ftp::Served& s) : served(s), cfg(s.cfg), k(s.k), site(s.site) {}

    ftp::Served& served;  // users, root, registry, Site: ftp/server_setup.hpp
    const ftp::Config& cfg;
    iom::Counters& k;
    const ftp::Site& site;
    iom::ReserveFd reserve;
    iom::Fd epfd{iom::check_sys(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")};
    std::int64_t now = clock_now();
    Timers timers;
    std::unordered_map<const Handler*, std::unique_ptr<Control>> sessions;
    std::vector<std::unique_ptr<Handler>> graveyard;  // retired handlers, freed after the round

    void watch(Handler& h, std::uint32_t events);
    void schedule(Handler& h);
    void fire_timers();
    int wait_ms() const;
    template <typename H>
    void retire(std::unique_ptr<H> h);
    void accept_sessions(int listen_fd);
    void end_session(Control& s);
    void run();
};

// ---- the interest set and the deadline list -----------------------------------

// Make epoll watch `h` for `events` (0: not at all), with one epoll_ctl, only when that changes.
void Server::watch(Handler& h, std::uint32_t events) {
    if (events == h.watched) return;
    int op = h.watched == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    epoll_event ev{.events = events, .data = {.ptr = &h}};
    iom::check_sys(epoll_ctl(epfd.get(), op, h.sock.get(), &ev), "epoll_ctl fd {}", h.sock.get());
    h.watched = events;
}

// Put `h` in the deadline list at h.deadline(). Lazily: a deadline that moved
// later (a transfer made progress, a command came) keeps its old place; it
// fires early, finds nothing due, and takes its new place. Progress then
// costs no list operation per byte moved.
void Server::schedule(Handler& h) {
    std::int64_t at = h.deadline();
    if (h.armed) {
        if (h.timer->first <= at) return;
        timers.erase(h.timer);
        h.armed = false;
    }
    if (at == never) return;
    h.timer = timers.emplace(at, &h);
    h.armed = true;
}

void Server::fire_timers() {
    while (!timers.empty() && timers.begin()->first <= now) {
        Handler* h = timers.begin()->second;
        timers.erase(timers.begin());
        h->armed = false;
        if (h->deadline() <= now) h->on_time();
        if (!h->retired) schedule(*h);
    }
}

// epoll_wait's timeout: until the earliest deadline, rounded up; -1 (forever) when none.
int Server::wait_ms() const {
    if (timers.empty()) return -1;
    std::int64_t left = (timers.begin()->first - now + ms - 1) / ms;
    return static_cast<int>(std::clamp<std::int64_t>(left, 0, INT_MAX));
}

template <typename H>
void Server::retire(std::unique_ptr<H> h) {
    if (!h) return;
    h->retired = true;
    h->sock.reset();  // close() also removes it from the interest set
    if (h->armed) timers.erase(h->timer);
    h->armed = false;
    graveyard.push_back(std::move(h));
}

// ---- the control connection ----------------------------------------------------

Control::Control(Server& s, iom::Fd fd)
    : server(s), session(s.site, iom::peer_address(fd.get()), iom::local_address(fd.get())),
      started(s.now), last_command(s.now) {
    sock = std::move(fd);
}

void Control::handle(std::uint32_t events) {
    // Urgent data (a Telnet Synch: ftplib's ABOR) is reported as long as it
    // is unread; tell the Session once per mark, before reading the line.
    if ((events & EPOLLPRI) && !in_urgent) {
        iom::trace("fd {}: EPOLLPRI: urgent data, an ABOR on its way", sock.get());
        session.urgent();
    }
    in_urgent = events & EPOLLPRI;
    if (events & EPOLLOUT) flush();
    if (events & (EPOLLIN | EPOLLPRI | EPOLLHUP | EPOLLERR)) read_commands();
    drive();
}

// One recv per wakeup: level-triggered, what is left is reported again, so
// one chatty client cannot hold the loop.
void Control::read_commands() {
    if (peer_gone) return;
    char bytes[4096];
    ssize_t n = recv(sock.get(), bytes, sizeof bytes, 0);
    ++server.k.recv_calls;
    if (n > 0) {
        server.k.recv_bytes += static_cast<std::uint64_t>(n);
        last_command = server.now;
        iom::trace("recv(fd {}) -> {} bytes of commands", sock.get(), n);
        session.receive({bytes, static_cast<std::size_t>(n)});
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        ++server.k.recv_eagain;
    } else {
        iom::trace("recv(fd {}) -> {}: the client is gone", sock.get(), n == 0 ? "EOF" : std::strerror(errno));
        if (n < 0) ++server.k.resets;
        peer_gone = true;
        session.peer_closed();
    }
}

// Send what the socket takes. False when the client is gone (and the Session told).
bool Control::flush() {
    while (!out.empty()) {
        ssize_t n = send(sock.get(), out.data(), out.size(), MSG_NOSIGNAL);
        ++server.k.send_calls;
        if (n > 0) {
            server.k.send_bytes += static_cast<std::uint64_t>(n);
            out.erase(0, static_cast<std::size_t>(n));
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            ++server.k.send_eagain;
            return true;
        } else if (errno != EINTR) {
            out.clear();
            if (peer_gone) return true;
            ++server.k.resets;
            peer_gone = true;
            session.peer_closed();
            return false;
        }
    }
    return true;
}

// After anything happened to the session: perform what it asks, write its
// replies, then set what to wait for and when.
void Control::drive() {
    do {
        while (auto req = session.next_request()) std::visit([this](auto& r) { perform(r); }, *req);
        out += session.take_output();
    } while (!flush());
    if (session.closed()) return server.end_session(*this);  // after a CloseRequest
    // Bounded memory: no more commands while the client leaves its replies unread.
    constexpr std::size_t most_unsent = 16 << 10;
    bool read = session.wants_input() && out.size() < most_unsent && !peer_gone;
    server.watch(*this, (read ? EPOLLIN | EPOLLPRI : 0u) | (out.empty() ? 0u : EPOLLOUT));
    server.schedule(*this);
}

std::int64_t Control::deadline() const {
    const ftp::Limits& l = server.cfg.limits;
    std::int64_t at = delay_until;
    if (!session.logged_in()) at = std::min(at, after(started, l.login_timeout));
    else if (!session.transferring()) at = std::min(at, after(last_command, l.idle_timeout));
    return at;
}

void Control::on_time() {
    if (delay_until <= server.now) {
        delay_until = never;
        session.complete(ftp::Delayed{});
    } else {
        iom::trace("fd {}: {} time is up", sock.get(), session.logged_in() ? "idle" : "login");
        ++server.k.idle_timeouts;
        session.timed_out(session.logged_in() ? ftp::Timeout::idle : ftp::Timeout::login);
    }
    drive();
}

// ---- performing the Session's requests --------------------------------------------

// A filesystem request is an ordinary system call on this thread: the loop
// waits for it (for the disk, on a cache miss), every session with it.
void Control::perform(ftp::FsRequest& r) {
    static constexpr const char* names[] = {"open_home", "stat", "open", "create", "mkdir", "rmdir", "unlink",
                                            "rename", "list"};
    iom::trace("fd {}: {} \"{}\" \"{}\": a synchronous call, the loop waits", sock.get(),
               names[static_cast<int>(r.op)], r.path, r.name);
    ++server.k.fs_calls;
    session.complete(ftp::execute(r));
}

// PASV/EPSV: a listener on the control connection's address, port 0.
void Control::perform(ftp::PassiveRequest& r) {
    server.retire(std::move(listener));  // one passive listener per session
    passive_data.reset();
    try {
        listener = std::make_unique<Listener>(*this, iom::listen_tcp(r.local, 8, /*nonblocking=*/true), r.peer);
        server.watch(*listener, EPOLLIN);
        auto port = iom::local_address(listener->sock.get()).port();
        iom::trace("fd {}: passive listener fd {} on port {}", sock.get(), listener->sock.get(), port);
        session.complete(ftp::PassiveResult{.port = port});
    } catch (const std::system_error& e) {  // out of descriptors, say: 425, the session goes on
        iom::trace("fd {}: passive listener: {}", sock.get(), e.what());
        server.retire(std::move(listener));
        session.complete(ftp::PassiveResult{.error = e.code().value()});
    }
}

void Control::perform(ftp::TransferRequest& r) {
    ++server.k.ftp_transfers;
    transfer = std::make_unique<Transfer>(*this, std::move(r));
    server.schedule(*transfer);  // the connect timeout
    if (transfer->req.passive) {
        if (passive_data) return start_passive();
        if (!listener) end_transfer({.status = TransferStatus::connect_failed});
        return;  // the listener hands the connection over when it comes
    }
    server.retire(std::move(listener));
    passive_data.reset();
    if (!transfer->connect()) end_transfer({.status = TransferStatus::connect_failed, .error = errno});
}

void Control::start_passive() {
    transfer->sock = std::move(passive_data);
    transfer->begin();
}

void Control::perform(ftp::AbortRequest&) {
    if (!transfer) return;  // it ended first: its result answers the ABOR
    ++server.k.ftp_aborts;
    iom::trace("fd {}: ABOR: data connection fd {} closed now", sock.get(), transfer->sock.get());
    end_transfer({.status = TransferStatus::aborted, .bytes = transfer->bytes});
}

void Control::perform(ftp::DelayRequest& r) { delay_until = server.now + std::int64_t{r.ms} * ms; }

// Close the data connection, then report: the 226 must follow the close.
// The caller drives the session afterwards.
void Control::end_transfer(ftp::TransferResult r) {
    static constexpr const char* status[] = {"done", "aborted", "connect_failed", "connection_lost", "stalled",
                                             "no_space", "too_large", "file_error"};
    iom::trace("fd {}: transfer over, {} bytes: {}", sock.get(), r.bytes, status[static_cast<int>(r.status)]);
    server.retire(std::move(transfer));
    server.retire(std::move(listener));
    last_command = server.now;  // idleness counts from the end of the transfer
    session.complete(r);
}

// ---- the passive listener ---------------------------------------------------------

void Listener::handle(std::uint32_t) {
    Server& server = owner.server;
    for (;;) {
        iom::Address from;
        from.len = sizeof from.storage;
        int fd = accept4(sock.get(), from.sa(), &from.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            int err = errno;
            if (err == EAGAIN || err == EWOULDBLOCK) return;  // the wait goes on
            if (err == EINTR || err == ECONNABORTED) continue;
            ++server.k.accept_errors;  // out of descriptors: shed the waiting one (else: reported again at once)
            if (err == EMFILE || err == ENFILE) server.reserve.shed(sock.get());
            Control& control = owner;
            server.retire(std::move(control.listener));  // no data connection for this PASV
            if (!control.transfer) return;
            control.end_transfer({.status = TransferStatus::connect_failed, .error = err});
            return control.drive();
        }
        iom::Fd data(fd);
        ++server.k.accepts;
        if (!ftp::same_host(from, peer)) {  // a stranger: closed unserved, the wait goes on
            iom::trace("accept(fd {}) -> {}: not the client's host, closed", sock.get(), from.to_string());
            ++server.k.data_strangers;
            continue;
        }
        iom::trace("accept(fd {}) -> data connection fd {}", sock.get(), fd);
        Control& control = owner;
        control.passive_data = std::move(data);
        server.retire(std::move(control.listener));  // this handler: it served its one connection
        if (control.transfer) control.start_passive();
        return;
    }
}

// ---- the data connection ------------------------------------------------------------

Transfer::Transfer(Control& c, ftp::TransferRequest r)
    : owner(c), server(c.server), req(std::move(r)), cap(server.cfg.limits.transfer_buffer),
      offset(static_cast<off_t>(req.offset)), connect_by(after(server.now, server.cfg.limits.passive_timeout)) {}

// PORT/EPRT: connect from the control connection's address (the core has
// checked the target: the client's own host, a port >= 1024). Non-blocking:
// the socket becomes writable when the handshake is over, either way.
bool Transfer::connect() {
    sock.reset(socket(req.peer.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!sock || bind(sock.get(), req.local.sa(), req.local.len) < 0) return false;
    if (::connect(sock.get(), req.peer.sa(), req.peer.len) < 0 && errno != EINPROGRESS) return false;
    iom::trace("connect(fd {}, {}) in progress", sock.get(), req.peer.to_string());
    server.watch(*this, EPOLLOUT);
    return true;
}

void Transfer::begin() {
    connecting = false;
    last_progress = server.now;
    // A buffer only when the bytes pass through this process; sendfile needs none.
    bool copies = req.direction == ftp::Direction::receive || (req.file && (req.ascii || !server.cfg.sendfile));
    if (copies) buf = std::make_unique_for_overwrite<char[]>(cap);
    server.watch(*this, req.direction == ftp::Direction::send ? EPOLLOUT : EPOLLIN);
    server.schedule(*this);
}

void Transfer::handle(std::uint32_t) {
    if (connecting) {  // an active connect has finished: did it succeed?
        int err = 0;
        socklen_t len = sizeof err;
        getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &err, &len);
        if (err) {
            error = err;
            return finish(TransferStatus::connect_failed);
        }
        return begin();
    }
    if (auto status = turn()) return finish(*status);
    server.schedule(*this);
}

// One turn: at most one buffer's worth, and no more than the rate budget.
std::optional<TransferStatus> Transfer::turn() {
    const ftp::Limits& l = server.cfg.limits;
    if (l.rate_limit && server.now >= refill_at) {  // a new window
        budget = std::max<std::uint64_t>(1, l.rate_limit / 10);
        refill_at = server.now + 100 * ms;
    }
    std::size_t most = static_cast<std::size_t>(std::min<std::uint64_t>(cap, budget));
    return req.direction == ftp::Direction::send ? send_some(most) : receive_some(most);
}

std::optional<TransferStatus> Transfer::send_some(std::size_t most) {
    iom::Counters& k = server.k;
    const int fd = sock.get();
    const char* from;
    std::size_t n;
    if (!req.file) {  // a listing, already in memory
        if (head == req.data.size()) return TransferStatus::done;
        from = req.data.data() + head;
        n = std::min(req.data.size() - head, most);
    } else if (!buf) {  // TYPE I by sendfile: page cache to socket, inside the kernel
        // At most 64 KiB a turn, as pyftpdlib does: twenty downloads take turns
        // in small steps, and the loop gets back to every socket sooner.
        most = std::min<std::size_t>(most, 64 << 10);
        ssize_t sent = sendfile(fd, req.file.get(), &offset, most);
        ++k.sendfile_calls;
        iom::trace("sendfile(fd {}, {} bytes) -> {}", fd, most, sent);
        if (sent == 0) return TransferStatus::done;  // end of file
        if (sent > 0) {
            k.file_read_bytes += static_cast<std::uint64_t>(sent);
            moved(static_cast<std::size_t>(sent));
            return std::nullopt;
        }
        if (errno != EAGAIN && errno != EPIPE && errno != ECONNRESET && errno != EINTR) {
            error = errno;  // the file's fault (EIO, ...)
            return TransferStatus::file_error;
        }
        return socket_error(k.send_eagain);
    } else {  // through the buffer: read the next piece only once the socket has taken the last
        if (head == tail && !read_file()) return TransferStatus::file_error;
        if (head == tail) return TransferStatus::done;  // end of file
        from = buf.get() + head;
        n = std::min(tail - head, most);
    }
    ssize_t sent = ::send(fd, from, n, MSG_NOSIGNAL);
    ++k.send_calls;
    iom::trace("send(fd {}, {} bytes) -> {}", fd, n, sent);
    if (sent < 0) return socket_error(k.send_eagain);
    k.send_bytes += static_cast<std::uint64_t>(sent);
    head += static_cast<std::size_t>(sent);
    moved(static_cast<std::size_t>(sent));
    return std::nullopt;
}

// --no-sendfile, or TYPE A: pread into the buffer. TYPE A reads a third of
// it and converts into the front (LF becomes CRLF: at most twice as long).
bool Transfer::read_file() {
    std::size_t want = req.ascii ? cap / 3 : cap;
    char* into = buf.get() + (cap - want);
    ssize_t n = pread(req.file.get(), into, want, offset);
    ++server.k.file_reads;
    iom::trace("pread(file, {} bytes) -> {}: from the page cache, or the loop waited for the disk", want, n);
    if (n < 0) {
        error = errno;
        return false;
    }
    offset += n;
    server.k.file_read_bytes += static_cast<std::uint64_t>(n);
    server.k.user_copy_bytes += static_cast<std::uint64_t>(n);
    head = 0;
    tail = req.ascii ? encoder.convert(into, static_cast<std::size_t>(n), buf.get()) : static_cast<std::size_t>(n);
    return true;
}

// recv into the buffer, straight on to the file (TYPE A: into the second
// half, converted into the first; CRLF becomes LF).
std::optional<TransferStatus> Transfer::receive_some(std::size_t most) {
    char* into = req.ascii ? buf.get() + cap / 2 : buf.get();
    ssize_t n = recv(sock.get(), into, req.ascii ? std::min(most, cap / 2 - 1) : most, 0);
    ++server.k.recv_calls;
    if (n < 0) return socket_error(server.k.recv_eagain);
    if (n == 0) {  // the client closed the data connection: the file is whole
        std::size_t last = req.ascii ? decoder.finish(buf.get()) : 0;
        if (auto failed = write_file(buf.get(), last)) return failed;
        return TransferStatus::done;
    }
    server.k.recv_bytes += static_cast<std::uint64_t>(n);
    iom::trace("recv(fd {}) -> {} bytes, on to the file", sock.get(), n);
    moved(static_cast<std::size_t>(n));
    std::size_t len = req.ascii ? decoder.convert(into, static_cast<std::size_t>(n), buf.get()) : static_cast<std::size_t>(n);
    return write_file(buf.get(), len);
}

// pwrite at the offset (with O_APPEND, APPE's, Linux appends whatever the offset).
std::optional<TransferStatus> Transfer::write_file(const char* p, std::size_t n) {
    if (written + n > req.max_bytes) return TransferStatus::too_large;
    while (n > 0) {
        ssize_t w = pwrite(req.file.get(), p, n, offset);
        ++server.k.file_writes;
        if (w < 0) {
            if (errno == EINTR) continue;
            error = errno;
            return errno == ENOSPC || errno == EDQUOT ? TransferStatus::no_space : TransferStatus::file_error;
        }
        server.k.file_write_bytes += static_cast<std::uint64_t>(w);
        server.k.user_copy_bytes += static_cast<std::uint64_t>(w);
        offset += w;
        written += static_cast<std::uint64_t>(w);
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return std::nullopt;
}

// A send, recv or sendfile returned -1: wait for the socket, or the transfer is lost.
std::optional<TransferStatus> Transfer::socket_error(iom::Count& eagain) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        ++eagain;
        return std::nullopt;
    }
    error = errno;
    iom::trace("data connection fd {}: {}", sock.get(), std::strerror(error));
    ++server.k.resets;
    return TransferStatus::connection_lost;
}

// Bytes moved: the stall clock restarts, the rate budget shrinks; spent, the
// data socket leaves the interest set until the next window.
void Transfer::moved(std::size_t n) {
    bytes += n;
    last_progress = server.now;
    if (!server.cfg.limits.rate_limit) return;
    budget -= std::min<std::uint64_t>(budget, n);
    if (budget > 0) return;
    iom::trace("fd {}: rate budget spent: out of the interest set for {} ms", sock.get(),
               (refill_at - server.now) / ms);
    ++server.k.rate_waits;
    throttled = true;
    server.watch(*this, 0);
}

std::int64_t Transfer::deadline() const {
    if (throttled) return refill_at;
    if (connecting) return connect_by;
    return after(last_progress, server.cfg.limits.stall_timeout);
}

void Transfer::on_time() {
    if (throttled) {  // the next window: back in the interest set
        throttled = false;
        last_progress = server.now;
        server.watch(*this, req.direction == ftp::Direction::send ? EPOLLOUT : EPOLLIN);
        return;
    }
    iom::trace("fd {}: {}", owner.sock.get(), connecting ? "no data connection in time" : "transfer stalled");
    ++server.k.transfer_timeouts;
    finish(connecting ? TransferStatus::connect_failed : TransferStatus::stalled);
}

void Transfer::finish(TransferStatus s) {
    Control& control = owner;  // end_transfer retires this handler (freed after the round)
    control.end_transfer({.status = s, .bytes = bytes, .error = error});
    control.drive();
}

// ---- sessions come and go ------------------------------------------------------------

void Acceptor::handle(std::uint32_t) { server.accept_sessions(sock.get()); }

void Server::accept_sessions(int listen_fd) {
    while (iom::Fd sock = iom::nb::accept_next(listen_fd, reserve, k, "epoll_ftp_server")) {
        const int fd = sock.get();
        iom::trace("accept -> control connection fd {} from {}", fd, iom::PeerOf{fd});
        auto control = std::make_unique<Control>(*this, std::move(sock));
        Control& s = *control;
        sessions.emplace(&s, std::move(control));
        ftp::control_connection_opened(served, fd, sessions.size());  // TCP_NODELAY, SO_OOBINLINE (ABOR)
        s.session.start();  // 220, or 421 past the session limits
        s.drive();
    }
}

// The Session is closed: its replies are written (as far as the socket takes
// them), its descriptors closed, its handlers retired.
void Server::end_session(Control& s) {
    iom::trace("close session fd {}", s.sock.get());
    ++k.closed;
    retire(std::move(s.transfer));
    retire(std::move(s.listener));
    s.passive_data.reset();
    auto it = sessions.find(&s);
    retire(std::move(it->second));
    sessions.erase(it);
}

// Shown under --trace: what epoll cannot wait for.
void show_that_files_cannot_be_waited_for(int epfd) {
    iom::Fd file(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));  // a regular file: this program
    epoll_event ev{.events = EPOLLIN, .data = {.ptr = nullptr}};
    int rc = epoll_ctl(epfd, EPOLL_CTL_ADD, file.get(), &ev);
    iom::trace("epoll_ctl(ADD, a regular file) -> {}: a file is always ready, epoll cannot wait for it; "
               "every file operation runs on this thread, and a page-cache miss stalls every session",
               rc < 0 && errno == EPERM ? "EPERM" : rc < 0 ? std::strerror(errno) : "0 (unexpected)");
}

void Server::run() {
    Acceptor acceptor(*this);
    acceptor.sock = iom::open_listener(cfg.server, /*nonblocking=*/true);
    Stopper stopper;
    stopper.sock = iom::Fd(iom::check_sys(dup(iom::stop_fd()), "dup"));  // readable once SIGINT/SIGTERM came
    watch(acceptor, EPOLLIN);
    watch(stopper, EPOLLIN);
    if (iom::trace_enabled) show_that_files_cannot_be_waited_for(epfd.get());
    iom::announce(acceptor.sock);

    std::array<epoll_event, 256> events;
    while (!stopper.fired && !iom::stop_requested()) {
        int timeout = wait_ms();
        iom::trace("epoll_wait: {} sessions, timeout {} ms (the earliest deadline)", sessions.size(), timeout);
        int ready = epoll_wait(epfd.get(), events.data(), static_cast<int>(events.size()), timeout);
        ++k.wait_calls;
        now = clock_now();
        if (ready < 0) {
            if (errno == EINTR) continue;  // a signal; if it was a stop, the loop ends
            iom::throw_sys("epoll_wait epfd {}", epfd.get());
        }
        k.wait_ready += static_cast<std::uint64_t>(ready);
        for (int i = 0; i < ready; ++i) {
            auto* h = static_cast<Handler*>(events[i].data.ptr);
            if (!h->retired) h->handle(events[i].events);
        }
        fire_timers();
        graveyard.clear();
    }
    iom::trace("stopping: closing {} sessions", sessions.size());
}

}  // namespace

int main(int argc, char** argv) {
    return ftp::run_server(argc, argv,
                           {"epoll_ftp_server", 2121,
                            "epoll_ftp_server: a multi-user FTP server on one epoll loop. Each session's control "
                            "connection, passive listener and data connection are handlers in the same reactor; "
                            "files cannot be waited for, so their reads run on the loop."},
                           [](ftp::Served& served) { Server(served).run(); });
}
