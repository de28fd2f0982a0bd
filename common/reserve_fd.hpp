// Running out of descriptors without spinning.
//
// When the process has no descriptor left, accept fails with EMFILE but the
// connection stays queued on the listening socket. A readiness loop is then
// told "readable" again at once, fails again, and burns a core until some
// client leaves. The cure: keep one descriptor in reserve. On EMFILE, free
// it, accept the waiting connection, close that at once (the client sees a
// clean close instead of hanging), and take the reserve back.
#pragma once

#include "common/fd.hpp"

namespace iom {

class ReserveFd {
public:
    ReserveFd();  // opens /dev/null as the reserve

    // Call when accept failed with EMFILE or ENFILE: drops one waiting
    // connection. Returns true if it dropped one.
    bool shed(int listen_fd);

private:
    Fd spare_;
};

}  // namespace iom
