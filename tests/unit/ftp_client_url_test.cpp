// ftp:// URLs for ioclient ftp: users, passwords, ports, IPv6 hosts,
// percent-decoding, and the refusals that keep a URL from injecting commands.
#include "client/ftp/url.hpp"

#include <gtest/gtest.h>

#include <stdexcept>

using iom::client::ftp::parse_url;
using iom::client::ftp::percent_decode;

TEST(FtpClientUrl, FullUrl) {
    auto u = parse_url("ftp://alice:secret@127.0.0.1:2121/pub/file.bin");
    EXPECT_EQ(u.user, "alice");
    EXPECT_EQ(u.password, "secret");
    EXPECT_FALSE(u.anonymous);
    EXPECT_EQ(u.host, "127.0.0.1");
    EXPECT_EQ(u.port, 2121);
    EXPECT_EQ(u.path, "/pub/file.bin");
    EXPECT_EQ(u.basename(), "file.bin");
    EXPECT_EQ(u.to_string(), "ftp://alice@127.0.0.1:2121/pub/file.bin") << "never the password";
}

TEST(FtpClientUrl, AnonymousWithoutUserAndDefaults) {
    auto u = parse_url("FTP://example.org");
    EXPECT_TRUE(u.anonymous);
    EXPECT_EQ(u.user, "anonymous");
    EXPECT_FALSE(u.password.empty()) << "anonymous logins send an e-mail-like password";
    EXPECT_EQ(u.host, "example.org");
    EXPECT_EQ(u.port, 21);
    EXPECT_EQ(u.path, "/");
    EXPECT_EQ(u.basename(), "");
}

TEST(FtpClientUrl, UserWithoutPassword) {
    auto u = parse_url("ftp://bob@h/d/");
    EXPECT_EQ(u.user, "bob");
    EXPECT_EQ(u.password, "");
    EXPECT_EQ(u.path, "/d/");
    EXPECT_EQ(u.basename(), "") << "a path ending in '/' is a directory";
}

TEST(FtpClientUrl, PercentDecoding) {
    // '@' and ':' in a password, a space and a '#' in the path.
    auto u = parse_url("ftp://us%65r:p%40ss%3Aword@[::1]:2121/a%20dir/x%23y");
    EXPECT_EQ(u.user, "user");
    EXPECT_EQ(u.password, "p@ss:word");
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 2121);
    EXPECT_EQ(u.path, "/a dir/x#y");
    EXPECT_EQ(u.to_string(), "ftp://user@[::1]:2121/a dir/x#y");
    EXPECT_EQ(percent_decode("%41b%2f%2F"), "Ab//");
}

TEST(FtpClientUrl, PasswordWithRawAtSplitsAtTheLastAt) {
    auto u = parse_url("ftp://a:b@c@host/");
    EXPECT_EQ(u.password, "b@c");
    EXPECT_EQ(u.host, "host");
}

TEST(FtpClientUrl, Ipv6WithoutPort) {
    auto u = parse_url("ftp://[::1]/x");
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 21);
}

TEST(FtpClientUrl, BadUrlsSayWhatIsWrong) {
    auto message = [](const char* text) {
        try {
            parse_url(text);
        } catch (const std::invalid_argument& e) {
            return std::string(e.what());
        }
        return std::string("(accepted)");
    };
    EXPECT_NE(message("http://h/x").find("not an ftp:// URL"), std::string::npos);
    EXPECT_NE(message("ftp:/h/x").find("not an ftp:// URL"), std::string::npos);
    EXPECT_NE(message("ftp:///x").find("names no host"), std::string::npos);
    EXPECT_NE(message("ftp://h:0/").find("bad port"), std::string::npos);
    EXPECT_NE(message("ftp://h:65536/").find("bad port"), std::string::npos);
    EXPECT_NE(message("ftp://h:21x/").find("bad port"), std::string::npos);
    EXPECT_NE(message("ftp://h:/").find("bad port"), std::string::npos);
    EXPECT_NE(message("ftp://[::1/").find("closing ']'"), std::string::npos);
    EXPECT_NE(message("ftp://[::1]x/").find("after the host"), std::string::npos);
    EXPECT_NE(message("ftp://h/%4").find("bad percent escape"), std::string::npos);
    EXPECT_NE(message("ftp://h/%zz").find("bad percent escape"), std::string::npos);
    EXPECT_NE(message("ftp://:pw@h/").find("user name"), std::string::npos);
}

// Found by the client_url fuzz target (tests/fuzz): the error quoted the URL as it was, so a
// URL holding a line end gave an error of two lines (url.hpp promises one).
TEST(FtpClientUrl, AnErrorIsOneLineWhateverTheUrlHolds) {
    for (const char* text : {"ftp\n://h/", "ftp://h:2\r\n1/", "ftp://[::1]\nx/", "ftp://h/%\n1", "\x1b[2Jftp://h/"}) {
        try {
            parse_url(text);
            ADD_FAILURE() << "accepted: " << text;
        } catch (const std::invalid_argument& e) {
            std::string what = e.what();
            EXPECT_EQ(what.find_first_of("\r\n\x1b"), std::string::npos) << what;
        }
    }
}

TEST(FtpClientUrl, RefusesCommandInjection) {
    // A decoded CR LF would end RETR and start another command.
    EXPECT_THROW(parse_url("ftp://h/x%0D%0ADELE%20y"), std::invalid_argument);
    EXPECT_THROW(parse_url("ftp://u%0A:p@h/"), std::invalid_argument);
    EXPECT_THROW(parse_url("ftp://u:p%00@h/"), std::invalid_argument);
}
