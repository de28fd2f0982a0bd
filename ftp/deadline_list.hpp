// The reactor's timers (epoll_ftp_server): one ordered list of deadlines.
//
// Every timer of every session (login, idle, a failed login's delay, the
// passive connect, a stalled transfer, the rate window) is an entry here,
// and epoll_wait's timeout is the time to the earliest: after each wait the
// expired ones fire. One mechanism for all of them, and no descriptor per
// timer (a timerfd each would cost a descriptor, and a timerfd_settime call
// whenever a deadline moves). The proactor needs none of this: it hands its
// earliest deadline to the kernel as a TIMEOUT SQE.
//
// LAZY. A deadline that moved later (a transfer made progress, a command
// came) keeps its old place; it fires early, finds nothing due, and takes
// its new place. Progress then costs no list operation per byte moved.
#pragma once

#include "ftp/clock.hpp"

#include <algorithm>
#include <climits>
#include <map>

namespace iom::ftp {

// What has a deadline: a handler of the reactor.
struct Timed {
    virtual Nanos deadline() const { return never; }  // when on_time() is due
    virtual void on_time() {}
    virtual ~Timed() = default;

    std::multimap<Nanos, Timed*>::iterator slot;  // its place in the list, when `armed`
    bool armed = false, gone = false;             // gone: cancelled for good
};

class DeadlineList {
public:
    // Put `t` in the list at t.deadline() (lazily, above).
    void schedule(Timed& t) {
        Nanos at = t.deadline();
        if (t.armed) {
            if (t.slot->first <= at) return;
            list_.erase(t.slot);
            t.armed = false;
        }
        if (at == never || t.gone) return;
        t.slot = list_.emplace(at, &t);
        t.armed = true;
    }

    // Out of the list for good: its handler is being freed.
    void cancel(Timed& t) {
        if (t.armed) list_.erase(t.slot);
        t.armed = false, t.gone = true;
    }

    // Fire every entry due at `now`; each that is still there takes its next place.
    void fire(Nanos now) {
        while (!list_.empty() && list_.begin()->first <= now) {
            Timed* t = list_.begin()->second;
            list_.erase(list_.begin());
            t->armed = false;
            if (t->deadline() <= now) t->on_time();
            schedule(*t);
        }
    }

    // epoll_wait's timeout: until the earliest deadline, rounded up; -1 (forever) when none.
    int wait_ms(Nanos now) const {
        if (list_.empty()) return -1;
        Nanos left = (list_.begin()->first - now + ms - 1) / ms;
        return static_cast<int>(std::clamp<Nanos>(left, 0, INT_MAX));
    }

private:
    std::multimap<Nanos, Timed*> list_;
};

}  // namespace iom::ftp
