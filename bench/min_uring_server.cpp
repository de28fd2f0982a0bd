// min_uring_server — the yardstick for uring_server: the least an io_uring
// echo server can do with what io_uring offers — multishot accept, multishot
// recv into a provided-buffer ring, one io_uring_enter for a batch of
// completions, a single-issuer ring with deferred task work. bench/pair.sh
// measures it beside uring_server (what the project's server costs beyond the
// model) and beside min_epoll_server (the model against epoll's, with nothing
// else in the way).
//
// One thread. A receive's CQE names a ring buffer; its bytes are copied to
// the connection's output and the buffer goes straight back to the ring. One
// send per connection in flight; what a short send left goes first. The batch
// as in uring_server: wait for one completion per 8 open connections (at most
// 64) or 200 us, whichever comes first, and for a single one after a wait that
// brought nothing. No counters, no bound on output, no EMFILE handling, no
// graceful stop: SIGTERM ends it.
//
//   min_uring_server --port P    -> "listening on 127.0.0.1:PORT", serves until killed
//
// Built with the rest of the project (bench/CMakeLists.txt).
#include "yardstick.hpp"

#include <liburing.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

namespace {

constexpr unsigned kBufs = 1024, kBufSize = 4096;
constexpr std::uint64_t kAccept = 1, kRecv = 2, kSend = 3;  // user_data = fd << 2 | operation

struct Conn {
    std::string sending, queued;  // the send in flight reads `sending`
    bool recv_armed = false, send_armed = false, peer_done = false;
};

}  // namespace

int main(int argc, char** argv) {
    const char* me = "min_uring_server";
    int listener = yardstick::listen_on(me, yardstick::parse_port(me, argc, argv), 0);
    io_uring ring;
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    if (int rc = io_uring_queue_init_params(4096, &ring, &p); rc < 0) yardstick::die(me, "io_uring_setup", -rc);

    // The provided-buffer ring, group 0 (liburing 2.3 has no io_uring_setup_buf_ring).
    void* mem = mmap(nullptr, kBufs * sizeof(io_uring_buf), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
    if (mem == MAP_FAILED) yardstick::die(me, "mmap", errno);
    auto* br = static_cast<io_uring_buf_ring*>(mem);
    io_uring_buf_reg reg{};
    reg.ring_addr = reinterpret_cast<std::uintptr_t>(mem), reg.ring_entries = kBufs, reg.bgid = 0;
    if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) yardstick::die(me, "buffer ring", -rc);
    io_uring_buf_ring_init(br);
    std::vector<char> bufs(std::size_t{kBufs} * kBufSize);
    auto give_back = [&](unsigned bid, unsigned nth) {  // visible to the kernel after io_uring_buf_ring_advance
        io_uring_buf_ring_add(br, &bufs[std::size_t{bid} * kBufSize], kBufSize, static_cast<unsigned short>(bid),
                              io_uring_buf_ring_mask(kBufs), static_cast<int>(nth));
    };
    for (unsigned i = 0; i < kBufs; ++i) give_back(i, i);
    io_uring_buf_ring_advance(br, kBufs);

    std::vector<Conn> conns(1024);  // by descriptor
    auto sqe = [&](std::uint64_t data) {
        io_uring_sqe* s;
        while (!(s = io_uring_get_sqe(&ring))) io_uring_submit(&ring);
        io_uring_sqe_set_data64(s, data);
        return s;
    };
    auto arm_accept = [&] { io_uring_prep_multishot_accept(sqe(kAccept), listener, nullptr, nullptr, SOCK_CLOEXEC); };
    auto arm_recv = [&](int fd) {
        io_uring_sqe* s = sqe(std::uint64_t(fd) << 2 | kRecv);
        io_uring_prep_recv_multishot(s, fd, nullptr, 0, 0);
        s->flags |= IOSQE_BUFFER_SELECT;
        s->buf_group = 0;
        conns[static_cast<std::size_t>(fd)].recv_armed = true;
    };
    auto send_next = [&](int fd) {
        Conn& c = conns[static_cast<std::size_t>(fd)];
        if (c.send_armed) return;
        if (c.sending.empty()) std::swap(c.sending, c.queued);
        if (c.sending.empty()) return;
        io_uring_prep_send(sqe(std::uint64_t(fd) << 2 | kSend), fd, c.sending.data(), c.sending.size(), MSG_NOSIGNAL);
        c.send_armed = true;
    };
    arm_accept();

    std::size_t open = 0;
    bool quiet = false;
    __kernel_timespec wait{0, 200'000};
    for (;;) {
        unsigned want = quiet ? 1 : std::clamp<unsigned>(static_cast<unsigned>(open / 8), 1, 64);
        io_uring_cqe* first;
        int rc = want == 1 ? io_uring_submit_and_wait(&ring, 1)
                           : io_uring_submit_and_wait_timeout(&ring, &first, want, &wait, nullptr);
        if (rc < 0 && rc != -EINTR && rc != -ETIME && rc != -EBUSY && rc != -EAGAIN)
            yardstick::die(me, "io_uring_enter", -rc);
        unsigned head, got = 0, returned = 0;
        io_uring_cqe* cqe;
        io_uring_for_each_cqe(&ring, head, cqe) {
            ++got;
            std::uint64_t data = cqe->user_data;
            int res = cqe->res, fd = static_cast<int>(data >> 2);
            bool more = cqe->flags & IORING_CQE_F_MORE;
            if (data == kAccept) {
                if (!more) arm_accept();
                if (res < 0) continue;
                yardstick::nodelay(res);
                if (static_cast<std::size_t>(res) >= conns.size()) conns.resize(static_cast<std::size_t>(res) * 2);
                conns[static_cast<std::size_t>(res)] = Conn{};
                ++open;
                arm_recv(res);
                continue;
            }
            Conn& c = conns[static_cast<std::size_t>(fd)];
            if ((data & 3) == kRecv) {
                c.recv_armed = more;
                if (cqe->flags & IORING_CQE_F_BUFFER) {  // copy out, give the buffer back at once
                    unsigned bid = cqe->flags >> IORING_CQE_BUFFER_SHIFT;
                    if (res > 0) c.queued.append(&bufs[std::size_t{bid} * kBufSize], static_cast<std::size_t>(res));
                    give_back(bid, returned++);
                }
                if (res > 0) send_next(fd);
                if (res == 0 || (res < 0 && res != -ENOBUFS)) c.peer_done = true;  // it left (or reset)
                else if (!more) arm_recv(fd);  // the multishot ended, or the ring ran dry: ask again
            } else {  // kSend
                c.send_armed = false;
                if (res > 0) c.sending.erase(0, static_cast<std::size_t>(res)), send_next(fd);
                else c.peer_done = true, c.sending.clear(), c.queued.clear();  // it reset: drop its output
            }
            if (c.peer_done && !c.recv_armed && !c.send_armed && c.sending.empty() && c.queued.empty())  // all done
                c = Conn{}, close(fd), --open;
        }
        io_uring_cq_advance(&ring, got);
        io_uring_buf_ring_advance(br, static_cast<int>(returned));
        quiet = got == 0;
    }
}
