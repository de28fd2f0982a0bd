// The synchronous executor on a real temporary directory: every path stays
// inside the root because the kernel resolves it there (openat2
// RESOLVE_IN_ROOT), whatever "..", absolute paths and symlinks say.
#include "ftp/fs.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace iom::ftp {
namespace {

namespace fs = std::filesystem;

class FtpFs : public ::testing::Test {
protected:
    void SetUp() override {
        base = fs::temp_directory_path() / fmt::format("ftp_fs_test.{}", ::getpid());
        fs::remove_all(base);
        fs::create_directories(base / "root" / "sub");
        fs::create_directories(base / "outside");
        write(base / "outside" / "secret.txt", "SECRET");
        write(base / "root" / "secret.txt", "inside");
        write(base / "root" / "sub" / "a.txt", "a");
        fs::create_directory_symlink("/etc", base / "root" / "etc");
        fs::create_symlink("../../outside/secret.txt", base / "root" / "sub" / "up");  // climbs out, lexically
        fs::create_symlink(base / "outside" / "secret.txt", base / "root" / "abs");    // absolute, outside
        root = open_site_root((base / "root").string());
    }
    void TearDown() override { fs::remove_all(base); }

    static void write(const fs::path& p, const std::string& s) { std::ofstream(p, std::ios::binary) << s; }
    static std::string read_fd(int fd) {
        std::string s(64, '\0');
        ssize_t n = ::pread(fd, s.data(), s.size(), 0);
        s.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
        return s;
    }
    FsResult open_read(const std::string& path) {
        return execute({.op = FsOp::open, .dirfd = root.get(), .path = path, .flags = O_RDONLY | O_NONBLOCK});
    }
    // What a client can read at `path`: the content, or "" when refused.
    std::string content(const std::string& path) {
        FsResult r = open_read(path);
        return r.error ? "" : read_fd(r.fd.get());
    }

    fs::path base;
    Fd root;
};

TEST_F(FtpFs, DotDotAndAbsolutePathsStayInsideTheRoot) {
    EXPECT_EQ(content("/secret.txt"), "inside");
    EXPECT_EQ(content("../outside/secret.txt"), "");       // ".." at the root is the root
    EXPECT_EQ(content("/../../outside/secret.txt"), "");
    EXPECT_EQ(content("/../secret.txt"), "inside");          // clamped at the root, not refused
    EXPECT_EQ(content("sub/../../secret.txt"), "inside");
    EXPECT_EQ(content((base / "outside" / "secret.txt").string()), "");  // a host path means nothing here
}

TEST_F(FtpFs, SymlinksPointingOutsideStayInside) {
    EXPECT_EQ(content("/etc/passwd"), "");      // /etc is ROOT/etc: the link to itself loops
    EXPECT_EQ(content("/sub/up"), "");          // ../../outside from ROOT/sub stops at ROOT
    EXPECT_EQ(content("/abs"), "");             // an absolute target is taken inside the root
    fs::create_directories(base / "root" / "outside");
    write(base / "root" / "outside" / "secret.txt", "decoy inside");
    EXPECT_EQ(content("/sub/up"), "decoy inside");  // proof it resolved inside, not outside
    EXPECT_EQ(execute({.op = FsOp::stat, .dirfd = root.get(), .path = "/etc/passwd"}).error, ELOOP);
}

TEST_F(FtpFs, ParentAndNameOperations) {
    auto op = [&](FsOp o, std::string parent, std::string name, mode_t mode = 0755) {
        return execute({.op = o, .dirfd = root.get(), .path = parent, .name = name, .mode = mode}).error;
    };
    EXPECT_EQ(op(FsOp::mkdir, "/sub", "new"), 0);
    EXPECT_TRUE(fs::is_directory(base / "root" / "sub" / "new"));
    EXPECT_EQ(op(FsOp::mkdir, "/../..", "escaped"), 0);  // the parent is the root itself
    EXPECT_TRUE(fs::is_directory(base / "root" / "escaped"));
    EXPECT_FALSE(fs::exists(base.parent_path() / "escaped"));
    EXPECT_EQ(op(FsOp::rmdir, "/sub", "new"), 0);
    EXPECT_EQ(op(FsOp::unlink, "/sub", "a.txt"), 0);
    EXPECT_FALSE(fs::exists(base / "root" / "sub" / "a.txt"));
    for (std::string bad : {"", ".", "..", "a/b"}) EXPECT_EQ(op(FsOp::mkdir, "/", bad), EINVAL) << bad;
    EXPECT_EQ(op(FsOp::unlink, "/sub", "up"), 0);  // removes the link, never its target
    EXPECT_TRUE(fs::exists(base / "outside" / "secret.txt"));
    EXPECT_EQ(op(FsOp::unlink, "/nowhere", "x"), ENOENT);

    FsResult r = execute({.op = FsOp::rename, .dirfd = root.get(), .path = "/", .name = "secret.txt",
                          .path2 = "/sub", .name2 = "moved"});
    EXPECT_EQ(r.error, 0);
    EXPECT_TRUE(fs::exists(base / "root" / "sub" / "moved"));
}

TEST_F(FtpFs, OpenHomeCreatesOnceAndOpensInside) {
    FsResult home = execute({.op = FsOp::open_home, .dirfd = root.get(), .name = "alice"});
    ASSERT_EQ(home.error, 0);
    EXPECT_TRUE(fs::is_directory(base / "root" / "alice"));
    EXPECT_EQ(execute({.op = FsOp::open_home, .dirfd = root.get(), .name = "alice"}).error, 0);  // again: fine
    write(base / "root" / "alice" / "x", "mine");
    FsResult r = execute({.op = FsOp::open, .dirfd = home.fd.get(), .path = "/../secret.txt", .flags = O_RDONLY});
    EXPECT_EQ(r.error, ENOENT);  // alice's "/" is ROOT/alice: the site root is out of reach
    FsResult x = execute({.op = FsOp::open, .dirfd = home.fd.get(), .path = "/x", .flags = O_RDONLY});
    EXPECT_EQ(read_fd(x.fd.get()), "mine");
}

TEST_F(FtpFs, CreateTemporaryThenRenameOverAReader) {
    write(base / "root" / "f", "old");
    FsResult reader = open_read("/f");  // a RETR in progress
    FsResult tmp = execute({.op = FsOp::create, .dirfd = root.get(), .path = "/", .name = ".in.f.1",
                            .flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, .mode = 0644});
    ASSERT_EQ(tmp.error, 0);
    ASSERT_TRUE(tmp.dir);
    ASSERT_EQ(::write(tmp.fd.get(), "new!", 4), 4);
    FsResult again = execute({.op = FsOp::create, .dirfd = root.get(), .path = "/", .name = ".in.f.1",
                              .flags = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, .mode = 0644});
    EXPECT_EQ(again.error, EEXIST);  // O_EXCL: never someone else's file
    FsResult commit = execute({.op = FsOp::rename, .dirfd = tmp.dir.get(), .name = ".in.f.1", .name2 = "f"});
    ASSERT_EQ(commit.error, 0);
    EXPECT_EQ(read_fd(reader.fd.get()), "old");  // the reader keeps the old file whole
    EXPECT_EQ(content("/f"), "new!");
}

TEST_F(FtpFs, ListingSortsAndResolvesLinksInside) {
    FsResult r = execute({.op = FsOp::list, .dirfd = root.get(), .path = "/"});
    ASSERT_EQ(r.error, 0);
    EXPECT_EQ(r.stat.type, EntryType::dir);
    std::vector<std::string> names;
    for (const auto& e : r.entries) names.push_back(e.name);
    EXPECT_EQ(names, (std::vector<std::string>{"abs", "etc", "secret.txt", "sub"}));
    EXPECT_EQ(r.entries[0].type, EntryType::link);  // resolves nowhere inside: shown as a link
    EXPECT_EQ(r.entries[2].size, 6u);
    EXPECT_FALSE(r.fd);
    FsResult file = execute({.op = FsOp::list, .dirfd = root.get(), .path = "/sub/a.txt"});
    EXPECT_EQ(file.stat.type, EntryType::file);
    EXPECT_EQ(file.stat.name, "a.txt");
    EXPECT_TRUE(file.entries.empty());
}

TEST_F(FtpFs, OpenRefusesNothingButReportsTheType) {
    FsResult dir = execute({.op = FsOp::open, .dirfd = root.get(), .path = "/sub", .flags = O_RDONLY | O_NONBLOCK});
    ASSERT_EQ(dir.error, 0);
    EXPECT_EQ(dir.stat.type, EntryType::dir);  // the session refuses RETR of a directory (550)
    ASSERT_EQ(::mkfifo((base / "root" / "fifo").c_str(), 0644), 0);
    FsResult fifo = execute({.op = FsOp::open, .dirfd = root.get(), .path = "/fifo", .flags = O_RDONLY | O_NONBLOCK});
    EXPECT_EQ(fifo.stat.type, EntryType::other);  // and O_NONBLOCK kept the open from hanging
}

}  // namespace
}  // namespace iom::ftp
