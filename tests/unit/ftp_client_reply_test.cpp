// FTP replies as the client reads them: single and multi-line (RFC 959
// 4.2), split anywhere by TCP, and lines that are not replies.
#include "client/ftp/client.hpp"
#include "client/ftp/reply.hpp"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

using iom::client::ftp::ReplyParser;

TEST(FtpClientReply, SingleLine) {
    ReplyParser p;
    p.feed("220 Service ready\r\n");
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 220);
    EXPECT_EQ(r->kind(), 2);
    EXPECT_EQ(r->text, "220 Service ready");
    EXPECT_EQ(r->last_line(), "220 Service ready");
    EXPECT_FALSE(p.next());
}

TEST(FtpClientReply, MultiLineEndsAtSameCodeAndSpace) {
    ReplyParser p;
    // Lines inside may start with digits, even another code, or the same
    // code followed by '-': only "211 " ends it.
    p.feed("211-Features:\r\n EPSV\r\n230 not the end\r\n211-still not\r\n211 End\r\n200 next\r\n");
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 211);
    EXPECT_EQ(r->text, "211-Features:\n EPSV\n230 not the end\n211-still not\n211 End");
    EXPECT_EQ(r->last_line(), "211 End");
    auto next = p.next();
    ASSERT_TRUE(next);
    EXPECT_EQ(next->code, 200);
}

TEST(FtpClientReply, SplitAnywhere) {
    const std::string wire = "150-Opening\r\n data\r\n150 connection\r\n226 Done\r\n";
    for (std::size_t cut = 1; cut < wire.size(); ++cut) {
        ReplyParser p;
        p.feed(wire.substr(0, cut));
        auto first = p.next();
        p.feed(wire.substr(cut));
        if (!first) first = p.next();
        ASSERT_TRUE(first) << "cut at " << cut;
        EXPECT_EQ(first->code, 150);
        EXPECT_EQ(first->last_line(), "150 connection");
        auto second = p.next();
        ASSERT_TRUE(second) << "cut at " << cut;
        EXPECT_EQ(second->code, 226);
        EXPECT_FALSE(p.next());
    }
}

TEST(FtpClientReply, BareLineFeedsAndBareCode) {
    ReplyParser p;
    p.feed("331 Password\n230-a\n230\n");
    EXPECT_EQ(p.next()->code, 331);
    auto r = p.next();
    ASSERT_TRUE(r);
    EXPECT_EQ(r->text, "230-a\n230");
}

TEST(FtpClientReply, NotAReplyThrows) {
    for (const char* bad : {"hello\r\n", "22 short\r\n", "2200 long\r\n", "099 low\r\n", "600 high\r\n", "220x\r\n"}) {
        ReplyParser p;
        p.feed(bad);
        EXPECT_THROW(p.next(), std::runtime_error) << bad;
    }
}

TEST(FtpClientReply, EndlessReplyThrows) {
    ReplyParser p;
    p.feed("211-start\r\n");
    std::string filler(1000, 'x');
    filler += "\r\n";
    for (int i = 0; i < 100; ++i) p.feed(filler);
    EXPECT_THROW(p.next(), std::runtime_error);
    ReplyParser q;
    q.feed(std::string(ReplyParser::kMaxReply + 1, '2'));
    EXPECT_THROW(q.next(), std::runtime_error);
}

TEST(FtpClientReply, PassivePorts) {
    using iom::client::ftp::passive_port;
    using iom::client::ftp::Reply;
    EXPECT_EQ(passive_port(Reply{229, "229 Entering Extended Passive Mode (|||6446|)"}), 6446);
    EXPECT_EQ(passive_port(Reply{229, "229 ok (!!!21!)"}), 21) << "any delimiter";
    EXPECT_EQ(passive_port(Reply{227, "227 Entering Passive Mode (127,0,0,1,25,46)."}), 25 * 256 + 46);
    EXPECT_EQ(passive_port(Reply{227, "227 =10,1,2,3,4,5"}), 4 * 256 + 5) << "no parentheses (RFC 1123 allows it)";
    for (const Reply& bad : {Reply{229, "229 (|||0|)"}, Reply{229, "229 (|||70000|)"}, Reply{229, "229 (||6446|)"},
                             Reply{227, "227 (127,0,0,1,25)"}, Reply{227, "227 (127,0,0,1,300,1)"},
                             Reply{200, "200 (|||6446|)"}})
        EXPECT_FALSE(passive_port(bad)) << bad.text;
    // Found by the client_reply fuzz target (tests/fuzz): with NUL as the delimiter, a reply
    // without its closing one was read to the string's terminating NUL and accepted.
    EXPECT_FALSE(passive_port(Reply{229, std::string("229 (\0\0\0" "123", 11)}));
    EXPECT_EQ(passive_port(Reply{229, std::string("229 (\0\0\0" "123\0)", 13)}), 123);
}
