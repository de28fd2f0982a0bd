// Setting up io_uring, once, for every io_uring server: the ring itself, a
// free SQE even when the submission ring is full, the pause after EMFILE,
// the operations a server needs, and for uring_server which
// multishot operations this kernel has (the probe) and the provided-buffer
// ring.
//
// A provided-buffer ring: buffers lent to the kernel, which picks one only
// when data arrives for a recv that named the group instead of a buffer
// (IOSQE_BUFFER_SELECT). So an idle connection holds no memory; the CQE of a
// recv says which buffer it filled (IORING_CQE_F_BUFFER, the id in its flags).
//
// Two pieces of memory: the ring itself (entries of {addr, len, bid}, shared
// with the kernel, which reads them from the head while we add at the tail)
// and the buffers. liburing 2.3 has no io_uring_setup_buf_ring (2.4+), so the
// ring is mapped and registered by hand. A buffer given back with recycle()
// becomes visible to the kernel only when publish() moves the tail: a batch
// of them in one store.
#pragma once

#include "common/counters.hpp"
#include "common/error.hpp"
#include "common/reserve_fd.hpp"
#include "common/trace.hpp"

#include <liburing.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <stdexcept>
#include <utility>
#include <vector>

namespace iom::uring {

// One thread submits (SINGLE_ISSUER); the kernel's completion work runs only
// while we wait in io_uring_enter (DEFER_TASKRUN). Linux 6.1+; an older
// kernel gets a plain ring. Throws (one line) when io_uring is unavailable.
inline io_uring_params init_ring(io_uring& ring, unsigned entries) {
    io_uring_params p{};
    p.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
    int rc = io_uring_queue_init_params(entries, &ring, &p);
    if (rc == -EINVAL) p = {}, rc = io_uring_queue_init_params(entries, &ring, &p);
    if (rc < 0)
        throw_errno(-rc, "io_uring is unavailable here (io_uring_queue_init; kernel too old, "
                         "sysctl kernel.io_uring_disabled, or a seccomp filter)");
    return p;
}

// A free SQE. The submission ring is full: hand what is queued to the kernel
// (counted as an io_uring_enter), then retry. Its user_data is the caller's.
inline io_uring_sqe* get_sqe(io_uring& ring, Counters& k) {
    io_uring_sqe* s;
    while (!(s = io_uring_get_sqe(&ring))) {
        trace("submission ring full: io_uring_enter to submit {} SQEs", io_uring_sq_ready(&ring));
        int n = io_uring_submit(&ring);  // something is queued: this enters the kernel
        ++k.wait_calls;
        k.sqes += static_cast<unsigned>(std::max(n, 0));
    }
    return s;
}

// A completion (CQE), copied out of the completion ring.
struct Reaped {
    std::uint64_t user_data;
    int res;
    unsigned flags;
};

// Copy the completions that are there out of the ring (at most out.size())
// and free their slots before any is handled: handling submits, and what it
// submits will want room for its results. Returns how many; counted as cqes
// and wait_ready.
inline unsigned reap(io_uring& ring, Counters& k, std::vector<Reaped>& out) {
    unsigned head, got = 0;
    io_uring_cqe* cqe;
    io_uring_for_each_cqe(&ring, head, cqe) {
        if (got == out.size()) break;
        out[got++] = {cqe->user_data, cqe->res, cqe->flags};
    }
    io_uring_cq_advance(&ring, got);
    k.cqes += got;
    k.wait_ready += got;
    return got;
}

// Out of descriptors at an ACCEPT (EMFILE, ENFILE). An io_uring accept takes
// the descriptor before it looks for a connection: re-armed now, it fails
// now, forever, a busy loop of completions. So close the clients waiting in
// the backlog (they see a close, not a hang: ReserveFd's spare descriptor
// accepts them) and submit a 100 ms TIMEOUT tagged `pause_user_data`: the
// caller accepts again when it completes.
inline void shed_and_pause(io_uring& ring, Counters& k, ReserveFd& reserve, int listener, int err,
                           std::uint64_t pause_user_data) {
    static __kernel_timespec pause_for{0, 100'000'000};  // read by the kernel when it takes the SQE
    ++k.accept_errors;
    trace("cqe accept -> error {}: out of descriptors, shed the backlog, pause 100 ms", err);
    while (reserve.shed(listener)) ++k.refused;
    io_uring_sqe* s = get_sqe(ring, k);
    io_uring_prep_timeout(s, &pause_for, 0, 0);
    io_uring_sqe_set_data64(s, pause_user_data);
}

// Every operation a server submits must be in this kernel's probe: one that
// is missing is one line (its name, and the kernel it needs) and exit 1.
using Operations = std::span<const std::pair<int, const char*>>;  // {IORING_OP_X, "X"}
inline void require_operations(io_uring& ring, Operations needed, const char* kernel) {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    for (auto [op, name] : needed) {
        if (probe && io_uring_opcode_supported(probe, op)) continue;
        io_uring_free_probe(probe);
        throw std::runtime_error(
            fmt::format("io_uring has no {} operation on this kernel ({} needed)", name, kernel));
    }
    io_uring_free_probe(probe);
}

// The probe lists opcodes. Multishot has no bit of its own, but each came
// with an opcode: IORING_OP_SOCKET with multishot accept (5.19),
// IORING_OP_SEND_ZC with multishot recv (6.0).
struct Multishot {
    bool accept = false, recv = false;
};
inline Multishot probe_multishot(io_uring& ring) {
    io_uring_probe* probe = io_uring_get_probe_ring(&ring);
    auto has = [&](int op) { return probe && io_uring_opcode_supported(probe, op); };
    Multishot m{.accept = has(IORING_OP_SOCKET), .recv = has(IORING_OP_SEND_ZC)};
    io_uring_free_probe(probe);
    return m;
}

class BufRing {
public:
    // `count` buffers (a power of two: the kernel indexes with a mask) of `size` bytes, as group 0.
    BufRing(io_uring& ring, unsigned count, std::size_t size) : count_(count), size_(size) {
        void* mem = mmap(nullptr, bytes(), PROT_READ | PROT_WRITE, MAP_ANONYMOUS | MAP_PRIVATE, -1, 0);
        if (mem == MAP_FAILED) throw_sys("mmap buffer ring");
        br_ = static_cast<io_uring_buf_ring*>(mem);
        io_uring_buf_reg reg{.ring_addr = reinterpret_cast<std::uintptr_t>(mem), .ring_entries = count, .bgid = 0};
        if (int rc = io_uring_register_buf_ring(&ring, &reg, 0); rc < 0) {
            munmap(br_, bytes());
            throw_errno(-rc, "io_uring_register_buf_ring (provided-buffer rings need Linux 5.19)");
        }
        io_uring_buf_ring_init(br_);
        bufs_ = std::make_unique_for_overwrite<char[]>(std::size_t{count} * size);  // touched when used
        for (unsigned i = 0; i < count; ++i) recycle(i);
        publish();
    }
    BufRing(const BufRing&) = delete;
    BufRing& operator=(const BufRing&) = delete;
    ~BufRing() { munmap(br_, bytes()); }  // after io_uring_queue_exit: the kernel lets go first

    char* buf(unsigned bid) { return bufs_.get() + std::size_t{bid} * size_; }
    void recycle(unsigned bid) {  // lend it to the kernel again (visible after publish)
        io_uring_buf_ring_add(br_, buf(bid), static_cast<unsigned>(size_), static_cast<unsigned short>(bid),
                              io_uring_buf_ring_mask(count_), unpublished_++);
    }
    void publish() {
        if (unpublished_) io_uring_buf_ring_advance(br_, std::exchange(unpublished_, 0));
    }

private:
    std::size_t bytes() const { return count_ * sizeof(io_uring_buf); }
    unsigned count_;
    std::size_t size_;
    io_uring_buf_ring* br_ = nullptr;
    std::unique_ptr<char[]> bufs_;
    int unpublished_ = 0;  // buffers returned since the tail last moved
};

}  // namespace iom::uring
