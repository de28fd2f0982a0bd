// The TLS cases of ioclient ftp check (run with --tls): explicit FTPS as
// RFC 4217 has it, and what a server must refuse once it speaks TLS — clear
// bytes on a PROT P data connection, a data connection that does not resume
// the control connection's session (when the server requires reuse), a
// handshake of garbage, a clear login (when it requires TLS). A server whose
// FEAT has no AUTH TLS skips them all; a rule the server does not enforce
// (reuse, TLS required) is a SKIP that says so, found by trying.
#include "client/ftp/check_support.hpp"

#include <fmt/format.h>
#include <poll.h>
#include <sys/socket.h>

namespace iom::client::ftp {

namespace {

ClientOptions clear_options(const CheckOptions& o) {
    ClientOptions c = client_options(o);
    c.tls = nullptr;
    return c;
}

// A reason to skip when the server offers no TLS: no --tls given, or no
// "AUTH TLS" line in its FEAT (asked before login, in clear, as curl does not
// but lftp does).
std::optional<CaseResult> no_auth_tls(const CheckOptions& o) {
    if (!o.tls) return skip("run with --tls (and --cacert FILE or --insecure)");
    Client c = Client::connect(o.url, clear_options(o));
    Reply feat = c.command("FEAT");
    c.quit();
    if (feat.code != 211 || feat.text.find("AUTH TLS") == std::string::npos)
        return skip("the server's FEAT lists no AUTH TLS: " + feat.last_line());
    return std::nullopt;
}

// Does the server end the connection within `timeout`? Whatever it sends
// first (a TLS alert, a reply in clear) is read and dropped.
bool closes_within(int fd, milliseconds timeout) {
    char buf[4096];
    for (auto end = std::chrono::steady_clock::now() + timeout;;) {
        auto left = std::chrono::duration_cast<milliseconds>(end - std::chrono::steady_clock::now());
        pollfd p{fd, POLLIN, 0};
        int rc = ::poll(&p, 1, static_cast<int>(std::max<long>(left.count(), 0)));
        if (rc == 0) return false;
        if (rc < 0 && errno == EINTR) continue;
        ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) return true;  // EOF, or a reset
    }
}

CaseResult tls_login(const CheckOptions& o) {
    if (auto s = no_auth_tls(o)) return *s;
    Client c = Client::connect(o.url, client_options(o));  // AUTH TLS, 234, the handshake
    c.log_in(o.url);                                        // USER, PASS inside TLS; PBSZ 0, PROT P
    std::string version = c.control().version();
    c.quit();
    return pass(fmt::format("AUTH TLS 234, {}, then USER/PASS/PBSZ/PROT inside it", version));
}

CaseResult tls_prot_p_transfer(const CheckOptions& o) {
    if (auto s = no_auth_tls(o)) return *s;
    Scratch s(o);
    const std::string name = s.name("tls"), bytes = content(300 * 1024 + 7, 21);
    Client c = session(o);
    put(c, name, bytes);
    std::string got = get(c, name);
    c.quit();
    if (got != bytes) return fail("STOR, then RETR over TLS: " + describe(bytes, got));
    return pass(fmt::format("{} bytes up and back, both data connections TLS", bytes.size()));
}

// Under PROT P, `command` (STOR or LIST) on a data connection left clear:
// for a STOR, clear bytes sent; for a LIST, what arrives read. The server's
// answer in words, or what makes the case fail. A server may end the whole
// session instead of replying (vsftpd writes "500 OOPS: ..." in clear inside
// the TLS control connection, and exits): a refusal too.
struct ClearAttempt {
    std::string said;
    std::optional<std::string> failure;
};

ClearAttempt clear_data_attempt(const CheckOptions& o, const std::string& command) {
    Client c = session(o);
    Stream data(dial(with_port(c.peer(), passive(c)), nullptr, 0, o.timeout));
    try {
        Reply r = c.command(command);
        if (r.kind() == 1 && command.starts_with("STOR")) {
            send_data(data, "clear bytes where a TLS ClientHello belongs\r\n", o.timeout);  // may fail: closed
            data.reset();
            r = c.read_reply();
        } else if (r.kind() == 1) {
            // A TLS server sends nothing before our ClientHello (a TLS
            // alert, 0x15, is not a listing).
            auto got = read_all(data, std::min(o.timeout, milliseconds(1000)));
            if (got && !got->empty() && (*got)[0] != '\x15')
                return {"", fmt::format("{} after PROT P sent {} bytes in clear", command, got->size())};
            data.reset();
            r = c.read_reply();
        }
        if (r.kind() == 2) return {"", fmt::format("{} with a clear data connection after PROT P: {}", command,
                                                   r.last_line())};
        c.quit();
        return {r.last_line(), std::nullopt};
    } catch (const std::exception& e) {
        return {fmt::format("the session ended ({})", e.what()), std::nullopt};
    }
}

// PROT P, then a data connection that stays clear: a STOR whose bytes are
// clear, and a LIST read in clear. Neither may end in 2xx, and no file of
// the STOR's name may be left.
CaseResult tls_clear_data_refused(const CheckOptions& o) {
    if (auto s = no_auth_tls(o)) return *s;
    Scratch s(o);
    const std::string name = s.name("clear-data");
    ClearAttempt stor = clear_data_attempt(o, "STOR " + name);
    if (stor.failure) return fail(*stor.failure);
    ClearAttempt list = clear_data_attempt(o, "LIST");
    if (list.failure) return fail(*list.failure);
    Client v = session(o);
    Reply size = v.command("SIZE " + name);
    v.quit();
    if (size.code != 550)
        return fail(fmt::format("STOR: {}; LIST: {}; then SIZE {}: {} (a file was left; want 550)", stor.said,
                                list.said, name, size.last_line()));
    return pass(fmt::format("STOR: {}; LIST: {}; no file left", stor.said, list.said));
}

// A data connection with a TLS session of its own, not the control
// connection's: a server that requires reuse refuses it.
CaseResult tls_reuse_required(const CheckOptions& o) {
    if (auto s = no_auth_tls(o)) return *s;
    Client c = session(o);
    Stream data(dial(with_port(c.peer(), passive(c)), nullptr, 0, o.timeout));
    Reply r = c.command("LIST");
    if (r.kind() != 1) return fail("LIST: " + r.last_line());
    std::string handshake = "the handshake completed";
    try {
        c.secure_data(data, false);
        read_all(data, o.timeout);
    } catch (const std::exception& e) {
        handshake = e.what();
    }
    data.reset();
    Reply done = c.read_reply();
    c.quit();
    if (done.kind() == 2)
        return skip("server does not require TLS session reuse: a fresh session's LIST got " + done.last_line());
    return pass(fmt::format("a data connection with a fresh TLS session: {} ({})", done.last_line(), handshake));
}

// AUTH TLS, 234, then bytes that are no ClientHello: the server must end
// that connection, and go on serving others.
CaseResult tls_garbage_handshake(const CheckOptions& o) {
    if (auto s = no_auth_tls(o)) return *s;
    Client c = Client::connect(o.url, clear_options(o));
    if (Reply r = c.command("AUTH TLS"); r.code != 234) return fail("AUTH TLS: " + r.last_line());
    std::string garbage;
    for (int i = 0; i < 16; ++i) garbage += "this is not a TLS ClientHello\r\n";
    try {
        c.send_raw(garbage);
    } catch (const std::exception&) {
        // Closed already.
    }
    if (!closes_within(c.control_fd(), o.timeout))
        return fail(fmt::format("garbage instead of a ClientHello: the connection still open after {} ms",
                                o.timeout.count()));
    Client again = session(o);
    again.quit();
    return pass("the server closed that connection; a new session logs in over TLS");
}

// USER and PASS without AUTH TLS, on a server that requires TLS.
CaseResult tls_required_refuses_clear_login(const CheckOptions& o) {
    if (auto s = no_auth_tls(o)) return *s;
    Client c = Client::connect(o.url, clear_options(o));
    Reply r = c.command("USER " + o.url.user);
    std::string said = "USER: " + r.last_line();
    if (r.kind() == 3) {
        r = c.command("PASS " + o.url.password);
        said += "; PASS: " + r.last_line();
    }
    c.quit();
    if (r.kind() == 2) return skip("server does not require TLS: a clear login got " + r.last_line());
    if (r.code == 530 || r.code == 534) return pass(said);
    if (r.kind() == 4 || r.kind() == 5)
        return pass(fmt::format("{} (refused, though 530 or 534 is the usual answer)", said));
    return fail("a clear login: " + said);
}

}  // namespace

const std::vector<FtpCase>& ftp_tls_check_cases() {
    static const std::vector<FtpCase> cases{
        {"tls-login", "AUTH TLS, 234, a TLS handshake, then USER/PASS inside it: logged in", {"--tls"}, tls_login},
        {"tls-prot-p-transfer", "PBSZ 0, PROT P: 300 KiB up and back over TLS data connections, arrives whole",
         {"--tls"}, tls_prot_p_transfer},
        {"tls-clear-data-refused", "after PROT P, a STOR of clear bytes and a LIST read in clear: no 2xx, no file "
                                   "left (SIZE 550)", {"--tls"}, tls_clear_data_refused},
        {"tls-reuse-required", "a data connection that does not resume the control connection's TLS session is "
                               "refused (SKIP when the server accepts it)", {"--tls", "TLS session reuse required"},
         tls_reuse_required},
        {"tls-garbage-handshake", "AUTH TLS, 234, then garbage instead of a ClientHello: the server closes that "
                                  "connection and still serves a new session", {"--tls"}, tls_garbage_handshake},
        {"tls-required-refuses-clear-login", "USER/PASS without AUTH TLS: refused, 530 or 534 (SKIP when the server "
                                             "lets a clear login in)", {"--tls", "TLS required"},
         tls_required_refuses_clear_login},
    };
    return cases;
}

}  // namespace iom::client::ftp
