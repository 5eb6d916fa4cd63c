// The ETA of `batches` and `watch`: the account's pace shared by its batches in flight, the numbers' caps,
// whichever is tighter, and the jobs that cannot go before expiresAt.
#include "daemon/ctl_eta.hpp"

#include <gtest/gtest.h>

namespace msgflash::ctl {
namespace {

using namespace std::chrono_literals;

const timestamp t0 = from_millis(1'795'766'400'000);

TEST(CtlEta, NumberCapRateIsTheTightestCap) {
    instance_config c;
    EXPECT_FALSE(number_cap_rate(c));
    c.per_hour = 200;  // 0.0556/s
    c.per_day = 1000;  // 0.0116/s: tighter
    EXPECT_DOUBLE_EQ(*number_cap_rate(c), 1000.0 / 86400.0);
    c.per_minute = 1;  // 0.0167/s: not tighter than the day
    EXPECT_DOUBLE_EQ(*number_cap_rate(c), 1000.0 / 86400.0);
    instance_config gap;
    gap.min_interval = 6s;
    EXPECT_DOUBLE_EQ(*number_cap_rate(gap), 1.0 / 6.0);
}

TEST(CtlEta, AccountPaceIsSharedByItsBatchesInFlight) {
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10, .account_batches_in_flight = 1, .numbers = {}}), 10.0);
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10, .account_batches_in_flight = 4, .numbers = {}}), 2.5);
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10, .account_batches_in_flight = 0, .numbers = {}}), 10.0);
}

TEST(CtlEta, TheTighterOfAccountAndNumbers) {
    // One number capped at 1/s: tighter than the account's 10/s.
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10,
                                 .account_batches_in_flight = 1,
                                 .numbers = {{.cap_rate = 1.0, .batches_sharing = 1}}}),
                     1.0);
    // Two numbers at 3/s each, one of them shared with another batch: 3 + 1.5 < 10.
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10,
                                 .account_batches_in_flight = 1,
                                 .numbers = {{.cap_rate = 3.0, .batches_sharing = 1},
                                             {.cap_rate = 3.0, .batches_sharing = 2}}}),
                     4.5);
    // Numbers looser than the account's share: the account decides.
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10,
                                 .account_batches_in_flight = 2,
                                 .numbers = {{.cap_rate = 50.0, .batches_sharing = 1}}}),
                     5.0);
    // An uncapped number: the account's share.
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10,
                                 .account_batches_in_flight = 1,
                                 .numbers = {{.cap_rate = 0.5, .batches_sharing = 1},
                                             {.cap_rate = std::nullopt, .batches_sharing = 1}}}),
                     10.0);
    // A held number (rate 0) alone: nothing goes.
    EXPECT_DOUBLE_EQ(batch_pace({.account_rate = 10,
                                 .account_batches_in_flight = 1,
                                 .numbers = {{.cap_rate = 0.0, .batches_sharing = 1}}}),
                     0.0);
}

TEST(CtlEta, EtaIsPendingOverPaceFromSendAt) {
    auto e = estimate_batch(1000, 10.0, t0, std::nullopt, std::nullopt);
    EXPECT_EQ(e.eta, 100s);
    EXPECT_EQ(e.will_expire, 0);
    // Not before sendAt, one hour from now: the hour comes first.
    auto later = estimate_batch(1000, 10.0, t0, t0 + 1h, std::nullopt);
    EXPECT_EQ(later.eta, 3700s);
    // A sendAt in the past changes nothing.
    EXPECT_EQ(estimate_batch(1000, 10.0, t0, t0 - 1h, std::nullopt).eta, 100s);
    // Rounded up to the second.
    EXPECT_EQ(estimate_batch(7, 2.0, t0, std::nullopt, std::nullopt).eta, 4s);
    EXPECT_EQ(estimate_batch(0, 0.0, t0, std::nullopt, std::nullopt).eta, 0s);
    EXPECT_FALSE(estimate_batch(5, 0.0, t0, std::nullopt, std::nullopt).eta);
}

TEST(CtlEta, JobsBeyondWhatThePaceSendsBeforeExpiryWillExpire) {
    // 1 job/s, 10 minutes left: 600 go, 400 of 1000 expire.
    EXPECT_EQ(estimate_batch(1000, 1.0, t0, std::nullopt, t0 + 10min).will_expire, 400);
    // Enough time: none.
    EXPECT_EQ(estimate_batch(500, 1.0, t0, std::nullopt, t0 + 10min).will_expire, 0);
    // The window starts at sendAt: 5 minutes of sending leave 700 unsent.
    EXPECT_EQ(estimate_batch(1000, 1.0, t0, t0 + 5min, t0 + 10min).will_expire, 700);
    // Already past expiresAt, or no pace at all: every pending job.
    EXPECT_EQ(estimate_batch(1000, 1.0, t0, std::nullopt, t0 - 1s).will_expire, 1000);
    EXPECT_EQ(estimate_batch(30, 0.0, t0, std::nullopt, t0 + 1h).will_expire, 30);
    // A fraction of a job's time does not send it: 2.5 s at 1/s sends 2.
    EXPECT_EQ(estimate_batch(5, 1.0, t0, std::nullopt, t0 + 2500ms).will_expire, 3);
}

TEST(CtlEta, RateMeterSmoothsDoneOverTime) {
    rate_meter m(0.5);
    const auto s0 = std::chrono::steady_clock::time_point{} + 1h;
    EXPECT_FALSE(m.rate());
    m.sample(s0, 100);
    EXPECT_FALSE(m.rate());
    m.sample(s0 + 1s, 110);  // 10/s
    EXPECT_DOUBLE_EQ(*m.rate(), 10.0);
    m.sample(s0 + 2s, 130);  // 20/s, averaged: 15
    EXPECT_DOUBLE_EQ(*m.rate(), 15.0);
    m.sample(s0 + 2s, 999);  // no time passed: ignored
    EXPECT_DOUBLE_EQ(*m.rate(), 15.0);
}

}  // namespace
}  // namespace msgflash::ctl
