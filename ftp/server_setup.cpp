#include "ftp/server_setup.hpp"

#include "common/error.hpp"
#include "common/net.hpp"
#include "common/server.hpp"
#include "ftp/fs.hpp"

#include <fmt/core.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdio>

namespace iom::ftp {

Served::Served(const Config& config, Counters& counters)
    : cfg(config), k(counters), users(load_users(cfg)), root(open_site_root(cfg.root)), registry(cfg.limits),
      site{cfg.limits, cfg.anonymous, &users, &registry, root.get()} {}

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

void control_connection_opened(Served& s, int fd, std::size_t open) {
    set_nodelay(fd);
    int one = 1;
    check_sys(setsockopt(fd, SOL_SOCKET, SO_OOBINLINE, &one, sizeof one), "setsockopt SO_OOBINLINE");
    ++s.k.ftp_sessions;
    s.k.peak_connections = std::max<std::uint64_t>(s.k.peak_connections, open);
}

}  // namespace iom::ftp
