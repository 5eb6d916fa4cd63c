#include "core/duration.hpp"

#include <gtest/gtest.h>

namespace msgflash {
namespace {

using namespace std::chrono_literals;

TEST(Duration, ParsesEachUnit) {
    EXPECT_EQ(parse_duration("250ms"), 250ms);
    EXPECT_EQ(parse_duration("2s"), 2s);
    EXPECT_EQ(parse_duration("5m"), 5min);
    EXPECT_EQ(parse_duration("24h"), 24h);
    EXPECT_EQ(parse_duration("7d"), 7 * 24h);
    EXPECT_EQ(parse_duration("0s"), 0ms);
}

TEST(Duration, ParsesSums) {
    EXPECT_EQ(parse_duration("1h30m"), 90min);
    EXPECT_EQ(parse_duration("1m30s500ms"), 90500ms);
}

TEST(Duration, RefusesMalformedText) {
    for (const char* bad : {"", "2", "s", "2x", "2 s", " 2s", "2s ", "-2s", "2.5s", "1h30", "ms", "2S",
                            "99999999999999999999s", "9223372036854775807d"}) {
        EXPECT_FALSE(parse_duration(bad).has_value()) << '"' << bad << '"';
    }
}

TEST(Duration, FormatsReadBack) {
    for (auto d : {0ms, 1ms, 999ms, 1000ms, 90500ms, std::chrono::milliseconds(24h),
                   std::chrono::milliseconds(36h + 1ms)}) {
        const auto text = format_duration(d);
        EXPECT_EQ(parse_duration(text), d) << text;
    }
    EXPECT_EQ(format_duration(90s), "1m30s");
    EXPECT_EQ(format_duration(0ms), "0s");
    EXPECT_EQ(format_duration(48h), "2d");
}

}  // namespace
}  // namespace msgflash
