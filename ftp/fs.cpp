#include "ftp/fs.hpp"

#include "common/error.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>  // renameat2, RENAME_NOREPLACE

namespace iom::ftp {

open_how make_open_how(int flags, mode_t mode) {
    open_how how{};
    how.flags = static_cast<std::uint64_t>(flags | O_CLOEXEC);
    how.mode = (flags & (O_CREAT | O_TMPFILE)) ? mode : 0;  // openat2 refuses a mode without O_CREAT
    how.resolve = resolve_flags;
    return how;
}

int open_in_root(int dirfd, const std::string& path, int flags, mode_t mode) {
    open_how how = make_open_how(flags, mode);
    // glibc 2.36 has no wrapper for openat2: the system call itself.
    return static_cast<int>(::syscall(SYS_openat2, dirfd, path.c_str(), &how, sizeof how));
}

Fd open_site_root(const std::string& dir) {
    if (::mkdir(dir.c_str(), 0755) < 0 && errno != EEXIST) throw_sys("mkdir {}", dir);
    return Fd(check_sys(::open(dir.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC), "open {}", dir));
}

Entry entry_from_statx(const struct statx& st, std::string name) {
    Entry e;
    e.name = std::move(name);
    e.type = S_ISREG(st.stx_mode) ? EntryType::file : S_ISDIR(st.stx_mode) ? EntryType::dir
           : S_ISLNK(st.stx_mode) ? EntryType::link : EntryType::other;
    e.size = st.stx_size;
    e.mtime = st.stx_mtime.tv_sec;
    e.mode = st.stx_mode & 07777;
    e.nlink = st.stx_nlink;
    e.dev = makedev(st.stx_dev_major, st.stx_dev_minor);
    e.ino = st.stx_ino;
    return e;
}

std::string last_component(const std::string& path) {
    auto slash = path.rfind('/');
    std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
    return name.empty() ? "/" : name;
}

bool one_component(const std::string& name) {
    return !name.empty() && name != "." && name != ".." && name.find('/') == std::string::npos;
}

namespace {

// statx of an open descriptor into `e`; an errno value on failure.
int stat_fd(int fd, std::string name, Entry& e) {
    struct statx st{};
    if (::statx(fd, "", AT_EMPTY_PATH, STATX_BASIC_STATS, &st) < 0) return errno;
    e = entry_from_statx(st, std::move(name));
    return 0;
}

// The directory `path` names inside `dirfd` (or dirfd itself for an empty
// path). `owned` keeps what was opened; returns -1 with errno set on failure.
int open_parent(int dirfd, const std::string& path, Fd& owned) {
    if (path.empty()) return dirfd;
    owned.reset(open_in_root(dirfd, path, O_PATH | O_DIRECTORY));
    return owned.get();
}

// A directory's entries. A symlink is shown as what it resolves to INSIDE the
// root (what RETR would get), looked up with the same openat2 rule; one that
// does not resolve there stays a link. Nothing outside the root is stat'ed.
int list_directory(int rootfd, const std::string& path, int pathfd, std::vector<Entry>& out) {
    int fd = ::openat(pathfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return errno;
    DIR* dir = ::fdopendir(fd);
    if (!dir) {
        int err = errno;
        ::close(fd);
        return err;
    }
    while (dirent* d = ::readdir(dir)) {
        std::string name = d->d_name;
        if (name == "." || name == "..") continue;
        struct statx st{};
        if (::statx(fd, name.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BASIC_STATS, &st) < 0) continue;  // gone meanwhile
        Entry e = entry_from_statx(st, name);
        if (e.type == EntryType::link) {
            Fd target(open_in_root(rootfd, path + (path.ends_with('/') ? "" : "/") + name, O_PATH));
            Entry resolved;
            if (target && stat_fd(target.get(), name, resolved) == 0) e = resolved;
        }
        out.push_back(std::move(e));
    }
    ::closedir(dir);
    std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return 0;
}

}  // namespace

namespace {

// `req` into `r`; returns 0 or an errno value.
int perform(const FsRequest& req, FsResult& r) {
    bool needs_name = req.op != FsOp::stat && req.op != FsOp::open && req.op != FsOp::list;
    if (needs_name && !one_component(req.name)) return EINVAL;
    if (req.op == FsOp::rename && !one_component(req.name2)) return EINVAL;

    switch (req.op) {
    case FsOp::open_home:
        if (::mkdirat(req.dirfd, req.name.c_str(), 0755) < 0 && errno != EEXIST) return errno;
        r.fd.reset(open_in_root(req.dirfd, req.name, O_PATH | O_DIRECTORY));
        return r.fd ? 0 : errno;
    case FsOp::stat:
    case FsOp::open:
    case FsOp::list: {
        int flags = req.op == FsOp::open ? req.flags : O_PATH;
        r.fd.reset(open_in_root(req.dirfd, req.path, flags, req.mode));
        if (!r.fd) return errno;
        if (int err = stat_fd(r.fd.get(), last_component(req.path), r.stat)) return err;
        if (req.op == FsOp::list && r.stat.type == EntryType::dir) {
            if (int err = list_directory(req.dirfd, req.path, r.fd.get(), r.entries)) return err;
        }
        if (req.op != FsOp::open) r.fd.reset();  // stat and list hand back no descriptor
        return 0;
    }
    case FsOp::create: {
        int parent = open_parent(req.dirfd, req.path, r.dir);
        if (parent < 0) return errno;
        r.fd.reset(::openat(parent, req.name.c_str(), req.flags | O_CLOEXEC, req.mode));
        if (!r.fd) return errno;
        if (!r.dir) r.dir.reset(::fcntl(parent, F_DUPFD_CLOEXEC, 0));  // the caller owns what it gets back
        return 0;
    }
    case FsOp::mkdir:
    case FsOp::rmdir:
    case FsOp::unlink: {
        Fd owned;
        int parent = open_parent(req.dirfd, req.path, owned);
        if (parent < 0) return errno;
        int rc = req.op == FsOp::mkdir ? ::mkdirat(parent, req.name.c_str(), req.mode)
                                       : ::unlinkat(parent, req.name.c_str(), req.op == FsOp::rmdir ? AT_REMOVEDIR : 0);
        return rc < 0 ? errno : 0;
    }
    case FsOp::set_mtime: {
        Fd owned;
        int parent = open_parent(req.dirfd, req.path, owned);
        if (parent < 0) return errno;
        const timespec times[2] = {{.tv_sec = 0, .tv_nsec = UTIME_OMIT}, {.tv_sec = req.mtime, .tv_nsec = 0}};
        return ::utimensat(parent, req.name.c_str(), times, AT_SYMLINK_NOFOLLOW) < 0 ? errno : 0;
    }
    case FsOp::rename: {
        Fd owned1, owned2;
        int from = open_parent(req.dirfd, req.path, owned1);
        if (from < 0) return errno;
        int to = open_parent(req.dirfd, req.path2, owned2);
        if (to < 0) return errno;
        return ::renameat2(from, req.name.c_str(), to, req.name2.c_str(), req.rename_flags) < 0 ? errno : 0;
    }
    }
    return EINVAL;
}

}  // namespace

FsResult execute(const FsRequest& req) {
    FsResult r;
    r.error = perform(req, r);
    if (r.error) {  // a failure hands back nothing
        r.fd.reset();
        r.dir.reset();
        r.entries.clear();
    }
    return r;
}

}  // namespace iom::ftp
