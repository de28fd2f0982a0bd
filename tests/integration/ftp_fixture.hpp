// The fixture of the FTP server tests (ftp_server_test, ftp_uring_test,
// ioclient_ftp_test): one of our FTP servers, started for real on --port 0
// with a temporary --root and one user (alice:secret, home ROOT/alice),
// driven by curl, lftp and Python's ftplib (Debian packages:
// scripts/install-deps.sh). No sleep waits for anything: every wait is for a
// process, a reply or a byte, with a generous timeout.
#pragma once

#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace iom::test {

namespace fs = std::filesystem;

// Our FTP servers: the reactor and the proactor over the same protocol core.
// Not in all_servers(): that manifest is the echo servers'.
inline ServerSpec epoll_ftp_server() { return {"epoll_ftp_server", bin_path("epoll_ftp_server"), {}}; }
inline ServerSpec uring_ftp_server() { return {"uring_ftp_server", bin_path("uring_ftp_server"), {"uring"}}; }
inline std::vector<ServerSpec> ftp_servers() { return {epoll_ftp_server(), uring_ftp_server()}; }

inline void write_file(const std::string& path, const std::string& bytes) {
    std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes;
}

inline std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Equal bytes, without printing megabytes when they are not.
inline ::testing::AssertionResult same_bytes(const std::string& got, const std::string& want) {
    if (got == want) return ::testing::AssertionSuccess();
    std::size_t at = 0;
    while (at < got.size() && at < want.size() && got[at] == want[at]) ++at;
    return ::testing::AssertionFailure() << "got " << got.size() << " bytes, want " << want.size()
                                         << "; first difference at byte " << at;
}

inline std::string describe(const RunResult& r) {
    return "exit " + std::to_string(r.exit_code) + "\n" + r.out + r.err;
}

// Python scripts for FtpFixture::python. `ftp_login`: ftplib, logged in as
// alice, with answer(cmd) (a reply's code, errors included), late_reply()
// (the reply that ends a transfer) and read_all(conn) (a data connection,
// to its end).
inline const std::string ftp_login = R"PY(
import ftplib, socket, select, sys
port = int(sys.argv[1])
ftp = ftplib.FTP()
ftp.connect('127.0.0.1', port, timeout=30)
ftp.login('alice', 'secret')
def answer(cmd):
    try:
        return ftp.sendcmd(cmd)[:3]
    except ftplib.all_errors as e:
        return str(e)[:3]
def answer_of(session, cmd):
    try:
        return session.sendcmd(cmd)[:3]
    except ftplib.all_errors as e:
        return str(e)[:3]
def late_reply():
    try:
        return ftp.voidresp()[:3]
    except ftplib.all_errors as e:
        return str(e)[:3]
def read_all(conn):
    data = b''
    try:
        while True:
            b = conn.recv(65536)
            if not b:
                return data
            data += b
    except ConnectionResetError:
        return data
)PY";

// `ftp_by_hand`: Raw(), a control connection spoken a line at a time;
// reply() is the code of the next reply, or EOF once the server has closed.
inline const std::string ftp_by_hand = R"PY(
import socket, sys
port = int(sys.argv[1])
class Raw:
    def __init__(self):
        self.s = socket.create_connection(('127.0.0.1', port), timeout=30)
        self.f = self.s.makefile('rb')
    def send(self, line):
        self.s.sendall(line)
    def reply(self):
        try:
            line = self.f.readline()
        except ConnectionResetError:
            line = b''
        return line[:3].decode() if line else 'EOF'
)PY";

class FtpFixture : public ::testing::Test {
protected:
    explicit FtpFixture(ServerSpec spec = epoll_ftp_server()) : spec_(std::move(spec)) {}

    void SetUp() override {
        char tmpl[] = "/tmp/iomodels-ftp-XXXXXX";
        ASSERT_NE(mkdtemp(tmpl), nullptr);
        dir_ = tmpl;
        root_ = dir_ + "/root";
        home_ = root_ + "/alice";
        fs::create_directories(home_);  // alice's home; the server would make it at her first login
    }
    void TearDown() override {
        if (server_) {
            int rc = server_->stop();
            EXPECT_EQ(rc, 0) << server_->stderr_text();
            // The proactor submits no multishot operation: one completion per
            // submission, so at exit every SQE has come back as a CQE.
            if (rc == 0 && spec_.has("uring")) {
                EXPECT_EQ(server_->counter("sqes"), server_->counter("cqes")) << "an operation was left in flight";
            }
        }
        std::error_code ec;
        fs::remove_all(dir_, ec);
    }

    void start(std::vector<std::string> extra = {}, StartOptions opt = {}) {
        opt.args = {"--root", root_, "--user", "alice:secret"};
        opt.args.insert(opt.args.end(), extra.begin(), extra.end());
        server_ = std::make_unique<ServerProcess>(spec_, opt);
    }
    std::string port() const { return std::to_string(server_->port()); }
    std::string url(const std::string& path) const { return "ftp://alice:secret@127.0.0.1:" + port() + "/" + path; }

    RunResult curl(std::vector<std::string> args) const {
        args.insert(args.begin(), {"/usr/bin/curl", "-sS", "--max-time", "60"});
        return run_command(args);
    }
    RunResult lftp(const std::string& commands) const {
        return run_command({"/usr/bin/lftp", "-d", "-c",
                            "set net:max-retries 1; set net:timeout 30; set ftp:ssl-allow no; set cmd:fail-exit yes; "
                            "open -u alice,secret -p " + port() + " 127.0.0.1; " + commands});
    }
    RunResult ioclient(std::vector<std::string> args) const {
        args.insert(args.begin(), {ioclient_path(), "ftp"});
        return run_command(args, {}, std::chrono::milliseconds(120000));
    }
    // curl uploads `content` as up.bin, then downloads it; both compared with
    // it. The download's result: its dialogue (curl -v) is in .err.
    RunResult curl_up_and_down(const std::string& content) {
        write_file(dir_ + "/local.bin", content);
        auto up = curl({"-T", dir_ + "/local.bin", url("up.bin")});
        EXPECT_EQ(up.exit_code, 0) << describe(up);
        EXPECT_TRUE(same_bytes(read_file(home_ + "/up.bin"), content)) << "the upload";
        auto down = curl({"-v", "-o", dir_ + "/down.bin", url("up.bin")});
        EXPECT_EQ(down.exit_code, 0) << describe(down);
        EXPECT_TRUE(same_bytes(read_file(dir_ + "/down.bin"), content)) << "the download";
        return down;
    }
    // What a Python script printed (sys.argv[1] is the port, then `args`),
    // or, when it failed, its exit code and errors: a result no test expects.
    std::string python(const std::string& script, std::vector<std::string> args = {}) const {
        std::vector<std::string> argv{"/usr/bin/python3", "-c", script, port()};
        argv.insert(argv.end(), args.begin(), args.end());
        RunResult r = run_command(argv);
        return r.exit_code == 0 ? r.out : "python3: " + describe(r);
    }

    ServerSpec spec_;
    std::string dir_, root_, home_;
    std::unique_ptr<ServerProcess> server_;
};

// The same tests for each of our FTP servers: TEST_P(ASuite, ...) with
// class ASuite : public EachFtpServer {} and
// INSTANTIATE_TEST_SUITE_P(..., ValuesIn(ftp_servers()), ServerName()).
class EachFtpServer : public FtpFixture, public ::testing::WithParamInterface<ServerSpec> {
protected:
    EachFtpServer() : FtpFixture(GetParam()) {}
};

}  // namespace iom::test
