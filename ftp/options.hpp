// The command line both FTP servers share (CLI11): where the files are, who
// may log in, and every limit, each with a --help line and a range check.
//
// The common options come from common/server.hpp (--host, --port, --backlog,
// --trace, --stats-file); the echo servers' own (--echo, --work-us,
// --buffer-size, --max-connections, --idle-timeout) are taken out again and
// FTP's say what they mean here (--max-sessions, --idle-timeout in FTP's sense).
// The servers do not call these themselves: ftp/server_setup.hpp's
// run_server does, for both.
#pragma once

#include "common/server.hpp"
#include "ftp/auth.hpp"
#include "ftp/limits.hpp"
#include "ftp/tls.hpp"

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

namespace iom::ftp {

struct Config {
    ServerOptions server;                  // --host --port --backlog --trace --stats-file
    std::string root = "ftp-root";         // --root: every user's home is ROOT/NAME, anonymous's ROOT/pub
    std::vector<std::string> user_entries; // --user NAME:PASSWORD (repeatable)
    std::string users_file;                // --users FILE ("name:crypt-hash" lines)
    bool anonymous = false;                // --anonymous
    Limits limits;
    bool sendfile = true;                  // --no-sendfile: copy through a user-space buffer instead
    std::string passive_address;           // --passive-address: the IPv4 address PASV tells (behind NAT)
    std::string log = "-";                 // --log FILE: the access log (ftp/access_log.hpp); "-" stderr, "none" off
    TlsOptions tls;                        // --tls-cert --tls-key --require-tls --tls-session-reuse (ftp/tls.hpp)
};

// Add every FTP option to `app`; the values in `cfg` are the defaults shown.
void add_ftp_options(CLI::App& app, Config& cfg);

// The users the options name. Throws std::invalid_argument / std::runtime_error
// with a one-line message on a malformed entry or users file.
Users load_users(const Config& cfg);

}  // namespace iom::ftp
