// The proactor's filesystem executor (uring_ftp_server): an FsRequest as a
// chain of io_uring submissions, where fs.hpp's execute() makes ordinary
// calls for the reactor.
//
//   FsOp        the chain, one SQE after another
//   open_home   MKDIRAT (EEXIST is fine), OPENAT2(O_PATH|O_DIRECTORY)
//   stat, open  OPENAT2 (RESOLVE_IN_ROOT: the security boundary), STATX(fd, "", AT_EMPTY_PATH)
//   create      OPENAT2 of the parent, OPENAT of the one-component name
//   mkdir       OPENAT2 of the parent, MKDIRAT
//   rmdir       OPENAT2 of the parent, UNLINKAT(AT_REMOVEDIR)
//   unlink      OPENAT2 of the parent, UNLINKAT
//   rename      OPENAT2 of both parents, RENAMEAT
//   list        none: io_uring has no getdents; the server runs execute() on its loop
//   set_mtime   none: io_uring has no utimensat; start() runs execute() (MFMT, rare)
//
// The steps cannot be linked (IOSQE_IO_LINK): each needs the descriptor the
// one before it opened. So each completion submits the next step, and the
// last hands back the FsResult. One chain in flight per session (the core
// has at most one operation outstanding), one SQE of it at a time.
#pragma once

#include "ftp/requests.hpp"

#include <linux/openat2.h>
#include <liburing.h>
#include <sys/stat.h>

#include <functional>
#include <optional>
#include <utility>

namespace iom::ftp {

class UringFs {
public:
    // `submit`: a free SQE, tagged (user_data) so that its CQE comes back to
    // completed(); `trace_fd` names the session in --trace.
    UringFs(std::function<io_uring_sqe*()> submit, int trace_fd) : submit_(std::move(submit)), trace_fd_(trace_fd) {}

    // The operations it submits (iom::uring::require_operations checks them at start).
    static constexpr std::pair<int, const char*> operations[] = {
        {IORING_OP_OPENAT, "OPENAT"},     {IORING_OP_OPENAT2, "OPENAT2"},   {IORING_OP_STATX, "STATX"},
        {IORING_OP_MKDIRAT, "MKDIRAT"},   {IORING_OP_UNLINKAT, "UNLINKAT"}, {IORING_OP_RENAMEAT, "RENAMEAT"}};

    // Start `r` (not FsOp::list): its first SQE is submitted, or a result
    // comes back at once (a name that is not one component).
    std::optional<FsResult> start(FsRequest r);
    // The CQE of the step in flight: the next step is submitted, or the
    // chain is over and here is its result.
    std::optional<FsResult> completed(int res);
    // The step in flight opens a descriptor: a session that closes before
    // its CQE comes must close what it brings.
    bool opening() const { return opening_; }

private:
    std::optional<FsResult> step(int res);
    io_uring_sqe* sqe(const char* what);
    void open(int dirfd, const std::string& path, int flags, mode_t mode);
    std::optional<FsResult> parent(const std::string& path);
    FsResult done(int error);

    std::function<io_uring_sqe*()> submit_;
    int trace_fd_;
    FsRequest req_;
    FsResult result_;
    int stage_ = 0;
    bool opening_ = false;
    Fd dir1_, dir2_;          // the parents a step opened
    open_how how_{};          // read by the kernel when it takes the OPENAT2 SQE
    struct statx stx_{};      // written by the kernel by STATX's CQE
};

}  // namespace iom::ftp
