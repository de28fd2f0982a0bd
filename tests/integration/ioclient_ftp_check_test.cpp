// ioclient ftp check against four FTP servers: ours (epoll and io_uring)
// pass every case; pyftpdlib and vsftpd fail exactly the cases listed here,
// each for a reason docs/ftp.md gives — so the test proves the list, and a
// peer that changes (a Debian update) shows up as a failure to look at.
// And the check can fail: pyftpdlib told to connect wherever PORT says
// (scripts/pyftpd_server.py --insecure-port) fails the bounce cases.
#include "client/ftp/check.hpp"
#include "built_servers.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <set>
#include <sstream>

namespace iom::test {
namespace {

namespace fs = std::filesystem;

struct CheckRun {
    RunResult result;
    std::map<std::string, std::string> verdicts;  // case -> PASS, FAIL or SKIP
    std::set<std::string> named(const std::string& verdict) const {
        std::set<std::string> out;
        for (const auto& [name, v] : verdicts)
            if (v == verdict) out.insert(name);
        return out;
    }
};

class IoclientFtpCheck : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/iomodels-ftpcheck-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        root_ = tmpl;
    }
    void TearDown() override {
        server_.reset();
        std::error_code ec;
        fs::remove_all(root_, ec);
    }

    void start(const std::string& name, const std::string& path, std::vector<std::string> args) {
        server_ = std::make_unique<ServerProcess>(ServerSpec{name, path, {}}, StartOptions{.args = std::move(args)});
    }

    // ioclient ftp check on the server, as `login`, each line parsed.
    CheckRun check(const std::string& login, const fs::path& local_root, std::vector<std::string> extra = {},
                   double timeout = 10) {
        std::vector<std::string> argv{ioclient_path(), "ftp", "check",
                                      "ftp://" + login + "@127.0.0.1:" + std::to_string(server_->port()) + "/",
                                      "--timeout", std::to_string(timeout)};
        if (!local_root.empty()) argv.insert(argv.end(), {"--local-root", local_root.string()});
        argv.insert(argv.end(), extra.begin(), extra.end());
        CheckRun run{run_command(argv, {}, std::chrono::seconds(120)), {}};
        std::istringstream lines(run.result.out);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream words(line);
            std::string verdict, name;
            words >> verdict >> name;
            if (verdict == "PASS" || verdict == "FAIL" || verdict == "SKIP") run.verdicts[name] = verdict;
        }
        return run;
    }

    // Every case ran; these failed, and no other; none skipped.
    static void expect_failures(const CheckRun& run, const std::set<std::string>& failures) {
        SCOPED_TRACE(run.result.out + run.result.err);
        EXPECT_EQ(run.verdicts.size(), client::ftp::ftp_check_cases().size());
        EXPECT_EQ(run.named("FAIL"), failures);
        EXPECT_EQ(run.named("SKIP"), std::set<std::string>{});
        EXPECT_EQ(run.result.exit_code, failures.empty() ? 0 : 1);
    }

    fs::path root_;
    std::unique_ptr<ServerProcess> server_;
};

TEST_F(IoclientFtpCheck, EpollServerPassesEveryCase) {
    start("epoll_ftp_server", bin_path("epoll_ftp_server"), {"--root", root_.string(), "--user", "alice:secret"});
    expect_failures(check("alice:secret", root_ / "alice"), {});
}

TEST_F(IoclientFtpCheck, UringServerPassesEveryCase) {
    start("uring_ftp_server", bin_path("uring_ftp_server"), {"--root", root_.string(), "--user", "alice:secret"});
    expect_failures(check("alice:secret", root_ / "alice"), {});
}

// pyftpdlib 1.5.7: why each case fails is in docs/ftp.md.
TEST_F(IoclientFtpCheck, PyftpdlibFailsTheListedCases) {
    start("pyftpdlib", std::string(IOM_SOURCE_DIR) + "/scripts/pyftpd_server.py",
          {"--root", root_.string(), "--user", "alice:secret", "--auth-failed-delay", "0"});
    expect_failures(check("alice:secret", root_),
                    {"lftp-sequence", "passive-stranger", "bad-names", "long-line", "stor-atomic"});
}

// vsftpd 3.0.3 as scripts/vsftpd_server.sh configures it. abort-oob waits
// the whole --timeout for a reply that never comes: keep it short.
TEST_F(IoclientFtpCheck, VsftpdFailsTheListedCases) {
    if (::geteuid() != 0) GTEST_SKIP() << "vsftpd_server.sh needs root (it chroots and creates a user)";
    start("vsftpd", std::string(IOM_SOURCE_DIR) + "/scripts/vsftpd_server.sh",
          {"--root", root_.string(), "--user", "iomcheck:iomcheck-secret"});
    expect_failures(check("iomcheck:iomcheck-secret", root_, {}, 5),
                    {"type-a-retr", "type-a-stor", "passive-stranger", "bad-names", "long-line", "abort-oob"});
}

// A checker that cannot fail proves nothing: a server that bounces.
TEST_F(IoclientFtpCheck, FailsAServerThatConnectsWherePortSays) {
    start("pyftpdlib", std::string(IOM_SOURCE_DIR) + "/scripts/pyftpd_server.py",
          {"--root", root_.string(), "--user", "alice:secret", "--auth-failed-delay", "0", "--insecure-port"});
    CheckRun run = check("alice:secret", root_, {"--case", "port-bounce", "--case", "port-privileged"});
    SCOPED_TRACE(run.result.out + run.result.err);
    EXPECT_EQ(run.named("FAIL"), (std::set<std::string>{"port-bounce", "port-privileged"}));
    EXPECT_NE(run.result.out.find("the server connected to 127.0.0.2"), std::string::npos);
    EXPECT_EQ(run.result.exit_code, 1);
}

TEST_F(IoclientFtpCheck, ListsItsCasesAndRefusesAnUnknownOne) {
    RunResult list = run_command({ioclient_path(), "ftp", "check", "--list"});
    EXPECT_EQ(list.exit_code, 0);
    for (const auto& c : client::ftp::ftp_check_cases()) EXPECT_NE(list.out.find(c.name), std::string::npos);
    RunResult bad = run_command({ioclient_path(), "ftp", "check", "ftp://a:b@127.0.0.1:1/", "--case", "nope"});
    EXPECT_EQ(bad.exit_code, 2) << bad.err;
}

}  // namespace
}  // namespace iom::test
