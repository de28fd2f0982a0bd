#include "ftp/uring_transfer.hpp"

#include "common/trace.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace iom::ftp {

UringTransfer::UringTransfer(Ring& ring, TransferRequest req, const Nanos& now, const Config& cfg, Counters& k,
                             int trace_fd, const TlsBuffers* control_tls)
    : ring_(ring), req_(std::move(req)), now_(now), cfg_(cfg), k_(k), trace_fd_(trace_fd),
      clock_(now, cfg.limits), half_(cfg.limits.transfer_buffer / 2), offset_(req_.offset), control_tls_(control_tls) {}

// PORT/EPRT: a socket bound to the control connection's address (the core
// has checked the target: the client's own host, a port >= 1024), and a
// CONNECT; its CQE says how it went.
void UringTransfer::connect() {
    data_.reset(socket(req_.peer.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!data_ || bind(data_.get(), req_.local.sa(), req_.local.len) < 0)
        return end(TransferStatus::connect_failed, errno);
    trace("fd {}: CONNECT to {} submitted", trace_fd_, req_.peer.to_string());
    io_uring_prep_connect(ring_.submit(connect_op), data_.get(), req_.peer.sa(), req_.peer.len);
}

void UringTransfer::begin(Fd data) {
    data_ = std::move(data);
    connecting_ = false;
    clock_.last_progress = now_;
    // The core opens with O_NONBLOCK (a FIFO must not hang the open). On a
    // filesystem that cannot read without waiting, io_uring would then answer
    // a READ with EAGAIN instead of waiting for the disk itself: drop the flag.
    if (int fl = req_.file ? fcntl(req_.file.get(), F_GETFL) : -1; fl >= 0 && (fl & O_NONBLOCK))
        fcntl(req_.file.get(), F_SETFL, fl & ~O_NONBLOCK);
    if (req_.tls) {  // PROT P: OpenSSL on buffers; the handshake first
        tls_ = std::make_unique<TlsBuffers>(*control_tls_, data_.get());
        cipher_in_ = std::make_unique_for_overwrite<char[]>(half_);
    }
    const bool download = req_.direction == Direction::send;
    if (req_.file && download && !req_.ascii && !req_.tls && cfg_.sendfile && splice_pipe()) {
        trace("fd {}: download by SPLICE through pipe {} -> {}", trace_fd_, pipe_w_.get(), pipe_r_.get());
    } else if (req_.file) {
        buf_ = std::make_unique_for_overwrite<char[]>(2 * half_);
        halves_[0].base = buf_.get();
        halves_[1].base = buf_.get() + half_;
    } else {  // a listing: the bytes are there, one half's worth
        halves_[0] = {req_.data.data(), 0, req_.data.size()};
        eof_ = true;
    }
    pump();
}

void UringTransfer::end(TransferStatus s, int error) {
    if (ending_) return;
    ending_ = s;
    if (error) error_ = error;
    for (Op op : {connect_op, data_send, data_recv, file_read, file_write}) ring_.cancel(op);
}

std::optional<TransferResult> UringTransfer::result() {
    if (!ending_ || reported_) return std::nullopt;
    for (Op op : {connect_op, data_send, data_recv, file_read, file_write})
        if (ring_.in_flight(op)) return std::nullopt;
    reported_ = true;
    data_.reset();  // closed before the session replies: the 226 follows the close
    pipe_r_.reset();
    pipe_w_.reset();
    return TransferResult{.status = *ending_, .bytes = bytes_, .error = error_};
}

Nanos UringTransfer::deadline() const { return ending_ ? never : clock_.deadline(!connecting_, cfg_.limits); }

void UringTransfer::on_time() {
    if (ending_) return;
    if (clock_.throttled && now_ >= clock_.rate.refill_at) {  // a new window: the held send (or recv) goes now
        clock_.unthrottle(now_);
        return pump();
    }
    if (clock_.throttled || deadline() > now_) return;
    trace("fd {}: {}", trace_fd_, connecting_ ? "no data connection in time" : "transfer stalled");
    ++k_.transfer_timeouts;
    end(connecting_ ? TransferStatus::connect_failed : TransferStatus::stalled);
}

// A download's pipe. Each splice is a hand-off to an io-wq worker, so the
// bigger the pipe, the fewer of them: ask for 1 MiB (the default
// /proc/sys/fs/pipe-max-size; more if --transfer-buffer is larger) and keep
// what the kernel grants (at least the 64 KiB every pipe has). It holds
// references to page-cache pages, not copies: no memory of this process.
// No descriptor for a pipe: the buffer path instead.
bool UringTransfer::splice_pipe() {
    int p[2];
    if (pipe2(p, O_CLOEXEC) < 0) return false;
    pipe_r_.reset(p[0]);
    pipe_w_.reset(p[1]);
    const std::size_t want = std::max<std::size_t>(cfg_.limits.transfer_buffer, 1 << 20);
    int size = fcntl(p[1], F_SETPIPE_SZ, static_cast<int>(want));
    if (size < 0) size = fcntl(p[1], F_GETPIPE_SZ);
    pipe_cap_ = size > 0 ? static_cast<std::size_t>(size) : std::size_t{64} << 10;
    return true;
}

// --rate-limit: how much of `most` the next send or recv may move; 0 holds
// it until the server's timer opens the next window and pumps again.
std::size_t UringTransfer::allowed(std::size_t most) {
    most = std::min(most, clock_.allow(now_, cfg_.limits));
    if (most == 0) {
        trace("fd {}: rate window spent: the next operation waits {} ms for the timer", trace_fd_,
              (clock_.rate.refill_at - now_) / ms);
        ++k_.rate_waits;
    }
    return most;
}

// The next SQEs of the pipeline: after begin, after every completion, and
// when the rate window reopens. Every byte moved and nothing in flight: done.
void UringTransfer::pump() {
    if (clock_.throttled || ending_) return;
    if (pipe_r_) return pump_pipe();
    if (tls_ && !tls_->ready()) return pump_handshake();
    const bool download = req_.direction == Direction::send;
    const Op fill_op = download ? file_read : data_recv, drain_op = download ? data_send : file_write;
    Half& d = halves_[drain_];
    if (!ring_.in_flight(drain_op) && d.head < d.tail) {
        std::size_t most = d.tail - d.head;
        if (!download) {  // WRITE at the offset (an O_APPEND file: at its end, whatever the offset)
            ++k_.file_writes;
            io_uring_prep_write(ring_.submit(file_write), req_.file.get(), d.base + d.head,
                                static_cast<unsigned>(most), offset_);
        } else if (tls_) {
            seal_and_send(most);
        } else if ((most = allowed(most)) > 0) {
            ++k_.send_calls;
            io_uring_prep_send(ring_.submit(data_send), data_.get(), d.base + d.head, most, MSG_NOSIGNAL);
        }
    }
    Half& f = halves_[fill_];
    if (!ring_.in_flight(fill_op) && !eof_ && f.head == f.tail && !clock_.throttled) {
        if (download) {  // READ the next piece (TYPE A: a third of the half, converted into its front)
            std::size_t want = req_.ascii ? half_ / 3 : half_;
            ++k_.file_reads;
            io_uring_prep_read(ring_.submit(file_read), req_.file.get(), f.base + (half_ - want),
                               static_cast<unsigned>(want), offset_);
        } else if (tls_ && (!starved_ || cipher_eof_)) {
            return decrypt();  // what OpenSSL holds already: no RECV would bring it again
        } else if (std::size_t most = allowed(req_.ascii ? half_ / 2 - 1 : half_); most > 0) {
            ++k_.recv_calls;  // TYPE A: into the second part of the half, converted into its front; TLS: ciphertext
            char* into = tls_ ? cipher_in_.get() : req_.ascii ? f.base + half_ / 2 : f.base;
            io_uring_prep_recv(ring_.submit(data_recv), data_.get(), into, tls_ ? std::min(most, half_) : most, 0);
        }
    }
    bool empty = halves_[0].head == halves_[0].tail && halves_[1].head == halves_[1].tail;
    bool quiet = !ring_.in_flight(fill_op) && !ring_.in_flight(drain_op);
    if (tls_ && send_ciphertext(eof_ && empty && quiet)) return;  // at the end: close_notify
    if (eof_ && empty && quiet) end(TransferStatus::done);
}

// ---- PROT P: the pipeline's TLS --------------------------------------------------------

// The data connection's handshake: RECV what the client sends, SEND what
// OpenSSL answers, until on_ciphertext() finds it done.
void UringTransfer::pump_handshake() {
    send_ciphertext(false);
    if (!ring_.in_flight(data_recv)) {
        ++k_.recv_calls;
        io_uring_prep_recv(ring_.submit(data_recv), data_.get(), cipher_in_.get(), half_, 0);
    }
}

// SEND the ciphertext that waits: the rest of a short SEND, what OpenSSL
// wrote by itself (handshake messages, session tickets), and `at_end`,
// close_notify. True while a SEND is in flight.
bool UringTransfer::send_ciphertext(bool at_end) {
    if (!ring_.in_flight(data_send)) {
        if (cipher_out_.empty()) cipher_out_ = tls_->seal({});
        if (cipher_out_.empty() && at_end) cipher_out_ = tls_->close_notify();
        if (!cipher_out_.empty()) {
            ++k_.send_calls;
            io_uring_prep_send(ring_.submit(data_send), data_.get(), cipher_out_.data(), cipher_out_.size(), MSG_NOSIGNAL);
        }
    }
    return ring_.in_flight(data_send);
}

// A download: seal up to `most` bytes of the half being drained (as the rate
// window allows) and SEND the ciphertext; the half is free of them at once.
void UringTransfer::seal_and_send(std::size_t most) {
    if (cipher_out_.empty() && (most = allowed(most)) > 0) {
        Half& d = halves_[drain_];
        cipher_out_ = tls_->seal({d.base + d.head, most});
        moved(static_cast<int>(most));  // the file's bytes: what the session and the log count
        drained(most);
    }
    send_ciphertext(false);
}

// A RECV of ciphertext completed: into OpenSSL, then the handshake's next
// step, or the file's bytes.
void UringTransfer::on_ciphertext(int res) {
    if (res < 0) return lost(res);
    k_.recv_bytes += static_cast<unsigned>(res);
    if (res == 0 && !tls_->ready()) return end(TransferStatus::tls_failed);
    if (res == 0) cipher_eof_ = true;  // the end, with or without close_notify
    tls_->received(cipher_in_.get(), static_cast<std::size_t>(res));
    starved_ = false;
    if (!tls_->ready()) {
        switch (tls_->handshake()) {
        case TlsStep::again: return pump();
        case TlsStep::failed: trace("fd {}: data connection TLS: {}", trace_fd_, tls_->error()); return end(TransferStatus::tls_failed);
        case TlsStep::not_resumed: trace("fd {}: {}", trace_fd_, tls_->error()); return end(TransferStatus::tls_not_resumed);
        case TlsStep::done: clock_.last_progress = now_; break;
        }
        if (req_.direction == Direction::send) return pump();  // a download receives nothing more
    }
    decrypt();
}

// An upload: open what OpenSSL can into the half being filled. What does
// not fit stays in OpenSSL (pending()), and pump() comes back for it before
// it submits another RECV.
void UringTransfer::decrypt() {
    Half& f = halves_[fill_];
    if (f.head != f.tail) return pump();  // both halves are full: the WRITE's completion comes back
    char* into = req_.ascii ? f.base + half_ / 2 : f.base;
    const std::size_t room = req_.ascii ? half_ / 2 - 1 : half_;
    std::size_t got = 0;
    ssize_t n = 1;
    while (got < room && (n = tls_->read(into + got, room - got)) > 0) got += static_cast<std::size_t>(n);
    if (n < 0 && errno != EAGAIN) return lost(-errno);
    starved_ = n < 0;  // OpenSSL has no whole record left: a RECV first (what it holds may be part of one)
    bool end_of_file = got == 0 && (n == 0 || cipher_eof_);  // close_notify, or EOF; bytes before it go first
    moved(static_cast<int>(got));
    std::size_t len = end_of_file ? (req_.ascii ? decoder_.finish(f.base) : 0)
                                  : req_.ascii ? decoder_.convert(into, got, f.base) : got;
    if (end_of_file) eof_ = true;
    if ((accepted_ += len) > req_.max_bytes) return end(TransferStatus::too_large);
    filled(len);
    pump();
}

// The same pipeline for a spliced download, with the pipe as the buffer:
// one SPLICE fills it from the file, half a pipe at a time, while the other
// drains what it holds into the data socket.
void UringTransfer::pump_pipe() {
    if (std::size_t most = in_pipe_; !ring_.in_flight(data_send) && most > 0 && (most = allowed(most)) > 0) {
        ++k_.sendfile_calls;
        io_uring_prep_splice(ring_.submit(data_send), pipe_r_.get(), -1, data_.get(), -1, static_cast<unsigned>(most), 0);
    }
    const std::size_t chunk = pipe_cap_ / 2;
    if (!ring_.in_flight(file_read) && !eof_ && pipe_cap_ - in_pipe_ >= chunk && !clock_.throttled) {
        ++k_.file_reads;
        io_uring_prep_splice(ring_.submit(file_read), req_.file.get(), static_cast<std::int64_t>(offset_),
                             pipe_w_.get(), -1, static_cast<unsigned>(chunk), 0);
    }
    if (eof_ && in_pipe_ == 0 && !ring_.in_flight(file_read) && !ring_.in_flight(data_send))
        end(TransferStatus::done);
}

// A fill completed into halves_[fill_]: `n` bytes there now; the next fill takes the other half.
void UringTransfer::filled(std::size_t n) {
    halves_[fill_].head = 0;
    halves_[fill_].tail = n;
    if (n > 0) fill_ ^= 1;
}

// A drain completed: `n` bytes of halves_[drain_] are gone; emptied, the next drain takes the other.
void UringTransfer::drained(std::size_t n) {
    Half& d = halves_[drain_];
    d.head += n;
    if (d.head < d.tail) return;
    d.head = d.tail = 0;
    drain_ ^= 1;
}

// A CQE of the transfer. Once it is ending, whatever an operation did no
// longer matters: the session asks result() after every completion.
void UringTransfer::completed(Op op, int res) {
    if (ending_) return;
    switch (op) {
    case connect_op:
        if (res < 0) return end(TransferStatus::connect_failed, -res);
        return begin(std::move(data_));
    case file_read: return on_file_read(res);
    case file_write: return on_file_write(res);
    case data_send: return on_data_send(res);
    case data_recv: return on_data_recv(res);
    }
}

// A send or recv on the data connection failed: the transfer is lost.
void UringTransfer::lost(int res) {
    trace("fd {}: data connection: {}", trace_fd_, std::strerror(-res));
    ++k_.resets;
    end(TransferStatus::connection_lost, -res);
}

void UringTransfer::on_file_read(int res) {
    if (res < 0) return end(TransferStatus::file_error, -res);
    auto n = static_cast<std::size_t>(res);
    if (n == 0) eof_ = true;
    offset_ += n;
    k_.file_read_bytes += n;
    if (pipe_r_) {  // spliced: the pages are in the pipe, nothing copied
        in_pipe_ += n;
        return pump();
    }
    k_.user_copy_bytes += n;
    const std::size_t want = req_.ascii ? half_ / 3 : half_;
    char* base = halves_[fill_].base;  // TYPE A: LF becomes CRLF, into the front of the half
    filled(req_.ascii ? encoder_.convert(base + (half_ - want), n, base) : n);
    return pump();
}

void UringTransfer::on_file_write(int res) {
    if (res == -ENOSPC || res == -EDQUOT) return end(TransferStatus::no_space, -res);
    if (res < 0) return end(TransferStatus::file_error, -res);
    auto n = static_cast<std::size_t>(res);  // maybe short: pump() writes the rest
    k_.file_write_bytes += n;
    k_.user_copy_bytes += n;
    offset_ += n;
    drained(n);
    return pump();
}

// Bytes moved on the data connection: progress (the stall timer restarts, the rate window shrinks).
std::size_t UringTransfer::moved(int res) {
    auto n = static_cast<std::size_t>(res);
    bytes_ += n;
    clock_.moved(now_, n);
    return n;
}

void UringTransfer::on_data_send(int res) {
    if (res < 0) return lost(res);
    if (tls_) {  // ciphertext: the file's bytes were counted when they were sealed
        k_.send_bytes += static_cast<unsigned>(res);
        cipher_out_.erase(0, static_cast<std::size_t>(res));
        return pump();
    }
    std::size_t n = moved(res);
    k_.send_bytes += n;
    if (pipe_r_) in_pipe_ -= n;
    else drained(n);
    return pump();
}

void UringTransfer::on_data_recv(int res) {
    if (tls_) return on_ciphertext(res);
    if (res < 0) return lost(res);
    std::size_t n = moved(res);
    k_.recv_bytes += n;
    char* base = halves_[fill_].base;
    std::size_t len;
    if (n == 0) {  // the client closed the data connection: the file is whole
        eof_ = true;
        len = req_.ascii ? decoder_.finish(base) : 0;
    } else {  // TYPE A: CRLF becomes LF, from the second part of the half into its front
        len = req_.ascii ? decoder_.convert(base + half_ / 2, n, base) : n;
    }
    if ((accepted_ += len) > req_.max_bytes) return end(TransferStatus::too_large);
    filled(len);
    return pump();
}

}  // namespace iom::ftp
