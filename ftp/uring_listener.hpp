// The passive listener of one session in uring_ftp_server: PASV/EPSV's
// listening socket and its one ACCEPT in flight.
//
// As in the reactor, it accepts one connection, only from the control
// connection's host: a stranger is closed unserved and the ACCEPT goes on.
// Unlike the reactor, the listener is not simply closed when it is no
// longer wanted (a new PASV, a PORT, the transfer over): its ACCEPT is the
// kernel's, so it is cancelled, and the listening socket is closed only
// when that ACCEPT comes back. A new PASV meanwhile waits for it (the
// session has one op_pasv in flight at a time), then opens, and its reply
// comes from completed().
#pragma once

#include "common/counters.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"
#include "common/reserve_fd.hpp"
#include "ftp/requests.hpp"

#include <liburing.h>

#include <functional>
#include <optional>

namespace iom::ftp {

class UringListener {
public:
    // What the session does for it: submit its ACCEPT (an SQE tagged so that
    // its CQE comes back to completed()), and cancel it.
    struct Ring {
        std::function<io_uring_sqe*()> submit;
        std::function<void()> cancel;
    };
    UringListener(Ring ring, Counters& k, ReserveFd& reserve, int trace_fd)
        : ring_(std::move(ring)), k_(k), reserve_(reserve), trace_fd_(trace_fd) {}

    // PASV/EPSV: listen on r.local (port 0) and submit the ACCEPT. The reply
    // for the Session, or nullopt when the old listener's ACCEPT must come
    // back first (completed() gives the reply then).
    std::optional<PassiveResult> open(const PassiveRequest& r);
    // Not wanted any more: cancel the ACCEPT (or close at once if none).
    void retire();
    bool waiting() const { return in_flight_ && !retired_; }  // a connection can still come

    // The ACCEPT's CQE. What it brings for the session: the data connection,
    // the reply to a PASV that waited, or an error (no connection will come).
    struct Outcome {
        Fd data;
        std::optional<PassiveResult> reply;
        int error = 0;
    };
    Outcome completed(int res);

private:
    std::optional<PassiveResult> listen(const PassiveRequest& r);
    void accept();

    Ring ring_;
    Counters& k_;
    ReserveFd& reserve_;
    int trace_fd_;
    Fd sock_;
    Address peer_, from_;
    bool in_flight_ = false, retired_ = false;
    std::optional<PassiveRequest> next_;  // a PASV waiting for the old ACCEPT to come back
};

}  // namespace iom::ftp
