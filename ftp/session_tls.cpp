// FTPS (RFC 4217) in the protocol core: the commands that turn TLS on, and
// the policy of --require-tls. The TLS itself is the server's (ftp/tls.hpp):
// the core only asks for it (TlsRequest) and hears how it went (TlsResult),
// and marks each data transfer PROT P or not (TransferRequest::tls).
//
//   C: AUTH TLS      S: 234 (in clear)   -> TlsRequest   <- TlsResult: the control connection is TLS
//   C: USER / PASS   (now encrypted)
//   C: PBSZ 0        S: 200 PBSZ=0       (TLS has no protection buffer: 0 is the only size)
//   C: PROT P        S: 200              every data connection from now on is TLS
//   C: EPSV, RETR    -> TransferRequest{tls = true}: the data connection's handshake first
#include "ftp/session.hpp"

#include "ftp/command.hpp"

namespace iom::ftp {

void Session::cmd_auth(const std::string& arg) {
    if (!site_.tls) return reply(502, "AUTH not available: this server has no certificate (--tls-cert).");
    std::string mechanism = upper(arg);
    if (mechanism != "TLS" && mechanism != "SSL" && mechanism != "TLS-C")
        return reply(504, "Only AUTH TLS is supported.");
    if (tls_) return reply(503, "Already using TLS.");
    if (logged_in_) return reply(503, "AUTH TLS must come before the login.");
    reply(234, "AUTH TLS successful; start the TLS handshake.");
    // Whatever the client sent in clear behind the AUTH line was never
    // encrypted: run after the handshake, it would pass for protected
    // commands (the STARTTLS injection of CVE-2011-0411). Dropped.
    queue_.clear();
    queued_bytes_ = 0;
    reader_ = LineReader(site_.limits.max_line);
    user_given_ = false;  // a USER given in clear does not carry over (RFC 4217 section 4)
    wait_ = Wait::tls;
    requests_.emplace_back(TlsRequest{});
}

void Session::complete(TlsResult r) {
    if (wait_ != Wait::tls) return;
    wait_ = Wait::none;
    if (!r.error.empty()) {  // nothing can be said: the connection is neither clear nor TLS
        if (site_.log) site_.log->tls_failed(peer_, r.error);
        return close_session();
    }
    tls_ = true;
    pump();
}

void Session::cmd_pbsz(const std::string&) {
    if (!tls_) return reply(503, "PBSZ needs AUTH TLS first.");
    pbsz_ = true;
    reply(200, "PBSZ=0");  // any size asked: TLS streams, so 0 (RFC 4217 section 8)
}

void Session::cmd_prot(const std::string& arg) {
    if (!tls_) return reply(503, "PROT needs AUTH TLS first.");
    if (!pbsz_) return reply(503, "PROT needs PBSZ first.");
    std::string level = upper(arg);
    if (level == "P") {
        prot_private_ = true;
        return reply(200, "Protection level set to P: data connections are TLS.");
    }
    if (level == "C") {
        if (site_.require_tls) return reply(534, "Policy requires PROT P (--require-tls).");
        prot_private_ = false;
        return reply(200, "Protection level set to C: data connections in clear.");
    }
    if (level == "S" || level == "E") return reply(536, "PROT " + level + " is not supported with TLS.");
    reply(504, "Unknown protection level.");
}

bool Session::refuse_clear_login() {
    if (!site_.require_tls || tls_) return false;
    reply(530, "TLS required: send AUTH TLS before logging in (--require-tls).");
    return true;
}

bool Session::refuse_clear_data() {
    if (!site_.require_tls || prot_private_) return false;
    reply(521, "Data connections must be TLS: send PBSZ 0 and PROT P first (--require-tls).");
    return true;
}

}  // namespace iom::ftp
