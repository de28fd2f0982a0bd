#include "ftp/uring_fs.hpp"

#include "common/trace.hpp"
#include "ftp/fs.hpp"

#include <fcntl.h>

#include <cerrno>

namespace iom::ftp {

namespace {
void keep(int res, Fd& into) {
    if (res >= 0) into.reset(res);
}
int dir_of(const Fd& parent, int dirfd) { return parent ? parent.get() : dirfd; }
}  // namespace

std::optional<FsResult> UringFs::start(FsRequest r) {
    bool named = r.op != FsOp::stat && r.op != FsOp::open;
    if ((named && !one_component(r.name)) || (r.op == FsOp::rename && !one_component(r.name2)))
        return FsResult{.error = EINVAL};
    if (r.op == FsOp::set_mtime) return execute(r);  // io_uring has no utimensat: MFMT is one call on the loop
    req_ = std::move(r);
    result_ = {};
    stage_ = 0;
    return step(0);
}

std::optional<FsResult> UringFs::completed(int res) {
    opening_ = false;
    bool exists_is_fine = req_.op == FsOp::open_home && stage_ == 1 && res == -EEXIST;  // the home is there
    if (res < 0 && !exists_is_fine) return done(-res);
    return step(res);
}

// The next SQE of the chain, `what` for --trace.
io_uring_sqe* UringFs::sqe(const char* what) {
    trace("fd {}: {} \"{}\" \"{}\": {} submitted, the loop goes on", trace_fd_, name_of(req_.op), req_.path,
          req_.name, what);
    return submit_();
}

void UringFs::open(int dirfd, const std::string& path, int flags, mode_t mode) {
    how_ = make_open_how(flags, mode);  // RESOLVE_IN_ROOT: the kernel keeps the path inside dirfd
    io_uring_prep_openat2(sqe("OPENAT2"), dirfd, path.c_str(), &how_);
    opening_ = true;
}

// The directory a name is in: an OPENAT2 SQE, or (empty path) dirfd itself at once.
std::optional<FsResult> UringFs::parent(const std::string& path) {
    if (path.empty()) return step(-1);
    open(req_.dirfd, path, O_PATH | O_DIRECTORY, 0);
    return std::nullopt;
}

// Stage by stage: `res` is the last SQE's result (-1 after an empty parent).
std::optional<FsResult> UringFs::step(int res) {
    const int stage = stage_++;
    const char* name = req_.name.c_str();
    switch (req_.op) {
    case FsOp::open_home:  // MKDIRAT, OPENAT2
        if (stage == 0) {
            io_uring_prep_mkdirat(sqe("MKDIRAT"), req_.dirfd, name, 0755);
            return std::nullopt;
        }
        if (stage == 1) {
            open(req_.dirfd, req_.name, O_PATH | O_DIRECTORY, 0);
            return std::nullopt;
        }
        result_.fd.reset(res);
        return done(0);
    case FsOp::stat:  // OPENAT2, STATX
    case FsOp::open:
        if (stage == 0) {
            open(req_.dirfd, req_.path, req_.op == FsOp::open ? req_.flags : O_PATH, req_.mode);
            return std::nullopt;
        }
        if (stage == 1) {
            result_.fd.reset(res);
            io_uring_prep_statx(sqe("STATX"), res, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &stx_);
            return std::nullopt;
        }
        result_.stat = entry_from_statx(stx_, last_component(req_.path));
        if (req_.op == FsOp::stat) result_.fd.reset();
        return done(0);
    case FsOp::create:  // OPENAT2 of the parent, OPENAT of the name
        if (stage == 0) return parent(req_.path);
        if (stage == 1) {
            keep(res, dir1_);
            io_uring_prep_openat(sqe("OPENAT"), dir_of(dir1_, req_.dirfd), name, req_.flags | O_CLOEXEC, req_.mode);
            opening_ = true;
            return std::nullopt;
        }
        result_.fd.reset(res);
        result_.dir = dir1_ ? std::move(dir1_) : Fd(fcntl(req_.dirfd, F_DUPFD_CLOEXEC, 0));
        return done(0);
    case FsOp::mkdir:  // OPENAT2 of the parent, MKDIRAT or UNLINKAT
    case FsOp::rmdir:
    case FsOp::unlink:
        if (stage == 0) return parent(req_.path);
        if (stage == 1) {
            keep(res, dir1_);
            int dir = dir_of(dir1_, req_.dirfd);
            if (req_.op == FsOp::mkdir) io_uring_prep_mkdirat(sqe("MKDIRAT"), dir, name, req_.mode);
            else io_uring_prep_unlinkat(sqe("UNLINKAT"), dir, name, req_.op == FsOp::rmdir ? AT_REMOVEDIR : 0);
            return std::nullopt;
        }
        return done(0);
    case FsOp::rename:  // OPENAT2 of both parents, RENAMEAT
        if (stage == 0) return parent(req_.path);
        if (stage == 1) {
            keep(res, dir1_);
            return parent(req_.path2);
        }
        if (stage == 2) {
            keep(res, dir2_);
            io_uring_prep_renameat(sqe("RENAMEAT"), dir_of(dir1_, req_.dirfd), name, dir_of(dir2_, req_.dirfd),
                                   req_.name2.c_str(), req_.rename_flags);
            return std::nullopt;
        }
        return done(0);
    case FsOp::list:  // never started here (the server lists on its loop)
    case FsOp::set_mtime:  // nor this one (start() runs it through execute())
        break;
    }
    return done(EINVAL);
}

FsResult UringFs::done(int error) {
    FsResult r = std::move(result_);
    r.error = error;
    if (error) {  // a failure hands back nothing
        r.fd.reset();
        r.dir.reset();
    }
    dir1_.reset();
    dir2_.reset();
    return r;
}

}  // namespace iom::ftp
