// uring_server — an io_uring proactor (port 9031)
//
// THE MODEL. A reactor (select, poll, epoll) is told "this socket is ready"
// and then makes the call itself. A proactor hands the kernel the whole
// operation — accept, receive, send — and is told when it is *done*.
// io_uring is two rings shared with the kernel: requests (SQEs) go into the
// submission ring, one io_uring_enter hands them over and sleeps until
// something completes, and results (CQEs) appear in the completion ring,
// tagged with the user_data of their SQE (here: connection and operation).
//
// WHERE IT WAITS. Only in io_uring_enter. Both phases of a read happen in the
// kernel meanwhile: it waits for data (1) and copies it into our memory (2);
// the CQE says "N bytes are already in buffer #7". The buffers are
// *provided*: a ring of them lent to the kernel, which takes one only when
// data arrives (an idle connection holds none). *Multishot*: one accept SQE,
// one recv SQE per connection, keep yielding CQEs (IORING_CQE_F_MORE).
//
// THE LESSON. One enter submits a batch and reaps a batch: fewer syscalls
// than messages. The price is ownership: memory lent to the kernel is its own
// until a CQE gives it back. Each handler below states the rule it keeps, and
// each rule guards a real bug (docs/async.md): a buffer id read only under
// IORING_CQE_F_BUFFER, one send in flight, a multishot re-armed when it ends.
// Output per connection: two ByteBuffers of --buffer-size, `sending` (read by
// the send in flight: nothing may move it) and `queued`. Ring buffers are
// copied out and returned at once, so a client that never reads cannot
// starve the others of the shared ring. A full `queued` cancels the recv
// (backpressure); CQEs already on their way go to `spill`. The ring, the
// probe and the provided-buffer ring are set up in async/uring_setup.hpp.
//
// IDLE (--idle-timeout). An idle connection's recv (or stuck send) never
// completes; a timeout SQE every quarter timeout (at most 1 s) does, and a
// sweep follows. An expired connection gets shutdown(SHUT_RDWR), then close():
// all in flight on the socket completes now, even what a cancel may not reach,
// and the Conn (and the memory its send reads) lives until its last CQE.
//
// LENGTH. About 450 lines of code, not 250: a proactor tracks by hand what is
// in flight and whose memory it is, and each completion has its own handler.
//
// TRY IN CLASS.
//   ./uring_server --trace                 # the probe, each enter, each completion
//   ./uring_server --trace --no-multishot  # an SQE per accept and per recv
//   strace -c -f ./uring_server            # vs epoll_server: count the syscalls

#include "async/uring_setup.hpp"
#include "common/buffer.hpp"
#include "common/error.hpp"
#include "common/idle.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "common/server.hpp"
#include "common/shutdown.hpp"
#include "common/trace.hpp"

#include <liburing.h>
#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

// HOW IT RUNS. Server::run() is THE LOOP: one io_uring_enter submits every
// SQE queued and sleeps until completions come; the CQEs are reaped, and each
// goes by the op in its user_data to its handler (on_accept, on_recv,
// on_send, ...), which queues the next SQEs: a send of what came in, a recv
// re-armed. Nothing else sleeps, and nothing else asks the kernel for I/O.

// USER_DATA, the 64 bits an SQE carries into its CQE: all a completion has to
// find its connection and its handler. A Conn comes from `new`, aligned to 16
// bytes, so the low 4 bits of its address are 0: they hold the operation.
//
//     63                                          4 3        0
//    +---------------------------------------------+----------+
//    | Conn* for op_recv and op_send; 0 for others |    op    |
//    +---------------------------------------------+----------+
static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ >= 16);
constexpr std::uint64_t op_mask = 15;
enum Op : std::uint64_t {
    op_accept = 1,  // the listener's accept (multishot: one SQE, a CQE per client)
    op_recv = 2,    // a connection's recv into a provided buffer
    op_send = 3,    // a connection's one send in flight
    op_stop = 4,    // the poll on the stop eventfd: SIGINT/SIGTERM
    op_pause = 5,   // the 100 ms timeout after EMFILE
    op_idle = 6,    // the idle sweep's timer (--idle-timeout)
    op_cancel = 7,  // a cancel: its own CQE changes nothing
};

struct Conn;  // a connection: below, with the handlers

// The server's state, then what it does, in the order it is defined below:
// THE LOOP and its parts, one handler per operation, what the handlers submit.
struct Server {
    const iom::ServerOptions& opt;
    iom::Counters& k;
    unsigned nbufs;                          // --ring-buffers
    io_uring ring{};
    bool ring_ok = false;                    // initialised: the destructor tears it down
    bool multishot_accept = false, multishot_recv = false;  // the probe's answer, unless --no-multishot
    std::optional<iom::uring::BufRing> bufs;  // nbufs buffers of --buffer-size, buffer group 0
    iom::Fd listener;
    iom::ReserveFd reserve;                  // a spare descriptor, to shed the backlog at EMFILE
    std::unordered_set<Conn*> conns;         // every Conn not yet freed
    bool accept_armed = false, paused = false, stopping = false, sweep_armed = false;  // in flight
    iom::IdleClock idle{opt.idle_timeout};   // --idle-timeout
    __kernel_timespec sweep_every{idle.period / 1'000'000'000, idle.period % 1'000'000'000};
    std::int64_t now = 0;                    // read once per io_uring_enter, only with --idle-timeout
    unsigned batch;                          // --batch: the most completions one wait waits for
    __kernel_timespec batch_wait;            // --batch-wait-us: the longest it waits for them
    unsigned epoch = 1, epoch_waits = 0;     // BATCHING: an epoch is 32 waits
    std::size_t active = 0, active_now = 0;  // connections that received in the last epoch, in this one

    Server(const iom::ServerOptions& o, iom::Counters& counters, unsigned nbufs, unsigned batch, unsigned wait_us);
    ~Server();                      // the ring first: it cancels what still points into our memory
    void setup(bool no_multishot);  // the ring, the probe, the provided buffers, the listener
    void run();                     // THE LOOP: submit and wait in one io_uring_enter, reap, dispatch
    unsigned batch_target(unsigned last_reaped);  // BATCHING: how many completions the next wait waits for
    void dispatch(std::uint64_t user_data, int res, unsigned flags);  // a switch on the op in user_data

    void on_accept(int res, unsigned flags);         // a new client, or EMFILE (then a pause)
    void on_recv(Conn& c, int res, unsigned flags);  // bytes already in a ring buffer: copy out, recycle
    void on_send(Conn& c, int res);                  // the send in flight is done, maybe short
    void progress(Conn& c);                          // after either: send, (re-)arm or stop the recv, free
    void on_stop();                                  // cancel everything; run() reaps until quiet
    void on_pause();                                 // the EMFILE pause is over: accept again
    void on_idle_sweep();                            // end the connections idle too long, re-arm the timer

    io_uring_sqe* sqe(Op op, Conn* c = nullptr);  // a free SQE, its user_data c | op
    void cancel(Op op, Conn* c = nullptr);         // cancel the operation tagged c | op
    void arm_accept();                             // multishot where the kernel has it
    void arm_recv(Conn& c);                        // multishot, or one sized recv
    void stop_recv(Conn& c, const char* why);      // cancel the recv (backpressure, closing)
    void close(Conn& c);                           // cancel what is in flight; freed at its last CQE
};

// THE LOOP, until a stop has been reaped to the last CQE. The CQEs are copied
// out and the completion ring freed before any is handled: handling submits,
// and what it submits will want room for its results.
void Server::run() {
    io_uring_prep_poll_add(sqe(op_stop), iom::stop_fd(), POLLIN);  // a stop is one more completion
    arm_accept();
    if (idle.on()) on_idle_sweep();  // arms the first timer
    std::vector<iom::uring::Reaped> reaped(1024);
    unsigned got = 0;
    while (!stopping || !conns.empty() || accept_armed || paused || sweep_armed) {
        unsigned want = batch_target(got), to_submit = io_uring_sq_ready(&ring);
        iom::trace("io_uring_enter: submit {} SQEs, wait for {} completion(s)", to_submit, want);
        io_uring_cqe* first;  // the only place this process sleeps:
        int n = want == 1 ? io_uring_submit_and_wait(&ring, 1)
                          : io_uring_submit_and_wait_timeout(&ring, &first, want, &batch_wait, nullptr);
        ++k.wait_calls;
        if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY && n != -ETIME) iom::throw_errno(-n, "io_uring_enter");
        k.sqes += n >= 0 ? static_cast<unsigned>(n) : n == -ETIME ? to_submit : 0;
        if (idle.on()) now = iom::IdleClock::now();
        got = iom::uring::reap(ring, k, reaped);
        for (unsigned i = 0; i < got; ++i) dispatch(reaped[i].user_data, reaped[i].res, reaped[i].flags);
        bufs->publish();  // every buffer this batch used goes back to the kernel, in one store
    }
}

// BATCHING. Woken by the first completion, a server faster than its clients
// enters once for every message or two. With many clients active, wait for up
// to --batch completions: one per 8 connections that received in the last 32
// waits (a lone client never waits for others, and idle connections, however
// many, make no one wait), never longer than --batch-wait-us. With deferred
// task work the kernel does not even wake us until the batch is there. A wait
// that reaped nothing means the clients are quiet: the next one sleeps until
// the first completion (else we would wake every --batch-wait-us: a spin).
unsigned Server::batch_target(unsigned last_reaped) {
    if (++epoch_waits == 32) {
        active = std::exchange(active_now, 0);
        epoch_waits = 0;
        ++epoch;
    }
    if (last_reaped == 0) return 1;
    return std::clamp<unsigned>(static_cast<unsigned>(active / 8), 1, batch);
}

void Server::dispatch(std::uint64_t user_data, int res, unsigned flags) {
    Conn* c = reinterpret_cast<Conn*>(user_data & ~op_mask);
    switch (static_cast<Op>(user_data & op_mask)) {
    case op_accept: on_accept(res, flags); break;
    case op_recv: on_recv(*c, res, flags); progress(*c); break;
    case op_send: on_send(*c, res); progress(*c); break;
    case op_stop: on_stop(); break;
    case op_pause: on_pause(); break;
    case op_idle: on_idle_sweep(); break;  // the timer fired (-ETIME), or a stop cancelled it
    case op_cancel: break;                 // the cancelled operation's own CQE is what counts
    }
}

// A connection: its socket, its output, and what it has in flight.
struct Conn {
    Conn(int s, std::size_t cap) : fd(s), sending(cap), queued(cap) {}
    iom::Fd fd;
    iom::ByteBuffer sending;         // read by the send in flight: nothing may move it
    iom::ByteBuffer queued;          // new output, behind it: the next send
    std::string spill;               // received after `queued` filled, before the cancel took hold
    unsigned inflight = 0;           // SQEs whose last CQE is not back: the Conn lives until 0
    bool recv_armed = false, multishot = false, cancel_sent = false;  // its recv: in flight, which, cancelled
    bool send_armed = false;         // its one send is in flight
    bool peer_done = false;          // the peer closed its side (a recv gave 0)
    bool closing = false;            // close() ran
    std::int64_t last_progress = 0;  // when a byte last moved either way (--idle-timeout)
    unsigned seen = 0;               // the epoch of its last receive: is it active? (BATCHING)
};

// on_accept. A multishot accept yields a CQE per client while F_MORE is set,
// and is re-armed when it ends; but not at the descriptor limit, where an
// io_uring accept (it takes a descriptor *before* it looks for a connection)
// fails at once, forever: a busy loop of completions. There, close the
// clients waiting (they see a close, not a hang) and pause with a timeout SQE.
void Server::on_accept(int res, unsigned flags) {
    if (!(flags & IORING_CQE_F_MORE)) accept_armed = false;
    if (res >= 0 && (stopping || conns.size() >= opt.max_connections)) {
        iom::trace("cqe accept -> fd {}: refused (--max-connections {})", res, opt.max_connections);
        ::close(res);
        ++k.accepts;
        ++k.refused;
    } else if (res >= 0) {
        iom::trace("cqe accept -> fd {}", res);
        ++k.accepts;
        iom::set_nodelay(res);
        Conn* c = *conns.insert(new Conn(res, opt.buffer_size)).first;
        c->last_progress = now;
        k.peak_connections = std::max<std::uint64_t>(k.peak_connections, conns.size());
        arm_recv(*c);
    } else if (res == -EMFILE || res == -ENFILE) {
        iom::uring::shed_and_pause(ring, k, reserve, listener.get(), -res, op_pause);
        paused = true;
    } else if (res != -ECANCELED && res != -ECONNABORTED && res != -EINTR) {
        iom::throw_errno(-res, "accept (io_uring)");
    }
    if (!accept_armed && !paused && !stopping) arm_accept();
}

// on_recv. A CQE names a ring buffer only if IORING_CQE_F_BUFFER is set: read
// the id and recycle only then (an id taken from any other CQE hands one
// buffer to two clients). The bytes are copied out and the buffer goes back
// at once. Without F_MORE the recv is finished: progress() re-arms it.
void Server::on_recv(Conn& c, int res, unsigned flags) {
    k.recv_calls += res != -ECANCELED;  // a recv the kernel did for us (cancelled ones did none)
    if (!(flags & IORING_CQE_F_MORE)) {
        c.recv_armed = false;
        --c.inflight;
    }
    if (flags & IORING_CQE_F_BUFFER) {
        auto bid = static_cast<unsigned short>(flags >> IORING_CQE_BUFFER_SHIFT);
        if (res > 0 && !c.closing) {
            iom::trace("cqe recv(fd {}) -> {} bytes, already in ring buffer #{}", c.fd.get(), res, bid);
            if (c.multishot && c.send_armed) stop_recv(c, "it sends ahead of its replies");  // sized recvs now
            iom::simulate_work(opt.work_us);
            std::span<char> in{bufs->buf(bid), static_cast<std::size_t>(res)};
            iom::echo_transform(opt.echo, in);
            std::size_t n = c.spill.empty() ? c.queued.append(in) : 0;  // what does not fit: to spill
            c.spill.append(in.data() + n, in.size() - n);
        }
        bufs->recycle(bid);
    }
    if (res >= 0) c.last_progress = now;
    if (res > 0) {
        active_now += c.seen != epoch;  // its first receive in this epoch (BATCHING)
        c.seen = epoch;
        k.recv_bytes += static_cast<unsigned>(res);
    } else if (res == 0) {
        iom::trace("cqe recv(fd {}) -> 0: the peer closed its side", c.fd.get());
        c.peer_done = true;
    } else if (res == -ENOBUFS) {
        // The ring ran dry within one batch: the data waits in the socket.
        // progress() re-arms; that SQE reaches the kernel after this batch's
        // buffers are back in the ring, so this cannot spin.
        iom::trace("cqe recv(fd {}) -> ENOBUFS: no ring buffer free, re-arm", c.fd.get());
        ++k.recv_nobufs;
    } else if (res != -ECANCELED) {
        iom::trace("cqe recv(fd {}) -> error {}", c.fd.get(), -res);
        k.resets += !c.closing;
        close(c);
    }
}

// on_send. One send in flight per connection: two can reorder. A short
// send's rest stays at the front of `sending` and goes next, before anything
// queued behind it.
void Server::on_send(Conn& c, int res) {
    k.send_calls += res != -ECANCELED;
    c.send_armed = false;
    --c.inflight;
    iom::trace("cqe send(fd {}) -> {} of {} bytes", c.fd.get(), res, c.sending.size());
    if (res > 0) {
        c.last_progress = now;
        k.send_bytes += static_cast<unsigned>(res);
        c.sending.consume(static_cast<std::size_t>(res));
    } else {
        k.resets += !c.closing;
        close(c);
    }
}

// progress, after any completion on `c`: move the bytes along, decide what to
// ask next. A recv is armed whenever the connection wants input and has none
// (the first, after a multishot ended, after ENOBUFS), and cancelled while
// `queued` is full (backpressure). The Conn is freed only at its last CQE:
// until then the kernel may still use its memory.
void Server::progress(Conn& c) {
    if (!c.closing) {
        c.spill.erase(0, c.queued.append(c.spill));  // older than anything received after it
        if (!c.send_armed && c.sending.empty() && !c.queued.empty()) {
            std::swap(c.sending, c.queued);  // no send in flight: the queue becomes the next send
            c.spill.erase(0, c.queued.append(c.spill));
        }
        if (!c.send_armed && !c.sending.empty()) {
            auto out = c.sending.data();
            io_uring_prep_send(sqe(op_send, &c), c.fd.get(), out.data(), out.size(), MSG_NOSIGNAL);
            ++c.inflight;
            c.send_armed = true;
        }
        if (c.spill.empty()) c.spill.shrink_to_fit();  // a burst's memory goes back
        bool want = !c.peer_done && !stopping && c.spill.empty() && !c.queued.full();
        if (want && !c.recv_armed) arm_recv(c);
        if (!want) stop_recv(c, "output full");
        if (c.peer_done && !c.send_armed && c.sending.empty() && c.queued.empty() && c.spill.empty()) {
            ++k.closed;
            close(c);
        }
    }
    if (c.closing && c.inflight == 0) {
        conns.erase(&c);
        delete &c;  // closes the socket
    }
}

// on_stop (SIGINT/SIGTERM): stop accepting, cancel everything; run() reaps
// until every Conn has seen its last CQE.
void Server::on_stop() {
    iom::trace("cqe poll(stop eventfd): stop, cancel {} connections", conns.size());
    stopping = true;
    if (accept_armed) cancel(op_accept);
    if (paused) cancel(op_pause);
    if (sweep_armed) cancel(op_idle);
    for (Conn* c : std::vector<Conn*>(conns.begin(), conns.end())) {
        close(*c);
        progress(*c);
    }
}

void Server::on_pause() {
    paused = false;
    if (!stopping && !accept_armed) arm_accept();
}

// on_idle_sweep, see IDLE above: shutdown(SHUT_RDWR) completes all in flight
// on the socket at once, even what a cancel may not reach.
void Server::on_idle_sweep() {
    sweep_armed = false;
    if (stopping) return;
    for (Conn* c : std::vector<Conn*>(conns.begin(), conns.end())) {
        if (c->closing || !idle.expired(c->last_progress, now)) continue;
        iom::trace("fd {}: no progress for --idle-timeout: shutdown(SHUT_RDWR), close", c->fd.get());
        ++k.idle_timeouts;
        ::shutdown(c->fd.get(), SHUT_RDWR);
        close(*c);
        progress(*c);
    }
    io_uring_prep_timeout(sqe(op_idle), &sweep_every, 0, 0);
    sweep_armed = true;
}

io_uring_sqe* Server::sqe(Op op, Conn* c) {
    io_uring_sqe* s = iom::uring::get_sqe(ring, k);  // a full ring is submitted first
    io_uring_sqe_set_data64(s, reinterpret_cast<std::uintptr_t>(c) | op);
    return s;
}

void Server::cancel(Op op, Conn* c) {
    io_uring_prep_cancel64(sqe(op_cancel), reinterpret_cast<std::uintptr_t>(c) | op, 0);
}

void Server::arm_accept() {
    io_uring_sqe* s = sqe(op_accept);
    if (multishot_accept) io_uring_prep_multishot_accept(s, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
    else io_uring_prep_accept(s, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);  // FALLBACK: an SQE per accept
    accept_armed = true;
}

// A multishot recv cannot be told how much room we have: it fills ring
// buffers while the socket has data. So multishot only while no output is
// pending (an echo's rhythm: request, reply, wait); else one recv for at most
// the room left in `queued`.
void Server::arm_recv(Conn& c) {
    io_uring_sqe* s = sqe(op_recv, &c);
    c.multishot = multishot_recv && c.sending.empty() && c.queued.empty();
    if (c.multishot) io_uring_prep_recv_multishot(s, c.fd.get(), nullptr, 0, 0);
    else io_uring_prep_recv(s, c.fd.get(), nullptr, c.queued.capacity() - c.queued.size(), 0);  // FALLBACK too
    s->flags |= IOSQE_BUFFER_SELECT;  // no buffer named: the kernel takes one from group 0 when data comes
    s->buf_group = 0;
    ++c.inflight;
    c.recv_armed = true;
    c.cancel_sent = false;
}

void Server::stop_recv(Conn& c, const char* why) {
    if (!c.recv_armed || c.cancel_sent) return;
    iom::trace("fd {}: {}: cancel its recv", c.fd.get(), why);
    cancel(op_recv, &c);
    c.cancel_sent = true;
}

void Server::close(Conn& c) {
    if (std::exchange(c.closing, true)) return;
    stop_recv(c, "closing");
    if (c.send_armed) cancel(op_send, &c);
}

Server::Server(const iom::ServerOptions& o, iom::Counters& counters, unsigned n, unsigned b, unsigned wait_us)
    : opt(o), k(counters), nbufs(n), batch(b), batch_wait{0, static_cast<long long>(wait_us) * 1000} {}

Server::~Server() {
    if (ring_ok) io_uring_queue_exit(&ring);
    for (Conn* c : conns) delete c;
}

void Server::setup(bool no_multishot) {
    io_uring_params p = iom::uring::init_ring(ring, 256);
    ring_ok = true;
    iom::uring::Multishot has = iom::uring::probe_multishot(ring);
    multishot_accept = !no_multishot && has.accept;
    multishot_recv = !no_multishot && has.recv;
    bufs.emplace(ring, nbufs, opt.buffer_size);
    iom::trace("io_uring: {} SQ / {} CQ entries, {}; fast poll: {}", p.sq_entries, p.cq_entries,
               p.flags ? "single issuer, deferred task work" : "plain setup",
               (p.features & IORING_FEAT_FAST_POLL) ? "yes (no worker threads for sockets)" : "no");
    iom::trace("multishot accept: {}; multishot recv: {}; provided-buffer ring: {} x {} bytes",
               multishot_accept ? "yes" : "no, single-shot", multishot_recv ? "yes" : "no, single-shot", nbufs,
               opt.buffer_size);
    // Non-blocking, so ReserveFd::shed's accept4 never blocks; io_uring's own
    // accept still waits (by polling inside the kernel).
    listener = iom::open_listener(opt, /*nonblocking=*/true);
}

}  // namespace

int main(int argc, char** argv) {
    iom::ServerOptions opt;
    opt.port = 9031;
    unsigned ring_buffers = 256, batch = 64, batch_wait_us = 200;
    bool no_multishot = false;
    std::vector<unsigned> powers_of_two;
    for (unsigned v = 1; v <= 32768; v *= 2) powers_of_two.push_back(v);
    CLI::App app{"uring_server: an io_uring proactor. Submit accept/recv/send, reap completions; the kernel "
                 "receives into a shared ring of provided buffers. Output per connection: 2 x --buffer-size.",
                 "uring_server"};
    iom::add_server_options(app, opt);
    app.add_option("--ring-buffers", ring_buffers, "Provided buffers of --buffer-size bytes, shared; a power of two")
        ->capture_default_str()
        ->check(CLI::IsMember(powers_of_two));  // the kernel indexes the ring with a mask
    app.add_flag("--no-multishot", no_multishot, "Single-shot accept and recv: the fallback for older kernels");
    app.add_option("--batch", batch, "Most completions one io_uring_enter waits for (1 per 8 active connections, "
                                     "up to this); 1: wake at the first")
        ->capture_default_str()
        ->check(CLI::Range(1u, 256u));
    app.add_option("--batch-wait-us", batch_wait_us, "The longest one io_uring_enter waits for a batch, in microseconds")
        ->capture_default_str()
        ->check(CLI::Range(1u, 100000u));
    return iom::server_main(app, argc, argv, opt, [&](iom::LiveCounters& live) {
        Server server(opt, live.counters(), ring_buffers, batch, batch_wait_us);
        server.setup(no_multishot);
        iom::announce(server.listener);
        server.run();
    });
}
