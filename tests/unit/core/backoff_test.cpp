#include "core/backoff.hpp"

#include <cmath>
#include <limits>
#include <random>

#include <gtest/gtest.h>

namespace msgflash {
namespace {

using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

const timestamp t0 = from_millis(1'700'000'000'000);

TEST(Backoff, CeilingGrowsByTheFactorUpToTheCap) {
    const backoff_policy p;  // base 2 s, factor 2, cap 5 min
    EXPECT_EQ(backoff_ceiling(p, 1), seconds{2});
    EXPECT_EQ(backoff_ceiling(p, 2), seconds{4});
    EXPECT_EQ(backoff_ceiling(p, 8), seconds{256});
    EXPECT_EQ(backoff_ceiling(p, 9), minutes{5});
    EXPECT_EQ(backoff_ceiling(p, 4'000'000'000U), minutes{5});  // no overflow
    EXPECT_EQ(backoff_ceiling(p, 0), seconds{2});               // read as the first attempt
}

TEST(Backoff, FullJitterStaysWithinZeroAndTheCeilingWithAMeanNearHalf) {
    const backoff_policy p;
    std::mt19937_64 random(42);
    for (std::uint32_t n = 1; n <= 12; ++n) {
        const auto ceiling = backoff_ceiling(p, n);
        constexpr int draws = 20'000;
        double sum = 0;
        milliseconds lowest = milliseconds::max();
        milliseconds highest = milliseconds::min();
        for (int i = 0; i < draws; ++i) {
            const milliseconds d = backoff_delay(p, n, random);
            ASSERT_GE(d, milliseconds::zero()) << n;
            ASSERT_LE(d, ceiling) << n;
            lowest = std::min(lowest, d);
            highest = std::max(highest, d);
            sum += static_cast<double>(d.count());
        }
        const double mean = sum / draws / static_cast<double>(ceiling.count());
        // Uniform: mean 1/2, standard error 0.29 / sqrt(20000) = 0.002; 0.01 is five of them.
        EXPECT_NEAR(mean, 0.5, 0.01) << n;
        EXPECT_LT(static_cast<double>(lowest.count()), 0.01 * static_cast<double>(ceiling.count())) << n;
        EXPECT_GT(static_cast<double>(highest.count()), 0.99 * static_cast<double>(ceiling.count())) << n;
    }
}

TEST(Backoff, TheInjectedValueMapsOntoBothEndsOfTheRange) {
    const backoff_policy p;
    EXPECT_EQ(backoff_delay(p, 1, 0.0), milliseconds{0});
    EXPECT_EQ(backoff_delay(p, 1, 0.5), milliseconds{1'000});
    EXPECT_EQ(backoff_delay(p, 1, std::nextafter(1.0, 0.0)), milliseconds{2'000});
    // Out of range or not a number: clamped, never outside [0, ceiling].
    EXPECT_EQ(backoff_delay(p, 1, 1.0), milliseconds{2'000});
    EXPECT_EQ(backoff_delay(p, 1, 7.0), milliseconds{2'000});
    EXPECT_EQ(backoff_delay(p, 1, -3.0), milliseconds{0});
    EXPECT_EQ(backoff_delay(p, 1, std::numeric_limits<double>::quiet_NaN()), milliseconds{0});
}

TEST(Backoff, RetriesUntilTheLastAttemptThenDead) {
    const backoff_policy p;  // max_attempts 10
    for (std::uint32_t n = 1; n < 10; ++n) {
        const retry_decision d = decide_retry(p, n, t0, t0 + minutes{n}, 0.5);
        EXPECT_EQ(d.kind, retry_kind::retry) << n;
        EXPECT_EQ(d.at, t0 + minutes{n} + backoff_ceiling(p, n) / 2) << n;
    }
    const retry_decision last = decide_retry(p, 10, t0, t0 + minutes{10}, 0.5);
    EXPECT_TRUE(last.dead());
    EXPECT_EQ(last.kind, retry_kind::attempts_exhausted);
    EXPECT_EQ(to_string(last.kind), "attempts_exhausted");
}

TEST(Backoff, DeadWhenTheRetryWouldComePastMaxAge) {
    const backoff_policy p;  // max_age 24 h
    const timestamp late = t0 + hours{24} - seconds{1};
    // u = 0: the retry is due at once, still inside max_age.
    EXPECT_EQ(decide_retry(p, 3, t0, late, 0.0).kind, retry_kind::retry);
    // A draw that lands past t0 + 24 h.
    const retry_decision d = decide_retry(p, 3, t0, late, 0.99);
    EXPECT_EQ(d.kind, retry_kind::too_old);
    EXPECT_GT(d.at, t0 + hours{24});
    // Exactly at the limit is still allowed.
    EXPECT_EQ(decide_retry(p, 1, t0, t0 + hours{24} - seconds{2}, std::nextafter(1.0, 0.0)).kind,
              retry_kind::retry);
}

TEST(Backoff, PolicyFromOtherSettings) {
    const backoff_policy p{.base = milliseconds{100}, .factor = 3.0, .cap = seconds{1}, .max_attempts = 3};
    EXPECT_EQ(backoff_ceiling(p, 1), milliseconds{100});
    EXPECT_EQ(backoff_ceiling(p, 2), milliseconds{300});
    EXPECT_EQ(backoff_ceiling(p, 3), milliseconds{900});
    EXPECT_EQ(backoff_ceiling(p, 4), seconds{1});
    EXPECT_EQ(decide_retry(p, 2, t0, t0, 0.1).kind, retry_kind::retry);
    EXPECT_EQ(decide_retry(p, 3, t0, t0, 0.1).kind, retry_kind::attempts_exhausted);
}

// ---- breaker ------------------------------------------------------------------------------------------

void fail(number_breaker& b, timestamp at, int times) {
    for (int i = 0; i < times; ++i) {
        b.on_sent(at);
        b.on_answer(at, at, provider_signal::failure);
    }
}

TEST(NumberBreaker, OpensAfterConsecutiveProviderFailuresOnly) {
    number_breaker b;  // threshold 5
    fail(b, t0, 4);
    b.on_answer(t0, t0, provider_signal::neutral);  // a 400 in between: not a provider verdict
    EXPECT_EQ(b.state(t0), breaker_state::closed);
    EXPECT_EQ(b.consecutive_failures(), 4U);
    b.on_answer(t0, t0, provider_signal::success);  // a success resets the run
    fail(b, t0, 4);
    EXPECT_EQ(b.state(t0), breaker_state::closed);
    fail(b, t0, 1);
    EXPECT_EQ(b.state(t0), breaker_state::open);
    EXPECT_FALSE(b.allows(t0));
    EXPECT_EQ(b.next_allowed(t0), t0 + seconds{15});
    EXPECT_EQ(to_string(b.state(t0)), "open");
}

TEST(NumberBreaker, HalfOpenLetsOneProbeThroughAndItsSuccessCloses) {
    number_breaker b;
    fail(b, t0, 5);
    const timestamp cooled = t0 + seconds{15};
    EXPECT_EQ(b.state(cooled - milliseconds{1}), breaker_state::open);
    EXPECT_EQ(b.state(cooled), breaker_state::half_open);
    EXPECT_TRUE(b.allows(cooled));
    b.on_sent(cooled);
    EXPECT_FALSE(b.allows(cooled + seconds{1}));  // one probe at a time
    b.on_answer(cooled, cooled + seconds{1}, provider_signal::success);
    EXPECT_EQ(b.state(cooled + seconds{1}), breaker_state::closed);
    EXPECT_EQ(b.opens(), 0U);
    EXPECT_TRUE(b.allows(cooled + seconds{1}));
}

TEST(NumberBreaker, AFailedProbeReopensForLongerUpToTheCap) {
    number_breaker b(
        breaker_options{.cooldown = seconds{10}, .cooldown_factor = 2.0, .max_cooldown = seconds{35}});
    fail(b, t0, 5);
    timestamp now = t0;
    for (const auto expected : {seconds{10}, seconds{20}, seconds{35}, seconds{35}}) {
        EXPECT_EQ(b.open_until() - now, expected);
        now = b.open_until();
        ASSERT_EQ(b.state(now), breaker_state::half_open);
        b.on_sent(now);
        b.on_answer(now, now + milliseconds{200}, provider_signal::failure);
        now += milliseconds{200};
        EXPECT_EQ(b.state(now), breaker_state::open);
    }
    // A success closes it and the next opening starts from the first cool-down again.
    now = b.open_until();
    b.on_sent(now);
    b.on_answer(now, now, provider_signal::success);
    fail(b, now, 5);
    EXPECT_EQ(b.open_until() - now, seconds{10});
}

TEST(NumberBreaker, AProbeWithoutVerdictOrLostLetsAnotherGo) {
    number_breaker b;
    fail(b, t0, 5);
    const timestamp cooled = t0 + seconds{15};
    b.on_sent(cooled);
    b.on_answer(cooled, cooled + seconds{1}, provider_signal::neutral);
    EXPECT_TRUE(b.allows(cooled + seconds{1}));
    EXPECT_EQ(b.state(cooled + seconds{1}), breaker_state::half_open);
    // A probe whose answer never comes is given up after one cool-down.
    b.on_sent(cooled + seconds{1});
    EXPECT_EQ(b.next_allowed(cooled + seconds{2}), cooled + seconds{16});
    EXPECT_TRUE(b.allows(cooled + seconds{16}));
}

TEST(NumberBreaker, LateAnswersToRequestsSentBeforeAChangeAreIgnored) {
    number_breaker b;
    const timestamp before = t0 - seconds{1};  // requests already on the wire when the breaker opened
    fail(b, t0, 5);
    // While open: a late success does not close it.
    b.on_answer(before, t0 + seconds{1}, provider_signal::success);
    EXPECT_EQ(b.state(t0 + seconds{1}), breaker_state::open);
    // Half-open: only the probe's answer counts.
    const timestamp cooled = t0 + seconds{15};
    b.on_sent(cooled);
    b.on_answer(before, cooled + milliseconds{1}, provider_signal::failure);
    EXPECT_EQ(b.state(cooled + milliseconds{1}), breaker_state::half_open);
    b.on_answer(cooled, cooled + milliseconds{2}, provider_signal::success);
    EXPECT_EQ(b.state(cooled + milliseconds{2}), breaker_state::closed);
    // Closed again: failures of requests sent before the close do not count towards the next opening.
    for (int i = 0; i < 10; ++i) {
        b.on_answer(before, cooled + seconds{1}, provider_signal::failure);
    }
    EXPECT_EQ(b.state(cooled + seconds{1}), breaker_state::closed);
    EXPECT_EQ(b.consecutive_failures(), 0U);
}

// ---- batch breaker ------------------------------------------------------------------------------------

TEST(BatchProbation, TheFirstAnswersAllFailingWithOneCodeTripItOnce) {
    batch_probation b(3);
    EXPECT_EQ(b.on_failed("TEMPLATE_NOT_FOUND"), batch_probation::verdict::undecided);
    EXPECT_EQ(b.on_failed("TEMPLATE_NOT_FOUND"), batch_probation::verdict::undecided);
    EXPECT_EQ(b.on_failed("TEMPLATE_NOT_FOUND"), batch_probation::verdict::tripped);
    EXPECT_EQ(b.code(), "TEMPLATE_NOT_FOUND");
    EXPECT_EQ(b.on_sent(), batch_probation::verdict::tripped) << "a verdict does not change";
}

TEST(BatchProbation, ASuccessOrASecondCodePassesIt) {
    batch_probation sent(3);
    EXPECT_EQ(sent.on_failed("INVALID_DESTINATION"), batch_probation::verdict::undecided);
    EXPECT_EQ(sent.on_sent(), batch_probation::verdict::passed);
    EXPECT_EQ(sent.on_failed("INVALID_DESTINATION"), batch_probation::verdict::passed);
    EXPECT_EQ(sent.on_failed("INVALID_DESTINATION"), batch_probation::verdict::passed);

    batch_probation mixed(3);
    EXPECT_EQ(mixed.on_failed("INVALID_DESTINATION"), batch_probation::verdict::undecided);
    EXPECT_EQ(mixed.on_failed("TEMPLATE_NOT_FOUND"), batch_probation::verdict::passed);

    batch_probation off(0);
    EXPECT_EQ(off.on_failed("TEMPLATE_NOT_FOUND"), batch_probation::verdict::passed);
}

}  // namespace
}  // namespace msgflash
