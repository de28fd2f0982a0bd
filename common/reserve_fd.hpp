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

#include <cstdint>

namespace iom {

class ReserveFd {
public:
    ReserveFd();  // opens /dev/null as the reserve

    // Call when accept failed with EMFILE or ENFILE: drops one waiting
    // connection. Returns true if it dropped one, false if none was waiting
    // (it never sleeps, even on a blocking listener).
    bool shed(int listen_fd);
    // Drops every connection waiting now; returns how many.
    std::uint64_t shed_all(int listen_fd);

    // For a blocking accept loop, after shed_all: sleep until the next client
    // is waiting. Out of descriptors, a blocking accept fails at once whether
    // or not anyone waits (the descriptor is taken before the wait), so
    // retrying would spin; when the next client comes, accept is tried again
    // (descriptors may have been freed meanwhile) and it is served or shed.
    static void wait_for_client(int listen_fd);

private:
    Fd spare_;
};

}  // namespace iom
