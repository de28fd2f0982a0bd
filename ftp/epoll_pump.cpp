#include "ftp/epoll_pump.hpp"

#include "common/trace.hpp"

#include <fcntl.h>
#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace iom::ftp {

void show_that_files_cannot_be_waited_for(int epfd) {
    Fd file(open("/proc/self/exe", O_RDONLY | O_CLOEXEC));  // a regular file: this program
    epoll_event ev{.events = EPOLLIN, .data = {.ptr = nullptr}};
    int rc = epoll_ctl(epfd, EPOLL_CTL_ADD, file.get(), &ev);
    trace("epoll_ctl(ADD, a regular file) -> {}: a file is always ready, epoll cannot wait for it; "
               "every file operation runs on this thread, and a page-cache miss stalls every session",
               rc < 0 && errno == EPERM ? "EPERM" : rc < 0 ? std::strerror(errno) : "0 (unexpected)");
}


EpollPump::EpollPump(TransferRequest& req, std::size_t buffer, bool use_sendfile, Counters& k,
                     const TlsSocket* control_tls)
    : req_(req), k_(k), cap_(buffer), offset_(static_cast<off_t>(req.offset)), control_tls_(control_tls) {
    // A buffer only when the bytes pass through this process; sendfile needs none.
    bool copies = req.direction == Direction::receive || (req.file && (req.ascii || req.tls || !use_sendfile));
    if (copies) buf_ = std::make_unique_for_overwrite<char[]>(cap_);
}

std::uint32_t EpollPump::events() const {
    if (req_.tls && !tls_) return EPOLLIN;  // the handshake: the ClientHello first
    if (tls_ && tls_->want()) return tls_->want();
    return req_.direction == Direction::send ? EPOLLOUT : EPOLLIN;
}

std::optional<TransferStatus> EpollPump::turn(int sock, std::size_t most) {
    if (req_.tls && !tls_) tls_ = std::make_unique<TlsSocket>(*control_tls_, sock);  // PROT P: the handshake first
    if (tls_ && !tls_->ready()) {
        switch (tls_->handshake()) {
        case TlsStep::again: return std::nullopt;
        case TlsStep::failed: trace("data connection fd {}: TLS: {}", sock, tls_->error()); return TransferStatus::tls_failed;
        case TlsStep::not_resumed: trace("data connection fd {}: {}", sock, tls_->error()); return TransferStatus::tls_not_resumed;
        case TlsStep::done: break;  // on to the bytes, in this turn
        }
    }
    return req_.direction == Direction::send ? send_some(sock, most) : receive_some(sock, most);
}

std::optional<TransferStatus> EpollPump::send_some(int sock, std::size_t most) {
    const char* from;
    std::size_t n;
    if (!req_.file) {  // a listing, already in memory
        if (head_ == req_.data.size()) return end_of_data();
        from = req_.data.data() + head_;
        n = std::min(req_.data.size() - head_, most);
    } else if (!buf_) {  // TYPE I by sendfile: page cache to socket, inside the kernel
        // At most 64 KiB a turn, as pyftpdlib does: twenty downloads take turns
        // in small steps, and the loop gets back to every socket sooner.
        most = std::min<std::size_t>(most, 64 << 10);
        ssize_t sent = sendfile(sock, req_.file.get(), &offset_, most);
        ++k_.sendfile_calls;
        trace("sendfile(fd {}, {} bytes) -> {}", sock, most, sent);
        if (sent == 0) return TransferStatus::done;  // end of file
        if (sent > 0) {
            k_.file_read_bytes += static_cast<std::uint64_t>(sent);
            bytes_ += static_cast<std::uint64_t>(sent);
            return std::nullopt;
        }
        if (errno != EAGAIN && errno != EPIPE && errno != ECONNRESET && errno != EINTR) {
            error_ = errno;  // the file's fault (EIO, ...)
            return TransferStatus::file_error;
        }
        return socket_error(sock, k_.send_eagain);
    } else {  // through the buffer: read the next piece only once the socket has taken the last
        if (head_ == tail_ && !read_file()) return TransferStatus::file_error;
        if (head_ == tail_) return end_of_data();  // end of file
        from = buf_.get() + head_;
        n = std::min(tail_ - head_, most);
    }
    ssize_t sent = tls_ ? tls_->send(from, n) : ::send(sock, from, n, MSG_NOSIGNAL);
    ++k_.send_calls;
    trace("send(fd {}, {} bytes) -> {}", sock, n, sent);
    if (sent < 0) return socket_error(sock, k_.send_eagain);
    k_.send_bytes += static_cast<std::uint64_t>(sent);
    head_ += static_cast<std::size_t>(sent);
    bytes_ += static_cast<std::uint64_t>(sent);
    return std::nullopt;
}

// All sent. Under TLS, close_notify goes last: the client's proof that the
// file ended here, and was not cut.
std::optional<TransferStatus> EpollPump::end_of_data() {
    if (tls_ && !tls_->close_notify()) return std::nullopt;  // the socket is full: when it is ready
    return TransferStatus::done;
}

// --no-sendfile, TYPE A, or TLS: pread into the buffer. TYPE A reads a third of
// it and converts into the front (LF becomes CRLF: at most twice as long).
bool EpollPump::read_file() {
    std::size_t want = req_.ascii ? cap_ / 3 : cap_;
    char* into = buf_.get() + (cap_ - want);
    ssize_t n = pread(req_.file.get(), into, want, offset_);
    ++k_.file_reads;
    trace("pread(file, {} bytes) -> {}: from the page cache, or the loop waited for the disk", want, n);
    if (n < 0) {
        error_ = errno;
        return false;
    }
    offset_ += n;
    k_.file_read_bytes += static_cast<std::uint64_t>(n);
    k_.user_copy_bytes += static_cast<std::uint64_t>(n);
    head_ = 0;
    tail_ = req_.ascii ? encoder_.convert(into, static_cast<std::size_t>(n), buf_.get()) : static_cast<std::size_t>(n);
    return true;
}

// A turn of an upload. Under TLS, one SSL_read hands out one record, and
// what OpenSSL read ahead stays in its buffer, announced by no readiness:
// read on while it holds some (the drain), or the upload's last records wait
// for a wakeup that never comes.
std::optional<TransferStatus> EpollPump::receive_some(int sock, std::size_t most) {
    for (;;) {
        std::uint64_t before = bytes_;
        auto status = receive_once(sock, most);
        bool more = tls_ && !tls_->options().read_once && bytes_ > before && tls_->pending();  // (a partial record: no)
        if (status || !more) return status;
        trace("fd {}: SSL_has_pending: OpenSSL holds bytes no epoll_wait will announce: read on", sock);
    }
}

// recv into the buffer, straight on to the file (TYPE A: into the second
// half, converted into the first; CRLF becomes LF).
std::optional<TransferStatus> EpollPump::receive_once(int sock, std::size_t most) {
    char* into = req_.ascii ? buf_.get() + cap_ / 2 : buf_.get();
    std::size_t room = req_.ascii ? std::min(most, cap_ / 2 - 1) : std::min(most, cap_);
    ssize_t n = tls_ ? tls_->recv(into, room) : recv(sock, into, room, 0);
    ++k_.recv_calls;
    if (n < 0) return socket_error(sock, k_.recv_eagain);
    if (n == 0) {  // the client closed the data connection: the file is whole
        if (tls_) tls_->close_notify();  // the answer to the client's (ftplib waits for it); the send side is idle
        std::size_t last = req_.ascii ? decoder_.finish(buf_.get()) : 0;
        if (auto failed = write_file(buf_.get(), last)) return failed;
        return TransferStatus::done;
    }
    k_.recv_bytes += static_cast<std::uint64_t>(n);
    trace("recv(fd {}) -> {} bytes, on to the file", sock, n);
    bytes_ += static_cast<std::uint64_t>(n);
    auto got = static_cast<std::size_t>(n);
    return write_file(buf_.get(), req_.ascii ? decoder_.convert(into, got, buf_.get()) : got);
}

// pwrite at the offset (with O_APPEND, APPE's, Linux appends whatever the offset).
std::optional<TransferStatus> EpollPump::write_file(const char* p, std::size_t n) {
    if (written_ + n > req_.max_bytes) return TransferStatus::too_large;
    while (n > 0) {
        ssize_t w = pwrite(req_.file.get(), p, n, offset_);
        ++k_.file_writes;
        if (w < 0) {
            if (errno == EINTR) continue;
            error_ = errno;
            return errno == ENOSPC || errno == EDQUOT ? TransferStatus::no_space : TransferStatus::file_error;
        }
        k_.file_write_bytes += static_cast<std::uint64_t>(w);
        k_.user_copy_bytes += static_cast<std::uint64_t>(w);
        offset_ += w;
        written_ += static_cast<std::uint64_t>(w);
        p += w;
        n -= static_cast<std::size_t>(w);
    }
    return std::nullopt;
}

// A send, recv or sendfile returned -1: wait for the socket, or the transfer is lost.
std::optional<TransferStatus> EpollPump::socket_error(int sock, Count& eagain) {
    if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR) {
        ++eagain;
        return std::nullopt;
    }
    error_ = errno;
    trace("data connection fd {}: {}", sock, tls_ && !tls_->error().empty() ? tls_->error() : std::strerror(error_));
    ++k_.resets;
    return TransferStatus::connection_lost;
}

}  // namespace iom::ftp
