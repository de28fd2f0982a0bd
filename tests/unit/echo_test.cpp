#include "client/lib/connection.hpp"
#include "common/echo.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace iom {
namespace {

TEST(EchoTransform, UpperCasesAsciiLettersOnly) {
    std::string s = "hello, World! 123 z a{`";
    echo_transform(EchoMode::upper, s);
    EXPECT_EQ(s, "HELLO, WORLD! 123 Z A{`");
}

TEST(EchoTransform, LeavesEveryNonLetterByteAlone) {
    for (int b = 0; b < 256; ++b) {
        std::string s(1, static_cast<char>(b));
        echo_transform(EchoMode::upper, s);
        char want = (b >= 'a' && b <= 'z') ? static_cast<char>(b - 32) : static_cast<char>(b);
        EXPECT_EQ(s[0], want) << "byte " << b;
    }
}

TEST(EchoTransform, PlainReturnsBytesUnchanged) {
    std::string s = "hello\xff\x00world";
    std::string copy = s;
    echo_transform(EchoMode::plain, s);
    EXPECT_EQ(s, copy);
}

TEST(EchoTransform, AnySplitGivesTheSameResult) {
    std::string whole = client::random_bytes(1000, 1);
    std::string expect = client::expected_echo(EchoMode::upper, whole);
    for (std::size_t cut : {0u, 1u, 499u, 999u, 1000u}) {
        std::string a = whole.substr(0, cut), b = whole.substr(cut);
        echo_transform(EchoMode::upper, a);
        echo_transform(EchoMode::upper, b);
        EXPECT_EQ(a + b, expect);
    }
}

TEST(SimulateWork, SpinsAtLeastTheRequestedTime) {
    auto t0 = std::chrono::steady_clock::now();
    simulate_work(2000);
    EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::microseconds(2000));
}

TEST(RandomBytes, IsDeterministicPerSeedAndCoversAllByteValues) {
    EXPECT_EQ(client::random_bytes(100, 7), client::random_bytes(100, 7));
    EXPECT_NE(client::random_bytes(100, 7), client::random_bytes(100, 8));
    std::string s = client::random_bytes(1 << 16, 3);
    bool seen[256] = {};
    for (char c : s) seen[static_cast<unsigned char>(c)] = true;
    for (int b = 0; b < 256; ++b) EXPECT_TRUE(seen[b]) << b;
}

}  // namespace
}  // namespace iom
