// A blocking FTP client: one control connection, and a data connection per
// transfer (RFC 959; EPSV from RFC 2428; SIZE, REST and MLSD from RFC 3659).
// What ioclient ftp get/put/ls/load are built on.
//
// Every transfer is passive: the client asks where to connect (EPSV, or
// PASV when the server does not know EPSV), connects there, then sends the
// command. It always connects to the address of the control connection's
// peer, whatever a PASV reply names, so a server (or a NAT in front of it)
// cannot send the client somewhere else. Every wait is bounded by the
// timeout: a server that stops answering is an error, not a hang.
//
// With a TLS context in its options it speaks explicit FTPS (RFC 4217, as
// curl's --ssl-reqd does): AUTH TLS right after the greeting, and an error,
// never a clear session, when the server refuses it; the login inside TLS;
// then PBSZ 0 and PROT P, and every data connection TLS as well, resuming
// the control connection's session (tls_stream.hpp says what each step is).
#pragma once

#include "client/ftp/reply.hpp"
#include "client/ftp/tls_stream.hpp"
#include "client/ftp/url.hpp"
#include "common/fd.hpp"
#include "common/net.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>

namespace iom::client::ftp {

// The server refused: what was asked and the reply, in one line
// ("RETR /nope: 550 No such file or directory.").
class FtpError : public std::runtime_error {
public:
    FtpError(const std::string& command, const Reply& reply)
        : std::runtime_error(command + ": " + reply.last_line()), code_(reply.code) {}
    int code() const { return code_; }

private:
    int code_;
};

// The port of a passive reply: "229 ... (|||PORT|)" to EPSV, or
// "227 ... (h1,h2,h3,h4,p1,p2)" to PASV (whose address is not used: data
// connections go to the control connection's peer). nullopt for any other
// reply, or one that cannot be read.
std::optional<std::uint16_t> passive_port(const Reply& r);

// `a` with its port replaced.
Address with_port(Address a, std::uint16_t port);

// Wait for `events` on `fd`; throws naming `what` when the timeout passes.
void wait_for(int fd, short events, std::chrono::milliseconds timeout, const char* what);
// Connect with a deadline, then make the socket blocking again.
Fd connect_within(const Address& to, std::chrono::milliseconds timeout);

struct ClientOptions {
    std::chrono::milliseconds timeout{30000};  // the longest wait for a reply, a connect or data bytes
    bool epsv = true;                          // false: PASV only
    std::shared_ptr<const TlsContext> tls;     // FTPS; nullptr: clear
};

class Client {
public:
    // Resolve the host, connect, read the greeting, log in (USER, PASS) and
    // switch to binary (TYPE I). Throws on any failure, naming it.
    static Client login(const Url& url, ClientOptions opt = {});
    // Only connect and read the greeting (and, with TLS, AUTH TLS and the
    // handshake): nothing else sent yet (what lftp does first: FEAT before
    // USER). log_in() then sends USER and PASS (with TLS, then PBSZ 0 and
    // PROT P).
    static Client connect(const Url& url, ClientOptions opt = {});
    void log_in(const Url& url);

    // AUTH TLS, 234, the handshake on the control connection. Throws, in
    // one line, when the server refuses it or the handshake fails.
    void auth_tls();
    // PBSZ 0 and PROT P: every data connection from now on is TLS.
    void protect_data();
    bool tls() const { return control_.tls(); }
    bool protected_data() const { return prot_p_; }

    // Send one command line and read its reply (the first one: a 1xx reply
    // says more will follow). Throws std::runtime_error on a broken or
    // silent connection; a refusal is a reply like any other.
    Reply command(const std::string& line);
    // command(), and FtpError unless the reply's first digit is `kind`.
    Reply expect(const std::string& line, int kind);

    // SIZE: the size of a file; nullopt when the server says 550 (no such
    // file, or not a plain file). Other refusals (502: no SIZE) throw.
    std::optional<std::uint64_t> size(const std::string& path);

    // RETR `path` from `offset` (REST offset first when it is not 0); every
    // block of bytes goes to `sink` as it arrives. Returns the bytes received.
    std::uint64_t retrieve(const std::string& path, std::uint64_t offset,
                           const std::function<void(std::string_view)>& sink);

    // `verb` (STOR or APPE) `path`, the bytes from `source` until it returns
    // 0; `offset` not 0: REST offset first (REST + STOR resumes an upload).
    // Returns the bytes sent. `source(buf, n)` fills up to n bytes.
    std::uint64_t store(const std::string& verb, const std::string& path, std::uint64_t offset,
                        const std::function<std::size_t(char*, std::size_t)>& source);

    // LIST, MLSD or NLST of `path` ("" for the current directory): the
    // listing as the server sent it.
    std::string list(const std::string& verb, const std::string& path);

    // QUIT and close; never throws (the session is over either way).
    void quit() noexcept;

    // For ioclient ftp check, which plays clients good and bad: bytes sent
    // as they are (no CRLF added; `flags` MSG_OOB for urgent data, clear
    // only), the next reply, and a data connection made with EPSV or PASV
    // (none sent yet; clear until secure_data).
    void send_raw(std::string_view bytes, int flags = 0);
    Reply read_reply();
    Stream open_data();
    // After the transfer command's 1xx, under PROT P: the TLS handshake on
    // `data`, resuming the control connection's session (`resume` false:
    // a fresh session, which a server that requires reuse refuses). Clear
    // data (no PROT P): nothing.
    void secure_data(Stream& data, bool resume = true);
    int control_fd() const { return control_.fd(); }
    const Stream& control() const { return control_; }

    // The server's address, as connected: where data connections go.
    const Address& peer() const { return peer_; }

private:
    Client(Fd control, const Url& url, ClientOptions opt);
    void send_line(const std::string& line);
    // After the transfer command: its 1xx, and the data connection secured.
    void start_transfer(Stream& data, const std::string& what);
    // After a transfer's data connection is done: its final reply (2xx).
    void finish_transfer(const std::string& what);

    Stream control_;
    ClientOptions opt_;
    ReplyParser parser_;
    Address peer_;
    std::string host_;  // the URL's: what the server's certificate must name
    bool epsv_;
    bool prot_p_ = false;
};

}  // namespace iom::client::ftp
