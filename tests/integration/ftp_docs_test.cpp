// docs/ftp.md cites only what exists: every test it names (Suite.Test) is a
// test in tests/, every file of the repository it names is there, and every
// option it names is in the --help of an FTP server or of `ioclient ftp`.
// The "Measured" section is left out of the file check: it names the command
// that will fill it.
#include "built_servers.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>

namespace iom::test {
namespace {

namespace fs = std::filesystem;
const fs::path source_dir = IOM_SOURCE_DIR;

std::string text_of(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

// Every match of `re`'s first group in `text`.
std::set<std::string> matches(const std::string& text, const std::regex& re) {
    std::set<std::string> out;
    for (std::sregex_iterator it(text.begin(), text.end(), re), end; it != end; ++it) out.insert((*it)[1].str());
    return out;
}

// "Suite.Test" for every TEST, TEST_F and TEST_P in tests/.
std::set<std::string> defined_tests() {
    static const std::regex def(R"(TEST(?:_F|_P)?\(\s*(\w+),\s*(\w+)\))");
    std::set<std::string> names;
    for (const auto& e : fs::recursive_directory_iterator(source_dir / "tests")) {
        if (e.path().extension() != ".cpp") continue;
        const std::string code = text_of(e.path());
        for (std::sregex_iterator it(code.begin(), code.end(), def), end; it != end; ++it)
            names.insert((*it)[1].str() + "." + (*it)[2].str());
    }
    return names;
}

TEST(FtpDocs, TheFtpPageCitesOnlyTestsFilesAndOptionsThatExist) {
    const std::string page = text_of(source_dir / "docs/ftp.md");
    ASSERT_FALSE(page.empty()) << "docs/ftp.md is missing";
    const std::string body = page.substr(0, page.find("\n## Measured"));

    const auto tests = defined_tests();
    const auto cited_tests = matches(page, std::regex(R"(`([A-Z]\w+\.[A-Z]\w+)`)"));
    EXPECT_GE(cited_tests.size(), 10u) << "the security rules name their tests";
    for (const auto& t : cited_tests) EXPECT_TRUE(tests.count(t)) << "docs/ftp.md cites a test that does not exist: " << t;

    for (const auto& p : matches(body, std::regex(R"(`((?:ftp|tests|scripts|common|client|bench|docs)/[\w./-]+)`)")))
        EXPECT_TRUE(fs::exists(source_dir / p)) << "docs/ftp.md cites a file that does not exist: " << p;

    std::string help;
    for (const char* server : {"epoll_ftp_server", "uring_ftp_server"}) help += run_command({bin_path(server), "--help"}).out;
    for (const char* sub : {"get", "put", "ls", "load", "check"}) help += run_command({ioclient_path(), "ftp", sub, "--help"}).out;
    help += run_command({"/usr/bin/python3", (source_dir / "scripts/pyftpd_server.py").string(), "--help"}).out;
    for (const auto& o : matches(page, std::regex(R"((--[a-z][a-z0-9-]+))")))
        EXPECT_NE(help.find(o), std::string::npos) << "docs/ftp.md cites an option no --help shows: " << o;
}

}  // namespace
}  // namespace iom::test
