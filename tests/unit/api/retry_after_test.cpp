#include "core/retry_after.hpp"

#include <chrono>
#include <string>

#include <gtest/gtest.h>

namespace msgflash {
namespace {

using namespace std::chrono;

// 1994-11-06T08:49:37Z, the RFC's example date, plus a quarter second: parsing must round up, not down.
const system_clock::time_point rfc_example = sys_days{year{1994} / November / 6} + 8h + 49min + 37s;
const system_clock::time_point now = rfc_example + 250ms;

TEST(RetryAfter, DeltaSeconds) {
    EXPECT_EQ(parse_retry_after("0", now), 0s);
    EXPECT_EQ(parse_retry_after("1", now), 1s);
    EXPECT_EQ(parse_retry_after("120", now), 120s);
    EXPECT_EQ(parse_retry_after("007", now), 7s);
    EXPECT_EQ(parse_retry_after("  30\t", now), 30s);
}

TEST(RetryAfter, HugeDeltaIsClamped) {
    EXPECT_EQ(parse_retry_after("2147483647", now), 2147483647s);
    EXPECT_EQ(parse_retry_after("2147483648", now), max_retry_after);
    EXPECT_EQ(parse_retry_after("99999999999999999999999999999999", now), max_retry_after);
}

TEST(RetryAfter, ImfFixdate) {
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now), 10s);  // 9.75 s away: rounds up
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:38 GMT", now), 1s);
    EXPECT_EQ(parse_retry_after("Mon, 07 Nov 1994 08:49:37 GMT", now), 24h);
}

TEST(RetryAfter, PastOrPresentDateMeansNoWait) {
    EXPECT_EQ(parse_retry_after("Sun, 06 Nov 1994 08:49:37 GMT", now), 0s);
    EXPECT_EQ(parse_retry_after("Sat, 05 Nov 1994 08:49:37 GMT", now), 0s);
    EXPECT_EQ(parse_retry_after("Thu, 01 Jan 1970 00:00:00 GMT", now), 0s);
}

TEST(RetryAfter, FarFutureDateIsClampedWithoutOverflow) {
    EXPECT_EQ(parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now), max_retry_after);
}

TEST(RetryAfter, ObsoleteFormats) {
    EXPECT_EQ(parse_retry_after("Sunday, 06-Nov-94 08:49:47 GMT", now), 10s);  // RFC 850
    EXPECT_EQ(parse_retry_after("Sun Nov  6 08:49:47 1994", now), 10s);        // asctime, one-digit day
    EXPECT_EQ(parse_retry_after("Sun Nov 16 08:49:37 1994", now), 240h);       // asctime, two-digit day
}

TEST(RetryAfter, Rfc850TwoDigitYears) {
    const system_clock::time_point in_2026 = sys_days{year{2026} / January / 1};
    // 26 → 2026 (this year), 76 → 2076 (50 years ahead: still the future), 77 → 1977 (more than 50 ahead).
    EXPECT_EQ(parse_http_date("Friday, 02-Jan-26 00:00:00 GMT", in_2026), sys_days{year{2026} / January / 2});
    EXPECT_EQ(parse_http_date("Thursday, 01-Jan-76 00:00:00 GMT", in_2026),
              sys_days{year{2076} / January / 1});
    EXPECT_EQ(parse_http_date("Saturday, 01-Jan-77 00:00:00 GMT", in_2026),
              sys_days{year{1977} / January / 1});
}

TEST(RetryAfter, Garbage) {
    for (const char* bad : {"",
                            " ",
                            "-1",
                            "+5",
                            "1.5",
                            "5s",
                            "1e3",
                            "0x10",
                            "soon",
                            "12 34",
                            "Sun, 06 Nov 1994 08:49:37",        // no zone
                            "Sun, 06 Nov 1994 08:49:37 UTC",    // GMT only
                            "sun, 06 Nov 1994 08:49:37 GMT",    // names are case-sensitive
                            "Sun, 6 Nov 1994 08:49:37 GMT",     // two-digit day in IMF-fixdate
                            "Sun, 06 Nov 94 08:49:37 GMT",      // four-digit year in IMF-fixdate
                            "Sun, 31 Feb 1994 08:49:37 GMT",    // no such day
                            "Sun, 06 Nov 1994 24:00:00 GMT",    // no such hour
                            "Sun, 06 Nov 1994 08:61:00 GMT",    // no such minute
                            "Sun, 06 Foo 1994 08:49:37 GMT",    // no such month
                            "Xyz, 06 Nov 1994 08:49:37 GMT",    // no such day name
                            "Sun, 06 Nov 1994 08:49:37 GMT x",  // trailing text
                            "Sunday, 06-Nov-1994 08:49:37 GMT",
                            "Sun Nov 6 08:49:37 1994"}) {
        EXPECT_EQ(parse_retry_after(bad, now), std::nullopt) << '"' << bad << '"';
    }
}

TEST(RetryAfter, LeapSecondIsAccepted) {
    EXPECT_TRUE(parse_http_date("Sat, 31 Dec 2016 23:59:60 GMT", now).has_value());
}

}  // namespace
}  // namespace msgflash
