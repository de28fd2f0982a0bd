// epoll_ftp_server — the capstone: a multi-user FTP server on one epoll loop (port 2121)
//
// THE ASSIGNMENT. With I/O multiplexing, an FTP server where several users
// upload and download at once: epoll_server's reactor doing real work, for
// the FTP clients people already have (curl, lftp, Python's ftplib). The
// protocol is the core (ftp/session.hpp): a Session that never touches a
// socket, a file or a clock. It emits requests; this file performs them.
//
// WHERE IT WAITS. Only in epoll_wait, for sockets and for time. Each session
// is up to three handlers in one interest set: its Control connection
// (commands in, replies out, urgent data: ftplib's ABOR), its passive
// Listener (accepts the one data connection, then closes), and its Transfer
// (the data connection: moves one file or listing, then closes). Every timer
// of every session (login, idle, a failed login's delay, the passive
// connect, a stalled transfer, the rate window) is a deadline in one ordered
// list, and epoll_wait's timeout is the time to the earliest.
//
// WHAT IT CANNOT WAIT FOR: THE DISK. A regular file is always "ready" (so
// epoll_ctl refuses one: EPERM, shown under --trace). Every file operation
// is an ordinary call on this one thread: open, stat, list (ftp/fs.hpp),
// read, write, sendfile. From the page cache they take microseconds; a miss
// waits for the disk, and while it waits every session waits. That is the
// reactor's limit, and why uring_ftp_server submits file reads like socket
// reads. How the bytes move (sendfile, or pread + send; recv + pwrite) is
// in ftp/epoll_pump.hpp.
//
// BOUNDED AND FAIR. Level-triggered: the interest set follows what each
// handler can do next, so one that cannot act is not reported again. A
// transfer moves at most one buffer (a sendfile at most 64 KiB) per turn,
// so twenty share the loop. A client that never reads its replies stops
// being read. --rate-limit takes a throttled data socket out of the interest
// set until its next window (ftp/clock.hpp).
//
// FTPS. After AUTH TLS, OpenSSL reads and writes the sockets itself, and
// what it waits for (WANT_READ, WANT_WRITE) joins the interest set; records
// it has read ahead are drained, as no readiness announces them (ftp/tls.hpp).
//
// LENGTH. Three kinds of handler, the timers and the loop are one story,
// that everything waits in one place; what is not the lesson (protocol,
// paths, users, the bytes' path through the pump) is in the rooms of ftp/.
//
// TRY IN CLASS.
//   ./epoll_ftp_server --root /tmp/ftp --user alice:secret --trace
//   mkdir -p /tmp/ftp/alice; head -c 100M /dev/urandom > /tmp/ftp/alice/big
//   curl -o /dev/null ftp://alice:secret@127.0.0.1:2121/big     # EPSV, RETR by sendfile
//   ./epoll_ftp_server --root /tmp/ftp --user alice:secret --rate-limit 2M   # bars move
//   ./epoll_ftp_server ... --no-sendfile     # then compare the counters at exit

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"
#include "ftp/data_address.hpp"
#include "ftp/deadline_list.hpp"
#include "ftp/epoll_pump.hpp"
#include "ftp/fs.hpp"
#include "ftp/server_setup.hpp"
#include "ftp/session.hpp"
#include "nonblocking/connection.hpp"  // accept_next: accept until EAGAIN, shed on EMFILE

#include <sys/epoll.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <memory>
#include <functional>
#include <unordered_map>
#include <variant>
#include <vector>

namespace {

namespace ftp = iom::ftp;
using ftp::Nanos, ftp::never, ftp::ms, ftp::TransferStatus;

// What epoll_event.data.ptr points at. It may have a deadline in the list
// (ftp/deadline_list.hpp). A handler that is done is retired: its socket
// closed at once (which also takes it out of the interest set), the object
// freed after the round, so an event of the same round still pointing at it
// finds `retired` and is skipped.
struct Handler {
    iom::Fd sock;
    bool retired = false;
    std::uint32_t watched = 0;  // the events epoll watches for; 0: not in the interest set
    ftp::DeadlineSlot<Handler> timer;
    virtual void handle(std::uint32_t events) = 0;
    virtual Nanos deadline() const { return never; }  // when on_time() is due
    virtual void on_time() {}
    virtual ~Handler() = default;
};

struct Server;
struct Control;

// The passive listener of one session: accepts one connection from `peer`'s host.
struct Listener final : Handler {
    Listener(Control& c, iom::Fd s, const iom::Address& from) : control(c), peer(from) { sock = std::move(s); }
    void handle(std::uint32_t events) override;
    Control& control;
    iom::Address peer;
};

// One data connection: opens (accepted or connected), moves the bytes, closes.
struct Transfer final : Handler {
    Transfer(Control& c, ftp::TransferRequest r);
    void handle(std::uint32_t events) override;
    Nanos deadline() const override;
    void on_time() override;
    bool connect();  // active (PORT/EPRT)
    void begin(iom::Fd data);  // the data connection is up
    void finish(TransferStatus s);

    Control& control;
    Server& server;
    ftp::TransferRequest req;
    ftp::EpollPump pump;  // the bytes: ftp/epoll_pump.hpp
    ftp::TransferClock clock;
    bool connecting = true;
    int error = 0;
};

// A session's control connection; owns the Session and the other two handlers.
struct Control final : Handler {
    Control(Server& s, iom::Fd fd);
    void handle(std::uint32_t events) override;
    Nanos deadline() const override;
    void on_time() override;
    void read_commands();
    bool flush();
    void drive();
    void perform(ftp::FsRequest& r);  // one for each request of the core (ftp/requests.hpp)
    void perform(ftp::PassiveRequest& r);
    void perform(ftp::TransferRequest& r);
    void perform(ftp::AbortRequest&);
    void perform(ftp::DelayRequest& r);
    void perform(ftp::TlsRequest&);
    void perform(ftp::CloseRequest&) {}  // the Session is closed(): drive() ends the session
    void end_transfer(ftp::TransferResult r);

    Server& server;
    ftp::Session session;
    ftp::ControlClock clock;
    std::string out;                     // replies not yet sent
    std::unique_ptr<Listener> listener;  // PASV/EPSV's, until its connection comes
    iom::Fd passive_data;                // that connection, until the transfer that uses it
    std::unique_ptr<Transfer> transfer;  // the data connection in flight
    std::unique_ptr<ftp::TlsSocket> tls;  // after AUTH TLS: OpenSSL on the socket (ftp/tls.hpp)
    bool peer_gone = false, in_urgent = false;
};

// The listening socket and the stop eventfd are handlers too.
struct Waker final : Handler {
    std::function<void()> on_ready;
    void handle(std::uint32_t) override { on_ready(); }
};

struct Server {
    explicit Server(ftp::Served& s) : served(s), cfg(s.cfg), k(s.k) {}

    ftp::Served& served;  // users, root, registry, Site: ftp/server_setup.hpp
    const ftp::Config& cfg;
    iom::Counters& k;
    iom::ReserveFd reserve;
    iom::Fd epfd{iom::check_sys(epoll_create1(EPOLL_CLOEXEC), "epoll_create1")};
    Nanos now = ftp::monotonic_now();
    ftp::DeadlineList<Handler> timers;
    std::unordered_map<const Handler*, std::unique_ptr<Control>> sessions;
    std::vector<std::unique_ptr<Handler>> graveyard;  // retired handlers, freed after the round

    void watch(Handler& h, std::uint32_t events);
    void schedule(Handler& h) { timers.schedule(h); }
    template <typename H>
    void retire(std::unique_ptr<H> h);
    void accept_sessions(int listen_fd);
    void end_session(Control& c);
    void run();
};

// ---- the interest set ---------------------------------------------------------

// Make epoll watch `h` for `events` (0: not at all), with one epoll_ctl, only when that changes.
void Server::watch(Handler& h, std::uint32_t events) {
    if (events == h.watched) return;
    int op = h.watched == 0 ? EPOLL_CTL_ADD : events == 0 ? EPOLL_CTL_DEL : EPOLL_CTL_MOD;
    epoll_event ev{.events = events, .data = {.ptr = &h}};
    iom::check_sys(epoll_ctl(epfd.get(), op, h.sock.get(), &ev), "epoll_ctl fd {}", h.sock.get());
    h.watched = events;
}

template <typename H>
void Server::retire(std::unique_ptr<H> h) {
    if (!h) return;
    h->retired = true;
    h->sock.reset();  // close() also removes it from the interest set
    timers.cancel(*h);
    graveyard.push_back(std::move(h));
}

// ---- the control connection ----------------------------------------------------

Control::Control(Server& s, iom::Fd fd)
    : server(s), session(s.served.site, iom::peer_address(fd.get()), iom::local_address(fd.get())), clock(s.now) {
    sock = std::move(fd);
}

void Control::handle(std::uint32_t events) {
    if (events & EPOLLOUT) flush();
    if (tls && !tls->ready()) {  // AUTH TLS: a handshake step each time the socket is as OpenSSL wants it
        if (auto over = tls->handshake_over()) session.complete(*over);
        return drive();
    }
    // Urgent data (a Telnet Synch: ftplib's ABOR) is reported as long as it
    // is unread; tell the Session once per mark, before reading the line.
    if ((events & EPOLLPRI) && !in_urgent) {
        iom::trace("fd {}: EPOLLPRI: urgent data, an ABOR on its way", sock.get());
        session.urgent();
    }
    in_urgent = events & EPOLLPRI;
    // Under TLS a read may wait for EPOLLOUT (OpenSSL has to write first).
    if (events & (EPOLLIN | EPOLLPRI | EPOLLHUP | EPOLLERR) || (tls && tls->want() == EPOLLOUT)) read_commands();
    drive();
}


// One recv per wakeup: level-triggered, what is left is reported again, so
// one chatty client cannot hold the loop.
void Control::read_commands() {
    if (peer_gone) return;
    char bytes[4096];
    ssize_t n = tls ? tls->recv(bytes, sizeof bytes) : recv(sock.get(), bytes, sizeof bytes, 0);  // TLS: SSL_read
    ++server.k.recv_calls;
    if (n > 0) {
        server.k.recv_bytes += static_cast<std::uint64_t>(n);
        clock.last_command = server.now;
        iom::trace("recv(fd {}) -> {} bytes of commands", sock.get(), n);
        session.receive({bytes, static_cast<std::size_t>(n)});
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        ++server.k.recv_eagain;
    } else {
        iom::trace("recv(fd {}) -> {}: the client is gone", sock.get(), n == 0 ? "EOF" : std::strerror(errno));
        ftp::control_peer_gone(session, peer_gone, server.k, /*reset=*/n < 0);  // the Session is told once
    }
}

// Send what the socket takes. False when the client is gone (and the Session told).
bool Control::flush() {
    while (!out.empty()) {
        ssize_t n = tls ? tls->send(out.data(), out.size()) : send(sock.get(), out.data(), out.size(), MSG_NOSIGNAL);
        ++server.k.send_calls;
        if (n > 0) {
            server.k.send_bytes += static_cast<std::uint64_t>(n);
            out.erase(0, static_cast<std::size_t>(n));
        } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
            ++server.k.send_eagain;
            return true;
        } else if (errno != EINTR) {
            out.clear();
            bool told = peer_gone;
            ftp::control_peer_gone(session, peer_gone, server.k, /*reset=*/true);
            return told;
        }
    }
    return true;
}

// After anything happened to the session: perform what it asks, write its
// replies, then set what to wait for (the interest set) and when (the timer).
// Under TLS, also what OpenSSL waits for, and first the commands it holds
// already: no readiness would announce them.
void Control::drive() {
    do {
        while (auto req = session.next_request()) std::visit([this](auto& r) { perform(r); }, *req);
        out += session.take_output();
    } while (!flush());
    if (session.closed()) return server.end_session(*this);  // after a CloseRequest
    // Bounded memory: no more commands while the client leaves its replies unread.
    bool read = session.wants_input() && out.size() < ftp::max_unsent && !peer_gone;
    if (read && tls && tls->pending() && !tls->options().read_once) {  // (--tls-read-once: the lab tls-edge's stall)
        read_commands();
        return drive();
    }
    server.watch(*this, (read ? EPOLLIN | EPOLLPRI : 0u) | (out.empty() ? 0u : EPOLLOUT) | (tls ? tls->want() : 0u));
    server.schedule(*this);
}

Nanos Control::deadline() const { return clock.deadline(session, server.cfg.limits); }

void Control::on_time() {
    if (clock.delay_until <= server.now) {
        clock.delay_until = never;
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
    iom::trace("fd {}: {} \"{}\": a synchronous call, the loop waits", sock.get(), ftp::name_of(r.op), r.path);
    ++server.k.fs_calls;
    session.complete(ftp::execute(r));
}

// PASV/EPSV: a listener on the control connection's address, port 0.
void Control::perform(ftp::PassiveRequest& r) {
    server.retire(std::move(listener));  // one passive listener per session
    passive_data.reset();
    try {
        listener = std::make_unique<Listener>(*this, ftp::listen_passive(r), r.peer);  // --passive-ports
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
        if (passive_data) return transfer->begin(std::move(passive_data));
        if (!listener) end_transfer({.status = TransferStatus::connect_failed});
        return;  // the listener hands the connection over when it comes
    }
    server.retire(std::move(listener));
    passive_data.reset();
    if (!transfer->connect()) end_transfer({.status = TransferStatus::connect_failed, .error = errno});
}

void Control::perform(ftp::AbortRequest&) {
    if (!transfer) return;  // it ended first: its result answers the ABOR
    ++server.k.ftp_aborts;
    iom::trace("fd {}: ABOR: data connection fd {} closed now", sock.get(), transfer->sock.get());
    end_transfer({.status = TransferStatus::aborted, .bytes = transfer->pump.bytes()});
}

// AUTH TLS: OpenSSL on the socket. The 234 still goes out in clear
// (TlsSocket::send), and the client starts the handshake once it has it.
void Control::perform(ftp::TlsRequest&) { tls = std::make_unique<ftp::TlsSocket>(*server.served.tls, sock.get()); }

void Control::perform(ftp::DelayRequest& r) { clock.delay_until = server.now + Nanos{r.ms} * ms; }

// Close the data connection, then report: the 226 must follow the close.
// The caller drives the session afterwards.
void Control::end_transfer(ftp::TransferResult r) {
    iom::trace("fd {}: transfer over, {} bytes: {}", sock.get(), r.bytes, ftp::name_of(r.status));
    server.retire(std::move(transfer));
    server.retire(std::move(listener));
    clock.last_command = server.now;  // idleness counts from the end of the transfer
    session.complete(r);
}

// ---- the passive listener ---------------------------------------------------------

void Listener::handle(std::uint32_t) {
    Server& server = control.server;
    for (;;) {
        iom::Address from{.len = sizeof from.storage};
        int fd = accept4(sock.get(), from.sa(), &from.len, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0 && (errno == EINTR || errno == ECONNABORTED)) continue;
        if (fd < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;  // the wait goes on
        if (fd < 0) {  // out of descriptors: shed the waiting one (else: reported again at once)
            int err = errno;
            ++server.k.accept_errors;
            if (err == EMFILE || err == ENFILE) server.reserve.shed(sock.get());
            server.retire(std::move(control.listener));  // no data connection for this PASV (retired: freed
            if (!control.transfer) return;                // after the round, so `control` is still ours)
            control.end_transfer({.status = TransferStatus::connect_failed, .error = err});
            return control.drive();
        }
        iom::Fd data(fd);
        ++server.k.data_accepts;  // not `accepts`: top counts connections as accepts - closed
        if (!ftp::same_host(from, peer)) {  // a stranger: closed unserved, the wait goes on
            iom::trace("accept(fd {}) -> {}: not the client's host, closed", sock.get(), from.to_string());
            ++server.k.data_strangers;
            continue;
        }
        iom::trace("accept(fd {}) -> data connection fd {}", sock.get(), fd);
        server.retire(std::move(control.listener));  // this handler: it served its one connection
        if (control.transfer) return control.transfer->begin(std::move(data));
        control.passive_data = std::move(data);  // until the transfer command comes
        return;
    }
}

// ---- the data connection ------------------------------------------------------------

Transfer::Transfer(Control& c, ftp::TransferRequest r)
    : control(c), server(c.server), req(std::move(r)),
      pump(req, server.cfg.limits.transfer_buffer, server.cfg.sendfile, server.k, c.tls.get()),
      clock(server.now, server.cfg.limits) {}

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

void Transfer::begin(iom::Fd data) {
    sock = std::move(data);
    connecting = false;
    clock.last_progress = server.now;
    server.watch(*this, pump.events());
    server.schedule(*this);
}

// The data socket is ready: one turn of the pump, at most one buffer's worth
// and no more than the rate window allows. A spent window takes the socket
// out of the interest set until on_time() puts it back.
void Transfer::handle(std::uint32_t) {
    if (connecting) {  // an active connect has finished: did it succeed?
        socklen_t len = sizeof error;
        getsockopt(sock.get(), SOL_SOCKET, SO_ERROR, &error, &len);
        return error ? finish(TransferStatus::connect_failed) : begin(std::move(sock));
    }
    std::size_t most = clock.allow(server.now, server.cfg.limits);
    if (most == 0) {
        iom::trace("fd {}: rate window spent: out of the interest set for {} ms", sock.get(),
                   (clock.rate.refill_at - server.now) / ms);
        ++server.k.rate_waits;
        server.watch(*this, 0);
        return server.schedule(*this);
    }
    std::uint64_t before = pump.bytes();
    auto status = pump.turn(sock.get(), most);
    clock.moved(server.now, pump.bytes() - before);
    control.session.transferred(pump.bytes());  // what STAT tells during the transfer
    if (status) return finish(*status);
    server.watch(*this, pump.events());  // under TLS, what OpenSSL waits for
    server.schedule(*this);
}

Nanos Transfer::deadline() const { return clock.deadline(!connecting, server.cfg.limits); }

void Transfer::on_time() {
    if (clock.throttled) {  // the next window: back in the interest set
        clock.unthrottle(server.now);
        server.watch(*this, pump.events());
        return;
    }
    iom::trace("fd {}: {}", control.sock.get(), connecting ? "no data connection in time" : "transfer stalled");
    ++server.k.transfer_timeouts;
    finish(connecting ? TransferStatus::connect_failed : TransferStatus::stalled);
}

void Transfer::finish(TransferStatus s) {
    control.end_transfer({.status = s, .bytes = pump.bytes(), .error = error ? error : pump.error()});
    control.drive();  // this handler is retired now: freed after the round
}

// ---- sessions come and go ------------------------------------------------------------

void Server::accept_sessions(int listen_fd) {
    while (iom::Fd sock = iom::nb::accept_next(listen_fd, reserve, k, "epoll_ftp_server")) {
        const int fd = sock.get();
        iom::trace("accept -> control connection fd {} from {}", fd, iom::PeerOf{fd});
        auto control = std::make_unique<Control>(*this, std::move(sock));
        Control& c = *control;
        sessions.emplace(&c, std::move(control));
        ftp::control_connection_opened(served, fd, sessions.size());  // TCP_NODELAY, SO_OOBINLINE (ABOR)
        c.session.start();  // 220, or 421 past the session limits
        c.drive();
    }
}

// The Session is closed: its replies are written (as far as the socket takes
// them), its descriptors closed, its handlers retired.
void Server::end_session(Control& c) {
    iom::trace("close session fd {}", c.sock.get());
    ++k.closed;
    retire(std::move(c.transfer));
    retire(std::move(c.listener));
    c.passive_data.reset();
    auto it = sessions.find(&c);
    retire(std::move(it->second));
    sessions.erase(it);
}

// THE LOOP: wait for the sockets until the earliest deadline, handle what is
// ready, fire what is due, free what retired.
void Server::run() {
    bool stop = false;
    Waker acceptor, stopper;
    acceptor.sock = iom::open_listener(cfg.server, /*nonblocking=*/true);
    acceptor.on_ready = [&] { accept_sessions(acceptor.sock.get()); };
    stopper.sock = iom::Fd(iom::check_sys(dup(iom::stop_fd()), "dup"));  // readable once SIGINT/SIGTERM came
    stopper.on_ready = [&] { stop = true; };
    watch(acceptor, EPOLLIN);
    watch(stopper, EPOLLIN);
    if (iom::trace_enabled) ftp::show_that_files_cannot_be_waited_for(epfd.get());  // ftp/epoll_pump.hpp
    iom::announce(acceptor.sock);

    std::array<epoll_event, 256> events;
    while (!stop && !iom::stop_requested()) {
        int timeout = timers.wait_ms(now);
        iom::trace("epoll_wait: {} sessions, timeout {} ms (the earliest deadline)", sessions.size(), timeout);
        int ready = epoll_wait(epfd.get(), events.data(), static_cast<int>(events.size()), timeout);
        ++k.wait_calls;
        now = ftp::monotonic_now();
        if (ready < 0) {
            if (errno == EINTR) continue;  // a signal; if it was a stop, the loop ends
            iom::throw_sys("epoll_wait epfd {}", epfd.get());
        }
        k.wait_ready += static_cast<std::uint64_t>(ready);
        for (int i = 0; i < ready; ++i) {
            auto* h = static_cast<Handler*>(events[i].data.ptr);
            if (!h->retired) h->handle(events[i].events);
        }
        timers.fire(now);
        graveyard.clear();
    }
    iom::trace("stopping: closing {} sessions", sessions.size());
}

}  // namespace

int main(int argc, char** argv) {
    const char* about = "epoll_ftp_server: a multi-user FTP server on one epoll loop (a reactor). Files cannot "
                        "be waited for, so every file operation runs on the loop.";
    return ftp::run_server(argc, argv, {"epoll_ftp_server", 2121, about}, [](ftp::Served& s) { Server(s).run(); });
}
