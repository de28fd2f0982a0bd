#include "client/ftp/tls_stream.hpp"

#include "client/ftp/client.hpp"
#include "common/error.hpp"
#include "common/net.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstdio>
#include <stdexcept>

namespace iom::client::ftp {

TlsContext::TlsContext(const TlsOptions& o) : ctx_(SSL_CTX_new(TLS_client_method())), verify_(!o.insecure) {
    if (!ctx_) throw std::runtime_error("TLS: SSL_CTX_new: " + tls::errors());
    SSL_CTX_set_min_proto_version(ctx_.get(), TLS1_2_VERSION);
    // The load client retries a write that waited with the same bytes made
    // again, not always from the same buffer.
    SSL_CTX_set_mode(ctx_.get(), SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    // The end of a stream may be a plain EOF without close_notify: vsftpd
    // closes the control connection so after QUIT, and a download's end is
    // vouched for by the 226 on the protected control connection (replies
    // are framed: a cut shows). OpenSSL 3 would call it an error.
    SSL_CTX_set_options(ctx_.get(), SSL_OP_IGNORE_UNEXPECTED_EOF);
    if (verify_) {
        int ok = o.cacert.empty() ? SSL_CTX_set_default_verify_paths(ctx_.get())
                                  : SSL_CTX_load_verify_locations(ctx_.get(), o.cacert.c_str(), nullptr);
        if (ok != 1)
            throw std::invalid_argument(fmt::format("--cacert {}: {}", o.cacert, tls::errors()));
        SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_PEER, nullptr);
    } else {
        SSL_CTX_set_verify(ctx_.get(), SSL_VERIFY_NONE, nullptr);
    }
}

std::shared_ptr<const TlsContext> make_tls(const TlsOptions& o) {
    if (!o.on) {
        if (!o.cacert.empty() || o.insecure) throw std::invalid_argument("--cacert and --insecure need --tls");
        return nullptr;
    }
    if (o.insecure && !o.cacert.empty()) throw std::invalid_argument("--cacert and --insecure: give one of them");
    auto ctx = std::make_shared<const TlsContext>(o);
    if (o.insecure)
        std::fputs("ioclient ftp: --insecure: the server's certificate is not verified (anyone in between can read "
                   "and change the session)\n",
                   stderr);
    return ctx;
}

short Io::events() const { return status == want_write ? POLLOUT : POLLIN; }

void Stream::start_tls(const TlsContext& ctx, const std::string& host, SSL_SESSION* resume) {
    ssl_.reset(SSL_new(ctx.get()));
    if (!ssl_ || SSL_set_fd(ssl_.get(), fd_.get()) != 1) throw std::runtime_error("TLS: SSL_new: " + tls::errors());
    set_nonblocking(fd_.get());
    // The certificate must name the host of the URL: its DNS name (also
    // sent as SNI), or its IP address (an IP SAN).
    unsigned char ip[16];
    bool is_ip = inet_pton(AF_INET, host.c_str(), ip) == 1 || inet_pton(AF_INET6, host.c_str(), ip) == 1;
    if (!is_ip) SSL_set_tlsext_host_name(ssl_.get(), host.c_str());
    if (ctx.verifies()) {
        X509_VERIFY_PARAM* param = SSL_get0_param(ssl_.get());
        int ok = is_ip ? X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str()) : SSL_set1_host(ssl_.get(), host.c_str());
        if (ok != 1) throw std::runtime_error(fmt::format("TLS: cannot check the name {}: {}", host, tls::errors()));
    }
    if (resume) SSL_set_session(ssl_.get(), resume);
    SSL_set_connect_state(ssl_.get());
}

// One failed SSL_* call: a wait, the end of the stream, or an error thrown
// with OpenSSL's reasons (and, for a certificate, why it was refused).
Io Stream::after_error(int rc, const char* call, const char* what) {
    int err = SSL_get_error(ssl_.get(), rc);
    switch (err) {
    case SSL_ERROR_WANT_READ: return {Io::want_read};
    case SSL_ERROR_WANT_WRITE: return {Io::want_write};
    case SSL_ERROR_ZERO_RETURN: return {Io::eof};
    default: break;
    }
    int saved = errno;
    std::string reasons = tls::errors();
    if (long v = SSL_get_verify_result(ssl_.get()); v != X509_V_OK && !SSL_is_init_finished(ssl_.get()))
        throw std::runtime_error(fmt::format("TLS handshake on {}: certificate verify failed: {} (give the CA with "
                                             "--cacert FILE, or --insecure)",
                                             what, X509_verify_cert_error_string(v)));
    if (err == SSL_ERROR_SYSCALL && reasons.empty()) {
        if (saved == 0 || rc == 0) {
            if (!SSL_is_init_finished(ssl_.get()))
                throw std::runtime_error(fmt::format("TLS handshake on {}: the server closed the connection", what));
            return {Io::eof};
        }
        throw_errno(saved, fmt::format("{} on {}", call, what));
    }
    throw std::runtime_error(fmt::format("{} on {}: {}", call, what, reasons.empty() ? tls::error_name(err) : reasons));
}

Io Stream::handshake_step(const char* what) {
    ERR_clear_error();
    int rc = SSL_do_handshake(ssl_.get());
    return rc == 1 ? Io{Io::done} : after_error(rc, "TLS handshake", what);
}

Io Stream::read_step(char* buf, std::size_t n, const char* what) {
    if (!ssl_) {
        for (;;) {
            ssize_t got = ::recv(fd_.get(), buf, n, 0);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0 && errno == EAGAIN) return {Io::want_read};
            if (got < 0) throw_sys("recv on {}", what);
            if (got == 0) return {Io::eof};
            return {Io::done, static_cast<std::size_t>(got)};
        }
    }
    ERR_clear_error();
    std::size_t got = 0;
    int rc = SSL_read_ex(ssl_.get(), buf, n, &got);
    if (rc == 1) return {Io::done, got};
    Io io = after_error(rc, "SSL_read", what);
    // The server's close_notify: answer with ours, once (not waited for).
    // vsftpd waits for it before its 226: its data close is a two-way TLS
    // shutdown.
    if (io.status == Io::eof && !shutdown_sent_ && (SSL_get_shutdown(ssl_.get()) & SSL_RECEIVED_SHUTDOWN)) {
        shutdown_sent_ = true;
        ERR_clear_error();
        SSL_shutdown(ssl_.get());
        ERR_clear_error();
    }
    return io;
}

Io Stream::write_step(const char* buf, std::size_t n, const char* what, int flags) {
    if (!ssl_) {
        for (;;) {
            ssize_t sent = ::send(fd_.get(), buf, n, MSG_NOSIGNAL | flags);
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0 && errno == EAGAIN) return {Io::want_write};
            if (sent < 0) throw_sys("send on {}", what);
            return {Io::done, static_cast<std::size_t>(sent)};
        }
    }
    ERR_clear_error();
    std::size_t sent = 0;
    int rc = SSL_write_ex(ssl_.get(), buf, n, &sent);
    return rc == 1 ? Io{Io::done, sent} : after_error(rc, "SSL_write", what);
}

Io Stream::shutdown_step(const char* what) {
    if (!ssl_) return {Io::eof};
    if (!shutdown_sent_) {
        ERR_clear_error();
        int rc = SSL_shutdown(ssl_.get());
        if (rc < 0) return after_error(rc, "SSL_shutdown", what);
        shutdown_sent_ = true;
        if (rc == 1) return {Io::eof};
    }
    // Our close_notify is out. What the server still sends (a TLS 1.3
    // session ticket, its own close_notify) is read and dropped: closing a
    // socket with unread bytes sends a reset, which could overtake the
    // upload's last bytes in the server's kernel.
    char drop[4096];
    for (;;) {
        Io r = read_step(drop, sizeof drop, what);
        if (r.status != Io::done) return r;
    }
}

bool Stream::pending() const { return ssl_ && SSL_has_pending(ssl_.get()) == 1; }

void Stream::handshake(std::chrono::milliseconds timeout, const char* what) {
    for (Io r; (r = handshake_step(what)).status != Io::done;) {
        if (r.status == Io::eof) throw std::runtime_error(fmt::format("TLS handshake on {}: closed", what));
        wait_for(fd_.get(), r.events(), timeout, what);
    }
}

std::size_t Stream::read_some(char* buf, std::size_t n, std::chrono::milliseconds timeout, const char* waiting,
                              const char* what) {
    if (!ssl_) {  // the clear client's own two calls: poll, recv
        wait_for(fd_.get(), POLLIN, timeout, waiting);
        for (;;) {
            ssize_t got = ::recv(fd_.get(), buf, n, 0);
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) throw_sys("recv on {}", what);
            return static_cast<std::size_t>(got);
        }
    }
    for (;;) {
        Io r = read_step(buf, n, what);
        if (r.status == Io::done) return r.n;
        if (r.status == Io::eof) return 0;
        wait_for(fd_.get(), r.events(), timeout, waiting);
    }
}

void Stream::write_all(std::string_view rest, std::chrono::milliseconds timeout, const char* waiting, const char* what,
                       int flags) {
    while (!rest.empty()) {
        if (!ssl_) wait_for(fd_.get(), POLLOUT, timeout, waiting);  // the socket is blocking in clear
        Io r = write_step(rest.data(), rest.size(), what, flags);
        if (r.status == Io::done) rest.remove_prefix(r.n);
        else if (r.status == Io::eof) throw std::runtime_error(fmt::format("{}: closed by the server", what));
        else wait_for(fd_.get(), r.events(), timeout, waiting);
    }
}

void Stream::close_notify(std::chrono::milliseconds timeout, const char* what) {
    for (Io r; ssl_ && (r = shutdown_step(what)).status != Io::eof;) wait_for(fd_.get(), r.events(), timeout, what);
}

tls::Session Stream::session() const { return tls::Session(ssl_ ? SSL_get1_session(ssl_.get()) : nullptr); }

bool Stream::resumed() const { return ssl_ && SSL_session_reused(ssl_.get()) == 1; }

std::string Stream::version() const { return ssl_ ? SSL_get_version(ssl_.get()) : ""; }

}  // namespace iom::client::ftp
