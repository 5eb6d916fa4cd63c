#include "core/number_caps.hpp"

#include <string>

#include <gtest/gtest.h>

namespace msgflash {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
using namespace std::chrono_literals;

// 2024-03-10 12:00:00 UTC.
const timestamp noon = timestamp{std::chrono::sys_days{std::chrono::year{2024} / 3 / 10}} + hours{12};

const send_caps warmup{.per_minute = 20, .per_hour = 200, .per_day = 1'000, .min_interval = seconds{3}};

health_signals report(safety_level s, std::optional<double> score = std::nullopt) {
    return health_signals{.safety = s, .score = score, .warmup = warmup};
}

TEST(NumberCaps, EachSafetyStateScalesTheWarmUpPolicy) {
    struct row {
        safety_level state;
        send_caps expected;
    };
    const row rows[] = {
        {safety_level::healthy, warmup},
        {safety_level::warning,
         {.per_minute = 10, .per_hour = 100, .per_day = 500, .min_interval = seconds{6}}},
        {safety_level::at_risk,
         {.per_minute = 5, .per_hour = 50, .per_day = 250, .min_interval = seconds{12}}},
    };
    for (const row& r : rows) {
        number_caps n;
        n.observe(report(r.state), noon);
        EXPECT_EQ(n.caps({}, noon), r.expected) << to_string(r.state);
        EXPECT_FALSE(next_send_time(n.caps({}, noon), {}, std::nullopt, std::nullopt, noon).paused());
    }
    number_caps critical;
    critical.observe(report(safety_level::critical), noon);
    EXPECT_TRUE(critical.caps({}, noon).paused);
    const send_gate gate = next_send_time(critical.caps({}, noon), {}, std::nullopt, std::nullopt, noon);
    EXPECT_TRUE(gate.paused());
    EXPECT_EQ(gate.limit, send_limit::paused);
}

TEST(NumberCaps, PartialOrMissingWarmUpFallsBackToTheOperatorCaps) {
    const send_caps op{.per_hour = 150, .min_interval = seconds{2}};
    number_caps none;
    none.observe(health_signals{.safety = safety_level::healthy}, noon);  // warmupPolicy null
    EXPECT_EQ(none.caps(op, noon), op);

    number_caps partial;
    partial.observe(health_signals{.safety = safety_level::healthy, .warmup = send_caps{.per_day = 400}},
                    noon);
    EXPECT_EQ(partial.caps(op, noon),
              (send_caps{.per_hour = 150, .per_day = 400, .min_interval = seconds{2}}));

    // Nothing known at all (no report yet, no operator caps): no per-number limit, only the key's pace.
    number_caps fresh;
    EXPECT_EQ(fresh.caps({}, noon), send_caps{});
    EXPECT_EQ(next_send_time(fresh.caps({}, noon), {}, std::nullopt, std::nullopt, noon), (send_gate{noon}));
}

TEST(NumberCaps, TheTighterOfWarmUpAndOperatorCapsFieldByField) {
    number_caps n;
    n.observe(report(safety_level::healthy), noon);
    const send_caps tight{.per_minute = 5, .per_hour = 1'000, .min_interval = seconds{10}};
    EXPECT_EQ(n.caps(tight, noon),
              (send_caps{.per_minute = 5, .per_hour = 200, .per_day = 1'000, .min_interval = seconds{10}}));
    const send_caps loose{
        .per_minute = 100, .per_hour = 5'000, .per_day = 50'000, .min_interval = seconds{1}};
    EXPECT_EQ(n.caps(loose, noon), warmup);
    // A warning scales the operator's caps as well: a number its operator holds below the warm-up slows too.
    n.observe(report(safety_level::warning), noon);
    EXPECT_EQ(n.caps(tight, noon).per_minute, 2U);
    EXPECT_EQ(n.caps(tight, noon).min_interval, seconds{20});
}

TEST(NumberCaps, ScalingNeverRoundsALimitDownToAPause) {
    const send_caps one{.per_minute = 1, .per_hour = 3, .per_day = 0, .min_interval = milliseconds{333}};
    const send_caps quarter = scale(one, 0.25);
    EXPECT_EQ(quarter.per_minute, 1U);
    EXPECT_EQ(quarter.per_hour, 1U);
    EXPECT_EQ(quarter.per_day, 0U);  // the API's own 0 stays 0 …
    EXPECT_EQ(quarter.min_interval, milliseconds{1'332});
    // … and pauses the number.
    EXPECT_TRUE(next_send_time(quarter, {}, std::nullopt, std::nullopt, noon).paused());
}

TEST(NumberCaps, HysteresisCutsAtOnceAndRaisesOneStepPerCleanPeriod) {
    number_caps n;  // clean period 15 min
    n.observe(report(safety_level::healthy), noon);
    EXPECT_EQ(n.step(noon), 0U);

    const timestamp bad = noon + minutes{1};
    n.observe(report(safety_level::critical), bad);
    EXPECT_EQ(n.step(bad), 3U);  // at once
    n.observe(report(safety_level::healthy), bad + minutes{5});
    EXPECT_EQ(n.step(bad + minutes{5}), 3U);  // healthy again, but no clean period yet
    EXPECT_EQ(n.step(bad + minutes{15} - 1ms), 3U);
    EXPECT_EQ(n.step(bad + minutes{15}), 2U);
    EXPECT_EQ(n.step(bad + minutes{30}), 1U);
    EXPECT_EQ(n.step(bad + minutes{45}), 0U);
    EXPECT_DOUBLE_EQ(n.factor(bad + minutes{30}), 0.5);
    EXPECT_EQ(n.last_bad_signal(), bad);
}

TEST(NumberCaps, ABadSignalDuringRecoveryRestartsTheCleanPeriod) {
    number_caps n;
    n.observe(report(safety_level::healthy), noon);
    n.observe(report(safety_level::at_risk), noon);
    n.observe(report(safety_level::healthy), noon + minutes{5});
    EXPECT_EQ(n.step(noon + minutes{15}), 1U);
    // Worse than the last report (healthy → warning) though not worse than the step applied: the step stays,
    // the clock restarts.
    n.observe(report(safety_level::warning), noon + minutes{20});
    EXPECT_EQ(n.step(noon + minutes{20}), 1U);
    EXPECT_EQ(n.step(noon + minutes{34}), 1U);
    n.observe(report(safety_level::healthy), noon + minutes{35});
    EXPECT_EQ(n.step(noon + minutes{35}), 0U);
    // Never below what the current state asks for, however long it has been clean.
    n.observe(report(safety_level::warning), noon + hours{1});
    EXPECT_EQ(n.step(noon + hours{5}), 1U);
}

TEST(NumberCaps, AFallingScoreCutsOneStepButNeverPauses) {
    number_caps n;
    n.observe(report(safety_level::healthy, 90), noon);
    n.observe(report(safety_level::healthy, 85), noon + minutes{5});
    EXPECT_EQ(n.step(noon + minutes{5}), 0U);
    // Slowly falling: measured against the best since the last bad signal (90), not the last report.
    n.observe(report(safety_level::healthy, 79), noon + minutes{10});
    EXPECT_EQ(n.step(noon + minutes{10}), 1U);
    n.observe(report(safety_level::healthy, 68), noon + minutes{15});
    EXPECT_EQ(n.step(noon + minutes{15}), 2U);
    n.observe(report(safety_level::healthy, 50), noon + minutes{20});
    EXPECT_EQ(n.step(noon + minutes{20}), 2U);  // at_risk at most: only critical pauses
    // A score that holds lets it recover.
    n.observe(report(safety_level::healthy, 50), noon + minutes{25});
    EXPECT_EQ(n.step(noon + minutes{35}), 1U);
    EXPECT_EQ(n.step(noon + minutes{50}), 0U);
}

TEST(NumberCaps, CountsAtTheMinuteHourAndDayBoundaries) {
    const send_caps caps{.per_minute = 10, .per_hour = 100, .per_day = 500};
    // The last millisecond of a minute, full: the next minute.
    const timestamp end_of_minute = noon + seconds{59} + 999ms;
    const window_counts full_minute{.at = end_of_minute, .minute = 10, .hour = 10, .day = 10};
    EXPECT_EQ(next_send_time(caps, full_minute, std::nullopt, std::nullopt, end_of_minute),
              (send_gate{noon + minutes{1}, send_limit::per_minute}));
    // A millisecond later those counts belong to the previous minute.
    EXPECT_EQ(next_send_time(caps, full_minute, std::nullopt, std::nullopt, noon + minutes{1}),
              (send_gate{noon + minutes{1}}));

    const timestamp end_of_hour = noon + minutes{59} + seconds{30};
    const window_counts full_hour{.at = end_of_hour, .minute = 1, .hour = 100, .day = 100};
    EXPECT_EQ(next_send_time(caps, full_hour, std::nullopt, std::nullopt, end_of_hour),
              (send_gate{noon + hours{1}, send_limit::per_hour}));
    EXPECT_EQ(next_send_time(caps, full_hour, std::nullopt, std::nullopt, noon + hours{1}).limit,
              send_limit::none);

    // UTC days: a full day opens again at 00:00 UTC, and the day's count survives the hour changing.
    const timestamp late = noon + hours{11} + minutes{59};
    const window_counts full_day{.at = noon, .minute = 0, .hour = 0, .day = 500};
    EXPECT_EQ(next_send_time(caps, full_day, std::nullopt, std::nullopt, late),
              (send_gate{noon + hours{12}, send_limit::per_day}));
    EXPECT_EQ(next_send_time(caps, full_day, std::nullopt, std::nullopt, noon + hours{12}).limit,
              send_limit::none);
}

TEST(NumberCaps, CountingASendStartsEachWindowAfreshAtItsBoundary) {
    window_counts c{.at = noon - 1s, .minute = 7, .hour = 30, .day = 400};  // 11:59:59
    count_send(c, noon - 500ms);                                            // same minute, hour, day
    EXPECT_EQ(c.minute, 8u);
    EXPECT_EQ(c.hour, 31u);
    EXPECT_EQ(c.day, 401u);
    count_send(c, noon);  // 12:00:00: a new minute and a new hour, the same day
    EXPECT_EQ(c.minute, 1u);
    EXPECT_EQ(c.hour, 1u);
    EXPECT_EQ(c.day, 402u);
    EXPECT_EQ(c.at, noon);
    count_send(c, noon + 12h);  // the next day
    EXPECT_EQ(c.minute, 1u);
    EXPECT_EQ(c.hour, 1u);
    EXPECT_EQ(c.day, 1u);
    // What it counted is what next_send_time reads: a cap of 1 per minute now waits for the next minute.
    const send_gate g = next_send_time({.per_minute = 1}, c, std::nullopt, std::nullopt, noon + 12h + 5s);
    EXPECT_EQ(g.at, noon + 12h + 1min);
    EXPECT_EQ(g.limit, send_limit::per_minute);
}

TEST(NumberCaps, TheApiUsageCountsWhenItIsHigherAndStillCurrent) {
    const send_caps caps{.per_minute = 10, .per_hour = 100};
    const window_counts ours{.at = noon, .minute = 3, .hour = 30, .day = 30};
    const usage_report api{.reported_at = noon - seconds{20}, .last_minute = 10, .last_hour = 40};
    // Ours say 3 this minute, the API saw 10 in the minute before its report: wait until that report is a
    // minute old.
    EXPECT_EQ(next_send_time(caps, ours, api, std::nullopt, noon),
              (send_gate{noon + seconds{40}, send_limit::per_minute}));
    // Once the report is older than a minute its minute count no longer applies.
    EXPECT_EQ(next_send_time(caps, ours, api, std::nullopt, noon + seconds{40}).limit, send_limit::none);
    // Lower than ours: ours govern.
    const usage_report lower{.reported_at = noon, .last_minute = 1, .last_hour = 2};
    const window_counts busy{.at = noon, .minute = 10, .hour = 30, .day = 30};
    EXPECT_EQ(next_send_time(caps, busy, lower, std::nullopt, noon),
              (send_gate{noon + minutes{1}, send_limit::per_minute}));
    // A full hour in the API's report holds the number for up to an hour after the report.
    const usage_report full_hour{.reported_at = noon - minutes{10}, .last_hour = 100};
    EXPECT_EQ(next_send_time(caps, ours, full_hour, std::nullopt, noon),
              (send_gate{noon + minutes{50}, send_limit::per_hour}));
}

TEST(NumberCaps, MinIntervalAndTheLatestLimitWins) {
    const send_caps caps{.per_minute = 10, .min_interval = seconds{4}};
    EXPECT_EQ(next_send_time(caps, {}, std::nullopt, noon - seconds{1}, noon),
              (send_gate{noon + seconds{3}, send_limit::min_interval}));
    EXPECT_EQ(next_send_time(caps, {}, std::nullopt, noon - seconds{4}, noon), (send_gate{noon}));
    // The full minute holds it longer than the interval: the minute is the reason.
    const window_counts full{.at = noon, .minute = 10};
    EXPECT_EQ(next_send_time(caps, full, std::nullopt, noon - seconds{1}, noon),
              (send_gate{noon + minutes{1}, send_limit::per_minute}));
    EXPECT_EQ(to_string(send_limit::per_minute), "per_minute");
}

TEST(RecipientGap, OneRecipientFromOneNumberWaitsTheGap) {
    recipient_gap gap;  // 6 s
    gap.on_sent("number-1", "+33612345678", noon);
    EXPECT_FALSE(gap.allows("number-1", "+33612345678", noon + seconds{5}));
    EXPECT_EQ(gap.next_allowed("number-1", "+33612345678", noon + seconds{1}), noon + seconds{6});
    EXPECT_TRUE(gap.allows("number-1", "+33612345678", noon + seconds{6}));
    EXPECT_TRUE(gap.allows("number-2", "+33612345678", noon));  // another number
    EXPECT_TRUE(gap.allows("number-1", "+33612345679", noon));  // another recipient
    EXPECT_TRUE(gap.allows("number-1+", "33612345678", noon));  // not the same pair run together
}

TEST(RecipientGap, MemoryHoldsOnlyTheSendsWithinTheGap) {
    recipient_gap gap(seconds{6});
    timestamp now = noon;
    std::size_t most = 0;
    for (int i = 0; i < 100'000; ++i) {  // 10 sends a second to always different recipients
        now += 100ms;
        gap.on_sent("number-1", "+3361" + std::to_string(i), now);
        most = std::max(most, gap.size());
    }
    EXPECT_LE(most, 60U);
    gap.forget_before(now + seconds{6});
    EXPECT_EQ(gap.size(), 0U);
    // The same recipient again within the gap: still remembered once, from its latest send.
    gap.on_sent("number-1", "+33600000000", now);
    gap.on_sent("number-1", "+33600000000", now + seconds{3});
    gap.forget_before(now + seconds{6});
    EXPECT_EQ(gap.size(), 1U);
    EXPECT_EQ(gap.next_allowed("number-1", "+33600000000", now + seconds{6}), now + seconds{9});
}

}  // namespace
}  // namespace msgflash
