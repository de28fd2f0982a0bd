// FTPS on the servers' side (RFC 4217): the one TLS context of a server,
// how the reactor drives OpenSSL on a socket, and how the proactor drives it
// on memory buffers.
//
// THE CONTEXT (TlsServer). The certificate and key of --tls-cert and
// --tls-key, checked at start: a file missing, unreadable, not PEM, or a key
// that is not the certificate's is a one-line error naming the file. TLS 1.2
// and 1.3; no renegotiation (a client could make the server redo the costly
// half of a handshake at will). Resumption by session tickets only, and each
// ticket carries the mark of the session whose connection it was issued on:
// so --tls-session-reuse required can tell that a data connection resumed
// *its own* control connection's session, as vsftpd's require_ssl_reuse
// does. (Why ask it: a data connection that resumes the control's session
// comes from the client that logged in, not from someone who raced it to
// the passive port.)
//
// THE REACTOR (TlsSocket: epoll_ftp_server). OpenSSL reads and writes the
// non-blocking socket itself (SSL_set_fd). What it cannot do yet it says:
// SSL_ERROR_WANT_READ or SSL_ERROR_WANT_WRITE, and a read may want a write
// (a handshake message, a key update) as a write may want a read. So what
// the loop waits for is OpenSSL's want, not the protocol's: want() gives
// EPOLLIN or EPOLLOUT, and the server ORs it into the interest set. And
// OpenSSL reads ahead: one recv brings as many records as its buffer takes,
// which SSL_read then hands out one record at a time. Those bytes sit in
// OpenSSL's buffer (SSL_has_pending: pending()) while the socket has nothing
// left: no readiness, level- or edge-triggered, announces them. A reader must
// drain them before it waits (`ioclient lab tls-edge`; --tls-read-once
// reads one record per wakeup, to show the stall).
//
// THE PROACTOR (TlsBuffers: uring_ftp_server). OpenSSL never touches the
// socket: it reads ciphertext from one memory BIO and writes ciphertext
// into another. The ring moves ciphertext (RECV into a buffer, received();
// SEND what seal() or ciphertext() gives), and OpenSSL turns it into
// plaintext and back on buffers, with no system call of its own. A want
// becomes a submission: SSL_ERROR_WANT_READ is "submit a RECV", ciphertext
// waiting in the out BIO is "submit a SEND". The trap has its twin here:
// one RECV may bring more records than the buffer being filled takes, and
// what OpenSSL still holds must be read out before another RECV is
// submitted, or the last of an upload waits for bytes that never come.
#pragma once

#include "common/tls.hpp"
#include "ftp/requests.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace iom::ftp {

struct TlsOptions {
    std::string cert, key;        // --tls-cert, --tls-key ("": no TLS)
    bool require = false;         // --require-tls
    bool reuse_required = false;  // --tls-session-reuse required
    bool read_once = false;       // --tls-read-once: the broken reader of the lab tls-edge
    bool on() const { return !cert.empty(); }
};

class TlsServer {
public:
    // Throws std::runtime_error, one line naming the file and the reason.
    explicit TlsServer(const TlsOptions& opt);
    const TlsOptions& options() const { return opt_; }
    // A number unique to a session: its tickets carry it.
    std::uint64_t new_mark() const { return ++marks_; }
    // A new server end of TLS for a connection of the session marked `mark`.
    tls::Ssl new_end(std::uint64_t mark) const;
    // After a handshake: did it resume a session issued to the session marked `mark`?
    static bool resumed_own_session(SSL* ssl, std::uint64_t mark);

private:
    TlsOptions opt_;
    tls::Context ctx_;
    mutable std::uint64_t marks_ = 0;
};

// A handshake step: go on when want() is ready, or it is over one way or another.
enum class TlsStep : std::uint8_t { again, done, failed, not_resumed };

// What both engines share: the SSL, its session's mark, the handshake, and
// what an SSL call said, put as recv(2)/send(2) would put it.
class TlsEnd {
public:
    TlsStep handshake();
    bool ready() const { return ready_; }  // the handshake is done
    bool pending() const;                  // bytes OpenSSL holds that no readiness will announce
    const std::string& error() const { return error_; }
    const TlsOptions& options() const { return server_.options(); }

protected:
    TlsEnd(const TlsServer& server, std::uint64_t mark, bool data, int fd);
    ssize_t result(int r, const char* call);

    const TlsServer& server_;
    tls::Ssl ssl_;
    int fd_;  // the connection (a TlsSocket's OpenSSL reads it; a TlsBuffers names it in --trace)
    std::uint64_t mark_;
    bool data_, started_ = false, ready_ = false, shut_ = false;  // started: the first handshake step
    std::uint32_t want_ = 0;  // TlsSocket: the epoll event OpenSSL waits for
    std::string error_;
    // What a want means to this engine's loop, for --trace.
    const char* want_read_means_ = "";
    const char* want_write_means_ = "";
};

// OpenSSL on a non-blocking socket, for a reactor. recv() and send() keep
// recv(2)'s and send(2)'s conventions: bytes; 0 at the peer's end (its
// close_notify, or a plain EOF); -1 with errno EAGAIN when OpenSSL waits for
// the socket (want() says which way), or another errno: ECONNRESET, EPIPE,
// EPROTO for a TLS error (error() says which).
class TlsSocket : public TlsEnd {
public:
    // A session's control connection, after AUTH TLS.
    TlsSocket(const TlsServer& server, int fd);
    // One of its data connections (PROT P): the session's mark, and the reuse rule.
    TlsSocket(const TlsSocket& control, int fd);
    // The control connection's handshake, a step: what to tell the Session once it is over.
    std::optional<TlsResult> handshake_over();
    ssize_t recv(char* p, std::size_t n);
    // A call that must be repeated (EAGAIN) is repeated with at least the
    // same bytes (OpenSSL's rule): the caller keeps them, send() asks for them.
    // Before the handshake, send(2) in clear (AUTH TLS's 234); during it,
    // nothing can be said (a 421 for the login time is dropped).
    ssize_t send(const char* p, std::size_t n);
    // Send close_notify: true once it is out (or cannot be), false: again when want() is ready.
    bool close_notify();
    std::uint32_t want() const { return want_; }  // EPOLLIN, EPOLLOUT, or 0: nothing is waited for

private:
    TlsSocket(const TlsServer& server, std::uint64_t mark, bool data, int fd);
    std::size_t retry_ = 0;  // the length of a send that must be repeated
};

class Session;

// OpenSSL on memory BIOs, for a proactor: the caller's ring moves the
// ciphertext. A write never waits (the out BIO grows: the caller bounds it
// by how much plaintext it seals before the SEND of the last is back).
class TlsBuffers : public TlsEnd {
public:
    // A session's control connection after AUTH TLS (`fd` names it in --trace).
    TlsBuffers(const TlsServer& server, int fd);
    // One of its data connections (PROT P).
    TlsBuffers(const TlsBuffers& control, int fd);
    // Ciphertext a RECV brought.
    void received(const char* p, std::size_t n);
    // Plaintext out of what was received: bytes; 0 at the peer's close_notify;
    // -1 with errno EAGAIN: a RECV must bring more first; EPROTO: a TLS error.
    ssize_t read(char* p, std::size_t n);
    // Ciphertext for the next SEND: `plain` sealed, after what OpenSSL had to
    // send already (handshake messages, tickets). Before the handshake, the
    // plaintext goes as it is: AUTH TLS's 234 is sent in clear; during it, it
    // is dropped (a 421 for the login time).
    std::string seal(std::string_view plain);
    std::string close_notify();  // the close_notify alert, as ciphertext (once; then "")
    // The control connection: ciphertext a RECV brought, through the
    // handshake or as commands into the Session. False: the client ended the
    // TLS (close_notify) or broke it; the session is over.
    bool control_received(std::string_view bytes, Session& session);

private:
    TlsBuffers(const TlsServer& server, std::uint64_t mark, bool data, int fd);
    std::string ciphertext();  // what OpenSSL has written into the out BIO, taken
    BIO* in_ = nullptr;        // owned by the SSL: ciphertext received, read by OpenSSL
    BIO* out_ = nullptr;       // owned by the SSL: ciphertext OpenSSL wrote, to send
};

}  // namespace iom::ftp
