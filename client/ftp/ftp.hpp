// ioclient ftp: the homework's FTP client, and the suite's FTP load tool.
//   ioclient ftp get ftp://USER:PASS@HOST:PORT/PATH [LOCAL]   one download, with a progress bar
//   ioclient ftp put LOCAL ftp://USER:PASS@HOST:PORT/PATH     one upload, with a progress bar
//   ioclient ftp ls  ftp://USER:PASS@HOST:PORT/DIR            a listing (LIST, MLSD or NLST)
//   ioclient ftp load ftp://USER:PASS@HOST:PORT/DIR --sessions N --get FILE --put SIZE
//   ioclient ftp check ftp://USER:PASS@HOST:PORT/DIR          the conformance and hostile suite (check.hpp)
// -C resumes a get or a put; --tls makes any of them explicit FTPS
// (tls_stream.hpp). The exit status is 0 only when every byte
// arrived whole; 1 when a transfer failed; 2 for a bad URL or option.
#pragma once

#include "client/ftp/check.hpp"
#include "client/ftp/load.hpp"
#include "client/ftp/tls_stream.hpp"

#include <CLI/CLI.hpp>

#include <string>

namespace iom::client::ftp {

struct TransferOptions {
    std::string url, local;
    bool resume = false;             // -C
    std::string resume_with = "appe";  // put -C: APPE, or REST + STOR
    std::string format = "list";     // ls: list, mlsd or nlst
    ProgressMode progress = ProgressMode::automatic;
    double timeout = 30;             // seconds
    bool pasv = false;               // PASV only, never EPSV
    TlsOptions tls;                  // --tls, --cacert, --insecure
};

struct FtpCommand {
    CLI::App* ftp = nullptr;
    CLI::App *get = nullptr, *put = nullptr, *ls = nullptr, *load = nullptr;
    TransferOptions transfer;  // get, put, ls
    LoadOptions load_opt;      // load
    bool json = false;         // load --json
    CheckCommand check;        // check
};

// Add `ftp` and its subcommands to `app`; run the chosen one after parsing.
void add_ftp_command(CLI::App& app, FtpCommand& cmd);
int ftp_main(const FtpCommand& cmd);

}  // namespace iom::client::ftp
