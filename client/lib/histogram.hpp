// A small log-linear latency histogram (header-only), in the spirit of
// HdrHistogram: recording is one bit scan, a shift and an increment, so the
// load generator can record every round trip without slowing down.
//
// Layout. Values below 2*kSub are counted exactly, one bucket each. Above,
// every power of two [2^k, 2^(k+1)) is cut into kSub equal buckets, so a
// bucket is never wider than 1/kSub of the values it holds. A percentile is
// reported as the middle of its bucket: the relative error is at most
// 1/(2*kSub) = 0.78% with kSub = 64 (and never above the exact maximum).
// Memory: (65 - kSubBits) * kSub counters, about 30 KiB.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <cstdint>

namespace iom::client {

class Histogram {
public:
    static constexpr unsigned kSubBits = 6;
    static constexpr std::uint64_t kSub = std::uint64_t{1} << kSubBits;  // buckets per power of two
    static constexpr std::size_t kBuckets = (65 - kSubBits) * kSub;  // up to 2^64 - 1

    void record(std::uint64_t v) noexcept {
        ++counts_[index(v)];
        ++count_;
        if (v > max_) max_ = v;
        if (v < min_) min_ = v;
        sum_ += static_cast<double>(v);
    }

    void merge(const Histogram& other) noexcept {
        for (std::size_t i = 0; i < kBuckets; ++i) counts_[i] += other.counts_[i];
        count_ += other.count_;
        max_ = std::max(max_, other.max_);
        min_ = std::min(min_, other.min_);
        sum_ += other.sum_;
    }

    std::uint64_t count() const noexcept { return count_; }
    std::uint64_t max() const noexcept { return max_; }  // exact
    std::uint64_t min() const noexcept { return count_ ? min_ : 0; }  // exact
    double mean() const noexcept { return count_ ? sum_ / static_cast<double>(count_) : 0.0; }

    // The value below which a fraction q (0..1) of the recorded values lie:
    // the smallest bucket whose cumulative count reaches ceil(q * count)
    // (the exact maximum for the last rank). 0 when nothing was recorded.
    double percentile(double q) const noexcept {
        if (count_ == 0) return 0.0;
        q = std::clamp(q, 0.0, 1.0);
        auto rank = static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_)));
        rank = std::clamp<std::uint64_t>(rank, 1, count_);
        if (rank == count_) return static_cast<double>(max_);  // the top is known exactly
        std::uint64_t seen = 0;
        for (std::size_t i = 0; i < kBuckets; ++i) {
            seen += counts_[i];
            if (seen >= rank) {
                double v = middle(i);
                return std::clamp(v, static_cast<double>(min_), static_cast<double>(max_));
            }
        }
        return static_cast<double>(max_);
    }

    // Which bucket holds v, and the range [low, low + width) of a bucket.
    static std::size_t index(std::uint64_t v) noexcept {
        if (v < 2 * kSub) return static_cast<std::size_t>(v);
        unsigned msb = 63u - static_cast<unsigned>(std::countl_zero(v));
        unsigned shift = msb - kSubBits;  // the bucket width in this octave is 2^shift
        return static_cast<std::size_t>((shift + 1) * kSub + ((v >> shift) - kSub));
    }
    static std::uint64_t bucket_low(std::size_t i) noexcept {
        if (i < 2 * kSub) return i;
        std::uint64_t shift = i / kSub - 1;
        return (kSub + i % kSub) << shift;
    }
    static std::uint64_t bucket_width(std::size_t i) noexcept {
        return i < 2 * kSub ? 1 : std::uint64_t{1} << (i / kSub - 1);
    }

private:
    static double middle(std::size_t i) noexcept {
        std::uint64_t w = bucket_width(i);
        return static_cast<double>(bucket_low(i)) + (w == 1 ? 0.0 : static_cast<double>(w - 1) / 2.0);
    }

    std::array<std::uint64_t, kBuckets> counts_{};
    std::uint64_t count_ = 0;
    std::uint64_t max_ = 0;
    std::uint64_t min_ = UINT64_MAX;
    double sum_ = 0;
};

}  // namespace iom::client
