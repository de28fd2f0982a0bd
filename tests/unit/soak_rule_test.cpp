// The soak's verdict, fed numbers: the flatness rule (descriptors equal, memory
// within max(2 MiB, 10 %)) and everything else that fails a server, so the
// verdict `ioclient soak` prints can fail.
#include "client/soak/soak.hpp"

#include <gtest/gtest.h>

namespace iom::client {
namespace {

ProcSample sample(long fds, long memory_kib, long children = 0) {
    return ProcSample{.fds = fds, .children = children, .memory_kib = memory_kib, .threads = 1};
}

TEST(SoakFlatness, SameFiguresAreFlat) { EXPECT_EQ(flatness(sample(9, 4000), sample(9, 4000)), ""); }

TEST(SoakFlatness, MemoryMayGrowTwoMiBWhenTenPercentIsLess) {
    EXPECT_EQ(memory_bound_kib(4000), 4000 + 2048);
    EXPECT_EQ(flatness(sample(9, 4000), sample(9, 4000 + 2048)), "");
    std::string why = flatness(sample(9, 4000), sample(9, 4000 + 2049));
    EXPECT_NE(why.find("memory 4000 -> 6049 KiB, above 6048 KiB"), std::string::npos) << why;
}

TEST(SoakFlatness, MemoryMayGrowTenPercentWhenThatIsMore) {
    EXPECT_EQ(memory_bound_kib(100000), 110000);
    EXPECT_EQ(flatness(sample(9, 100000), sample(9, 110000)), "");
    EXPECT_NE(flatness(sample(9, 100000), sample(9, 110001)), "");
}

TEST(SoakFlatness, MemoryThatShrinksIsFlat) { EXPECT_EQ(flatness(sample(9, 9000), sample(9, 5000)), ""); }

TEST(SoakFlatness, OneDescriptorMoreOrLessIsNotFlat) {
    std::string why = flatness(sample(9, 4000), sample(10, 4000));
    EXPECT_NE(why.find("descriptors 9 -> 10"), std::string::npos) << why;
    EXPECT_NE(flatness(sample(9, 4000), sample(8, 4000)), "");
}

TEST(SoakFlatness, ALiveChildCountsAsADescriptor) {
    // The forking server: a child left serving is a client not let go.
    std::string why = flatness(sample(9, 4000), sample(9, 4000, 1));
    EXPECT_NE(why.find("descriptors 9 -> 10"), std::string::npos) << why;
}

TEST(SoakFlatness, BothFailuresAreNamed) {
    std::string why = flatness(sample(9, 4000), sample(12, 9000));
    EXPECT_NE(why.find("descriptors"), std::string::npos) << why;
    EXPECT_NE(why.find("memory"), std::string::npos) << why;
}

TEST(SoakFlatness, AMissingSampleIsNotFlat) {
    EXPECT_NE(flatness(ProcSample{}, sample(9, 4000)), "");
    EXPECT_NE(flatness(sample(9, 4000), ProcSample{}), "");
}

SoakServerResult clean() {
    SoakServerResult r;
    r.name = "x_server";
    r.start = sample(9, 4000);
    r.end = sample(9, 4100);
    r.exit_code = 0;
    r.loads[0].messages = 100;
    return r;
}

TEST(SoakVerdict, CleanFlatAndStoppedIsOk) { EXPECT_EQ(verdict(clean()), "ok"); }

TEST(SoakVerdict, EachFailureFailsTheServer) {
    auto r = clean();
    r.loads[2].failures = 1;
    EXPECT_NE(verdict(r).find("1 verification failures"), std::string::npos) << verdict(r);
    r = clean();
    r.loads[5].errors = 2;
    EXPECT_NE(verdict(r).find("2 connection errors"), std::string::npos) << verdict(r);
    r = clean();
    r.end.memory_kib = 9000;
    EXPECT_NE(verdict(r).find("not flat: memory"), std::string::npos) << verdict(r);
    r = clean();
    r.exit_code = 1;
    EXPECT_NE(verdict(r).find("exited with 1 on SIGTERM"), std::string::npos) << verdict(r);
    r = clean();
    r.exit_code = -1;
    EXPECT_NE(verdict(r).find("did not exit on SIGTERM"), std::string::npos) << verdict(r);
    r = clean();
    r.exit_code = 137;
    r.exited_early = true;
    EXPECT_EQ(verdict(r), "exited during the soak (137)");
    r = clean();
    r.start_error = "no ready line";
    EXPECT_EQ(verdict(r), "did not start: no ready line");
}

TEST(SoakVerdict, TheRunPassesOnlyIfEveryServerDoes) {
    SoakResult all;
    EXPECT_FALSE(passed(all));  // nothing soaked is not a pass
    all.servers = {clean(), clean()};
    EXPECT_TRUE(passed(all));
    all.servers[1].end.fds = 10;
    EXPECT_FALSE(passed(all));
}

}  // namespace
}  // namespace iom::client
