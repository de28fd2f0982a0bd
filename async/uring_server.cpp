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
// until a CQE gives it back. Each rule guards a real bug (docs/async.md):
//   - a CQE names a ring buffer only if it has IORING_CQE_F_BUFFER; an id
//     taken from any other CQE hands one buffer to two clients;
//   - one send in flight per connection (two can reorder), and the rest of a
//     short send goes before anything queued behind it;
//   - a multishot that ends (no F_MORE) or finds the ring dry (ENOBUFS) is
//     re-armed, or the connection silently stops receiving.
// The probe and the provided-buffer ring are set up in async/uring_setup.hpp.
// Output per connection: two ByteBuffers of --buffer-size, `sending` (read by
// the send in flight: nothing may move it) and `queued`. Ring buffers are
// copied out and returned at once, so a client that never reads cannot
// starve the others of the shared ring. A full `queued` cancels the recv
// (backpressure); CQEs already on their way go to `spill`.
//
// IDLE (--idle-timeout). An idle connection's recv (or stuck send) never
// completes; a timeout SQE every quarter timeout (at most 1 s) does, and a
// sweep follows. An expired connection gets shutdown(SHUT_RDWR), then close():
// all in flight on the socket completes now, even what a cancel may not reach,
// and the Conn (and the memory its send reads) lives until its last CQE.
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
#include <memory>
#include <optional>
#include <string>
#include <unordered_set>
#include <vector>

namespace {

// user_data = a Conn* (16-byte aligned: its low bits are free) | the operation.
// Without a Conn: the listener's accept, the stop poll, the EMFILE pause, a cancel, the idle sweep's timer.
static_assert(__STDCPP_DEFAULT_NEW_ALIGNMENT__ >= 16);
enum : std::uint64_t { op_recv = 1, op_send = 2, tag_accept = 1, tag_stop = 2, tag_pause = 3, tag_cancel = 4,
                       tag_idle = 5 };

struct Conn {
    Conn(int s, std::size_t cap) : fd(s), sending(cap), queued(cap) {}
    iom::Fd fd;
    iom::ByteBuffer sending, queued;  // the send in flight reads `sending`; new output goes to `queued`
    std::string spill;                // received after `queued` filled, before the cancel took hold
    unsigned inflight = 0;            // SQEs whose last CQE is not back: the Conn lives until 0
    bool recv_armed = false, multishot = false, cancel_sent = false, send_armed = false;
    bool peer_done = false, closing = false;
    std::int64_t last_progress = 0;   // when a byte last moved either way (--idle-timeout)
    unsigned seen = 0;                // the epoch of its last receive: is it active? (BATCHING)
};

struct Server {
    const iom::ServerOptions& opt;
    iom::Counters& k;
    unsigned nbufs;
    io_uring ring{};
    bool ring_ok = false, multishot_accept = false, multishot_recv = false;
    std::optional<iom::uring::BufRing> bufs;  // nbufs buffers of --buffer-size, buffer group 0
    iom::Fd listener;
    iom::ReserveFd reserve;
    std::unordered_set<Conn*> conns;
    bool accept_armed = false, paused = false, stopping = false, sweep_armed = false;
    __kernel_timespec pause_for{0, 100'000'000};
    iom::IdleClock idle{opt.idle_timeout};  // now: read once per io_uring_enter, only with --idle-timeout
    __kernel_timespec sweep_every{idle.period / 1'000'000'000, idle.period % 1'000'000'000};
    std::int64_t now = 0;
    unsigned batch = 64;                // --batch: most completions one enter waits for
    unsigned epoch = 1, epoch_waits = 0;  // BATCHING: an epoch is 32 waits
    std::size_t active = 0, active_now = 0;  // connections that received in the last epoch, in this one
    __kernel_timespec batch_wait{0, 0};  // --batch-wait-us: the longest it waits for them

    Server(const iom::ServerOptions& o, iom::Counters& c, unsigned n, unsigned b, unsigned wait_us)
        : opt(o), k(c), nbufs(n), batch(b), batch_wait{0, static_cast<long long>(wait_us) * 1000} {}
    ~Server() {
        if (ring_ok) io_uring_queue_exit(&ring);  // first: it cancels whatever still points into our memory
        for (Conn* c : conns) delete c;
    }
    void setup(bool no_multishot);
    static std::uint64_t ud(Conn* c, std::uint64_t op) { return reinterpret_cast<std::uintptr_t>(c) | op; }

    io_uring_sqe* sqe(std::uint64_t user_data) {
        io_uring_sqe* s;
        while (!(s = io_uring_get_sqe(&ring))) {  // the submission ring is full: hand it over, then retry
            iom::trace("submission ring full: io_uring_enter to submit {} SQEs", io_uring_sq_ready(&ring));
            int n = io_uring_submit(&ring);       // (something is queued, so this always enters the kernel)
            ++k.wait_calls;
            k.sqes += static_cast<unsigned>(std::max(n, 0));
        }
        io_uring_sqe_set_data64(s, user_data);
        return s;
    }
    void cancel(std::uint64_t target) { io_uring_prep_cancel64(sqe(tag_cancel), target, 0); }

    void arm_accept() {
        io_uring_sqe* s = sqe(tag_accept);
        if (multishot_accept) io_uring_prep_multishot_accept(s, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
        else io_uring_prep_accept(s, listener.get(), nullptr, nullptr, SOCK_CLOEXEC);  // FALLBACK: an SQE per accept
        accept_armed = true;
    }
    // A multishot recv cannot be told how much room we have: it fills ring
    // buffers while the socket has data. So multishot only while no output is
    // pending (an echo's rhythm: request, reply, wait); else one recv for at
    // most the room left in `queued`.
    void arm_recv(Conn& c) {
        io_uring_sqe* s = sqe(ud(&c, op_recv));
        c.multishot = multishot_recv && c.sending.empty() && c.queued.empty();
        if (c.multishot) io_uring_prep_recv_multishot(s, c.fd.get(), nullptr, 0, 0);
        else io_uring_prep_recv(s, c.fd.get(), nullptr, c.queued.capacity() - c.queued.size(), 0);  // FALLBACK too
        s->flags |= IOSQE_BUFFER_SELECT;  // no buffer named: the kernel takes one from group 0 when data comes
        s->buf_group = 0;
        ++c.inflight;
        c.recv_armed = true;
        c.cancel_sent = false;
    }
    void stop_recv(Conn& c, const char* why) {
        if (!c.recv_armed || c.cancel_sent) return;
        iom::trace("fd {}: {}: cancel its recv", c.fd.get(), why);
        cancel(ud(&c, op_recv));
        c.cancel_sent = true;
    }
    void close(Conn& c) {  // cancel what is in flight; the Conn goes when its last CQE is back
        if (std::exchange(c.closing, true)) return;
        stop_recv(c, "closing");
        if (c.send_armed) cancel(ud(&c, op_send));
    }

    // After any completion on `c`: move the bytes along, decide what to ask next.
    void progress(Conn& c) {
        if (!c.closing) {
            c.spill.erase(0, c.queued.append(c.spill));  // older than anything received after it
            if (!c.send_armed && c.sending.empty() && !c.queued.empty()) {
                std::swap(c.sending, c.queued);  // no send in flight: the queue becomes the next send
                c.spill.erase(0, c.queued.append(c.spill));
            }
            if (!c.send_armed && !c.sending.empty()) {
                auto out = c.sending.data();
                io_uring_prep_send(sqe(ud(&c, op_send)), c.fd.get(), out.data(), out.size(), MSG_NOSIGNAL);
                ++c.inflight;
                c.send_armed = true;
            }
            if (c.spill.empty()) c.spill.shrink_to_fit();  // a burst's memory goes back
            bool want = !c.peer_done && !stopping && c.spill.empty() && !c.queued.full();
            if (want && !c.recv_armed) arm_recv(c);  // the first, after a multishot ended, after ENOBUFS
            if (!want) stop_recv(c, "output full");  // backpressure, until the output drains
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

    void on_recv(Conn& c, int res, unsigned flags) {
        k.recv_calls += res != -ECANCELED;  // a recv the kernel did for us (cancelled ones did none)
        if (!(flags & IORING_CQE_F_MORE)) c.recv_armed = false, --c.inflight;  // this SQE is finished
        if (flags & IORING_CQE_F_BUFFER) {  // only then does the CQE name a buffer, and the buffer is ours
            auto bid = static_cast<unsigned short>(flags >> IORING_CQE_BUFFER_SHIFT);
            if (res > 0 && !c.closing) {
                iom::trace("cqe recv(fd {}) -> {} bytes, already in ring buffer #{}", c.fd.get(), res, bid);
                if (c.multishot && c.send_armed) stop_recv(c, "it sends ahead of its replies");  // sized recvs now
                iom::simulate_work(opt.work_us);
                std::span<char> in{bufs->buf(bid), static_cast<std::size_t>(res)};
                iom::echo_transform(opt.echo, in);
                std::size_t n = c.spill.empty() ? c.queued.append(in) : 0;
                c.spill.append(in.data() + n, in.size() - n);
            }
            bufs->recycle(bid);  // copied out: the shared ring never waits for a slow reader
        }
        if (res >= 0) c.last_progress = now;
        if (res > 0) {
            if (c.seen != epoch) c.seen = epoch, ++active_now;
            k.recv_bytes += static_cast<unsigned>(res);
        } else if (res == 0) {
            iom::trace("cqe recv(fd {}) -> 0: the peer closed its side", c.fd.get());
            c.peer_done = true;
        } else if (res == -ENOBUFS) {
            // The ring ran dry within one batch: the data waits in the socket.
            // progress() re-arms; that SQE reaches the kernel after this
            // batch's buffers are back in the ring, so this cannot spin.
            iom::trace("cqe recv(fd {}) -> ENOBUFS: no ring buffer free, re-arm", c.fd.get());
            ++k.recv_nobufs;
        } else if (res != -ECANCELED) {
            iom::trace("cqe recv(fd {}) -> error {}", c.fd.get(), -res);
            k.resets += !c.closing;
            close(c);
        }
    }

    void on_send(Conn& c, int res) {
        k.send_calls += res != -ECANCELED;
        c.send_armed = false;
        --c.inflight;
        iom::trace("cqe send(fd {}) -> {} of {} bytes", c.fd.get(), res, c.sending.size());
        if (res > 0) {  // maybe short: the rest stays at the front of `sending` and goes next
            c.last_progress = now;
            k.send_bytes += static_cast<unsigned>(res);
            c.sending.consume(static_cast<std::size_t>(res));
        } else {
            k.resets += !c.closing;
            close(c);
        }
    }

    void on_accept(int res, unsigned flags) {
        if (!(flags & IORING_CQE_F_MORE)) accept_armed = false;
        if (res >= 0 && (stopping || conns.size() >= opt.max_connections)) {
            iom::trace("cqe accept -> fd {}: refused (--max-connections {})", res, opt.max_connections);
            ::close(res);
            ++k.accepts, ++k.refused;
        } else if (res >= 0) {
            iom::trace("cqe accept -> fd {}", res);
            ++k.accepts;
            iom::set_nodelay(res);
            Conn* c = *conns.insert(new Conn(res, opt.buffer_size)).first;
            c->last_progress = now;
            k.peak_connections = std::max<std::uint64_t>(k.peak_connections, conns.size());
            arm_recv(*c);
        } else if (res == -EMFILE || res == -ENFILE) {
            // An io_uring accept takes a descriptor *before* it looks for a
            // connection: re-armed now, it fails now, forever, a busy loop of
            // completions. Close the clients waiting (they see a close, not a
            // hang) and pause accepting with a timeout SQE.
            ++k.accept_errors;
            iom::trace("cqe accept -> error {}: out of descriptors, shed the backlog, pause 100 ms", -res);
            while (reserve.shed(listener.get())) ++k.refused;
            io_uring_prep_timeout(sqe(tag_pause), &pause_for, 0, 0);
            paused = true;
        } else if (res != -ECANCELED && res != -ECONNABORTED && res != -EINTR) {
            iom::throw_errno(-res, "accept (io_uring)");
        }
        if (!accept_armed && !paused && !stopping) arm_accept();
    }

    void sweep_idle() {  // end the connections idle too long, re-arm the timer
        for (Conn* x : std::vector<Conn*>(conns.begin(), conns.end())) {
            if (x->closing || !idle.expired(x->last_progress, now)) continue;
            iom::trace("fd {}: no progress for --idle-timeout: shutdown(SHUT_RDWR), close", x->fd.get());
            ++k.idle_timeouts;
            ::shutdown(x->fd.get(), SHUT_RDWR), close(*x), progress(*x);  // see IDLE above
        }
        io_uring_prep_timeout(sqe(tag_idle), &sweep_every, 0, 0);
        sweep_armed = true;
    }

    void dispatch(std::uint64_t user_data, int res, unsigned flags) {
        auto* c = reinterpret_cast<Conn*>(user_data & ~std::uint64_t{15});
        std::uint64_t op = user_data & 15;
        if (c) {
            op == op_recv ? on_recv(*c, res, flags) : on_send(*c, res);
            progress(*c);
        } else if (op == tag_accept) {
            on_accept(res, flags);
        } else if (op == tag_idle) {  // the sweep's timer fired (-ETIME), or a stop cancelled it
            if (sweep_armed = false; !stopping) sweep_idle();
        } else if (op == tag_pause) {
            paused = false;
            if (!stopping && !accept_armed) arm_accept();
        } else if (op == tag_stop) {  // SIGINT/SIGTERM: stop accepting, cancel everything, reap until quiet
            iom::trace("cqe poll(stop eventfd): stop, cancel {} connections", conns.size());
            stopping = true;
            if (accept_armed) cancel(tag_accept);
            if (paused) cancel(tag_pause);
            if (sweep_armed) cancel(tag_idle);
            for (Conn* x : std::vector<Conn*>(conns.begin(), conns.end())) close(*x), progress(*x);
        }  // tag_cancel: its own result changes nothing; the cancelled operation's CQE does
    }

    void run() {
        io_uring_prep_poll_add(sqe(tag_stop), iom::stop_fd(), POLLIN);  // a stop is one more completion
        arm_accept();
        if (idle.on()) now = iom::IdleClock::now(), sweep_idle();  // arms the first timer
        struct Done { std::uint64_t user_data; int res; unsigned flags; };
        std::vector<Done> reaped(1024);
        bool quiet = false;  // the last wait timed out with nothing done
        while (!stopping || !conns.empty() || accept_armed || paused || sweep_armed) {
            // BATCHING. Woken by the first completion, a server faster than
            // its clients enters once for every message or two. With many
            // clients active, ask for up to --batch completions (one per 8
            // connections that received in the last 32 waits: a lone client
            // never waits for others, and idle connections, however many,
            // do not make anyone wait), but never longer than --batch-wait-us.
            // With deferred task work the kernel does not even wake us until
            // the batch is there. A wait that brought nothing means the
            // clients are quiet: the next one sleeps until the first
            // completion (else we would wake every --batch-wait-us: a spin).
            if (++epoch_waits == 32) active = std::exchange(active_now, 0), epoch_waits = 0, ++epoch;
            unsigned to_submit = io_uring_sq_ready(&ring);
            unsigned want = quiet ? 1 : std::clamp<unsigned>(static_cast<unsigned>(active / 8), 1, batch);
            iom::trace("io_uring_enter: submit {} SQEs, wait for {} completion(s)", to_submit, want);
            io_uring_cqe* first;  // the only place this process sleeps:
            int n = want == 1 ? io_uring_submit_and_wait(&ring, 1)
                              : io_uring_submit_and_wait_timeout(&ring, &first, want, &batch_wait, nullptr);
            ++k.wait_calls;
            if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY && n != -ETIME)
                iom::throw_errno(-n, "io_uring_enter");
            k.sqes += n >= 0 ? static_cast<unsigned>(n) : n == -ETIME ? to_submit : 0;
            if (idle.on()) now = iom::IdleClock::now();
            // Reap a batch: copy it out and free the completion ring first
            // (handling may submit, and submitting wants room for results).
            unsigned head, got = 0;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring, head, cqe) {
                if (got == reaped.size()) break;
                reaped[got++] = {cqe->user_data, cqe->res, cqe->flags};
            }
            io_uring_cq_advance(&ring, got);
            quiet = got == 0;
            k.cqes += got;
            k.wait_ready += got;
            for (unsigned i = 0; i < got; ++i) dispatch(reaped[i].user_data, reaped[i].res, reaped[i].flags);
            bufs->publish();  // every buffer this batch used goes back to the kernel, in one store
        }
    }
};

void Server::setup(bool no_multishot) {
    io_uring_params p = iom::uring::init_ring(ring, 256);
    ring_ok = true;
    iom::uring::Multishot has = iom::uring::probe_multishot(ring);
    multishot_accept = !no_multishot && has.accept, multishot_recv = !no_multishot && has.recv;
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
    iom::Counters counters;
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
    return iom::server_main(app, argc, argv, opt, counters, [&] {
        Server server(opt, counters, ring_buffers, batch, batch_wait_us);
        server.setup(no_multishot);
        iom::announce(server.listener);
        server.run();
    });
}
