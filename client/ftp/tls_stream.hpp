// FTPS on the client side (RFC 4217, explicit FTP over TLS): a connection
// that is either clear or TLS, so that the FTP client above it reads and
// writes bytes the same way in both cases.
//
// Explicit FTPS starts in clear: the client reads the 220 greeting, sends
// AUTH TLS, and after the server's 234 the two ends run a TLS handshake on
// the same TCP connection, the client as the TLS client. Everything after
// (USER, PASS, ...) is inside TLS. PBSZ 0 and PROT P then ask for TLS on
// every data connection too, and there the FTP client is again the TLS
// client, whichever end connected. A data connection resumes the control
// connection's TLS session: the server can tell that the data connection
// comes from the same client (vsftpd's require_ssl_reuse demands it; a
// stranger on the passive port cannot resume a session it never had).
//
// A clear Stream makes exactly the system calls the clear client always
// made: TLS costs a clear session nothing. A TLS Stream's socket is
// non-blocking: OpenSSL's SSL_ERROR_WANT_READ / WANT_WRITE say which way to
// wait (a TLS write may need to read, a handshake both), and bytes OpenSSL
// already pulled from the socket (SSL_has_pending) raise no new readiness:
// they must be read before waiting again.
#pragma once

#include "common/fd.hpp"
#include "common/tls.hpp"

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <string_view>

namespace CLI {
class App;
}

namespace iom::client::ftp {

// --tls, --cacert, --insecure as the commands take them.
struct TlsOptions {
    bool on = false;
    std::string cacert;     // the CA file the server's certificate must chain to ("": the system's CAs)
    bool insecure = false;  // no verification at all
};

// The client's TLS context, made once per command: TLS 1.2 or newer, and
// how the server's certificate is verified. Throws for a CA file OpenSSL
// cannot read.
class TlsContext {
public:
    explicit TlsContext(const TlsOptions& o);
    SSL_CTX* get() const { return ctx_.get(); }
    bool verifies() const { return verify_; }

private:
    tls::Context ctx_;
    bool verify_;
};

// --tls, --cacert FILE, --insecure on `cmd` (ftp.cpp: every ioclient ftp
// subcommand has them).
void add_tls_options(CLI::App* cmd, TlsOptions& tls);

// --tls, and a context only then: nullptr in clear. With --insecure, one
// line on stderr says that nobody checks who the server is.
std::shared_ptr<const TlsContext> make_tls(const TlsOptions& o);

// What a non-blocking step did: moved `n` bytes, or must wait for the
// socket to turn readable / writable, or met the end of the stream (EOF,
// or TLS's close_notify).
struct Io {
    enum Status { done, want_read, want_write, eof } status = done;
    std::size_t n = 0;
    short events() const;  // POLLIN or POLLOUT for want_read / want_write
};

class Stream {
public:
    Stream() = default;
    explicit Stream(Fd fd) : fd_(std::move(fd)) {}

    int fd() const { return fd_.get(); }
    explicit operator bool() const { return static_cast<bool>(fd_); }
    bool tls() const { return static_cast<bool>(ssl_); }

    // Become the TLS client of this connection: the socket turns
    // non-blocking, and the handshake starts at the next step. `host` is
    // what the certificate must name (a DNS name or an IP address) when the
    // context verifies; `resume`, when not null, is the session to resume
    // (a data connection's: the control connection's).
    void start_tls(const TlsContext& ctx, const std::string& host, SSL_SESSION* resume);

    // Non-blocking steps (the load client's; each one system call at most
    // in clear). Errors throw, naming `what` the connection is.
    Io handshake_step(const char* what);
    Io read_step(char* buf, std::size_t n, const char* what);
    Io write_step(const char* buf, std::size_t n, const char* what, int flags = 0);
    // Send close_notify (once), then read until the peer's close_notify or
    // EOF: a server that reads an upload's end sees close_notify, not a
    // bare EOF it might take for a cut (eof once it is over).
    Io shutdown_step(const char* what);
    // Bytes OpenSSL holds already: read them before waiting for the socket.
    bool pending() const;

    // Blocking, each wait bounded by `timeout` (poll for what the step
    // wants; `waiting` names the wait in the timeout's message).
    void handshake(std::chrono::milliseconds timeout, const char* what);
    std::size_t read_some(char* buf, std::size_t n, std::chrono::milliseconds timeout, const char* waiting,
                          const char* what);  // 0: the end
    void write_all(std::string_view bytes, std::chrono::milliseconds timeout, const char* waiting, const char* what,
                   int flags = 0);
    void close_notify(std::chrono::milliseconds timeout, const char* what);

    // The TLS session now (after a TLS 1.3 handshake, the ticket the server
    // sent: it comes after the handshake, with the first bytes read).
    tls::Session session() const;
    bool resumed() const;
    std::string version() const;  // "TLSv1.3"; "" in clear

    void reset() {
        ssl_.reset();
        fd_.reset();
    }
    Fd& socket() { return fd_; }

private:
    Io after_error(int rc, const char* call, const char* what);

    Fd fd_;
    tls::Ssl ssl_;
    bool shutdown_sent_ = false;
};

}  // namespace iom::client::ftp
