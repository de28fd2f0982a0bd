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

// Where a handler is in the list. T, a handler of the reactor, has a
// member `timer` of this type, and deadline() and on_time(): no base class
// (a polymorphic base would add a destructor to every handler's chain).
template <typename T>
struct DeadlineSlot {
    typename std::multimap<Nanos, T*>::iterator at;  // its place in the list, when `armed`
    bool armed = false, gone = false;                // gone: cancelled for good
};

template <typename T>
class DeadlineList {
public:
    // Put `t` in the list at t.deadline() (lazily, above).
    void schedule(T& t) {
        Nanos at = t.deadline();
        if (t.timer.armed) {
            if (t.timer.at->first <= at) return;
            list_.erase(t.timer.at);
            t.timer.armed = false;
        }
        if (at == never || t.timer.gone) return;
        t.timer.at = list_.emplace(at, &t);
        t.timer.armed = true;
    }

    // Out of the list for good: its handler is being freed.
    void cancel(T& t) {
        if (t.timer.armed) list_.erase(t.timer.at);
        t.timer.armed = false;
        t.timer.gone = true;
    }

    // Fire every entry due at `now`; each that is still there takes its next place.
    void fire(Nanos now) {
        while (!list_.empty() && list_.begin()->first <= now) {
            T* t = list_.begin()->second;
            list_.erase(list_.begin());
            t->timer.armed = false;
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
    std::multimap<Nanos, T*> list_;
};

}  // namespace iom::ftp
