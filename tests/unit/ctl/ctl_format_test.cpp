// msgflashctl's output: table layout, durations, the bar (the CSV of export: tests/unit/report).
#include "daemon/ctl_format.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

namespace msgflash::ctl {
namespace {

TEST(CtlTable, PadsColumnsAndAlignsNumbers) {
    table t({{"NAME"}, {"N", table::align::right}});
    t.add_row({"shop", "5"});
    t.add_row({"agency-é", "1234"});
    t.add_row({"x"});  // a missing cell is blank
    EXPECT_EQ(t.render(),
              "NAME         N\n"
              "shop         5\n"
              "agency-é  1234\n"
              "x\n");
    EXPECT_EQ(display_width("agency-é"), 8u);
}

TEST(CtlDurations, TwoUnitsAtMost) {
    using std::chrono::seconds;
    EXPECT_EQ(short_duration(seconds{0}), "0s");
    EXPECT_EQ(short_duration(seconds{-5}), "0s");
    EXPECT_EQ(short_duration(seconds{45}), "45s");
    EXPECT_EQ(short_duration(seconds{200}), "3m20s");
    EXPECT_EQ(short_duration(seconds{2 * 3600 + 5 * 60 + 59}), "2h05m");
    EXPECT_EQ(short_duration(seconds{3 * 86400 + 4 * 3600}), "3d04h");
}

TEST(CtlTimes, UtcSeconds) {
    EXPECT_EQ(utc_time(from_millis(1'795'766'400'999)), "2026-11-27T08:00:00Z");
    EXPECT_EQ(rate_text(12.34), "12.3/s");
    EXPECT_EQ(rate_text(std::nullopt), "-");
    EXPECT_EQ(rate_text(0.05), "3.0/min");
    EXPECT_EQ(rate_text(1000.0 / 86400.0), "41.7/h");
    EXPECT_EQ(rate_text(0.0), "0.0/s");
}

TEST(CtlProgress, BarFillsWithTheShareDone) {
    EXPECT_EQ(progress_line(432, 1000, 12.0, std::chrono::seconds{47}, 10),
              "[####......]  432/1000  43.2%  12.0/s  ETA 47s");
    EXPECT_EQ(progress_line(0, 0, std::nullopt, std::nullopt, 4), "[####]  0/0  100.0%  -  ETA -");
    EXPECT_EQ(progress_line(5, 4, std::nullopt, std::nullopt, 4), "[####]  5/4  100.0%  -  ETA -");
}

}  // namespace
}  // namespace msgflash::ctl
