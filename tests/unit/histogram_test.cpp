#include "client/lib/histogram.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace iom::client {
namespace {

TEST(Histogram, EmptyReportsZero) {
    Histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.percentile(0.5), 0.0);
    EXPECT_EQ(h.max(), 0u);
    EXPECT_EQ(h.min(), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
    for (std::uint64_t v = 0; v < 2 * Histogram::kSub; ++v) {
        Histogram h;
        h.record(v);
        h.record(100000);  // p50 is then v's bucket, not the exact maximum
        EXPECT_EQ(h.percentile(0.5), static_cast<double>(v));
    }
}

TEST(Histogram, BucketsTileTheRangeWithoutGapsOrOverlaps) {
    for (std::size_t i = 0; i + 1 < Histogram::kBuckets; ++i) {
        ASSERT_EQ(Histogram::bucket_low(i) + Histogram::bucket_width(i), Histogram::bucket_low(i + 1)) << i;
        ASSERT_EQ(Histogram::index(Histogram::bucket_low(i)), i);
        ASSERT_EQ(Histogram::index(Histogram::bucket_low(i + 1) - 1), i);
    }
    EXPECT_EQ(Histogram::index(UINT64_MAX), Histogram::kBuckets - 1);
}

// One value alone: what comes back is within 1/128 of it, from 1 ns to hours.
TEST(Histogram, RelativeErrorStaysBelowOnePercentAcrossTheRange) {
    std::mt19937_64 rng(7);
    for (int i = 0; i < 20000; ++i) {
        auto v = static_cast<std::uint64_t>(std::exp2(std::uniform_real_distribution<double>(0, 44)(rng)));
        Histogram h;
        h.record(v);
        h.record(v + v / 3 + 10);  // a larger one, so p50 is not simply clamped to max
        double got = h.percentile(0.5);
        ASSERT_LE(std::abs(got - static_cast<double>(v)), static_cast<double>(v) / 128.0 + 1e-9) << v;
    }
}

TEST(Histogram, PercentilesOfAUniformSpread) {
    Histogram h;
    for (std::uint64_t v = 1; v <= 100000; ++v) h.record(v);
    auto near = [](double got, double want) { return std::abs(got - want) <= want * 0.015; };
    EXPECT_TRUE(near(h.percentile(0.50), 50000)) << h.percentile(0.50);
    EXPECT_TRUE(near(h.percentile(0.99), 99000)) << h.percentile(0.99);
    EXPECT_TRUE(near(h.percentile(0.999), 99900)) << h.percentile(0.999);
    EXPECT_EQ(h.max(), 100000u);
    EXPECT_EQ(h.min(), 1u);
    EXPECT_DOUBLE_EQ(h.mean(), 50000.5);
}

TEST(Histogram, TailPercentilesSeeTheOutliers) {
    Histogram h;
    for (int i = 0; i < 9980; ++i) h.record(1000);  // 99.8% fast
    for (int i = 0; i < 20; ++i) h.record(50000);   // 0.2% slow
    EXPECT_NEAR(h.percentile(0.50), 1000, 10);
    EXPECT_NEAR(h.percentile(0.99), 1000, 10);
    EXPECT_NEAR(h.percentile(0.999), 50000, 500);
    EXPECT_EQ(h.max(), 50000u);
}

TEST(Histogram, PercentilesAreOrderedAndNeverAboveMax) {
    std::mt19937_64 rng(3);
    std::lognormal_distribution<double> d(10, 2);
    Histogram h;
    for (int i = 0; i < 50000; ++i) h.record(static_cast<std::uint64_t>(d(rng)));
    double p50 = h.percentile(0.5), p99 = h.percentile(0.99), p999 = h.percentile(0.999);
    EXPECT_LE(p50, p99);
    EXPECT_LE(p99, p999);
    EXPECT_LE(p999, static_cast<double>(h.max()));
    EXPECT_EQ(h.percentile(1.0), static_cast<double>(h.max()));
}

TEST(Histogram, MergeEqualsRecordingEverythingInOne) {
    Histogram a, b, all;
    std::mt19937_64 rng(11);
    for (int i = 0; i < 10000; ++i) {
        std::uint64_t v = rng() % 1'000'000;
        (i % 3 ? a : b).record(v);
        all.record(v);
    }
    a.merge(b);
    EXPECT_EQ(a.count(), all.count());
    EXPECT_EQ(a.max(), all.max());
    EXPECT_EQ(a.min(), all.min());
    for (double q : {0.1, 0.5, 0.9, 0.99, 0.999}) EXPECT_EQ(a.percentile(q), all.percentile(q)) << q;
}

}  // namespace
}  // namespace iom::client
