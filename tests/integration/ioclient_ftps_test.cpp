// ioclient ftp --tls (explicit FTPS, RFC 4217) against the two peers run on
// TLS, with a certificate scripts/ftps-cert.sh makes in a temporary
// directory: pyftpdlib (scripts/pyftpd_server.py --tls-cert --tls-key) and
// vsftpd (scripts/vsftpd_server.sh, root only: it chroots and makes a user).
// get, put and ls move whole files with --cacert, a wrong CA is one clear
// line and a non-zero exit; load verifies every byte over TLS; ioclient ftp
// check --tls gives each TLS case the verdict each server earns (why, in
// docs/ftp.md); --tls against a server without TLS fails in one line,
// never going on in clear.
#include "built_servers.hpp"
#include "client/lib/connection.hpp"
#include "common/json.hpp"
#include "ftp_fixture.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>

namespace iom::test {
namespace {

namespace fs = std::filesystem;

const std::string kScripts = std::string(IOM_SOURCE_DIR) + "/scripts/";
const std::set<std::string> kTlsCases = {"tls-login",          "tls-prot-p-transfer",   "tls-clear-data-refused",
                                         "tls-reuse-required", "tls-garbage-handshake", "tls-required-refuses-clear-login"};

class IoclientFtps : public ::testing::Test {
protected:
    void SetUp() override {
        char tmpl[] = "/tmp/iomodels-ftps-XXXXXX";
        ASSERT_NE(::mkdtemp(tmpl), nullptr);
        base_ = tmpl;
        // vsftpd's sessions run as the FTP user, and chroot into root_: its parent must let them through.
        fs::permissions(base_, fs::perms::owner_all | fs::perms::group_exec | fs::perms::others_exec);
        root_ = base_ / "root";
        here_ = base_ / "here";
        fs::create_directories(root_);
        fs::create_directories(here_);
        for (const char* dir : {"tls", "other"}) {
            RunResult r = run_command({kScripts + "ftps-cert.sh", (base_ / dir).string()});
            ASSERT_EQ(r.exit_code, 0) << describe(r);
        }
        cert_ = (base_ / "tls" / "cert.pem").string();
        key_ = (base_ / "tls" / "key.pem").string();
    }
    void TearDown() override {
        server_.reset();
        std::error_code ec;
        fs::remove_all(base_, ec);
    }

    // pyftpdlib on TLS (`tls` false: clear), user u:p over root_.
    void start_pyftpd(bool tls, std::vector<std::string> extra = {}) {
        login_ = "u:p";
        std::vector<std::string> args{"--root", root_.string(), "--user", login_, "--auth-failed-delay", "0"};
        if (tls) args.insert(args.end(), {"--tls-cert", cert_, "--tls-key", key_});
        args.insert(args.end(), extra.begin(), extra.end());
        server_ = std::make_unique<ServerProcess>(ServerSpec{"pyftpdlib", kScripts + "pyftpd_server.py", {}},
                                                  StartOptions{args});
    }
    void start_vsftpd(std::vector<std::string> extra) {
        login_ = "iomftps:iomftps-secret";  // a user of its own: vsftpd_server.sh sets the password at each start
        std::vector<std::string> args{"--root", root_.string(), "--user", login_, "--tls-cert", cert_, "--tls-key",
                                      key_};
        args.insert(args.end(), extra.begin(), extra.end());
        server_ = std::make_unique<ServerProcess>(ServerSpec{"vsftpd", kScripts + "vsftpd_server.sh", {}},
                                                  StartOptions{args});
    }

    std::string url(const std::string& path) const {
        return "ftp://" + login_ + "@127.0.0.1:" + std::to_string(server_->port()) + path;
    }
    RunResult ftp(std::vector<std::string> args) const {
        args.insert(args.begin(), {ioclient_path(), "ftp"});
        return run_command(args, {}, std::chrono::seconds(120));
    }

    // ioclient ftp check --tls --cacert: case -> PASS, FAIL or SKIP.
    std::map<std::string, std::string> check(std::vector<std::string> extra, RunResult* out = nullptr) const {
        std::vector<std::string> args{"check", "--tls", "--cacert", cert_, "--timeout", "5", url("/")};
        args.insert(args.end(), extra.begin(), extra.end());
        RunResult r = ftp(args);
        std::map<std::string, std::string> verdicts;
        std::istringstream lines(r.out);
        for (std::string line; std::getline(lines, line);) {
            std::istringstream words(line);
            std::string verdict, name;
            words >> verdict >> name;
            if (verdict == "PASS" || verdict == "FAIL" || verdict == "SKIP") verdicts[name] = verdict;
        }
        if (out) *out = r;
        return verdicts;
    }
    // Only the TLS cases, each named.
    std::map<std::string, std::string> check_tls_cases() const {
        std::vector<std::string> args;
        for (const auto& c : kTlsCases) args.insert(args.end(), {"--case", c});
        return check(args);
    }

    fs::path base_, root_, here_;
    std::string cert_, key_, login_;
    std::unique_ptr<ServerProcess> server_;
};

std::set<std::string> named(const std::map<std::string, std::string>& verdicts, const std::string& v) {
    std::set<std::string> out;
    for (const auto& [name, verdict] : verdicts)
        if (verdict == v) out.insert(name);
    return out;
}

TEST_F(IoclientFtps, PutGetLsRoundTripAFileWithTheCaAndAWrongCaIsOneClearError) {
    start_pyftpd(true);
    const std::string bytes = client::random_bytes(700 * 1024 + 3, 41);
    write_file((here_ / "up.bin").string(), bytes);
    auto put = ftp({"put", "--tls", "--cacert", cert_, "--progress", "none", (here_ / "up.bin").string(),
                    url("/up.bin")});
    ASSERT_EQ(put.exit_code, 0) << describe(put);
    EXPECT_TRUE(same_bytes(read_file((root_ / "up.bin").string()), bytes));
    auto get = ftp({"get", "--tls", "--cacert", cert_, "--progress", "none", url("/up.bin"),
                    (here_ / "down.bin").string()});
    ASSERT_EQ(get.exit_code, 0) << describe(get);
    EXPECT_TRUE(same_bytes(read_file((here_ / "down.bin").string()), bytes));
    auto ls = ftp({"ls", "--tls", "--cacert", cert_, url("/")});
    ASSERT_EQ(ls.exit_code, 0) << describe(ls);
    EXPECT_NE(ls.out.find(std::to_string(bytes.size()) + " "), std::string::npos) << ls.out;

    // Another class's certificate is no CA of this one: refused before USER.
    auto wrong = ftp({"ls", "--tls", "--cacert", (base_ / "other" / "cert.pem").string(), url("/")});
    EXPECT_EQ(wrong.exit_code, 1) << describe(wrong);
    EXPECT_NE(wrong.err.find("certificate verify failed"), std::string::npos) << wrong.err;
    EXPECT_EQ(std::count(wrong.err.begin(), wrong.err.end(), '\n'), 1) << wrong.err;
    // --insecure goes on, and says so once.
    auto insecure = ftp({"ls", "--tls", "--insecure", url("/")});
    EXPECT_EQ(insecure.exit_code, 0) << describe(insecure);
    EXPECT_NE(insecure.err.find("--insecure"), std::string::npos) << insecure.err;
}

TEST_F(IoclientFtps, LoadVerifiesEveryByteOverTls) {
    start_pyftpd(true);
    write_file((root_ / "file.bin").string(), client::random_bytes(1 << 20, 42));
    auto r = ftp({"load", "--tls", "--cacert", cert_, "--sessions", "4", "--get", "file.bin", "--put", "300000",
                  "--progress", "none", "--json", url("/")});
    ASSERT_EQ(r.exit_code, 0) << describe(r);
    auto j = Json::parse(r.out);
    EXPECT_EQ(j["downloads"], 4) << r.out;
    EXPECT_EQ(j["uploads"], 4) << r.out;
    EXPECT_EQ(j["failures"], 0) << r.out;
    EXPECT_EQ(j["bytes"], 4 * ((1 << 20) + 2 * 300000)) << r.out;
}

// Every case over TLS: the clear cases fail as they do in clear
// (ioclient_ftp_check_test), and pyftpdlib leaves an empty file behind a
// STOR whose clear data it refused.
TEST_F(IoclientFtps, CheckOverTlsAgainstPyftpdlib) {
    start_pyftpd(true);
    RunResult run;
    auto v = check({"--local-root", root_.string()}, &run);
    SCOPED_TRACE(run.out + run.err);
    EXPECT_EQ(named(v, "FAIL"), (std::set<std::string>{"lftp-sequence", "passive-stranger", "bad-names", "long-line",
                                                       "stor-atomic", "tls-clear-data-refused"}));
    // No reuse required, no TLS required: found by trying.
    EXPECT_EQ(named(v, "SKIP"), (std::set<std::string>{"stor-interrupted", "port-refused", "connections-zero",
                                                       "tls-reuse-required", "tls-required-refuses-clear-login"}));
    for (const auto& c : kTlsCases) EXPECT_TRUE(v.count(c)) << c << " did not run";
}

TEST_F(IoclientFtps, PyftpdlibRequiringTlsRefusesAClearLoginAndCannotRequireReuse) {
    auto refused = run_command({"/usr/bin/python3", kScripts + "pyftpd_server.py", "--root", root_.string(),
                                "--tls-cert", cert_, "--tls-key", key_, "--tls-session-reuse", "required"});
    EXPECT_EQ(refused.exit_code, 2);
    EXPECT_NE(refused.err.find("no way to require TLS session reuse"), std::string::npos) << refused.err;
    start_pyftpd(true, {"--require-tls"});
    auto v = check({"--case", "tls-required-refuses-clear-login", "--case", "tls-login", "--case",
                    "tls-prot-p-transfer"});
    EXPECT_EQ(named(v, "PASS"),
              (std::set<std::string>{"tls-required-refuses-clear-login", "tls-login", "tls-prot-p-transfer"}));
    auto clear = ftp({"ls", url("/")});
    EXPECT_EQ(clear.exit_code, 1) << "a clear login to a server that requires TLS";
}

// vsftpd requiring TLS and session reuse: the reuse case passes; like
// pyftpdlib it leaves an empty file behind a refused clear STOR.
TEST_F(IoclientFtps, VsftpdRequiringTlsAndReuse) {
    if (::geteuid() != 0) GTEST_SKIP() << "vsftpd_server.sh needs root (it chroots and creates a user)";
    start_vsftpd({"--require-tls", "--tls-session-reuse", "required"});
    auto v = check_tls_cases();
    EXPECT_EQ(named(v, "PASS"), (std::set<std::string>{"tls-login", "tls-prot-p-transfer", "tls-reuse-required",
                                                       "tls-garbage-handshake", "tls-required-refuses-clear-login"}));
    EXPECT_EQ(named(v, "FAIL"), std::set<std::string>{"tls-clear-data-refused"});
    // Every data connection of the load resumes its session, or vsftpd would refuse it.
    write_file((root_ / "file.bin").string(), client::random_bytes(300000, 43));
    auto load = ftp({"load", "--tls", "--cacert", cert_, "--sessions", "4", "--get", "file.bin", "--put", "200000",
                     "--progress", "none", "--json", url("/")});
    ASSERT_EQ(load.exit_code, 0) << describe(load);
    EXPECT_EQ(Json::parse(load.out)["failures"], 0) << load.out;
}

TEST_F(IoclientFtps, VsftpdWithOptionalTlsSkipsTheRulesItDoesNotEnforce) {
    if (::geteuid() != 0) GTEST_SKIP() << "vsftpd_server.sh needs root (it chroots and creates a user)";
    start_vsftpd({});
    auto v = check({"--case", "tls-reuse-required", "--case", "tls-required-refuses-clear-login"});
    EXPECT_EQ(named(v, "SKIP"), (std::set<std::string>{"tls-reuse-required", "tls-required-refuses-clear-login"}));
}

// --tls never falls back to clear: one line, exit 1. And ftps:// (implicit
// FTPS) is refused, naming --tls.
TEST_F(IoclientFtps, TlsAgainstAServerWithoutTlsFailsInOneLine) {
    start_pyftpd(false);
    auto r = ftp({"ls", "--tls", "--cacert", cert_, url("/")});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find("refused AUTH TLS"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    auto v = check({"--case", "tls-login"});
    EXPECT_EQ(v["tls-login"], "SKIP");

    server_ = std::make_unique<ServerProcess>(epoll_ftp_server(),
                                              StartOptions{{"--root", root_.string(), "--user", "u:p"}});
    r = ftp({"get", "--tls", "--insecure", url("/nothing.bin")});
    EXPECT_EQ(r.exit_code, 1) << describe(r);
    EXPECT_NE(r.err.find("AUTH TLS"), std::string::npos) << r.err;

    r = ftp({"ls", "--tls", "ftps://u:p@127.0.0.1:990/"});
    EXPECT_EQ(r.exit_code, 2) << describe(r);
    EXPECT_NE(r.err.find("--tls"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace iom::test
