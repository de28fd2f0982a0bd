#include "client/lib/idle.hpp"

#include "client/lib/connection.hpp"
#include "common/error.hpp"

#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <chrono>

namespace iom::client {

namespace {

using Clock = std::chrono::steady_clock;

constexpr unsigned kIdleBatch = 256;   // below every server's listen backlog (511)
constexpr Millis kProbeTimeout{10000};  // generous: a probe proves the server took a batch

// Wait until each of `p` reports one of its events (or an error); false at the deadline.
bool wait_each(std::vector<pollfd>& p, Clock::time_point deadline) {
    for (std::size_t done = 0; done < p.size();) {
        auto left = std::chrono::duration_cast<Millis>(deadline - Clock::now()).count();
        if (left <= 0) return false;
        int n = ::poll(p.data(), p.size(), static_cast<int>(left));
        if (n < 0 && errno != EINTR) throw_sys("poll");
        for (auto& q : p)
            if (n > 0 && q.fd >= 0 && q.revents != 0) {
                q.fd = -1;  // poll ignores it from now on
                ++done;
            }
    }
    return true;
}

// One byte echoed on a new connection. (Its connect cannot hang: at most
// one batch, fewer than the listen backlog, waits in the accept queue.)
bool probe(const Address& a) {
    auto conn = Connection::open(a);
    return conn.send_all("p") && conn.recv_exact(1, kProbeTimeout).has_value();
}

}  // namespace

IdleSet hold_idle(const Address& server, unsigned n) {
    IdleSet idle;
    idle.fds.reserve(n);
    for (unsigned opened = 0; opened < n;) {
        unsigned batch = std::min(kIdleBatch, n - opened);
        std::vector<pollfd> p;
        for (unsigned i = 0; i < batch; ++i) {
            idle.fds.push_back(start_connect(server));
            p.push_back({idle.fds.back().get(), POLLOUT, 0});
        }
        wait_each(p, Clock::now() + kProbeTimeout);
        for (std::size_t i = idle.fds.size() - batch; i < idle.fds.size(); ++i)
            idle.failed += connect_result(idle.fds[i].get()) != 0;
        opened += batch;
        if (idle.all_taken) {
            ++idle.probes;
            idle.all_taken = probe(server);
        }
    }
    return idle;
}

}  // namespace iom::client
