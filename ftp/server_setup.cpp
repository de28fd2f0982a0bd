#include "ftp/server_setup.hpp"

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/server.hpp"
#include "ftp/fs.hpp"

#include <fmt/core.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <algorithm>
#include <cerrno>
#include <system_error>
#include <cstdio>

namespace iom::ftp {

Served::Served(const Config& config, Counters& counters)
    : cfg(config), k(counters), users(load_users(cfg)), root(open_site_root(cfg.root)), registry(cfg.limits),
      log(cfg.log), site{cfg.limits, cfg.anonymous, &users, &registry, root.get(), &log} {
    if (!cfg.passive_address.empty()) site.passive_address = parse_address(cfg.passive_address, 0);
    if (cfg.tls.on()) tls.emplace(cfg.tls);
    site.tls = cfg.tls.on();
    site.require_tls = cfg.tls.require;
}

int run_server(int argc, char** argv, const ServerInfo& info, const std::function<void(Served&)>& serve) {
    Config cfg;
    cfg.server.port = info.port;
    CLI::App app{info.about, info.name};
    add_ftp_options(app, cfg);
    return server_main(app, argc, argv, cfg.server, [&](LiveCounters& live) {
        Served served(cfg, live.counters());
        if (served.users.empty() && !cfg.anonymous)
            fmt::print(stderr, "{}: warning: no --user, --users or --anonymous: nobody can log in\n", info.name);
        serve(served);
    });
}

Fd listen_passive(const PassiveRequest& r) {
    if (r.port_lo == 0) return listen_tcp(r.local, 8, /*nonblocking=*/true);  // non-blocking: for ReserveFd::shed
    static unsigned next = 0;  // where the next search starts: ports in turn, not the lowest again and again
    const unsigned n = r.port_hi - r.port_lo + 1u;
    for (unsigned i = 0; i < n; ++i) {
        Address a = r.local;
        auto port = static_cast<std::uint16_t>(r.port_lo + (next + i) % n);
        reinterpret_cast<sockaddr_in*>(&a.storage)->sin_port = htons(port);  // the same offset in sockaddr_in6
        try {
            Fd fd = listen_tcp(a, 8, /*nonblocking=*/true);
            next = (next + i + 1) % n;
            return fd;
        } catch (const std::system_error& e) {
            if (e.code().value() != EADDRINUSE) throw;
        }
    }
    throw std::system_error(EADDRINUSE, std::generic_category(),
                            fmt::format("every port of --passive-ports {}-{} is in use", r.port_lo, r.port_hi));
}

void control_connection_opened(Served& s, int fd, std::size_t open) {
    set_nodelay(fd);
    int one = 1;
    check_sys(setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one), "setsockopt SO_OOBINLINE");
    ++s.k.ftp_sessions;
    s.k.peak_connections = std::max<std::uint64_t>(s.k.peak_connections, open);
}

}  // namespace iom::ftp
