// The small runtime under uring_coro_server: C++20 coroutines on io_uring,
// written out, no coroutine library. Three pieces:
//
//   Op    one io_uring operation as something a coroutine can co_await.
//         await_suspend puts an SQE in the ring whose user_data is the Op
//         itself; the reap loop stores the CQE's result in it and resumes
//         the coroutine; await_resume hands the result over. The Op lives in
//         the suspended coroutine's frame, so it outlives its operation.
//   Task  a coroutine that runs detached. It starts when Loop::spawn resumes
//         it and its frame frees itself when the body ends.
//   Loop  owns the ring: sqe() (a full ring is submitted and retried), run()
//         (submit, wait, reap a batch, resume each waiter), stop().
//
// A coroutine suspended in `co_await loop.recv(...)` IS the proactor's
// operation in flight; its frame (locals, buffer, where it was in the loop)
// is the per-connection state an event-driven server keeps by hand.
//
// Shutdown and lifetimes: stop() sets a flag and submits one cancel for
// every request in flight (IORING_ASYNC_CANCEL_ANY, Linux 5.19). Each
// cancelled operation completes with -ECANCELED, its coroutine resumes and
// returns, and its frame goes: normal unwinding, sockets closed by their Fd.
// An Op awaited after stop() does not reach the kernel: it completes at once
// with -ECANCELED, so nothing new starts. run() returns when no task is left.
// Should run() throw, ~Loop first tears the ring down (the kernel cancels
// and drops what still points into our frames) and only then destroys the
// frames still suspended.
#pragma once

#include "async/uring_setup.hpp"
#include "common/counters.hpp"
#include "common/error.hpp"
#include "common/trace.hpp"

#include <liburing.h>

#include <algorithm>
#include <cerrno>
#include <coroutine>
#include <exception>
#include <span>
#include <unordered_set>
#include <utility>
#include <vector>

namespace iom::uring {

class Loop;

class Task {
public:
    struct promise_type {
        Loop* loop = nullptr;
        Task get_return_object() { return Task(std::coroutine_handle<promise_type>::from_promise(*this)); }
        std::suspend_always initial_suspend() noexcept { return {}; }  // spawn() starts it
        std::suspend_never final_suspend() noexcept { return {}; }     // the frame frees itself at the end
        void return_void() noexcept {}
        void unhandled_exception() noexcept;  // handed to the loop: run() rethrows it
        ~promise_type();                      // the loop forgets this task
    };
    Task(Task&& other) noexcept : h_(std::exchange(other.h_, {})) {}
    Task& operator=(Task&&) = delete;
    ~Task() {
        if (h_) h_.destroy();  // created but never spawned
    }

private:
    friend class Loop;
    explicit Task(std::coroutine_handle<promise_type> h) : h_(h) {}
    std::coroutine_handle<promise_type> h_;
};

// What the reap loop needs of any operation: where the result goes, whom to wake.
struct Completion {
    std::coroutine_handle<> waiter;
    int res = 0;
};

class Loop {
public:
    // io_uring_queue_init; throws (one line) when io_uring is unavailable.
    explicit Loop(Counters& k, unsigned entries = 256) : k_(k) {
        io_uring_params p = init_ring(ring_, entries);  // one submitter; work runs as we wait (uring_setup.hpp)
        trace("io_uring: {} SQ / {} CQ entries, {}", p.sq_entries, p.cq_entries,
              p.flags ? "single issuer, deferred task work" : "plain setup");
    }
    Loop(const Loop&) = delete;
    Loop& operator=(const Loop&) = delete;
    ~Loop() {
        io_uring_queue_exit(&ring_);  // first: nothing in the kernel may point into a frame we free
        for (void* frame : std::vector<void*>(tasks_.begin(), tasks_.end()))
            std::coroutine_handle<>::from_address(frame).destroy();
    }

    void spawn(Task t) {
        auto h = std::exchange(t.h_, {});
        h.promise().loop = this;
        tasks_.insert(h.address());
        h.resume();  // runs until its first co_await
    }

    bool stopping() const noexcept { return stopping_; }
    void stop() {
        if (std::exchange(stopping_, true)) return;
        trace("stop: cancel every operation in flight");
        io_uring_prep_cancel64(sqe(), 0, IORING_ASYNC_CANCEL_ANY);  // its own CQE (user_data 0) wakes no one
    }

    // A free SQE, user_data 0 (a full ring is submitted first: uring_setup.hpp).
    io_uring_sqe* sqe() {
        io_uring_sqe* s = get_sqe(ring_, k_);
        io_uring_sqe_set_data64(s, 0);
        return s;
    }

    // Submit, sleep until something completes, resume the waiters; until no task is left.
    void run() {
        struct Done { std::uint64_t user_data; int res; };
        std::vector<Done> batch(1024);
        while (!tasks_.empty()) {
            trace("io_uring_enter: submit {} SQEs, wait for completions", io_uring_sq_ready(&ring_));
            int n = io_uring_submit_and_wait(&ring_, 1);  // the only place this process sleeps
            ++k_.wait_calls;
            if (n < 0 && n != -EINTR && n != -EAGAIN && n != -EBUSY) throw_errno(-n, "io_uring_enter");
            k_.sqes += static_cast<unsigned>(std::max(n, 0));
            // Copy the batch out and free the completion ring before resuming
            // anyone: a resumed coroutine submits, and results need room.
            unsigned head, got = 0;
            io_uring_cqe* cqe;
            io_uring_for_each_cqe(&ring_, head, cqe) {
                if (got == batch.size()) break;
                batch[got++] = {cqe->user_data, cqe->res};
            }
            io_uring_cq_advance(&ring_, got);
            k_.cqes += got;
            k_.wait_ready += got;
            for (unsigned i = 0; i < got; ++i) {
                if (auto* op = reinterpret_cast<Completion*>(batch[i].user_data)) {
                    op->res = batch[i].res;
                    op->waiter.resume();  // runs the coroutine to its next co_await (or its end)
                }
                if (error_) std::rethrow_exception(std::exchange(error_, nullptr));
            }
        }
    }

    // The awaitable operations. `prep` fills the SQE; see Op below.
    template <typename Prep>
    class Op : Completion {
    public:
        Op(Loop& loop, Prep prep) : loop_(loop), prep_(std::move(prep)) {}
        bool await_ready() noexcept {  // after stop(): complete at once, start nothing new
            if (loop_.stopping()) res = -ECANCELED;
            return loop_.stopping();
        }
        void await_suspend(std::coroutine_handle<> h) {
            waiter = h;
            io_uring_sqe* s = loop_.sqe();
            prep_(s);
            io_uring_sqe_set_data(s, static_cast<Completion*>(this));  // the CQE will find us here
        }
        int await_resume() const noexcept { return res; }  // what the kernel's CQE said: bytes, fd, or -errno

    private:
        Loop& loop_;
        Prep prep_;
    };

    auto accept(int listener) {
        return Op(*this, [=](io_uring_sqe* s) { io_uring_prep_accept(s, listener, nullptr, nullptr, SOCK_CLOEXEC); });
    }
    auto recv(int fd, std::span<char> into) {
        return Op(*this, [=](io_uring_sqe* s) { io_uring_prep_recv(s, fd, into.data(), into.size(), 0); });
    }
    auto send(int fd, std::span<const char> bytes) {
        return Op(*this, [=](io_uring_sqe* s) { io_uring_prep_send(s, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL); });
    }
    auto poll(int fd, unsigned events) {
        return Op(*this, [=](io_uring_sqe* s) { io_uring_prep_poll_add(s, fd, events); });
    }
    auto sleep(long long ns) {  // a timeout SQE; the timespec lives in the Op, in the frame
        return Op(*this, [ts = __kernel_timespec{ns / 1'000'000'000, ns % 1'000'000'000}](io_uring_sqe* s) mutable {
            io_uring_prep_timeout(s, &ts, 0, 0);
        });
    }

private:
    friend struct Task::promise_type;
    Counters& k_;
    io_uring ring_{};
    bool stopping_ = false;
    std::unordered_set<void*> tasks_;  // frames of the tasks alive
    std::exception_ptr error_;
};

inline void Task::promise_type::unhandled_exception() noexcept { loop->error_ = std::current_exception(); }
inline Task::promise_type::~promise_type() {
    if (loop) loop->tasks_.erase(std::coroutine_handle<promise_type>::from_promise(*this).address());
}

}  // namespace iom::uring
