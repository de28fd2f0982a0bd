// What both FTP servers do around their model, so that each server's file
// shows only how it waits: the command line (options.hpp), the users, the
// site root, the session registry and the Site every Session shares, the
// warning when nobody can log in, the socket options of a control
// connection, and the exit report (common/server.hpp's server_main).
//
// A server's main() reads:
//     return iom::ftp::run_server(argc, argv, {"epoll_ftp_server", 2121, "what this model is"},
//                                 [](const iom::ftp::Served& s) { Server(s).run(); });
#pragma once

#include "common/counters.hpp"
#include "common/fd.hpp"
#include "ftp/options.hpp"
#include "ftp/session.hpp"

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>

namespace iom::ftp {

// The users, the root (opened O_PATH, created if missing), the registry that
// counts sessions against the limits, and the Site over them. Built after the
// command line is parsed; throws with a one-line message (a bad user entry,
// a root that cannot be made).
struct Served {
    explicit Served(const Config& config, Counters& counters);
    Served(const Served&) = delete;
    Served& operator=(const Served&) = delete;

    const Config& cfg;
    Counters& k;  // written by the server's loop, printed at exit
    Users users;
    Fd root;
    SessionRegistry registry;
    AccessLog log;  // --log
    std::optional<TlsServer> tls;  // --tls-cert, --tls-key: FTPS
    Site site;
};

struct ServerInfo {
    const char* name;    // "epoll_ftp_server": --help, errors, the exit report
    std::uint16_t port;  // the default --port
    const char* about;   // --help's description: the model
};

// Parse the command line, set up what is Served, warn on stderr when nobody
// can log in, run `serve`, then print the counters (and --stats-file). The
// exit code: 0, 1 after an error (one line), 2 after a bad option.
int run_server(int argc, char** argv, const ServerInfo& info, const std::function<void(Served&)>& serve);

// PASV/EPSV's listener, as both servers open it: on the control
// connection's local address, a port the kernel picks, or with
// --passive-ports the first free one of the range from a rotating start
// (none free: std::system_error EADDRINUSE, and the session answers 425).
Fd listen_passive(const PassiveRequest& r);

// A new control connection, as both servers want it: TCP_NODELAY (replies
// are small and must not wait for an ACK) and SO_OOBINLINE (urgent data,
// ftplib's ABOR, arrives in order with the rest). Counted: ftp_sessions and
// peak_connections (`open` sessions, this one included).
void control_connection_opened(Served& s, int fd, std::size_t open);

// The client closed (EOF) or reset its control connection: the Session is
// told once (`gone` remembers), and a reset is counted.
inline void control_peer_gone(Session& session, bool& gone, Counters& k, bool reset) {
    if (gone) return;
    gone = true;
    k.resets += reset;
    session.peer_closed();
}

}  // namespace iom::ftp
