// bench/pair.sh, the side-by-side measurement of docs/performance.md: a tiny
// run (two rounds of a fraction of a second) against the dev build, to prove
// that it starts both servers, loads both at once and reports the ratio; and
// that it refuses what it cannot run. bench/ftp.sh, the FTP benchmark: its
// --quick run against this build's FTP servers and pyftpdlib, to prove that
// every measurement ran and every byte was verified. What they measure is
// not tested here: timing belongs in benchmarks.
#include "built_servers.hpp"
#include "common/json.hpp"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace iom::test {
namespace {

using namespace std::chrono_literals;

std::string pair_script() { return IOM_SOURCE_DIR "/bench/pair.sh"; }
std::string bin(const std::string& name) { return server_named(name).path; }

TEST(PairScript, LoadsBothServersAtOnceAndPrintsTheMedianRatio) {
    auto r = run_command({"/usr/bin/env", "IOCLIENT=" + ioclient_path(), "bash", pair_script(), bin("epoll_server"),
                          bin("uring_server") + " --batch 4", "2", "8", "64", "0.3"},
                         {}, 60s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("B = " + bin("uring_server") + " --batch 4"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("round 1: A"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("round 2: A"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("server CPU per message, B/A: median"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("2 rounds"), std::string::npos) << r.out;
}

TEST(PairScript, RefusesAServerThatIsNotAnExecutable) {
    auto r = run_command({"/usr/bin/env", "IOCLIENT=" + ioclient_path(), "bash", pair_script(), "/nonexistent/server",
                          bin("epoll_server")});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("/nonexistent/server: not an executable"), std::string::npos) << r.err;
}

TEST(PairScript, WithoutTwoServersPrintsItsUsageAndExitsTwo) {
    auto r = run_command({"/bin/bash", pair_script()});
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_NE(r.out.find("bench/pair.sh A B"), std::string::npos) << r.out;
}

std::string ftp_script() { return IOM_SOURCE_DIR "/bench/ftp.sh"; }
std::string bin_dir() { return std::filesystem::path(ioclient_path()).parent_path().string(); }

TEST(FtpScript, QuickRunMeasuresEveryServerAndVerifiesEveryByte) {
    char tmpl[] = "/tmp/iomodels-ftp-bench-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    const std::string out = tmpl;
    // --baseline: the same build again, as a change's "before" would be.
    auto r = run_command({"/bin/bash", ftp_script(), "--quick", "--build", bin_dir(), "--servers",
                          "epoll,uring,uring-copy,pyftpd", "--baseline", bin_dir(), "--out", out},
                         {}, 240s);
    ASSERT_EQ(r.exit_code, 0) << r.out << r.err;
    EXPECT_NE(r.out.find("every byte verified: epoll yes, uring yes, uring-copy yes, pyftpd yes, epoll@base yes, "
                         "uring@base yes, uring-copy@base yes"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("| measure | epoll after/before (rounds) | uring after/before (rounds) |"),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.out.find("targets (issue 16), uring-copy against epoll:"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("targets (issue 14):"), std::string::npos) << r.out;

    // uring-copy is uring_ftp_server --no-sendfile: its downloads READ into its
    // buffer; uring's SPLICE (its stderr has each server's counters at exit).
    auto text_of = [&](const std::string& name) {
        std::ifstream f(out + "/" + name + ".err");
        return std::string(std::istreambuf_iterator<char>(f), {});
    };
    EXPECT_NE(text_of("uring").find("sendfile_calls="), std::string::npos);
    EXPECT_EQ(text_of("uring-copy").find("sendfile_calls="), std::string::npos);
    EXPECT_NE(text_of("uring-copy").find("user_copy_bytes="), std::string::npos);

    std::ifstream in(out + "/results.json");
    Json j = Json::parse(in, nullptr, false);
    std::filesystem::remove_all(out);
    ASSERT_FALSE(j.is_discarded()) << "results.json does not parse";
    for (const std::string server : {"epoll", "uring", "uring-copy", "pyftpd"}) {
        SCOPED_TRACE(server);
        ASSERT_EQ(j["rounds"][server].size(), 1u);
        const Json& m = j["rounds"][server][0];
        for (const char* key : {"download_1", "download_20", "download_200", "upload_1", "upload_20", "upload_200",
                                "curl_download_20", "curl_upload_20"}) {
            SCOPED_TRACE(key);
            EXPECT_TRUE(m[key]["verified"].get<bool>()) << m[key].dump();
            EXPECT_GT(m[key]["bytes_per_second"].get<double>(), 0);
        }
        // Every session brought its whole file, every upload came back whole
        // (at 1 and 20 sessions, again and again for the run's duration).
        EXPECT_GE(m["download_20"]["downloads"], 20);
        EXPECT_EQ(m["download_200"]["downloads"], 200);
        EXPECT_GE(m["upload_20"]["uploads"], 20);
        EXPECT_EQ(m["upload_200"]["failures"], 0);
        EXPECT_GT(m["download_20"]["server_cpu_s_per_gib"].get<double>(), 0);
        EXPECT_GT(m["logins"]["seconds"].get<double>(), 0);
        EXPECT_EQ(j["memory"][server]["sessions"], 100);
        EXPECT_GT(j["memory"][server]["pss_anon_after"].get<double>(), 0);
    }
    for (const auto& rate : j["iperf3_zerocopy_bytes_per_second"])  // none if iperf3 is not installed
        EXPECT_GT(rate.get<double>(), 0);
}

TEST(FtpScript, RefusesAnUnknownServerAndABuildWithoutTheBinaries) {
    auto r = run_command({"/bin/bash", ftp_script(), "--build", "/nonexistent"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("/nonexistent/epoll_ftp_server is missing"), std::string::npos) << r.err;
    r = run_command({"/bin/bash", ftp_script(), "--build", bin_dir(), "--baseline", "/nonexistent"});
    EXPECT_EQ(r.exit_code, 2) << r.out << r.err;
    EXPECT_NE(r.err.find("/nonexistent/epoll_ftp_server is missing (--baseline)"), std::string::npos) << r.err;
    r = run_command({"/bin/bash", ftp_script(), "--servers", "epoll,proftpd"});
    EXPECT_EQ(r.exit_code, 2) << r.err;
    EXPECT_NE(r.err.find("unknown server proftpd"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace iom::test
