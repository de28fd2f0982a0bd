// The synchronous filesystem executor: performs an FsRequest with ordinary
// system calls and returns its FsResult. The epoll server calls it for every
// FsRequest (those calls block the loop for as long as the disk takes: the
// reactor's limit, said in that server); the io_uring server submits the same
// operations as SQEs instead, and calls execute() only for FsOp::list, since
// io_uring has no getdents.
//
// SECURITY IS THE KERNEL'S. Every path is resolved by
//     openat2(dirfd, path, {.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS})
// with dirfd the user's root: the kernel treats dirfd as "/" for that lookup,
// so "..", "/../..", absolute paths and symlinks (absolute or relative) all
// stay inside it, at the moment of the lookup — no check-then-open race, no
// string cleaning. RESOLVE_NO_MAGICLINKS refuses /proc/self/fd-style links.
// Operations on a name (mkdir, unlink, rename, create) open the PARENT that
// way, then use the *at() call with one component, which cannot climb out.
#pragma once

#include "ftp/requests.hpp"

#include <linux/openat2.h>
#include <sys/stat.h>

#include <cstdint>
#include <string>

namespace iom::ftp {

// The resolve flags of every openat2 in the FTP servers.
constexpr std::uint64_t resolve_flags = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

// The open_how for openat2 (what IORING_OP_OPENAT2 takes too): `flags` plus
// O_CLOEXEC, `mode` only with O_CREAT, and resolve_flags.
open_how make_open_how(int flags, mode_t mode);

// openat2(dirfd, path, how) inside dirfd; -1 with errno set on failure.
int open_in_root(int dirfd, const std::string& path, int flags, mode_t mode = 0);

// The server's --root: created if missing (not its parents), opened O_PATH.
// Throws std::system_error naming the directory.
Fd open_site_root(const std::string& dir);

// An Entry from statx (both servers: the sync executor and io_uring's STATX).
Entry entry_from_statx(const struct statx& st, std::string name);

// The name an Entry of `path` gets: its last component ("/" for the root).
std::string last_component(const std::string& path);
// One path component: not "", ".", ".." and no '/'. The *at() calls take only these.
bool one_component(const std::string& name);

// Perform `req` (synchronously). Never throws for a filesystem error: it is
// FsResult::error.
FsResult execute(const FsRequest& req);

}  // namespace iom::ftp
