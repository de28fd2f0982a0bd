// Idle connections, really held by the server: what `ioclient compare` and
// `ioclient lab` open beside a load to show what idle connections cost.
//
// They are opened in batches; after each batch a probe (one byte echoed on a
// new connection) proves the server has taken every connection before it. A
// server that accepts slowly (a fork per connection) is thus measured with
// its idle connections really held, not still waiting in the kernel's listen
// queue.
#pragma once

#include "common/fd.hpp"
#include "common/net.hpp"

#include <vector>

namespace iom::client {

struct IdleSet {
    std::vector<Fd> fds;
    unsigned failed = 0;    // connects that did not complete
    unsigned probes = 0;    // probe connections made (the server counts them as accepts)
    bool all_taken = true;  // every probe was answered
};

// Open `n` connections to `server` and leave them idle (keep the IdleSet
// alive as long as they should stay open). The caller's RLIMIT_NOFILE must
// have room: raise_nofile_limit (client/lib/server_process.hpp).
IdleSet hold_idle(const Address& server, unsigned n);

}  // namespace iom::client
