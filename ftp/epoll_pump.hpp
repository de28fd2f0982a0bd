// The bytes of one transfer in epoll_ftp_server: between a non-blocking data
// socket and a file (or a listing in memory), a turn at a time.
//
// The server calls turn() when epoll says the data socket is ready (EPOLLOUT
// for a download, EPOLLIN for an upload). A turn moves at most `most` bytes,
// so twenty transfers share the loop, and returns a status once the transfer
// is over; nullopt means "wait for the socket again" (EAGAIN) or "more next
// turn". What waits and when is the server's; this is what moves.
//
// DOWNLOADS, TYPE I: sendfile(socket, file, &offset, n). The kernel hands
// page-cache pages to the socket without copying them into this process:
// no read, no user buffer. On a page-cache miss sendfile reads the disk
// inside the call, and the loop waits exactly as it would in read.
// --no-sendfile reads (pread) into the buffer and sends from it, so a class
// can compare sendfile_calls against file_reads and user_copy_bytes. TYPE A
// must copy: its line ends are converted in user space (ascii.hpp). A file
// is read only once the socket has taken the bytes before it: a full data
// socket stops the file reads.
//
// UPLOADS: recv into the buffer, pwrite to the file at once: nothing piles
// up. A pwrite copies into the page cache; it waits for the disk only when
// the kernel throttles a writer that has dirtied too many pages.
//
// PROT P (FTPS): secure() puts OpenSSL on the socket (ftp/tls.hpp). The
// handshake comes first, a step a turn; then SSL_write and SSL_read take the
// place of send and recv, so no sendfile: the bytes must pass through the
// cipher in user space (kTLS would take them back into the kernel; this
// kernel has none). A download ends with close_notify, so that the client
// can tell the end of the file from a cut connection. What to wait for is
// OpenSSL's want (events()); an upload drains the records OpenSSL has read
// ahead before it waits, since no readiness announces them (--tls-read-once
// does not, for the lab tls-edge).
#pragma once

#include "common/counters.hpp"
#include "ftp/ascii.hpp"
#include "ftp/requests.hpp"
#include "ftp/tls.hpp"

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

namespace iom::ftp {

// Shown under --trace at start: epoll cannot wait for a regular file
// (epoll_ctl says EPERM), so every file operation runs on the loop.
void show_that_files_cannot_be_waited_for(int epfd);

class EpollPump {
public:
    // `buffer`: --transfer-buffer; `use_sendfile`: false with --no-sendfile;
    // `control_tls`: the control connection's TLS, if any (PROT P: the data
    // connection's TLS is of the same session, its handshake the first turn).
    EpollPump(TransferRequest& req, std::size_t buffer, bool use_sendfile, Counters& k, const TlsSocket* control_tls);
    // One turn on the data socket `sock`: at most `most` bytes.
    std::optional<TransferStatus> turn(int sock, std::size_t most);
    // What the socket must be ready for before the next turn: EPOLLOUT or
    // EPOLLIN, as the direction says, or as OpenSSL wants.
    std::uint32_t events() const;

    std::uint64_t bytes() const { return bytes_; }  // moved on the data connection
    int error() const { return error_; }            // errno of a failed turn, if known

private:
    std::optional<TransferStatus> send_some(int sock, std::size_t most);
    std::optional<TransferStatus> end_of_data();
    std::optional<TransferStatus> receive_some(int sock, std::size_t most);
    std::optional<TransferStatus> receive_once(int sock, std::size_t most);
    std::optional<TransferStatus> socket_error(int sock, Count& eagain);
    bool read_file();
    std::optional<TransferStatus> write_file(const char* p, std::size_t n);

    TransferRequest& req_;
    Counters& k_;
    std::size_t cap_;
    std::unique_ptr<char[]> buf_;     // only when bytes pass through user space
    std::size_t head_ = 0, tail_ = 0; // buf_[head, tail): read from the file, not yet sent (a listing: req.data)
    off_t offset_;                    // in the file
    std::uint64_t bytes_ = 0, written_ = 0;  // on the data connection; into the file
    int error_ = 0;
    AsciiEncoder encoder_;
    AsciiDecoder decoder_;
    const TlsSocket* control_tls_;
    std::unique_ptr<TlsSocket> tls_;  // PROT P
};

}  // namespace iom::ftp
