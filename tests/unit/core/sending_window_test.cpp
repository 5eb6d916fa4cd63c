#include "core/sending_window.hpp"

#include <date/date.h>
#include <gtest/gtest.h>

namespace msgflash {
namespace {

using namespace std::chrono_literals;

// A UTC instant from its calendar fields.
timestamp utc(int y, unsigned mo, unsigned d, int h, int mi, int s = 0) {
    const auto day = date::sys_days{date::year{y} / date::month{mo} / date::day{d}};
    return timestamp{day + std::chrono::hours{h} + std::chrono::minutes{mi} + std::chrono::seconds{s}};
}

window_schedule make(std::string from, std::string to, std::string tz) {
    auto p = parse_window({std::move(from), std::move(to), std::move(tz)});
    EXPECT_TRUE(p.ok()) << p.field << ": " << p.error;
    return *p.schedule;
}

TEST(ClockTime, ParsesHoursAndMinutes) {
    EXPECT_EQ(parse_clock_time("00:00"), 0min);
    EXPECT_EQ(parse_clock_time("09:30"), 570min);
    EXPECT_EQ(parse_clock_time("23:59"), 1439min);
    for (auto bad : {"24:00", "9:30", "09:60", "0930", "09:3", " 09:30", "09:30 ", "ab:cd", ""}) {
        EXPECT_FALSE(parse_clock_time(bad)) << bad;
    }
}

TEST(SendingWindow, ValidationNamesTheField) {
    auto p = parse_window({"9:00", "20:00", "Europe/Paris"});
    EXPECT_FALSE(p.ok());
    EXPECT_EQ(p.field, "from");
    p = parse_window({"09:00", "25:00", "Europe/Paris"});
    EXPECT_EQ(p.field, "to");
    p = parse_window({"09:00", "09:00", "Europe/Paris"});
    EXPECT_EQ(p.field, "to");
    p = parse_window({"09:00", "20:00", "Europe/Atlantis"});
    EXPECT_EQ(p.field, "tz");
    EXPECT_NE(p.error.find("Europe/Atlantis"), std::string::npos);
    p = parse_window({"09:00", "20:00", ""});
    EXPECT_EQ(p.field, "tz");
    EXPECT_TRUE(parse_window({"09:00", "20:00", "UTC"}).ok());
    EXPECT_TRUE(parse_window({"22:00", "06:00", "America/New_York"}).ok());
}

TEST(SendingWindow, DaytimeWindowInUtc) {
    const auto w = make("09:00", "20:00", "UTC");
    EXPECT_FALSE(w.is_open(utc(2026, 6, 1, 8, 59, 59)));
    EXPECT_TRUE(w.is_open(utc(2026, 6, 1, 9, 0)));
    EXPECT_TRUE(w.is_open(utc(2026, 6, 1, 19, 59, 59)));
    EXPECT_FALSE(w.is_open(utc(2026, 6, 1, 20, 0)));
    EXPECT_EQ(w.next_open(utc(2026, 6, 1, 3, 0)), utc(2026, 6, 1, 9, 0));
    EXPECT_EQ(w.next_open(utc(2026, 6, 1, 12, 0)), utc(2026, 6, 1, 12, 0));
    EXPECT_EQ(w.next_open(utc(2026, 6, 1, 20, 0)), utc(2026, 6, 2, 9, 0));
    EXPECT_EQ(w.next_open(utc(2026, 12, 31, 21, 0)), utc(2027, 1, 1, 9, 0));
}

TEST(SendingWindow, WindowCrossingMidnight) {
    const auto w = make("22:00", "06:00", "UTC");
    EXPECT_TRUE(w.is_open(utc(2026, 6, 1, 23, 0)));
    EXPECT_TRUE(w.is_open(utc(2026, 6, 2, 0, 0)));
    EXPECT_TRUE(w.is_open(utc(2026, 6, 2, 5, 59)));
    EXPECT_FALSE(w.is_open(utc(2026, 6, 2, 6, 0)));
    EXPECT_FALSE(w.is_open(utc(2026, 6, 2, 21, 59)));
    EXPECT_EQ(w.next_open(utc(2026, 6, 2, 6, 0)), utc(2026, 6, 2, 22, 0));
    EXPECT_EQ(w.next_open(utc(2026, 6, 2, 1, 0)), utc(2026, 6, 2, 1, 0));
}

TEST(SendingWindow, ParisLocalHoursFollowSummerTime) {
    const auto w = make("09:00", "20:00", "Europe/Paris");
    // Winter: UTC+1; summer: UTC+2.
    EXPECT_EQ(w.next_open(utc(2026, 1, 15, 0, 0)), utc(2026, 1, 15, 8, 0));
    EXPECT_EQ(w.next_open(utc(2026, 7, 15, 0, 0)), utc(2026, 7, 15, 7, 0));
    // Clocks go forward on 2026-03-29 at 02:00 local (01:00 UTC): Saturday opens at 08:00 UTC, Sunday 07:00.
    EXPECT_EQ(w.next_open(utc(2026, 3, 28, 19, 0)), utc(2026, 3, 29, 7, 0));
    EXPECT_TRUE(w.is_open(utc(2026, 3, 28, 18, 59)));
    EXPECT_FALSE(w.is_open(utc(2026, 3, 28, 19, 0)));
    // Clocks go back on 2026-10-25 at 03:00 local (01:00 UTC).
    EXPECT_EQ(w.next_open(utc(2026, 10, 24, 18, 0)), utc(2026, 10, 25, 8, 0));
}

TEST(SendingWindow, OpeningInsideTheParisSpringGapOpensAtTheTransition) {
    // 02:30 does not exist on 2026-03-29 in Paris: the local clock jumps from 02:00 to 03:00 (01:00 UTC).
    const auto w = make("02:30", "05:00", "Europe/Paris");
    EXPECT_EQ(w.next_open(utc(2026, 3, 28, 23, 0)), utc(2026, 3, 29, 1, 0));
    // A window lying wholly inside the gap does not open that day, but the next.
    const auto gap = make("02:10", "02:50", "Europe/Paris");
    EXPECT_EQ(gap.next_open(utc(2026, 3, 28, 23, 0)), utc(2026, 3, 30, 0, 10));
}

TEST(SendingWindow, AmbiguousOpeningInTheParisAutumnOverlap) {
    // 02:00–03:00 local happens twice on 2026-10-25: first at UTC+2 (00:00–01:00 UTC), then at UTC+1.
    const auto w = make("02:40", "02:50", "Europe/Paris");
    EXPECT_EQ(w.next_open(utc(2026, 10, 24, 22, 0)), utc(2026, 10, 25, 0, 40));
    EXPECT_TRUE(w.is_open(utc(2026, 10, 25, 0, 45)));
    EXPECT_FALSE(w.is_open(utc(2026, 10, 25, 0, 55)));
    // Closed after the first pass; the clock comes round to 02:40 again one hour later.
    EXPECT_EQ(w.next_open(utc(2026, 10, 25, 0, 55)), utc(2026, 10, 25, 1, 40));
    EXPECT_EQ(w.next_open(utc(2026, 10, 25, 1, 55)), utc(2026, 10, 26, 1, 40));
}

TEST(SendingWindow, NewYorkNightWindowAcrossBothChanges) {
    const auto w = make("22:00", "06:00", "America/New_York");
    // 2026-03-08 02:00 EST -> 03:00 EDT (07:00 UTC). The night of 7–8 March is one hour shorter.
    EXPECT_TRUE(w.is_open(utc(2026, 3, 8, 3, 0)));                          // 22:00 EST
    EXPECT_TRUE(w.is_open(utc(2026, 3, 8, 9, 59)));                         // 05:59 EDT
    EXPECT_FALSE(w.is_open(utc(2026, 3, 8, 10, 0)));                        // 06:00 EDT
    EXPECT_EQ(w.next_open(utc(2026, 3, 8, 10, 0)), utc(2026, 3, 9, 2, 0));  // 22:00 EDT
    // 2026-11-01 02:00 EDT -> 01:00 EST (06:00 UTC). That night is one hour longer.
    EXPECT_TRUE(w.is_open(utc(2026, 11, 1, 10, 59)));                          // 05:59 EST
    EXPECT_FALSE(w.is_open(utc(2026, 11, 1, 11, 0)));                          // 06:00 EST
    EXPECT_EQ(w.next_open(utc(2026, 10, 31, 12, 0)), utc(2026, 11, 1, 2, 0));  // 22:00 EDT on the 31st
    EXPECT_EQ(w.next_open(utc(2026, 11, 1, 11, 0)), utc(2026, 11, 2, 3, 0));   // 22:00 EST
}

TEST(SendingWindow, NextOpenIsAlwaysOpenAndNeverEarly) {
    const auto w = make("08:15", "08:45", "America/New_York");
    for (auto t = utc(2026, 3, 1, 0, 0); t < utc(2026, 3, 20, 0, 0); t += 37min) {
        const auto n = w.next_open(t);
        EXPECT_GE(n, t);
        EXPECT_TRUE(w.is_open(n));
        EXPECT_LT(n - t, std::chrono::hours{48});
    }
}

}  // namespace
}  // namespace msgflash
