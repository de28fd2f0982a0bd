// The bytes of one transfer in uring_ftp_server: a pipeline of submissions.
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
// The server owns the data connection, the timers and the ending (cancel
// what is in flight, report once it is all back); this is what moves.
#pragma once

#include "common/counters.hpp"
#include "common/fd.hpp"
#include "ftp/ascii.hpp"
#include "ftp/clock.hpp"
#include "ftp/options.hpp"
#include "ftp/requests.hpp"

#include <liburing.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <utility>

namespace iom::ftp {

class UringPump {
public:
    // The operations of a transfer's pipeline, each at most once in flight.
    enum Op : unsigned { data_send, data_recv, file_read, file_write };
    // What the pump asks of its session: SQEs tagged with its operations, so
    // that their CQEs come back to completed().
    struct Ring {
        virtual io_uring_sqe* submit(Op op) = 0;  // a free SQE; `op` is in flight from now
        virtual bool in_flight(Op op) const = 0;
    protected:
        ~Ring() = default;
    };

    // The operations it submits (iom::uring::require_operations checks them at start).
    static constexpr std::pair<int, const char*> operations[] = {
        {IORING_OP_RECV, "RECV"}, {IORING_OP_SEND, "SEND"}, {IORING_OP_READ, "READ"},
        {IORING_OP_WRITE, "WRITE"}, {IORING_OP_SPLICE, "SPLICE"}};

    // `clock`: the transfer's timers (progress, the rate window), kept by the server; `now`: its clock.
    UringPump(Ring& ring, TransferRequest& req, TransferClock& clock, const Nanos& now, const Config& cfg,
              Counters& k, int trace_fd);

    // The data connection `data` is there: choose the path, submit the first SQEs.
    std::optional<TransferStatus> start(int data);
    // Submit what can go next (after a completion; when the rate window
    // reopens). `done` once every byte is moved and nothing is in flight.
    std::optional<TransferStatus> pump();
    // A CQE of one of its operations, then pump(); a failure ends the transfer.
    std::optional<TransferStatus> completed(Op op, int res);

    std::uint64_t bytes() const { return bytes_; }  // moved on the data connection
    int error() const { return error_; }            // errno of the failure, if known

private:
    bool splice_pipe();
    std::optional<TransferStatus> pump_pipe();
    std::size_t allowed(std::size_t most);
    void filled(std::size_t n);
    void drained(std::size_t n);
    std::optional<TransferStatus> on_file_read(int res);
    std::optional<TransferStatus> on_file_write(int res);
    std::optional<TransferStatus> on_data_send(int res);
    std::optional<TransferStatus> on_data_recv(int res);
    std::optional<TransferStatus> failed(TransferStatus s, int error);
    std::optional<TransferStatus> lost(int res);

    Ring& ring_;
    TransferRequest& req_;
    TransferClock& clock_;
    const Nanos& now_;
    const Config& cfg_;
    Counters& k_;
    int trace_fd_, data_ = -1;
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
};

}  // namespace iom::ftp
