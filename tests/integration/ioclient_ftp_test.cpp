// ioclient ftp against an FTP server nobody here wrote: Python's pyftpdlib,
// started by scripts/pyftpd_server.py on --port 0 over a temporary root
// (ServerProcess waits for its ready line). get, put and ls move whole
// files, resume both ways, and fail with one line and a non-zero exit;
// load runs four sessions at once and verifies every byte, and fails when
// the bytes are not what it was told to expect. Then the same client against
// our own servers (epoll_ftp_server and uring_ftp_server, ftp_fixture.hpp):
// twenty sessions at once, every byte verified, and resume both ways.
#include "client/ftp/digest.hpp"
#include "client/lib/connection.hpp"
#include "common/json.hpp"
#include "built_servers.hpp"
#include "ftp_fixture.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace iom::test {
namespace {

namespace fs = std::filesystem;
using client::random_bytes;

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

void write_text(const fs::path& p, const std::string& bytes) {
    std::ofstream out(p, std::ios::binary);
    out << bytes;
}

std::size_t lines(const std::string& text) {
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

const std::string kFile = random_bytes(3 << 20, 14);  // 3 MiB: several blocks, several progress updates

// `ioclient ftp load --get kFile --put 1MiB --json` ran `sessions` sessions:
// every download checked against the SHA-256 of a first download (which must
// be that of `file`, the server's copy), every upload read back, no failure.
void expect_every_byte_verified(const RunResult& r, int sessions, const std::string& file) {
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto j = Json::parse(r.out);
    EXPECT_EQ(j["downloads"], sessions) << r.out;
    EXPECT_EQ(j["uploads"], sessions) << r.out;
    EXPECT_EQ(j["failures"], 0) << r.out;
    EXPECT_EQ(j["sha256_source"], "first download") << r.out;
    EXPECT_EQ(j["sha256"], client::ftp::sha256_of_file(file)) << r.out;
    // Each session: a download, and an upload read back.
    EXPECT_EQ(j["bytes"], static_cast<std::size_t>(sessions) * (kFile.size() + 2 * (1 << 20))) << r.out;
}

class IoclientFtp : public ::testing::Test {
protected:
    void SetUp() override { start({}); }
    void TearDown() override {
        server_.reset();
        std::error_code ec;
        fs::remove_all(base_, ec);
    }

    // pyftpdlib over root_ (user u, password p), with `extra` options.
    void start(std::vector<std::string> extra) {
        server_.reset();
        if (base_.empty()) {
            char tmpl[] = "/tmp/iomodels-ftp-XXXXXX";
            ASSERT_NE(::mkdtemp(tmpl), nullptr);
            base_ = tmpl;
            root_ = base_ / "root";
            here_ = base_ / "here";
            fs::create_directories(root_ / "dir");
            fs::create_directories(here_);
            write_text(root_ / "file.bin", kFile);
        }
        std::vector<std::string> args{"--root", root_.string(), "--user", "u:p", "--auth-failed-delay", "0"};
        args.insert(args.end(), extra.begin(), extra.end());
        ServerSpec spec{"pyftpdlib", std::string(IOM_SOURCE_DIR) + "/scripts/pyftpd_server.py", {}};
        server_ = std::make_unique<ServerProcess>(spec, StartOptions{args});
    }

    std::string url(const std::string& path, const std::string& login = "u:p@") const {
        return "ftp://" + login + "127.0.0.1:" + std::to_string(server_->port()) + path;
    }

    RunResult ftp(std::vector<std::string> args) {
        args.insert(args.begin(), {ioclient_path(), "ftp"});
        return run_command(args);
    }

    fs::path base_, root_, here_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(IoclientFtp, GetDownloadsTheWholeFileWithProgressLines) {
    auto r = ftp({"get", url("/file.bin"), (here_ / "got.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(here_ / "got.bin"), kFile);
    // Not a terminal: plain lines, no carriage returns, and the last one says 100%.
    EXPECT_EQ(r.err.find('\r'), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("100%  3.00 MiB"), std::string::npos) << r.err;
}

TEST_F(IoclientFtp, GetIntoADirectoryKeepsTheName) {
    auto r = ftp({"get", "--progress", "none", url("/file.bin"), here_.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_EQ(read_text(here_ / "file.bin"), kFile);
}

TEST_F(IoclientFtp, BarModeRedrawsInPlace) {
    auto r = ftp({"get", "--progress", "bar", url("/file.bin"), (here_ / "got.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(r.err.rfind('\r', 0), 0u) << "each frame starts with a carriage return";
    // Every frame shares one line: the only newlines end the last frame and the summary.
    EXPECT_EQ(lines(r.err), 2u) << r.err;
}

TEST_F(IoclientFtp, PutUploadsTheWholeFileAndIntoADirectory) {
    write_text(here_ / "up.bin", kFile);
    auto r = ftp({"put", (here_ / "up.bin").string(), url("/dir/renamed.bin")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(root_ / "dir" / "renamed.bin"), kFile);
    r = ftp({"put", (here_ / "up.bin").string(), url("/dir/")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(root_ / "dir" / "up.bin"), kFile);
}

TEST_F(IoclientFtp, LsInEachFormat) {
    auto r = ftp({"ls", url("/")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find(std::to_string(kFile.size()) + " "), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("file.bin"), std::string::npos) << r.out;
    r = ftp({"ls", "--format", "nlst", url("/")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("file.bin"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("dir"), std::string::npos) << r.out;
    r = ftp({"ls", "--format", "mlsd", url("/")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("size=" + std::to_string(kFile.size()) + ";type=file;"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("type=dir"), std::string::npos) << r.out;
}

TEST_F(IoclientFtp, GetResumesAPartialLocalFile) {
    // The local part is zeros, not the file's bytes: if -C fetched the whole
    // file again they would be overwritten.
    const std::size_t part = 1 << 20;
    write_text(here_ / "got.bin", std::string(part, '\0'));
    auto r = ftp({"get", "-C", url("/file.bin"), (here_ / "got.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(here_ / "got.bin"), std::string(part, '\0') + kFile.substr(part));
    // Already whole: nothing to do, still a success.
    write_text(here_ / "whole.bin", kFile);
    r = ftp({"get", "-C", url("/file.bin"), (here_ / "whole.bin").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.err.find("already whole"), std::string::npos) << r.err;
}

TEST_F(IoclientFtp, GetFailsWhenTheLocalFileIsLongerThanTheRemote) {
    write_text(here_ / "got.bin", kFile + "more");
    auto r = ftp({"get", "-C", url("/file.bin"), (here_ / "got.bin").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_EQ(read_text(here_ / "got.bin"), kFile + "more") << "left as it was";
}

TEST_F(IoclientFtp, PutResumesAPartialRemoteFileWithAppeAndWithRest) {
    write_text(here_ / "up.bin", kFile);
    const std::size_t part = 1 << 20;
    for (const char* how : {"appe", "rest"}) {
        SCOPED_TRACE(how);
        // The remote part is zeros: only the rest may be sent.
        write_text(root_ / "partial.bin", std::string(part, '\0'));
        auto r = ftp({"put", "-C", "--resume-with", how, (here_ / "up.bin").string(), url("/partial.bin")});
        ASSERT_EQ(r.exit_code, 0) << r.err;
        EXPECT_EQ(read_text(root_ / "partial.bin"), std::string(part, '\0') + kFile.substr(part));
    }
    // A remote file that does not exist yet: -C sends it all.
    auto r = ftp({"put", "-C", (here_ / "up.bin").string(), url("/new.bin")});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(root_ / "new.bin"), kFile);
}

TEST_F(IoclientFtp, MissingFilesAndBadUrlsFailWithOneLine) {
    auto r = ftp({"get", url("/nope.bin"), (here_ / "nope.bin").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("RETR /nope.bin: 550"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(here_ / "nope.bin")) << "a failed get leaves no empty file";
    write_text(here_ / "kept.bin", "precious");
    r = ftp({"get", url("/nope.bin"), (here_ / "kept.bin").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_EQ(read_text(here_ / "kept.bin"), "precious") << "a get that brought nothing changes nothing";

    r = ftp({"put", (here_ / "absent.bin").string(), url("/x.bin")});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;

    r = ftp({"get", url("/file.bin", "u:wrong@"), (here_ / "x.bin").string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.err.find("PASS (login as u): 530"), std::string::npos) << r.err;

    for (const std::string bad : {"http://h/x", "ftp://h:99999/x", "ftp://h/%zz"}) {
        r = ftp({"get", bad});
        EXPECT_EQ(r.exit_code, 2) << bad;
        EXPECT_EQ(lines(r.err), 1u) << r.err;
        EXPECT_EQ(r.err.rfind("ioclient ftp: ", 0), 0u) << r.err;
    }
}

TEST_F(IoclientFtp, PasvWhenTheServerRefusesEpsvAndAnonymousLogin) {
    start({"--no-epsv", "--anonymous"});
    auto r = ftp({"get", url("/file.bin", ""), (here_ / "got.bin").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_EQ(read_text(here_ / "got.bin"), kFile);
}

TEST_F(IoclientFtp, LoadFourSessionsVerifiesEveryByte) {
    auto r = ftp({"load", url("/"), "--sessions", "4", "--get", "file.bin", "--put", "1MiB", "--json"});
    expect_every_byte_verified(r, 4, (root_ / "file.bin").string());
    // The uploads were deleted once verified.
    for (const auto& e : fs::directory_iterator(root_))
        EXPECT_EQ(e.path().filename().string().rfind("ioclient-load-", 0), std::string::npos) << e.path();
}

TEST_F(IoclientFtp, LoadRepeatsRoundsForTheDurationOverPasv) {
    start({"--no-epsv"});
    auto r = ftp({"load", url("/dir"), "--sessions", "2", "--get", "/file.bin", "--put", "100000", "--duration", "0.5",
                  "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    auto j = Json::parse(r.out);
    EXPECT_EQ(j["failures"], 0) << r.out;
    // Each session starts round after round until the duration has passed.
    EXPECT_GE(j["seconds"].get<double>(), 0.5) << r.out;
    for (const auto& s : j["per_session"]) {
        EXPECT_GE(s["downloads"].get<int>(), 1) << r.out;
        EXPECT_EQ(s["uploads"], s["downloads"]) << r.out;
    }
    EXPECT_TRUE(fs::is_empty(root_ / "dir")) << "the uploads went to the URL's directory, and were deleted";
}

TEST_F(IoclientFtp, LoadBarsRedrawInPlaceABarEachAndATotal) {
    auto r = ftp({"load", url("/"), "--sessions", "3", "--get", "file.bin", "--progress", "bar"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    // Four lines a frame (three sessions and the total): each frame after
    // the first moves the cursor up three lines and redraws them.
    EXPECT_NE(r.err.find("\x1b[3A\rs1 "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\ns3 done "), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("\ntotal 3 sessions"), std::string::npos) << r.err;
    // Not a terminal: the width is 80 columns less one, so no line wraps.
    std::string last = r.err.substr(r.err.rfind("\ntotal") + 1);
    EXPECT_EQ(last.size(), 79u + 1) << "the total line and its final newline: " << last;
}

TEST_F(IoclientFtp, AStalledTransferFailsAfterTheTimeout) {
    // 1 byte/s: pyftpdlib sends a first block, then waits for as many
    // seconds as it sent bytes. --timeout is what ends the wait.
    start({"--rate-limit", "1"});
    auto r = ftp({"get", "--timeout", "0.5", url("/file.bin"), (here_ / "got.bin").string()});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_NE(r.err.find("data connection: nothing for 500 ms"), std::string::npos) << r.err;
    EXPECT_LT(fs::file_size(here_ / "got.bin"), kFile.size()) << "what arrived is kept, for -C";
    // --local-root: the reference copy is the local one, not a first download (which would stall too).
    r = ftp({"load", url("/"), "--sessions", "2", "--get", "file.bin", "--timeout", "0.5", "--local-root",
             root_.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("failures   2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("nothing from the server for 500 ms (waiting in transfer)"), std::string::npos) << r.out;
}

TEST_F(IoclientFtp, LoadFailsWhenTheServerKeepsOtherBytesThanWereSent) {
    // A broken server: one byte of every upload flipped once stored.
    start({"--corrupt-uploads"});
    auto r = ftp({"load", url("/"), "--sessions", "2", "--put", "100000"});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("uploads    0 verified whole"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("failures   2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("the bytes read back differ from those sent"), std::string::npos) << r.out;
}

TEST_F(IoclientFtp, LoadChecksAgainstTheLocalFileAndFailsOnTheWrongHash) {
    auto r = ftp({"load", url("/"), "--sessions", "2", "--get", "file.bin", "--local-root", root_.string()});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find(client::ftp::sha256_of_file((root_ / "file.bin").string()).substr(0, 16)),
              std::string::npos) << r.out;
    EXPECT_NE(r.out.find("downloads  2 verified whole"), std::string::npos) << r.out;
    // A checker that cannot fail proves nothing: tell it the wrong hash,
    // and the load does not start, with one clear error, either way.
    for (const char* from : {"local copy", "first download"}) {
        std::vector<std::string> args{"load", url("/"), "--sessions", "2", "--get", "file.bin", "--expect-sha256",
                                      std::string(64, '0')};
        if (std::string(from) == "local copy") args.insert(args.end(), {"--local-root", root_.string()});
        r = ftp(args);
        EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
        EXPECT_EQ(r.out, "") << "no load ran";
        EXPECT_NE(r.err.find(fmt::format("the {} has SHA-256 ", from)), std::string::npos) << r.err;
    }
    // The right hash, with the local copy: the reference is checked, then each download.
    r = ftp({"load", url("/"), "--sessions", "2", "--get", "file.bin", "--local-root", root_.string(),
             "--expect-sha256", client::ftp::sha256_of_file((root_ / "file.bin").string()), "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_EQ(Json::parse(r.out)["sha256_source"], "given, and the local copy has it") << r.out;
    EXPECT_EQ(Json::parse(r.out)["downloads"], 2) << r.out;
}

TEST_F(IoclientFtp, LoadFailsEachDownloadThatDiffersFromTheReferenceCopy) {
    // A "local copy" of the same size with one byte changed: every download
    // differs from it, and each one says so.
    std::string changed = kFile;
    changed[kFile.size() / 2] ^= 1;
    write_text(here_ / "file.bin", changed);
    auto r = ftp({"load", url("/"), "--sessions", "2", "--get", "file.bin", "--local-root", here_.string()});
    EXPECT_EQ(r.exit_code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("downloads  0 verified whole"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("failures   2"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("other bytes than the reference copy"), std::string::npos) << r.out;
}

TEST_F(IoclientFtp, LoadWithoutWorkOrWithAMissingFileFails) {
    auto r = ftp({"load", url("/")});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("--get FILE, --put SIZE or both"), std::string::npos) << r.err;
    r = ftp({"load", url("/"), "--get", "nope.bin"});
    EXPECT_EQ(r.exit_code, 1) << r.err;
    EXPECT_EQ(lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("no such file"), std::string::npos) << r.err;
}

// ---- against our own servers -------------------------------------------------------

class IoclientFtpOurs : public EachFtpServer {};
INSTANTIATE_TEST_SUITE_P(Ours, IoclientFtpOurs, ::testing::ValuesIn(ftp_servers()), ServerName());

// The classroom's load: twenty sessions at once on one thread of the server,
// each downloading the file and uploading 1 MiB that it reads back.
TEST_P(IoclientFtpOurs, LoadTwentySessionsVerifiesEveryByte) {
    start();
    write_file(home_ + "/file.bin", kFile);
    auto r = ioclient({"load", url(""), "--sessions", "20", "--get", "file.bin", "--put", "1MiB", "--json"});
    expect_every_byte_verified(r, 20, home_ + "/file.bin");
    for (const auto& e : fs::directory_iterator(home_))  // the uploads, deleted once verified
        EXPECT_EQ(e.path().filename().string(), "file.bin") << "left behind: " << e.path();
    ASSERT_EQ(server_->stop(), 0) << server_->stderr_text();
    EXPECT_GE(server_->counter("peak_connections"), 20u) << "the twenty sessions were open at once";
}

TEST_P(IoclientFtpOurs, GetAndPutResumeWithC) {
    start();
    write_file(home_ + "/file.bin", kFile);
    const std::size_t part = 1 << 20;  // zeros, not the file's bytes: a whole new download would overwrite them
    write_file(dir_ + "/got.bin", std::string(part, '\0'));
    auto r = ioclient({"get", "-C", url("file.bin"), dir_ + "/got.bin"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_TRUE(same_bytes(read_file(dir_ + "/got.bin"), std::string(part, '\0') + kFile.substr(part)));

    write_file(dir_ + "/up.bin", kFile);
    for (const char* how : {"appe", "rest"}) {
        write_file(home_ + "/partial.bin", std::string(part, '\0'));  // zeros: only the rest may be sent
        r = ioclient({"put", "-C", "--resume-with", how, dir_ + "/up.bin", url("partial.bin")});
        ASSERT_EQ(r.exit_code, 0) << how << ": " << r.err;
        EXPECT_TRUE(same_bytes(read_file(home_ + "/partial.bin"), std::string(part, '\0') + kFile.substr(part)))
            << how;
    }
}

// The load mixes directions: while session 1 downloads, session 2 uploads,
// and one frame of the bars shows both. Under --duration the total bar
// fills by time with a percent. Ctrl-C (here SIGINT from timeout) draws the
// last frame over the ^C and ends its line, then the load dies by SIGINT.
TEST_P(IoclientFtpOurs, LoadMixesDirectionsAndCtrlCLeavesACleanLine) {
    start({"--rate-limit", "2M"});  // each 1 MiB transfer lasts half a second: several frames
    write_file(home_ + "/file.bin", kFile.substr(0, 1 << 20));
    auto r = run_command({"/usr/bin/timeout", "-s", "INT", "--preserve-status", "2.5", ioclient_path(), "ftp", "load",
                          url(""), "--sessions", "2", "--get", "file.bin", "--put", "1MiB", "--duration", "30",
                          "--progress", "bar"},
                         {}, std::chrono::seconds(60));
    EXPECT_EQ(r.exit_code, 128 + SIGINT) << r.err;
    bool both_at_once = false;
    for (auto at = r.err.find("\rs1 get"); at != std::string::npos && !both_at_once; at = r.err.find("\rs1 get", at + 1))
        both_at_once = r.err.compare(r.err.find('\n', at) + 1, 6, "s2 put") == 0;
    EXPECT_TRUE(both_at_once) << "no frame shows an upload and a download at the same moment:\n" << r.err;
    ASSERT_FALSE(r.err.empty());
    EXPECT_EQ(r.err.back(), '\n') << "Ctrl-C must leave the cursor on a clean line";
    std::string total = r.err.substr(r.err.rfind("\ntotal") + 1);
    EXPECT_NE(total.find("% "), std::string::npos) << "the total bar under --duration shows a percent: " << total;
    EXPECT_NE(total.find("[#"), std::string::npos) << "and fills by time: " << total;
}

TEST(IoclientFtpHelp, ExplainsEveryOption) {
    auto r = run_command({ioclient_path(), "ftp", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    for (const char* sub : {"get", "put", "ls", "load"}) EXPECT_NE(r.out.find(sub), std::string::npos) << r.out;
    r = run_command({ioclient_path(), "ftp", "load", "--help"});
    EXPECT_EQ(r.exit_code, 0);
    for (const char* opt : {"--sessions", "--get", "--put", "--duration", "--json", "--expect-sha256", "--local-root",
                            "--timeout", "--pasv", "--progress"})
        EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
    r = run_command({ioclient_path(), "ftp", "put", "--help"});
    for (const char* opt : {"-C,--continue", "--resume-with"}) EXPECT_NE(r.out.find(opt), std::string::npos) << opt;
}

}  // namespace
}  // namespace iom::test
