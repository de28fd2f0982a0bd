#include "common/buffer.hpp"

#include <gtest/gtest.h>

#include <string>

namespace iom {
namespace {

std::string str(std::span<char> s) { return {s.data(), s.size()}; }

TEST(ByteBuffer, StartsEmptyAndAllocatesNothingUntilUsed) {
    ByteBuffer b(16);
    EXPECT_TRUE(b.empty());
    EXPECT_FALSE(b.full());
    EXPECT_EQ(b.size(), 0u);
    EXPECT_EQ(b.capacity(), 16u);
    EXPECT_EQ(b.data().size(), 0u);
}

TEST(ByteBuffer, AppendIsBoundedByCapacity) {
    ByteBuffer b(8);
    EXPECT_EQ(b.append(std::string_view("hello")), 5u);
    EXPECT_EQ(b.append(std::string_view("world")), 3u);  // only 3 bytes of room were left
    EXPECT_TRUE(b.full());
    EXPECT_EQ(str(b.data()), "hellowor");
    EXPECT_EQ(b.append(std::string_view("x")), 0u);
    EXPECT_EQ(b.space().size(), 0u);
}

TEST(ByteBuffer, ConsumeKeepsTheUnsentRestInOrder) {
    ByteBuffer b(8);
    b.append(std::string_view("abcdefgh"));
    b.consume(3);  // a short send took 3 bytes
    EXPECT_EQ(str(b.data()), "defgh");
    EXPECT_FALSE(b.full());
    // Room at the front is reclaimed by moving the pending bytes down.
    auto room = b.space();
    EXPECT_EQ(room.size(), 3u);
    EXPECT_EQ(str(b.data()), "defgh");
    EXPECT_EQ(b.append(std::string_view("XYZ")), 3u);
    EXPECT_EQ(str(b.data()), "defghXYZ");
}

TEST(ByteBuffer, CommitAfterWritingIntoSpace) {
    ByteBuffer b(8);
    auto room = b.space();
    ASSERT_EQ(room.size(), 8u);
    room[0] = 'h';
    room[1] = 'i';
    auto added = b.commit(2);
    EXPECT_EQ(str(added), "hi");
    EXPECT_EQ(str(b.data()), "hi");
}

TEST(ByteBuffer, DrainingResetsToTheFront) {
    ByteBuffer b(4);
    b.append(std::string_view("abcd"));
    b.consume(4);
    EXPECT_TRUE(b.empty());
    EXPECT_EQ(b.space().size(), 4u);
}

}  // namespace
}  // namespace iom
