// uring_ftp_server: what is particular to the proactor. The FTP behaviours
// both servers share (clients, resume, listings, the security rules, limits)
// are ftp_epoll_test's cases, to be run over both binaries. Here: files move
// by READ and WRITE submissions, never sendfile; every submission comes back
// as a completion, even those cancelled by ABOR or at SIGTERM; only listings
// run on the loop (no getdents in io_uring); ABOR cancels a rate-limited
// download at once; the kernel keeps paths inside the home.
//
// Each test starts the real binary on --port 0 with a temporary --root and
// drives it with curl or Python's ftplib. No sleeps: every wait is for a
// process, a reply or a byte, with a generous timeout.
#include "built_servers.hpp"

#include "client/lib/connection.hpp"
#include "common/net.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace iom::test {
namespace {

namespace fs = std::filesystem;
using client::random_bytes;

void put(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary) << bytes;
}

std::string get(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return {std::istreambuf_iterator<char>(in), {}};
}

std::string shown(const RunResult& r) { return "exit " + std::to_string(r.exit_code) + "\n" + r.out + r.err; }

class UringFtp : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/iomodels-uring-ftp-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        root_ = dir_ + "/root";
        home_ = root_ + "/alice";
        fs::create_directories(home_);
    }
    void TearDown() override {
        if (server_ && server_->running()) {
            EXPECT_EQ(server_->stop(), 0) << server_->stderr_text();
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }
    void start(std::vector<std::string> extra = {}) {
        std::vector<std::string> args{"--root", root_, "--user", "alice:secret"};
        args.insert(args.end(), extra.begin(), extra.end());
        server_ = std::make_unique<ServerProcess>(
            ServerSpec{"uring_ftp_server", bin_path("uring_ftp_server"), {"uring"}}, StartOptions{.args = args});
    }
    std::string url(const std::string& path) const {
        return "ftp://alice:secret@127.0.0.1:" + std::to_string(server_->port()) + "/" + path;
    }
    RunResult curl(std::vector<std::string> args) const {
        args.insert(args.begin(), {"/usr/bin/curl", "-sS", "--max-time", "60"});
        return run_command(args);
    }
    // ftplib, logged in as alice: `ftp` in the script.
    RunResult ftplib(const std::string& body) const {
        std::string script = "import ftplib, sys\nftp = ftplib.FTP()\nftp.connect('127.0.0.1', int(sys.argv[1]), "
                             "timeout=30)\nftp.login('alice', 'secret')\n" + body;
        return run_command({"/usr/bin/python3", "-c", script, std::to_string(server_->port())});
    }
    // Stop with SIGTERM: exit 0, and every SQE came back as a CQE (this
    // server submits no multishot operation: one completion per submission).
    void stop_and_check_nothing_left_in_flight() {
        ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
        EXPECT_GT(server_->counter("sqes"), 0u);
        EXPECT_EQ(server_->counter("sqes"), server_->counter("cqes")) << "an operation was left in flight at exit";
    }

    std::string dir_, root_, home_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(UringFtp, CurlUploadAndDownloadAreReadAndWriteSubmissionsNotSendfile) {
    start();
    const std::string content = random_bytes(3 << 20, 1);
    put(dir_ + "/local.bin", content);
    auto up = curl({"-T", dir_ + "/local.bin", url("up.bin")});
    ASSERT_EQ(up.exit_code, 0) << shown(up);
    EXPECT_TRUE(get(home_ + "/up.bin") == content) << "the upload arrived changed";
    auto down = curl({"-o", dir_ + "/down.bin", url("up.bin")});
    ASSERT_EQ(down.exit_code, 0) << shown(down);
    EXPECT_TRUE(get(dir_ + "/down.bin") == content) << "the download arrived changed";

    stop_and_check_nothing_left_in_flight();
    EXPECT_EQ(server_->counter("sendfile_calls"), 0u) << "no sendfile: READ submissions";
    EXPECT_GT(server_->counter("file_reads"), 0u);
    EXPECT_GT(server_->counter("file_writes"), 0u);
    EXPECT_EQ(server_->counter("file_read_bytes"), content.size());
    EXPECT_EQ(server_->counter("file_write_bytes"), content.size());
    EXPECT_EQ(server_->counter("user_copy_bytes"), 2 * content.size()) << "both ways through the buffer";
    EXPECT_EQ(server_->counter("fs_calls"), 0u) << "open, statx, rename: submissions, none on the loop";
}

TEST_F(UringFtp, OnlyListingsRunOnTheLoop) {
    start();
    put(home_ + "/a.txt", "a\n");
    auto r = ftplib(R"PY(
ftp.voidcmd('TYPE I')
out = [ftp.sendcmd('SIZE a.txt')[:3], ftp.mkd('d'), ftp.rename('a.txt', 'd/b.txt')[:3], ftp.nlst('d'),
       ftp.delete('d/b.txt')[:3], ftp.rmd('d')[:3], ftp.nlst()]
print(out)
ftp.quit()
)PY");
    ASSERT_EQ(r.exit_code, 0) << shown(r);
    EXPECT_EQ(r.out, "['213', '/d', '250', ['b.txt'], '250', '250', []]\n");
    stop_and_check_nothing_left_in_flight();
    EXPECT_EQ(server_->counter("fs_calls"), 2u) << "the two NLSTs, through the synchronous executor";
}

TEST_F(UringFtp, AborCancelsARateLimitedRetrWith426Then226) {
    // 64 MiB at 1 MiB/s would take a minute: ABOR must end it at once.
    start({"--rate-limit", "1M"});
    const std::size_t size = 64 << 20;
    put(home_ + "/big.bin", random_bytes(size, 2));
    auto r = ftplib(R"PY(
import time
ftp.voidcmd('TYPE I')
conn = ftp.transfercmd('RETR big.bin')
total = len(conn.recv(65536))
first = ftp.abort()              # ABOR, sent as urgent data
while True:
    b = conn.recv(65536)
    if not b:
        break
    total += len(b)
conn.close()
second = ftp.getresp()
print(first[:3], second[:3], total, ftp.sendcmd('NOOP')[:3])
ftp.quit()
)PY");
    ASSERT_EQ(r.exit_code, 0) << shown(r);
    std::istringstream words(r.out);
    std::string first, second, noop;
    std::size_t total = 0;
    words >> first >> second >> total >> noop;
    EXPECT_EQ(first, "426") << r.out;
    EXPECT_EQ(second, "226") << r.out;
    EXPECT_EQ(noop, "200") << "the session goes on after ABOR: " << r.out;
    EXPECT_LT(total, size / 4) << "the transfer went on after ABOR";
    stop_and_check_nothing_left_in_flight();
    EXPECT_EQ(server_->counter("ftp_aborts"), 1u);
    EXPECT_GT(server_->counter("rate_waits"), 0u) << "the rate limit's timer held the sends";
}

TEST_F(UringFtp, OpenAt2KeepsEveryPathInsideTheHome) {
    start();
    put(root_ + "/secret.txt", "SECRET");  // beside alice's home
    fs::create_symlink("../secret.txt", home_ + "/up");
    fs::create_symlink("/etc", home_ + "/etc");
    fs::create_symlink("..", home_ + "/parent");
    auto r = ftplib(R"PY(
def code(f, *a):
    try:
        return f(*a)[:3]
    except ftplib.all_errors as e:
        return str(e)[:3]
out = [code(ftp.sendcmd, 'SIZE ' + p) for p in ['../secret.txt', '/../secret.txt', 'up', 'etc/passwd']]
out.append(code(ftp.retrbinary, 'RETR up', lambda b: None))
out.append(code(ftp.sendcmd, 'MKD parent/evil'))
out.append(code(ftp.sendcmd, 'RNFR up'))
out.append(code(ftp.sendcmd, 'RNTO parent/stolen'))
print(' '.join(out))
ftp.quit()
)PY");
    ASSERT_EQ(r.exit_code, 0) << shown(r);
    std::istringstream words(r.out);
    std::vector<std::string> codes{std::istream_iterator<std::string>(words), {}};
    ASSERT_EQ(codes.size(), 8u) << r.out;
    for (int i = 0; i < 5; ++i) EXPECT_EQ(codes[i], "550") << "escape " << i << ": " << r.out;
    EXPECT_FALSE(fs::exists(root_ + "/evil")) << "MKD through a symlink to .. made a directory outside the home";
    EXPECT_FALSE(fs::exists(root_ + "/stolen")) << "RNTO through a symlink to .. moved a file outside the home";
    EXPECT_TRUE(fs::exists(root_ + "/secret.txt"));
    stop_and_check_nothing_left_in_flight();
}

// A control connection, read and written by hand: a reply is lines up to "NNN ".
struct Control {
    Fd fd;
    std::string buf;
    std::string reply() {  // the last line of the next reply
        for (;;) {
            for (std::size_t eol; (eol = buf.find("\r\n")) != std::string::npos;) {
                std::string line = buf.substr(0, eol);
                buf.erase(0, eol + 2);
                if (line.size() >= 4 && line[3] == ' ') return line;
            }
            char b[4096];
            ssize_t n = recv(fd.get(), b, sizeof b, 0);
            if (n <= 0) return "EOF";
            buf.append(b, static_cast<std::size_t>(n));
        }
    }
    std::string command(const std::string& line) {
        std::string l = line + "\r\n";
        EXPECT_EQ(send(fd.get(), l.data(), l.size(), MSG_NOSIGNAL), static_cast<ssize_t>(l.size()));
        return reply();
    }
};

TEST_F(UringFtp, SigtermDuringATransferExitsZeroAndCancelsEverything) {
    start({"--rate-limit", "256K"});
    put(home_ + "/big.bin", random_bytes(16 << 20, 3));
    Control c{connect_tcp(server_->address()), {}};
    EXPECT_EQ(c.reply().substr(0, 3), "220");
    EXPECT_EQ(c.command("USER alice").substr(0, 3), "331");
    EXPECT_EQ(c.command("PASS secret").substr(0, 3), "230");
    EXPECT_EQ(c.command("TYPE I").substr(0, 3), "200");
    std::string epsv = c.command("EPSV");
    ASSERT_EQ(epsv.substr(0, 3), "229") << epsv;
    Address data_addr = server_->address();
    auto port = static_cast<std::uint16_t>(std::stoi(epsv.substr(epsv.find("|||") + 3)));
    reinterpret_cast<sockaddr_in*>(&data_addr.storage)->sin_port = htons(port);
    Fd data = connect_tcp(data_addr);
    EXPECT_EQ(c.command("RETR big.bin").substr(0, 3), "150");
    char b[4096];
    ASSERT_GT(recv(data.get(), b, sizeof b, 0), 0) << "the download has begun";
    // Now a RECV (control), a SEND or a held send (data), the timer, the
    // urgent-data poll are in flight: SIGTERM cancels them all.
    stop_and_check_nothing_left_in_flight();
    EXPECT_EQ(server_->counter("ftp_sessions"), 1u);
}

TEST(UringFtpCommandLine, HelpShowsItsPortAndABadOptionIsOneLine) {
    auto help = run_command({bin_path("uring_ftp_server"), "--help"});
    EXPECT_EQ(help.exit_code, 0);
    EXPECT_NE(help.out.find("2122"), std::string::npos) << help.out;
    auto bad = run_command({bin_path("uring_ftp_server"), "--rate-limit", "fast"});
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
    EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

}  // namespace
}  // namespace iom::test
