#include "common/net.hpp"
#include "common/trace.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iom {
namespace {
struct Loud {
    static inline int formatted = 0;
};

}  // namespace
}  // namespace iom

template <>
struct fmt::formatter<iom::Loud> : fmt::formatter<int> {
    auto format(const iom::Loud&, fmt::format_context& ctx) const {
        ++iom::Loud::formatted;
        return fmt::formatter<int>::format(1, ctx);
    }
};

namespace iom {
namespace {

TEST(Trace, SilentWhenOffAndTimestampedWhenOn) {
    enable_trace(false);
    ::testing::internal::CaptureStderr();
    trace("recv(fd {}) blocks", 5);
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");

    enable_trace(true);
    ::testing::internal::CaptureStderr();
    trace("recv(fd {}) blocks", 5);
    std::string out = ::testing::internal::GetCapturedStderr();
    enable_trace(false);
    EXPECT_EQ(out.front(), '[');
    EXPECT_NE(out.find("] recv(fd 5) blocks\n"), std::string::npos) << out;
}

TEST(Trace, ArgumentsAreNotFormattedWhenOff) {
    enable_trace(false);
    // A type whose formatting is observable: with trace off, it never runs.
    ::testing::internal::CaptureStderr();
    trace("{}", Loud{});
    EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
    EXPECT_EQ(Loud::formatted, 0);
}

TEST(Trace, PeerOfFormatsThePeerOnlyWhenTraced) {
    Fd l = listen_tcp(parse_address("127.0.0.1", 0), 4, false);
    Fd c = connect_tcp(local_address(l.get()));
    enable_trace(true);
    ::testing::internal::CaptureStderr();
    trace("peer {}", PeerOf{c.get()});
    std::string out = ::testing::internal::GetCapturedStderr();
    enable_trace(false);
    EXPECT_NE(out.find("peer " + local_address(l.get()).to_string()), std::string::npos) << out;
}

}  // namespace
}  // namespace iom
