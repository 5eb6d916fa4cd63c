#include "engine/send_lateness.hpp"

#include <chrono>

#include <gtest/gtest.h>

namespace msgflash::engine {
namespace {

using namespace std::chrono_literals;

TEST(LatenessHistogram, EmptyReportsZero) {
    const lateness_histogram h;
    EXPECT_EQ(h.count(), 0u);
    EXPECT_EQ(h.quantile(0.5), 0ns);
    EXPECT_EQ(h.quantile(0.99), 0ns);
    EXPECT_EQ(h.max(), 0ns);
}

TEST(LatenessHistogram, QuantilesAreTheBucketUpperBoundWithinAQuarterOctave) {
    lateness_histogram h;
    // 98 sends 100 µs late, one 3 ms late, one 40 ms late.
    for (int i = 0; i < 98; ++i) {
        h.add(100us);
    }
    h.add(3ms);
    h.add(40ms);
    EXPECT_EQ(h.count(), 100u);
    EXPECT_EQ(h.max(), 40ms);
    // 100 µs falls in [96, 111] µs (64 + 2 × 16 .. 64 + 3 × 16 - 1).
    EXPECT_GE(h.quantile(0.5), 100us);
    EXPECT_LE(h.quantile(0.5), 111us);
    EXPECT_GE(h.quantile(0.98), 100us);
    EXPECT_LE(h.quantile(0.98), 111us);
    // The 99th of 100 is the 3 ms send: at least 3 ms, less than 3 ms × 1.25.
    EXPECT_GE(h.quantile(0.99), 3ms);
    EXPECT_LT(h.quantile(0.99), 3750us);
    // The top quantile never exceeds the largest value seen.
    EXPECT_EQ(h.quantile(1.0), 40ms);
}

TEST(LatenessHistogram, EarlyOrOnTimeCountsAsZeroAndHugeValuesStayInTheLastBucket) {
    lateness_histogram h;
    h.add(-5ms);
    h.add(0ns);
    h.add(999ns);  // below one microsecond
    EXPECT_EQ(h.quantile(1.0), 0ns);
    h.add(std::chrono::hours(24 * 400));
    EXPECT_EQ(h.count(), 4u);
    EXPECT_EQ(h.quantile(1.0), std::chrono::hours(24 * 400));
    EXPECT_EQ(h.quantile(0.75), 0ns);
}

}  // namespace
}  // namespace msgflash::engine
