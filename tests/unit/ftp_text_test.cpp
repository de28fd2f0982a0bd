// The FTP core's pure pieces: control lines, paths, TYPE A conversion,
// listing formats, data addresses, users, session counting and options.
#include "ftp/ascii.hpp"
#include "ftp/auth.hpp"
#include "ftp/command.hpp"
#include "ftp/data_address.hpp"
#include "ftp/limits.hpp"
#include "ftp/line_reader.hpp"
#include "ftp/listing.hpp"
#include "ftp/options.hpp"
#include "ftp/path.hpp"

#include <gtest/gtest.h>

#include <algorithm>

#include <crypt.h>
#include <unistd.h>

#include <fstream>
#include <limits>
#include <memory>

namespace iom::ftp {
namespace {

std::vector<std::string> lines_of(LineReader& r, std::string_view in) {
    std::vector<std::string> out;
    for (;;) {
        auto ev = r.feed(in);
        if (ev == LineReader::Event::none) return out;
        out.push_back(ev == LineReader::Event::line ? r.line() : "<too long>");
    }
}

TEST(FtpLineReader, CrlfBareLfAndAnySplit) {
    LineReader r(4096);
    EXPECT_EQ(lines_of(r, "USER a\r\nPASS b\nNO"), (std::vector<std::string>{"USER a", "PASS b"}));
    EXPECT_EQ(lines_of(r, "OP\r"), std::vector<std::string>{});
    EXPECT_EQ(lines_of(r, "\n"), std::vector<std::string>{"NOOP"});
}

TEST(FtpLineReader, TelnetSequencesAreStripped) {
    LineReader r(4096);
    EXPECT_EQ(lines_of(r, "\xff\xf4\xff\xf2" "ABOR\r\n"), std::vector<std::string>{"ABOR"});  // lftp: IAC IP IAC DM
    EXPECT_EQ(lines_of(r, "a\xff\xff" "b\r\n"), std::vector<std::string>{"a\xff" "b"});        // IAC IAC is one 0xFF
    EXPECT_EQ(lines_of(r, "\xff\xfb\x01NOOP\xff\xfd"), std::vector<std::string>{});           // IAC WILL ECHO, IAC DO ...
    EXPECT_EQ(lines_of(r, "\x03\r\n"), std::vector<std::string>{"NOOP"});                     // ... its option byte, split
}

TEST(FtpLineReader, TooLongLineIsReportedOnceAndDiscarded) {
    LineReader r(16);
    EXPECT_EQ(lines_of(r, std::string(40, 'x')), std::vector<std::string>{"<too long>"});
    EXPECT_LE(r.pending(), 16u);
    EXPECT_EQ(lines_of(r, std::string(1000, 'y')), std::vector<std::string>{});  // still discarding, no memory
    EXPECT_EQ(r.pending(), 0u);
    EXPECT_EQ(lines_of(r, "zz\r\nNOOP\r\n"), std::vector<std::string>{"NOOP"});
    EXPECT_EQ(lines_of(r, std::string(15, 'q') + "\r\n"), std::vector<std::string>{std::string(15, 'q')});
}

TEST(FtpCommand, VerbIsCaseInsensitiveArgumentIsKept) {
    Command c = parse_command("stor  two spaces ");
    EXPECT_EQ(c.verb, "STOR");
    EXPECT_EQ(c.arg, " two spaces ");
    EXPECT_EQ(parse_command("PWD").arg, "");
    std::string out;
    reply(out, 550, "bad\r\nname");
    EXPECT_EQ(out, "550 bad  name\r\n");  // no forged second reply line
    out.clear();
    reply_multi(out, 211, "Features:", {"EPSV", "SIZE"}, "End");
    EXPECT_EQ(out, "211-Features:\r\n EPSV\r\n SIZE\r\n211 End\r\n");
    EXPECT_EQ(quote_path("/a\"b"), "\"/a\"\"b\"");
}

TEST(FtpPath, JoinIsLexicalAndStaysAtRoot) {
    EXPECT_EQ(join_path("/", "a"), "/a");
    EXPECT_EQ(join_path("/a/b", "../c"), "/a/c");
    EXPECT_EQ(join_path("/a", "/x//y/./z/"), "/x/y/z");
    EXPECT_EQ(join_path("/a", "../../.."), "/");
    EXPECT_EQ(join_path("/a", ""), "/a");
    EXPECT_EQ(join_path("/a", "..."), "/a/...");
    EXPECT_EQ(split_path("/a/b").parent, "/a");
    EXPECT_EQ(split_path("/a/b").name, "b");
    EXPECT_EQ(split_path("/b").parent, "/");
    EXPECT_EQ(split_path("/").name, "");
    EXPECT_TRUE(has_forbidden_byte(std::string("a\0b", 3)));
    EXPECT_TRUE(has_forbidden_byte("a\rb"));
    EXPECT_FALSE(has_forbidden_byte("a b"));
}

std::string encode_chunks(const std::vector<std::string>& chunks) {
    AsciiEncoder enc;
    std::string out;
    for (const auto& c : chunks) {
        std::string buf(2 * c.size(), '\0');
        out.append(buf.data(), enc.convert(c.data(), c.size(), buf.data()));
    }
    return out;
}

std::string decode_chunks(const std::vector<std::string>& chunks) {
    AsciiDecoder dec;
    std::string out;
    for (const auto& c : chunks) {
        std::string buf(c.size() + 1, '\0');
        out.append(buf.data(), dec.convert(c.data(), c.size(), buf.data()));
    }
    char last;
    out.append(&last, dec.finish(&last));
    return out;
}

TEST(FtpAscii, OutLfBecomesCrlfAcrossChunks) {
    EXPECT_EQ(encode_chunks({"a\nb\n"}), "a\r\nb\r\n");
    EXPECT_EQ(encode_chunks({"a\r", "\nb"}), "a\r\nb");  // CRLF split over two chunks stays CRLF
    EXPECT_EQ(encode_chunks({"\n", "\n"}), "\r\n\r\n");
}

TEST(FtpAscii, InCrlfBecomesLfAcrossChunks) {
    EXPECT_EQ(decode_chunks({"a\r\nb\r\n"}), "a\nb\n");
    EXPECT_EQ(decode_chunks({"a\r", "\nb"}), "a\nb");  // the CR ends one chunk, the LF starts the next
    EXPECT_EQ(decode_chunks({"a\r", "b"}), "a\rb");    // a lone CR is data
    EXPECT_EQ(decode_chunks({"a\r"}), "a\r");          // ... even at the very end
    EXPECT_EQ(decode_chunks({"\r", "\r", "\n"}), "\r\n");
}

TEST(FtpListing, KnownStrings) {
    Entry f{.name = "notes.txt", .type = EntryType::file, .size = 1234, .mtime = 1767225600 /* 2026-01-01 00:00 UTC */,
            .mode = 0644, .nlink = 1, .dev = 0x803, .ino = 0x1a2b};
    EXPECT_EQ(list_line(f, 1767225600 + 3600), "-rw-r--r--   1 ftp      ftp              1234 Jan 01 00:00 notes.txt\r\n");
    EXPECT_EQ(list_line(f, 1767225600 + 365 * 86400), "-rw-r--r--   1 ftp      ftp              1234 Jan 01  2026 notes.txt\r\n");
    Entry d{.name = "docs", .type = EntryType::dir, .size = 4096, .mtime = 0, .mode = 0755, .nlink = 2};
    EXPECT_TRUE(list_line(d, 0).starts_with("drwxr-xr-x   2 "));
    EXPECT_EQ(ftp_time(1767225600 + 3661), "20260101010101");
    EXPECT_EQ(mlsx_line(f, all_facts, true), "type=file;size=1234;modify=20260101000000;perm=adfwr;unique=803g1a2b; notes.txt");
    EXPECT_EQ(mlsx_line(f, all_facts, false), "type=file;size=1234;modify=20260101000000;perm=r;unique=803g1a2b; notes.txt");
    EXPECT_EQ(mlsx_line(d, fact_type | fact_perm, true), "type=dir;perm=elcdfmp; docs");
    EXPECT_EQ(format_mlsd(d, {f}, fact_type, false), "type=cdir; .\r\ntype=file; notes.txt\r\n");
    EXPECT_EQ(format_nlst({f, d}), "notes.txt\r\ndocs\r\n");
    EXPECT_EQ(fact_list(all_facts), "type*;size*;modify*;perm*;unique*;");
    EXPECT_EQ(parse_fact_list("Type;SIZE;bogus;"), unsigned(fact_type | fact_size));
}

// Found by the ftp_listing fuzz target (tests/fuzz): a name with CR or LF (a local user can
// make one) ended its listing line early, and what followed read as an entry of its own.
TEST(FtpListing, ANameWithCrOrLfStaysOnItsLine) {
    Entry forged{.name = "x\r\n-rw-r--r--   1 ftp      ftp              1 Jan 01 00:00 forged\nz", .size = 1};
    EXPECT_EQ(format_nlst({forged}), "x  -rw-r--r--   1 ftp      ftp              1 Jan 01 00:00 forged z\r\n");
    std::string list = list_line(forged, 0);
    EXPECT_EQ(list.find_first_of("\r\n"), list.size() - 2) << list;
    EXPECT_TRUE(list.ends_with(" forged z\r\n")) << list;
    EXPECT_EQ(mlsx_line(forged, fact_type, true), "type=file; x  -rw-r--r--   1 ftp      ftp              1 Jan 01 00:00 forged z");
    std::string mlsd = format_mlsd(Entry{.name = "d", .type = EntryType::dir}, {forged}, fact_type, true);
    EXPECT_EQ(std::count(mlsd.begin(), mlsd.end(), '\n'), 2) << "the directory's line and the entry's";
}

// Found by the ftp_listing fuzz target (tests/fuzz): a modification time far in the past
// (utimensat takes any 64-bit time) made LIST's "within six months" test overflow now - mtime,
// and a year near INT_MAX overflowed tm_year + 1900: undefined behaviour, caught by UBSan.
TEST(FtpListing, ExtremeTimesAreListedWithoutOverflow) {
    constexpr std::int64_t year_int_max = 67768036191676799;  // 2147485547-12-31 23:59:59 UTC: tm_year = INT_MAX
    for (std::int64_t mtime : {std::numeric_limits<std::int64_t>::min(), std::numeric_limits<std::int64_t>::max(),
                               year_int_max}) {
        Entry e{.name = "old", .mtime = mtime};
        std::string line = list_line(e, 1767225600);
        EXPECT_TRUE(line.ends_with(" old\r\n")) << line;
        EXPECT_FALSE(ftp_time(mtime).empty());
    }
    EXPECT_NE(list_line(Entry{.name = "far", .mtime = year_int_max}, 0).find(" 2147485547 far"), std::string::npos);
    EXPECT_EQ(ftp_time(year_int_max), "21474855471231235959");
}

TEST(FtpDataAddress, PortEprtAndTheBounceRule) {
    Address peer = parse_address("127.0.0.1", 40000);
    auto a = parse_port_arg("127,0,0,1,4,1");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->to_string(), "127.0.0.1:1025");
    EXPECT_EQ(check_active_target(*a, peer), ActiveCheck::ok);
    EXPECT_EQ(check_active_target(*parse_port_arg("127,0,0,1,0,80"), peer), ActiveCheck::privileged_port);
    EXPECT_EQ(check_active_target(*parse_port_arg("127,0,0,2,4,1"), peer), ActiveCheck::foreign_address);
    for (auto bad : {"127,0,0,1,4", "256,0,0,1,4,1", "a,b,c,d,e,f", "127,0,0,1,4,1,", ""})
        EXPECT_FALSE(parse_port_arg(bad)) << bad;
    bool supported = true;
    auto e = parse_eprt_arg("|2|::1|5282|", supported);
    ASSERT_TRUE(e);
    EXPECT_EQ(e->to_string(), "[::1]:5282");
    EXPECT_TRUE(parse_eprt_arg("!1!127.0.0.1!5000!", supported));  // any delimiter
    EXPECT_FALSE(parse_eprt_arg("|3|x|1|", supported));
    EXPECT_FALSE(supported);
    EXPECT_FALSE(parse_eprt_arg("|1|::1|5000|", supported));
    EXPECT_TRUE(supported);
    Address mapped = parse_address("::ffff:127.0.0.1", 40000);  // a dual-stack listener's view
    EXPECT_EQ(check_active_target(*a, mapped), ActiveCheck::ok);
    EXPECT_EQ(net_protocol(mapped), 1);
    EXPECT_EQ(*pasv_text(mapped, 40000), "Entering Passive Mode (127,0,0,1,156,64).");
    EXPECT_FALSE(pasv_text(parse_address("::1", 1), 40000));
    EXPECT_EQ(epsv_text(40000), "Entering Extended Passive Mode (|||40000|).");
}

TEST(FtpAuth, PlainAndHashedUsers) {
    Users users;
    users.add_plain("alice:s3cret:with:colons");
    EXPECT_TRUE(users.check("alice", "s3cret:with:colons"));
    EXPECT_FALSE(users.check("alice", "s3cret"));
    EXPECT_FALSE(users.check("alice", ""));
    EXPECT_FALSE(users.check("bob", "s3cret:with:colons"));
    auto data = std::make_unique<crypt_data>();
    std::string hash = crypt_rn("hunter2", "$6$saltsalt$", data.get(), sizeof *data);
    std::string file = testing::TempDir() + "ftp_users_" + std::to_string(::getpid());
    std::ofstream(file) << "# users\n\nbob:" << hash << "\n";
    users.load_file(file);
    EXPECT_TRUE(users.check("bob", "hunter2"));
    EXPECT_FALSE(users.check("bob", "hunter3"));
    EXPECT_FALSE(users.check("carol", "hunter2"));
    std::ofstream(file) << "no colon here\n";
    try {
        users.load_file(file);
        ADD_FAILURE() << "a bad users file must be refused";
    } catch (const std::runtime_error& e) {
        EXPECT_NE(std::string(e.what()).find(":1: "), std::string::npos) << e.what();
    }
    std::remove(file.c_str());
    EXPECT_THROW(users.add_plain("nocolon"), std::invalid_argument);
    EXPECT_THROW(users.add_plain("../evil:x"), std::invalid_argument);  // a name is a directory
    EXPECT_THROW(users.add_plain("pub:x"), std::invalid_argument);      // anonymous's root
    EXPECT_TRUE(constant_time_equal("abc", "abc"));
    EXPECT_FALSE(constant_time_equal("abc", "abcd"));
    EXPECT_FALSE(constant_time_equal("abcd", "abc"));
    EXPECT_FALSE(constant_time_equal("", "a"));
}

TEST(FtpRegistry, CountsPerAddressAndUser) {
    Limits limits;
    limits.max_sessions = 3;
    limits.max_per_address = 2;
    limits.max_per_user = 1;
    SessionRegistry reg(limits);
    Address a1 = parse_address("127.0.0.1", 1000), a2 = parse_address("::ffff:127.0.0.1", 1001);
    Address b = parse_address("127.0.0.2", 1000), c = parse_address("::1", 1000);
    EXPECT_TRUE(reg.open(a1));
    EXPECT_TRUE(reg.open(a2));   // the same host (IPv4-mapped), another port
    EXPECT_FALSE(reg.open(a1));  // a third from that host
    EXPECT_TRUE(reg.open(b));
    EXPECT_FALSE(reg.open(c));   // three in all
    reg.close(a1);
    EXPECT_TRUE(reg.open(c));
    EXPECT_EQ(reg.sessions(), 3u);
    EXPECT_TRUE(reg.login("alice"));
    EXPECT_FALSE(reg.login("alice"));
    reg.logout("alice");
    EXPECT_TRUE(reg.login("alice"));
}

TEST(FtpLimits, DefaultsServeAClassOnOneMachine) {
    Limits l;
    SessionRegistry reg(l);
    Address local = parse_address("127.0.0.1", 0);
    for (int i = 0; i < 1000; ++i) {  // the benchmark's idle sessions, all one user from one address
        ASSERT_TRUE(reg.open(local)) << i;
        ASSERT_TRUE(reg.login("student")) << i;
    }
    EXPECT_EQ(l.max_line, 4096u);
    EXPECT_EQ(l.max_login_failures, 3u);
}

int parse(Config& cfg, std::vector<std::string> args) {
    CLI::App app{"test", "test_ftp_server"};
    add_ftp_options(app, cfg);
    std::vector<char*> argv{const_cast<char*>("test_ftp_server")};
    for (auto& a : args) argv.push_back(a.data());
    return parse_command_line(app, static_cast<int>(argv.size()), argv.data());
}

TEST(FtpOptions, ParseAndRangeChecks) {
    Config cfg;
    cfg.server.port = 2121;
    EXPECT_EQ(parse(cfg, {"--root", "/tmp/r", "--user", "a:b", "--user", "c:d", "--anonymous", "--max-upload", "2M",
                          "--rate-limit", "100K", "--no-sendfile", "--max-per-address", "10", "--idle-timeout", "1.5"}),
              -1);
    EXPECT_EQ(cfg.root, "/tmp/r");
    EXPECT_EQ(cfg.user_entries.size(), 2u);
    EXPECT_TRUE(cfg.anonymous);
    EXPECT_FALSE(cfg.sendfile);
    EXPECT_EQ(cfg.limits.max_upload, 2u << 20);
    EXPECT_EQ(cfg.limits.rate_limit, 100u << 10);
    EXPECT_EQ(cfg.limits.max_per_address, 10u);
    EXPECT_DOUBLE_EQ(cfg.limits.idle_timeout, 1.5);
    EXPECT_EQ(cfg.server.port, 2121);
    EXPECT_TRUE(load_users(cfg).check("c", "d"));
    Config defaults;
    EXPECT_EQ(parse(defaults, {"--max-upload", "1T", "--transfer-buffer", "256K"}), -1);
    EXPECT_EQ(defaults.limits.max_upload, Limits{}.max_upload);  // the defaults --help shows are the real ones
    EXPECT_EQ(defaults.limits.transfer_buffer, Limits{}.transfer_buffer);
    EXPECT_TRUE(defaults.sendfile);
    for (std::vector<std::string> bad : std::vector<std::vector<std::string>>{
             {"--max-line", "10"}, {"--echo", "plain"}, {"--idle-timeout", "-1"}, {"--max-sessions", "0"},
             {"--login-failures", "0"}, {"--transfer-buffer", "1"}, {"--max-upload", "0"}, {"--no-sendfile=1"}}) {
        Config c;
        ::testing::internal::CaptureStderr();
        EXPECT_EQ(parse(c, bad), 2) << bad[0];
        ::testing::internal::GetCapturedStderr();
    }
}

}  // namespace
}  // namespace iom::ftp
