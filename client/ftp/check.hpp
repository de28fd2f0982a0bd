// ioclient ftp check: the conformance and hostile suite for any FTP server.
// Each case plays a client, good or bad, against the server at the URL —
// the command sequences curl, lftp and ftplib send, TYPE A, resume both
// ways, a stalled download beside whole ones, and every security rule of
// the capstone (docs/ftp.md): the PORT bounce, a stranger on the passive
// port, paths out of the root, CR and NUL in names, an over-long line, PASV
// in a loop, ABOR as urgent data, STOR seen whole or not at all. One line
// per case, PASS/FAIL/SKIP, with the client/lib/cases.hpp runner that the
// echo suites use. A behaviour the RFCs leave open is a SKIP with its
// reason, never a FAIL.
//
// The check writes files named iomcheck-* in the URL's directory (it needs
// a user who may write there), and deletes them after each case.
//
// --tls (FTPS, RFC 4217) makes every session of every case log in over TLS
// with PROT P, and adds the TLS cases (check_tls.cpp).
#pragma once

#include "client/ftp/tls_stream.hpp"
#include "client/ftp/url.hpp"
#include "client/lib/cases.hpp"

#include <CLI/CLI.hpp>

#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>
#include <vector>

namespace iom::client::ftp {

struct CheckOptions {
    Url url;                 // the directory to work in, and the login
    std::string local_root;  // that directory on this machine ("": unknown; the symlink case then skips)
    std::chrono::milliseconds timeout{10000};  // the longest wait; also how long "no connection arrives" is watched
    std::shared_ptr<const TlsContext> tls;     // --tls: every session logs in over TLS, PROT P; and the TLS cases
};

using FtpCase = Case<CheckOptions>;

// Every case, in the order they run (with --tls each logs in over TLS).
const std::vector<FtpCase>& ftp_check_cases();
// The TLS cases (check_tls.cpp), run after those with --tls.
const std::vector<FtpCase>& ftp_tls_check_cases();

struct CheckCommand {
    CLI::App* cmd = nullptr;
    std::string url, local_root;
    double timeout = 10;
    TlsOptions tls;
    std::vector<std::string> cases;  // --case: only these
    bool list = false;
};

// `ioclient ftp check` on `parent`; run it after parsing with check_main.
void add_check_command(CLI::App& parent, CheckCommand& c);
int check_main(const CheckCommand& c, std::ostream& out);

}  // namespace iom::client::ftp
