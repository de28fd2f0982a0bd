#include "ftp/tls.hpp"

#include "common/trace.hpp"
#include "ftp/session.hpp"

#include <fmt/format.h>
#include <openssl/err.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

namespace iom::ftp {

namespace {

// Where an SSL keeps its session's mark, for the ticket callbacks.
int mark_index() {
    static const int index = SSL_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
    return index;
}

std::uint64_t mark_of(SSL* ssl) { return reinterpret_cast<std::uintptr_t>(SSL_get_ex_data(ssl, mark_index())); }

// A ticket is about to be sealed for `ssl`'s client: put the session's mark in it.
int seal_mark(SSL* ssl, void*) {
    std::uint64_t mark = mark_of(ssl);
    return SSL_SESSION_set1_ticket_appdata(SSL_get0_session(ssl), &mark, sizeof mark);
}

// A ticket came back: resume with it (its mark comes back with it), or go on without.
SSL_TICKET_RETURN open_ticket(SSL*, SSL_SESSION*, const unsigned char*, size_t, SSL_TICKET_STATUS status, void*) {
    switch (status) {
    case SSL_TICKET_SUCCESS: return SSL_TICKET_RETURN_USE;
    case SSL_TICKET_SUCCESS_RENEW: return SSL_TICKET_RETURN_USE_RENEW;
    default: return SSL_TICKET_RETURN_IGNORE_RENEW;  // none, or not ours: a full handshake, and a fresh ticket
    }
}

// The file must be there and readable: OpenSSL's own error would not say which.
void must_read(const std::string& option, const std::string& file) {
    std::FILE* f = std::fopen(file.c_str(), "r");
    if (!f) throw std::runtime_error(fmt::format("{} {}: {}", option, file, std::strerror(errno)));
    std::fclose(f);
}

}  // namespace

TlsServer::TlsServer(const TlsOptions& opt) : opt_(opt), ctx_(SSL_CTX_new(TLS_server_method())) {
    if (!ctx_) throw std::runtime_error("SSL_CTX_new: " + tls::errors());
    must_read("--tls-cert", opt_.cert);
    must_read("--tls-key", opt_.key);
    SSL_CTX* c = ctx_.get();
    if (SSL_CTX_use_certificate_chain_file(c, opt_.cert.c_str()) != 1)
        throw std::runtime_error(fmt::format("--tls-cert {}: not a PEM certificate ({})", opt_.cert, tls::errors()));
    if (SSL_CTX_use_PrivateKey_file(c, opt_.key.c_str(), SSL_FILETYPE_PEM) != 1 || SSL_CTX_check_private_key(c) != 1) {
        std::string why = tls::errors();
        if (why.find("mismatch") != std::string::npos)
            throw std::runtime_error(fmt::format("--tls-key {} is not the key of --tls-cert {}", opt_.key, opt_.cert));
        throw std::runtime_error(fmt::format("--tls-key {}: not a PEM private key ({})", opt_.key, why));
    }
    SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
    SSL_CTX_set_options(c, SSL_OP_NO_RENEGOTIATION);
    // Partial writes, as send(2) does; a buffer that moves between a write
    // and its repetition (the pump's does); buffers freed while a connection
    // is idle (what an idle TLS session costs).
    SSL_CTX_set_mode(c, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
    // Read ahead into a 64 KiB buffer: one recv for several records.
    SSL_CTX_set_read_ahead(c, 1);
    SSL_CTX_set_default_read_buffer_len(c, 64 << 10);
    // Resumption by ticket only: the ticket carries the session's mark.
    SSL_CTX_set_session_cache_mode(c, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_session_ticket_cb(c, seal_mark, open_ticket, nullptr);
}

tls::Ssl TlsServer::new_end(std::uint64_t mark) const {
    tls::Ssl ssl(SSL_new(ctx_.get()));
    if (!ssl) throw std::runtime_error("SSL_new: " + tls::errors());
    SSL_set_ex_data(ssl.get(), mark_index(), reinterpret_cast<void*>(static_cast<std::uintptr_t>(mark)));
    SSL_set_accept_state(ssl.get());
    return ssl;
}

bool TlsServer::resumed_own_session(SSL* ssl, std::uint64_t mark) {
    void* data = nullptr;
    std::size_t len = 0;
    if (!SSL_session_reused(ssl) || !SSL_SESSION_get0_ticket_appdata(SSL_get0_session(ssl), &data, &len)) return false;
    std::uint64_t theirs = 0;
    if (len != sizeof theirs) return false;
    std::memcpy(&theirs, data, sizeof theirs);
    return theirs == mark;
}

// ---- what both engines share ------------------------------------------------------

TlsEnd::TlsEnd(const TlsServer& server, std::uint64_t mark, bool data, int fd)
    : server_(server), ssl_(server.new_end(mark)), fd_(fd), mark_(mark), data_(data) {}

// An SSL call returned `r`: bytes, or what it waits for, as recv(2)/send(2) would say it.
ssize_t TlsEnd::result(int r, const char* call) {
    if (r > 0) {
        want_ = 0;
        return r;
    }
    int e = SSL_get_error(ssl_.get(), r);
    switch (e) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        want_ = e == SSL_ERROR_WANT_READ ? EPOLLIN : EPOLLOUT;
        trace("{}(fd {}) -> {}: {}", call, fd_, tls::error_name(e),
              e == SSL_ERROR_WANT_READ ? want_read_means_ : want_write_means_);
        errno = EAGAIN;
        return -1;
    case SSL_ERROR_ZERO_RETURN:  // close_notify: the peer's clean end
        trace("{}(fd {}) -> {}", call, fd_, tls::error_name(e));
        return 0;
    case SSL_ERROR_SYSCALL:  // the socket failed, or EOF with no close_notify
        if (errno == 0) return 0;
        error_ = std::strerror(errno);
        return -1;
    default:
        error_ = tls::errors();
        if (error_.empty()) error_ = tls::error_name(e);
        trace("{}(fd {}) -> {}: {}", call, fd_, tls::error_name(e), error_);
        errno = EPROTO;
        return -1;
    }
}

TlsStep TlsEnd::handshake() {
    started_ = true;
    ERR_clear_error();
    errno = 0;
    int r = SSL_do_handshake(ssl_.get());
    if (r == 1) {
        ready_ = true;
        want_ = 0;
        bool resumed = SSL_session_reused(ssl_.get());
        trace("fd {}: TLS handshake done: {} {}{}", fd_, SSL_get_version(ssl_.get()), SSL_get_cipher(ssl_.get()),
              resumed ? ", session resumed" : "");
        if (data_ && server_.options().reuse_required && !TlsServer::resumed_own_session(ssl_.get(), mark_)) {
            error_ = "the data connection did not resume the control connection's TLS session";
            return TlsStep::not_resumed;
        }
        return TlsStep::done;
    }
    if (result(r, "SSL_do_handshake") < 0 && errno == EAGAIN) return TlsStep::again;
    if (error_.empty()) error_ = "the client closed the connection during the TLS handshake";
    return TlsStep::failed;
}

bool TlsEnd::pending() const { return SSL_has_pending(ssl_.get()) == 1; }

// ---- the reactor's TLS: OpenSSL on the socket -----------------------------------

TlsSocket::TlsSocket(const TlsServer& server, int fd) : TlsSocket(server, server.new_mark(), false, fd) {}

TlsSocket::TlsSocket(const TlsSocket& control, int fd) : TlsSocket(control.server_, control.mark_, true, fd) {}

TlsSocket::TlsSocket(const TlsServer& server, std::uint64_t mark, bool data, int fd) : TlsEnd(server, mark, data, fd) {
    SSL_set_fd(ssl_.get(), fd);
    want_ = EPOLLIN;  // a server's handshake starts by reading the ClientHello
    want_read_means_ = "EPOLLIN into the interest set, whatever the protocol wants";
    want_write_means_ = "EPOLLOUT into the interest set, whatever the protocol wants";
}

std::optional<TlsResult> TlsSocket::handshake_over() {
    switch (handshake()) {
    case TlsStep::again: return std::nullopt;
    case TlsStep::done: return TlsResult{};
    default: return TlsResult{error_};
    }
}

ssize_t TlsSocket::recv(char* p, std::size_t n) {
    ERR_clear_error();
    errno = 0;
    return result(SSL_read(ssl_.get(), p, static_cast<int>(std::min<std::size_t>(n, 1 << 30))), "SSL_read");
}

ssize_t TlsSocket::send(const char* p, std::size_t n) {
    if (!ready_ && !started_) return ::send(fd_, p, n, MSG_NOSIGNAL);  // AUTH TLS's 234, in clear
    if (!ready_) {
        trace("fd {}: {} bytes of replies dropped: neither clear nor TLS during the handshake", fd_, n);
        return static_cast<ssize_t>(n);
    }
    ERR_clear_error();
    errno = 0;
    n = std::max(n, retry_);
    ssize_t r = result(SSL_write(ssl_.get(), p, static_cast<int>(std::min<std::size_t>(n, 1 << 30))), "SSL_write");
    retry_ = r < 0 && errno == EAGAIN ? n : 0;
    if (r == 0) {  // SSL_write never reports an end: the peer is gone
        errno = EPIPE;
        return -1;
    }
    return r;
}

bool TlsSocket::close_notify() {
    if (shut_) return true;
    ERR_clear_error();
    errno = 0;
    int r = SSL_shutdown(ssl_.get());
    if (r >= 0) {
        shut_ = true;
        trace("SSL_shutdown(fd {}): close_notify sent", fd_);
        return true;
    }
    if (result(r, "SSL_shutdown") < 0 && errno == EAGAIN) return false;
    shut_ = true;  // the socket failed: nothing more to say on it
    return true;
}

// ---- the proactor's TLS: OpenSSL on memory buffers ----------------------------------

TlsBuffers::TlsBuffers(const TlsServer& server, std::uint64_t mark, bool data, int fd)
    : TlsEnd(server, mark, data, fd), in_(BIO_new(BIO_s_mem())), out_(BIO_new(BIO_s_mem())) {
    if (!in_ || !out_) throw std::runtime_error("BIO_new: " + tls::errors());
    BIO_set_mem_eof_return(in_, -1);  // empty is "not yet" (WANT_READ), not the end
    SSL_set_bio(ssl_.get(), in_, out_);  // the SSL owns both now
    want_read_means_ = "its in BIO is empty: a RECV must bring more ciphertext";
    want_write_means_ = "(a memory BIO takes every write)";
}

TlsBuffers::TlsBuffers(const TlsServer& server, int fd) : TlsBuffers(server, server.new_mark(), false, fd) {}

TlsBuffers::TlsBuffers(const TlsBuffers& control, int fd) : TlsBuffers(control.server_, control.mark_, true, fd) {}

void TlsBuffers::received(const char* p, std::size_t n) {
    BIO_write(in_, p, static_cast<int>(n));
    trace("fd {}: {} bytes of ciphertext into OpenSSL's in BIO", fd_, n);
}

ssize_t TlsBuffers::read(char* p, std::size_t n) {
    ERR_clear_error();
    errno = 0;
    return result(SSL_read(ssl_.get(), p, static_cast<int>(std::min<std::size_t>(n, 1 << 30))), "SSL_read");
}

std::string TlsBuffers::ciphertext() {
    std::string out(static_cast<std::size_t>(BIO_ctrl_pending(out_)), '\0');
    if (!out.empty()) out.resize(static_cast<std::size_t>(std::max(0, BIO_read(out_, out.data(), static_cast<int>(out.size())))));
    return out;
}

std::string TlsBuffers::seal(std::string_view plain) {
    std::string clear;
    if (!ready_ && !started_) clear = plain;  // AUTH TLS's 234
    while (ready_ && !plain.empty()) {
        ERR_clear_error();
        int w = SSL_write(ssl_.get(), plain.data(), static_cast<int>(std::min<std::size_t>(plain.size(), 1 << 30)));
        if (w <= 0) break;  // a memory BIO takes everything; a TLS error shows at the next read
        plain.remove_prefix(static_cast<std::size_t>(w));
    }
    std::string out = ciphertext();
    if (!out.empty()) trace("fd {}: {} bytes of ciphertext out of OpenSSL's out BIO, for a SEND", fd_, out.size());
    return clear + out;
}

std::string TlsBuffers::close_notify() {
    if (shut_) return {};
    shut_ = true;
    ERR_clear_error();
    SSL_shutdown(ssl_.get());
    trace("SSL_shutdown(fd {}): close_notify into the out BIO, for a SEND", fd_);
    return ciphertext();
}

bool TlsBuffers::control_received(std::string_view bytes, Session& session) {
    received(bytes.data(), bytes.size());
    if (!ready_) {
        TlsStep step = handshake();
        if (step == TlsStep::again) return true;
        session.complete(step == TlsStep::done ? TlsResult{} : TlsResult{error_});
        if (step != TlsStep::done) return true;  // the Session closes
    }
    char plain[4096];
    for (;;) {  // every command OpenSSL can make of what it has: no RECV would bring them again
        ssize_t n = read(plain, sizeof plain);
        if (n > 0) session.receive({plain, static_cast<std::size_t>(n)});
        if (n < 0 && errno == EAGAIN) return true;
        if (n <= 0) return false;
    }
}

}  // namespace iom::ftp
