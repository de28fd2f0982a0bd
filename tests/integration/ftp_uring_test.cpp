// uring_ftp_server: what is particular to the proactor. What both FTP
// servers promise (clients, resume, listings, ABOR, the security rules,
// limits, --help) is ftp_server_test, run over both binaries; after every
// test of either file the fixture (ftp_fixture.hpp) checks that the
// proactor left no operation in flight. Here: files move by READ and WRITE
// submissions, never sendfile, and open/stat/rename are submissions too;
// only listings run on the loop (no getdents in io_uring); SIGTERM during a
// transfer cancels everything in flight.
#include "ftp_fixture.hpp"

#include "client/lib/connection.hpp"
#include "common/net.hpp"

#include <gtest/gtest.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include <string>

namespace iom::test {
namespace {

using client::random_bytes;

class UringFtp : public FtpFixture {
protected:
    UringFtp() : FtpFixture(uring_ftp_server()) {}
    // Stop with SIGTERM: exit 0, something was submitted (TearDown checks
    // that every SQE came back).
    void stop_and_check_nothing_left_in_flight() {
        ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
        EXPECT_GT(server_->counter("sqes"), 0u);
        EXPECT_EQ(server_->counter("sqes"), server_->counter("cqes")) << "an operation was left in flight at exit";
    }
};

// A TYPE I download is two SPLICE submissions through a pipe (file -> pipe,
// pipe -> socket: this server's sendfile, nothing copied); an upload is
// RECV then WRITE through the buffer.
TEST_F(UringFtp, CurlDownloadsAreSplicedAndUploadsAreRecvAndWriteSubmissions) {
    start();
    const std::string content = random_bytes(3 << 20, 1);
    curl_up_and_down(content);

    stop_and_check_nothing_left_in_flight();
    EXPECT_GT(server_->counter("sendfile_calls"), 0u) << "SPLICE pipe -> socket";
    EXPECT_GT(server_->counter("file_reads"), 0u) << "SPLICE file -> pipe";
    EXPECT_GT(server_->counter("file_writes"), 0u);
    EXPECT_EQ(server_->counter("file_read_bytes"), content.size());
    EXPECT_EQ(server_->counter("file_write_bytes"), content.size());
    EXPECT_EQ(server_->counter("user_copy_bytes"), content.size()) << "only the upload passed through user space";
    EXPECT_EQ(server_->counter("fs_calls"), 0u) << "open, statx, rename: submissions, none on the loop";
}

TEST_F(UringFtp, OnlyListingsRunOnTheLoop) {
    start();
    write_file(home_ + "/a.txt", "a\n");
    const std::string out = python(ftp_login + R"PY(
ftp.voidcmd('TYPE I')
out = [ftp.sendcmd('SIZE a.txt')[:3], ftp.mkd('d'), ftp.rename('a.txt', 'd/b.txt')[:3], ftp.nlst('d'),
       ftp.delete('d/b.txt')[:3], ftp.rmd('d')[:3], ftp.nlst()]
print(out)
ftp.quit()
)PY");
    EXPECT_EQ(out, "['213', '/d', '250', ['b.txt'], '250', '250', []]\n");
    stop_and_check_nothing_left_in_flight();
    EXPECT_EQ(server_->counter("fs_calls"), 2u) << "the two NLSTs, through the synchronous executor";
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

// Logs in and starts RETR big.bin (16 MiB); returns the data connection
// once its first bytes came.
Fd start_download(const Address& server, Control& c, const std::string& home) {
    write_file(home + "/big.bin", random_bytes(16 << 20, 3));
    EXPECT_EQ(c.reply().substr(0, 3), "220");
    EXPECT_EQ(c.command("USER alice").substr(0, 3), "331");
    EXPECT_EQ(c.command("PASS secret").substr(0, 3), "230");
    EXPECT_EQ(c.command("TYPE I").substr(0, 3), "200");
    std::string epsv = c.command("EPSV");
    EXPECT_EQ(epsv.substr(0, 3), "229") << epsv;
    Address data_addr = server;
    auto port = static_cast<std::uint16_t>(std::stoi(epsv.substr(epsv.find("|||") + 3)));
    reinterpret_cast<sockaddr_in*>(&data_addr.storage)->sin_port = htons(port);
    Fd data = connect_tcp(data_addr);
    EXPECT_EQ(c.command("RETR big.bin").substr(0, 3), "150");
    char b[4096];
    EXPECT_GT(recv(data.get(), b, sizeof b, 0), 0) << "the download has begun";
    return data;
}

TEST_F(UringFtp, SigtermDuringATransferExitsZeroAndCancelsEverything) {
    start({"--rate-limit", "256K"});
    Control c{connect_tcp(server_->address()), {}};
    Fd data = start_download(server_->address(), c, home_);
    // Now a RECV (control), a SEND or a held send (data), the timer, the
    // urgent-data poll are in flight: SIGTERM cancels them all.
    stop_and_check_nothing_left_in_flight();
    EXPECT_EQ(server_->counter("ftp_sessions"), 1u);
}

// A client that never reads: the SPLICE into its full socket sleeps in an
// io-wq worker. Cancelling it must wake that worker, or the server would
// wait for it forever at exit.
TEST_F(UringFtp, SigtermCancelsASpliceBlockedOnAClientThatNeverReads) {
    start();
    Control c{connect_tcp(server_->address()), {}};
    Fd data = start_download(server_->address(), c, home_);  // 16 MiB: more than the socket buffers hold; never read again
    stop_and_check_nothing_left_in_flight();
    EXPECT_GT(server_->counter("sendfile_calls"), 0u) << "the download went by SPLICE";
    EXPECT_LT(server_->counter("send_bytes"), std::uint64_t{16} << 20) << "the client read almost nothing";
}

}  // namespace
}  // namespace iom::test
