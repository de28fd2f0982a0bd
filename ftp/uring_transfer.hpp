// One transfer of uring_ftp_server: its data connection, its file, and a
// pipeline of submissions between them.
//
// A LIFE IN SUBMISSIONS. A passive data connection is handed over by the
// session's Listener (begin); an active one is a CONNECT (connect). Then
// the pipeline below moves the bytes. The end is decided once (end: done,
// aborted, stalled, lost...), everything still in flight is cancelled
// (ASYNC_CANCEL), and only when the last CQE is back is the data connection
// closed and the result handed to the session (result()): the kernel owns
// the buffers and the socket until then, and the 226 must follow the close.
//
// A PIPELINE OF TWO HALVES. The transfer's buffer (--transfer-buffer) is two
// halves. One operation fills a half (a download: READ from the file; an
// upload: RECV from the data socket) while another drains the other (SEND;
// WRITE), so the disk and the network work at the same time, one SQE each
// in flight: what the reactor cannot do, where a read IS the loop's time.
// Halves are filled and drained in turn, so the bytes keep their order. A
// half is the kernel's while the SQE that names it is in flight.
//
// DOWNLOADS IN TYPE I: SPLICE, file -> pipe -> socket, the proactor's
// sendfile. One SPLICE moves file pages into a pipe of the transfer's own
// (references, no copy), the other moves them on to the data socket; the
// pipe is the buffer, pipelined the same way. io_uring runs every splice in
// an io-wq worker thread (a splice cannot start without blocking, so the
// kernel never tries it inline): a cold file waits there, and so does a
// slow client, while the loop serves everyone else. The price: a pipe (two
// descriptors) per download and a worker hand-off per splice, so each moves
// up to half the pipe. Counted as file_reads and sendfile_calls; with
// --no-sendfile, or TYPE A, or no descriptor for a pipe, downloads take the
// buffer path (READ + SEND: user_copy_bytes counts the copies).
//
// PROT P (FTPS): OpenSSL on memory buffers (ftp/tls.hpp: TlsBuffers). The
// data connection's handshake comes first: RECV what the client sends into
// a buffer of ciphertext, hand it to OpenSSL, SEND what OpenSSL answers.
// Then a download seals each piece of a half and SENDs the ciphertext (no
// SPLICE: the bytes must pass through the cipher), and ends with
// close_notify; an upload RECVs ciphertext and opens it into the half being
// filled. What OpenSSL still holds when that half is full is read out
// before the next RECV is submitted: no completion would bring it again.
//
// TIME. The session's one TIMEOUT covers the transfer's deadline() too
// (ftp/clock.hpp: the connect, a stall, the rate window); on_time() when it
// is due. A spent rate window holds the next send or recv until then.
#pragma once

#include "common/counters.hpp"
#include "common/fd.hpp"
#include "ftp/ascii.hpp"
#include "ftp/clock.hpp"
#include "ftp/options.hpp"
#include "ftp/requests.hpp"
#include "ftp/tls.hpp"

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace iom::ftp {

class UringTransfer {
public:
    // Its operations, each at most once in flight.
    enum Op : unsigned { connect_op, data_send, data_recv, file_read, file_write };
    // What the transfer asks of its session: SQEs tagged with its operations
    // (the session's user_data), so that their CQEs come back to completed().
    struct Ring {
        virtual io_uring_sqe* submit(Op op) = 0;  // a free SQE; `op` is in flight from now
        virtual bool in_flight(Op op) const = 0;
        virtual void cancel(Op op) = 0;  // ASYNC_CANCEL, if in flight
    protected:
        ~Ring() = default;
    };
    // The operations it submits (iom::uring::require_operations checks them at start).
    static constexpr std::pair<int, const char*> operations[] = {
        {IORING_OP_CONNECT, "CONNECT"}, {IORING_OP_RECV, "RECV"},   {IORING_OP_SEND, "SEND"},
        {IORING_OP_READ, "READ"},       {IORING_OP_WRITE, "WRITE"}, {IORING_OP_SPLICE, "SPLICE"}};

    // `now`: the server's clock, read once per batch; `trace_fd` names the session in --trace;
    // `control_tls`: the control connection's TLS, if any (PROT P).
    UringTransfer(Ring& ring, TransferRequest req, const Nanos& now, const Config& cfg, Counters& k, int trace_fd,
                  const TlsBuffers* control_tls);

    const TransferRequest& request() const { return req_; }
    bool connecting() const { return connecting_; }  // no data connection yet
    bool ending() const { return ending_.has_value(); }
    std::uint64_t bytes() const { return bytes_; }  // moved on the data connection so far

    void connect();                // PORT/EPRT: CONNECT from the control connection's address
    void begin(Fd data);           // the data connection is there: the pipeline starts
    void completed(Op op, int res);  // a CQE of one of its operations
    void end(TransferStatus s, int error = 0);  // decide how it ends; cancel what is in flight
    // Once it has ended and nothing of it is in flight: the data connection
    // is closed, and here is the result for the session (once).
    std::optional<TransferResult> result();
    Nanos deadline() const;  // its next deadline
    void on_time();          // the session's timer came at deadline(): a new rate window, or a stall

private:
    bool splice_pipe();
    void pump();
    void pump_pipe();
    void pump_handshake();
    bool send_ciphertext(bool at_end);
    void seal_and_send(std::size_t most);
    void on_ciphertext(int res);
    void decrypt();
    std::size_t allowed(std::size_t most);
    void filled(std::size_t n);
    void drained(std::size_t n);
    void on_file_read(int res);
    void on_file_write(int res);
    void on_data_send(int res);
    void on_data_recv(int res);
    void lost(int res);
    std::size_t moved(int res);

    Ring& ring_;
    TransferRequest req_;
    const Nanos& now_;
    const Config& cfg_;
    Counters& k_;
    int trace_fd_;
    Fd data_;                            // the data connection
    TransferClock clock_;
    bool connecting_ = true;
    std::optional<TransferStatus> ending_;  // decided; reported once its operations are all back
    bool reported_ = false;
    const std::size_t half_;             // a half of --transfer-buffer
    std::unique_ptr<char[]> buf_;        // two halves
    struct Half {
        char* base = nullptr;
        std::size_t head = 0, tail = 0;  // base[head, tail): filled, not yet drained
    } halves_[2];
    unsigned fill_ = 0, drain_ = 0;      // the half the next fill goes into; the next drain comes from
    Fd pipe_r_, pipe_w_;                 // a spliced download: file -> pipe_w, pipe_r -> data
    std::size_t in_pipe_ = 0, pipe_cap_ = 0;  // bytes spliced in and not yet out; the pipe's size
    bool eof_ = false;                   // the file (download) or the data connection (upload) has ended
    std::uint64_t offset_, bytes_ = 0, accepted_ = 0;  // offset: of the next file op; accepted: for the file
    int error_ = 0;
    AsciiEncoder encoder_;
    AsciiDecoder decoder_;
    const TlsBuffers* control_tls_;       // PROT P: the session's TLS, whose session the data connection's resumes
    std::unique_ptr<TlsBuffers> tls_;     // PROT P
    std::unique_ptr<char[]> cipher_in_;   // what a RECV brings under TLS (half_ bytes)
    std::string cipher_out_;              // what the SEND in flight sends under TLS (and the rest of a short one)
    bool cipher_eof_ = false;             // the client closed the data connection (after close_notify, or not)
    bool starved_ = true;                 // OpenSSL can open nothing more before another RECV
};

}  // namespace iom::ftp
