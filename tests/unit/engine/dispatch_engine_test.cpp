// The dispatch engine against recording fakes in virtual time: what each answer records, pacing, holds, and
// shutdown.
#include "engine/dispatch_engine.hpp"

#include <algorithm>
#include <memory>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <gtest/gtest.h>

#include "tests/unit/engine/engine_fakes.hpp"

namespace msgflash::engine::test {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

constexpr std::string_view number_a = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
constexpr std::string_view number_b = "1b4e28ba-2fa1-41d2-883f-0016d3cca427";

// A text message as GET /messages lists it, sent through number A.
api::message_details listed(std::string id, std::string to, std::string status, std::string body,
                            timestamp created) {
    api::message_details m;
    m.id = std::move(id);
    m.status = std::move(status);
    m.instance_id = std::string(number_a);
    m.to = std::move(to);
    m.type = "text";
    m.body = std::move(body);
    m.created_at = iso(created);
    return m;
}

class DispatchEngineTest : public ::testing::Test {
  protected:
    DispatchEngineTest() {
        queue.add_batch(1, R"({"type":"text","body":"Hi {{name}}"})", {std::string(number_a)});
        queue.add_batch(2, R"({"type":"text","body":"Hello"})", {std::string(number_b)});
    }

    ~DispatchEngineTest() override {
        if (engine_ && !done_) {
            engine_->stop();
            clock.run_until([&] { return done_; });
        }
    }

    static engine_options options() {
        engine_options o;
        o.accounts = {{.name = "shop", .rate = 10}};
        o.shutdown_grace = 10s;
        o.seed = 42;
        return o;
    }

    // Jobs of batch 1 with rendered payloads, recipients +33600000001…
    std::vector<std::int64_t> add_jobs(int n, std::int64_t batch = 1) {
        std::vector<std::int64_t> ids;
        for (int i = 0; i < n; ++i) {
            ids.push_back(queue.add_job("shop", batch, recipient(i + static_cast<int>(batch) * 1000),
                                        R"({"type":"text","body":"Hi Ana"})"));
        }
        return ids;
    }
    static std::string recipient(int i) { return "+336" + std::to_string(10'000'000 + i); }

    // A *.campaign.json batch (#4, number A) and its one job, which has no recipient; the job's id.
    std::int64_t add_campaign() {
        queue.add_batch(4, R"({"campaign":{"name":"Spring","instanceId":"x","type":"text","body":"Hi"}})",
                        {std::string(number_a)});
        return queue.add_job("shop", 4, "", "null");
    }

    void start(engine_options o = options()) {
        engine_ = std::make_unique<dispatch_engine>(std::move(o), queue, api, clock);
        asio::co_spawn(io, engine_->run(), [this](std::exception_ptr e) {
            done_ = true;
            failed_ = e != nullptr;
        });
    }

    bool run_until(const std::function<bool()>& f) { return clock.run_until(f); }

    // Stops the engine, lets it drain, and checks that it left no work behind.
    void finish() {
        engine_->stop();
        ASSERT_TRUE(clock.run_until([&] { return done_; }));
        EXPECT_FALSE(failed_);
        io.restart();
        io.poll();
        EXPECT_TRUE(io.stopped()) << "the engine left work on its io_context";
        EXPECT_EQ(queue.inflight(), 0u) << "a claimed job was neither answered nor given back";
    }

    std::size_t results_in(job_state s) const {
        return static_cast<std::size_t>(std::count_if(queue.results.begin(), queue.results.end(),
                                                      [s](const auto& r) { return r.new_state == s; }));
    }

    // The most requests (sends, polls and `others`) that left inside any half-open one-second window.
    std::size_t max_per_second(std::vector<pace_time> others = {}) const {
        std::vector<pace_time> at = std::move(others);
        for (const auto& q : api.requests) {
            at.push_back(q.at);
        }
        for (const auto& p : api.polls) {
            at.push_back(p.at);
        }
        std::sort(at.begin(), at.end());
        std::size_t most = 0;
        for (std::size_t i = 0; i < at.size(); ++i) {
            const auto end =
                std::lower_bound(at.begin() + static_cast<std::ptrdiff_t>(i), at.end(), at[i] + 1s);
            most = std::max(most, static_cast<std::size_t>(end - at.begin()) - i);
        }
        return most;
    }

    asio::io_context io;
    virtual_clock clock{io};
    fake_queue queue{clock};
    fake_api api{io, clock};
    std::unique_ptr<dispatch_engine> engine_;
    bool done_ = false;
    bool failed_ = false;
};

TEST_F(DispatchEngineTest, SendsEveryJobOnceAtTheKeysPaceAndRecordsItSent) {
    const auto ids = add_jobs(45);
    api.fallback = fake_answer::success(150ms);
    start();
    const pace_time t0 = clock.steady_now();
    ASSERT_TRUE(run_until([&] { return queue.results.size() == ids.size(); }));

    std::set<std::string> message_ids;
    for (const auto& r : queue.results) {
        EXPECT_EQ(r.new_state, job_state::sent);
        EXPECT_EQ(r.attempt.outcome, attempt_outcome::sent);
        EXPECT_EQ(r.attempt.n, 1);
        EXPECT_TRUE(r.attempt.counted);
        EXPECT_TRUE(r.count_send);
        EXPECT_EQ(r.instance_id, number_a);
        EXPECT_EQ(r.api_status, "queued");
        EXPECT_EQ(r.attempt.latency_ms, 150);
        message_ids.insert(r.attempt.message_id);
    }
    EXPECT_EQ(message_ids.size(), ids.size());
    ASSERT_EQ(api.requests.size(), ids.size());
    EXPECT_EQ(api.requests[0].body.instance_id, number_a);
    EXPECT_EQ(api.requests[0].body.content.type, "text");
    EXPECT_EQ(api.requests[0].body.content.body, "Hi Ana");
    EXPECT_LE(max_per_second(), 10u);
    // Nothing leaves in the first span (a previous process may have used the key in its last second), then
    // the requests leave evenly, 10 per span (1 s + jitter bound + guard): first the key's instances and its
    // number's health are polled, then the 45 sends, the last 46 slots after the first.
    const pace_duration span = 1s + 5ms + 1ms;
    ASSERT_EQ(api.polls.size(), 2u);
    EXPECT_EQ(api.polls[0].what, "instances");
    EXPECT_EQ(api.polls[0].at - t0, span);
    EXPECT_EQ(api.polls[1].what, number_a);
    EXPECT_EQ(api.polls[1].at - t0, span + span / 10);
    EXPECT_EQ(api.requests.front().at - t0, span + 2 * (span / 10));
    EXPECT_EQ(api.requests.back().at - t0, span + 46 * (span / 10));
    EXPECT_LE(api.max_in_flight, 10u);
    finish();
}

TEST_F(DispatchEngineTest, PermanentErrorEndsFailedWithItsCode) {
    const auto ids = add_jobs(1);
    api.script[recipient(1000)] = {fake_answer::error(422, "INVALID_DESTINATION")};
    start();
    ASSERT_TRUE(run_until([&] { return !queue.results.empty(); }));
    const auto& r = queue.results[0];
    EXPECT_EQ(r.new_state, job_state::failed);
    EXPECT_EQ(r.attempt.api_code, "INVALID_DESTINATION");
    EXPECT_EQ(r.attempt.http_status, 422u);
    EXPECT_EQ(r.attempt.outcome, attempt_outcome::failed);
    EXPECT_TRUE(r.attempt.counted);
    finish();
    EXPECT_EQ(api.requests.size(), 1u);
}

TEST_F(DispatchEngineTest, ProviderErrorBacksOffWithFullJitterThenSends) {
    add_jobs(1);
    api.script[recipient(1000)] = {fake_answer::error(502, "PROVIDER_ERROR")};
    start();
    ASSERT_TRUE(run_until([&] { return queue.results.size() == 2; }));
    const auto& first = queue.results[0];
    EXPECT_EQ(first.new_state, job_state::waiting);
    EXPECT_EQ(first.attempt.outcome, attempt_outcome::retry);
    ASSERT_TRUE(first.next_attempt_at);
    EXPECT_GE(*first.next_attempt_at, first.attempt.finished_at);
    EXPECT_LE(*first.next_attempt_at, first.attempt.finished_at + 2s);  // retry.base for attempt 1
    const auto& second = queue.results[1];
    EXPECT_EQ(second.new_state, job_state::sent);
    EXPECT_EQ(second.attempt.n, 2);
    EXPECT_GE(second.attempt.started_at, *first.next_attempt_at);
    finish();
}

TEST_F(DispatchEngineTest, AmbiguousAttemptIsFlaggedCountedAndRetried) {
    add_jobs(1);
    api.script[recipient(1000)] = {fake_answer{.k = fake_answer::kind::ambiguous}};
    api.ambiguous_processed = false;  // the request never reached the provider: the list cannot show it
    start();
    ASSERT_TRUE(run_until([&] { return queue.results.size() == 2; }));
    const auto& first = queue.results[0];
    EXPECT_EQ(first.new_state, job_state::waiting);
    EXPECT_TRUE(first.attempt.ambiguous);
    EXPECT_EQ(first.attempt.outcome, attempt_outcome::ambiguous);
    EXPECT_TRUE(first.attempt.counted);
    EXPECT_EQ(first.attempt.settled, settle_outcome::not_found);
    EXPECT_EQ(queue.results[1].new_state, job_state::sent);
    EXPECT_EQ(queue.results[1].attempt.n, 2);
    EXPECT_EQ(engine_->stats().ambiguous, 1u);
    finish();
}

TEST_F(DispatchEngineTest, RequestNeverWrittenGivesTheAttemptBack) {
    add_jobs(1);
    api.script[recipient(1000)] = {fake_answer{.k = fake_answer::kind::not_sent}};
    start();
    ASSERT_TRUE(run_until([&] { return queue.results.size() == 2; }));
    EXPECT_FALSE(queue.results[0].attempt.counted);
    EXPECT_FALSE(queue.results[0].attempt.ambiguous);
    EXPECT_EQ(queue.results[0].new_state, job_state::waiting);
    EXPECT_EQ(queue.results[1].new_state, job_state::sent);
    EXPECT_EQ(queue.results[1].attempt.n, 1);  // the first claim's attempt was given back
    finish();
}

TEST_F(DispatchEngineTest, RetriesExhaustedEndDead) {
    add_jobs(1);
    api.fallback = fake_answer::error(502, "PROVIDER_TIMEOUT");
    auto o = options();
    o.retry.backoff.max_attempts = 3;
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::dead) == 1; }));
    ASSERT_EQ(queue.results.size(), 3u);
    EXPECT_EQ(queue.results[2].new_state, job_state::dead);
    EXPECT_EQ(queue.results[2].attempt.n, 3);
    EXPECT_EQ(queue.results[2].last_code, "PROVIDER_TIMEOUT");
    finish();
}

TEST_F(DispatchEngineTest, RateLimitIsNotAnAttemptGoesToTheFrontAndSlowsThePace) {
    add_jobs(12);
    fake_answer limited = fake_answer::error(429, "API_RATE_LIMIT_EXCEEDED");
    limited.retry_after = 2s;
    limited.latency = 50ms;
    api.script[recipient(1000)] = {limited};
    api.fallback = fake_answer::success(50ms);
    start();
    ASSERT_TRUE(run_until([&] { return !queue.results.empty(); }));
    const auto& r = queue.results[0];
    EXPECT_EQ(r.new_state, job_state::ready);
    EXPECT_EQ(r.attempt.outcome, attempt_outcome::rate_limited);
    EXPECT_FALSE(r.attempt.counted);
    const pace_time answered = clock.steady_now();
    EXPECT_LT(engine_->current_rate("shop"), 10.0);

    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 12; }));
    const std::size_t before = static_cast<std::size_t>(std::count_if(
        api.requests.begin(), api.requests.end(), [&](const auto& q) { return q.at <= answered; }));
    for (const auto& q : api.requests) {
        EXPECT_TRUE(q.at <= answered || q.at >= answered + 2s) << "a request left during Retry-After";
    }
    // The limited job went back to the line and was sent again after the pause, with the same attempt number
    // (the jobs claimed before it was answered are already ahead of it in the engine's window).
    ASSERT_GT(api.requests.size(), before);
    const auto again =
        std::find_if(api.requests.begin() + static_cast<std::ptrdiff_t>(before), api.requests.end(),
                     [&](const auto& q) { return q.body.to == recipient(1000); });
    EXPECT_NE(again, api.requests.end());
    EXPECT_EQ(queue.last_result(1)->attempt.n, 1);
    finish();
}

TEST_F(DispatchEngineTest, KeyHoldStopsTheAccountWithoutConsumingAttempts) {
    add_jobs(20);
    api.script[recipient(1000)] = {fake_answer::error(401, "UNAUTHORIZED")};
    api.fallback = fake_answer::success(300ms);
    start();
    ASSERT_TRUE(run_until([&] { return !queue.results.empty() && queue.inflight() == 0; }));
    const auto* held = queue.last_result(1);
    ASSERT_NE(held, nullptr);
    EXPECT_EQ(held->new_state, job_state::held);
    EXPECT_FALSE(held->attempt.counted);
    ASSERT_TRUE(held->hold);
    EXPECT_EQ(held->hold->scope, hold_scope::key);
    EXPECT_EQ(held->hold->subject, "shop");
    EXPECT_EQ(held->hold->cause, "auth");
    EXPECT_EQ(held->hold->reason_code, "UNAUTHORIZED");
    EXPECT_FALSE(queue.unclaims.empty()) << "the claimed jobs should have gone back to the line";

    const std::size_t requests = api.requests.size();
    const pace_time t = clock.steady_now();
    ASSERT_TRUE(run_until([&] { return clock.steady_now() >= t + 60s; }));
    EXPECT_EQ(api.requests.size(), requests) << "a held key kept sending";
    EXPECT_TRUE(queue.claims.back().account == "shop");
    finish();
}

TEST_F(DispatchEngineTest, NumberHoldGivesBackThatNumbersJobsOnly) {
    add_jobs(10, 1);
    add_jobs(10, 2);
    api.script[recipient(1000)] = {fake_answer::error(403, "INSTANCE_NOT_ASSIGNED")};
    api.fallback = fake_answer::success(500ms);
    auto o = options();
    o.window_per_key = 20;
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.last_result(1) != nullptr; }));
    const auto* held = queue.last_result(1);
    ASSERT_TRUE(held->hold);
    EXPECT_EQ(held->hold->scope, hold_scope::number);
    EXPECT_EQ(held->hold->subject, number_a);
    EXPECT_EQ(held->hold->cause, "configuration");
    EXPECT_FALSE(held->attempt.counted);
    ASSERT_FALSE(queue.unclaims.empty());
    for (const auto& u : queue.unclaims) {
        EXPECT_LE(u.job_id, 10) << "a job of the other number was given back";
    }
    finish();
}

TEST_F(DispatchEngineTest, ShutdownLetsInFlightRequestsFinishWithinTheGrace) {
    add_jobs(30);
    api.fallback = fake_answer::success(3s);
    start();
    ASSERT_TRUE(run_until([&] { return api.requests.size() >= 5; }));
    finish();
    EXPECT_EQ(api.cancel_calls, 0u);
    EXPECT_EQ(results_in(job_state::sent), api.requests.size());
    EXPECT_GT(queue.unclaims.size(), 0u);
    EXPECT_EQ(queue.count_state(job_state::sent) + queue.count_state(job_state::ready), 30u);
}

TEST_F(DispatchEngineTest, ShutdownCancelsAfterTheGraceAndRecordsThemAmbiguous) {
    add_jobs(30);
    api.fallback = fake_answer{.k = fake_answer::kind::hang};
    start();
    ASSERT_TRUE(run_until([&] { return api.requests.size() >= 3; }));
    const pace_time stop_at = clock.steady_now();
    const std::size_t sent = api.requests.size();
    finish();
    EXPECT_EQ(api.cancel_calls, 1u);
    EXPECT_GE(clock.steady_now(), stop_at + 10s);
    EXPECT_LE(clock.steady_now(), stop_at + 10s + 1s);
    ASSERT_EQ(queue.results.size(), sent);
    for (const auto& r : queue.results) {
        EXPECT_TRUE(r.attempt.ambiguous);
        EXPECT_EQ(r.new_state, job_state::waiting);
    }
    EXPECT_EQ(queue.count_state(job_state::waiting) + queue.count_state(job_state::ready), 30u);
}

TEST_F(DispatchEngineTest, ClosedSendingWindowDefersJobsToItsOpening) {
    queue.add_batch(3, R"({"type":"text","body":"Hello"})", {std::string(number_a)},
                    sending_window{.from = "20:00", .to = "21:00", .tz = "UTC"});
    add_jobs(2, 3);
    start();
    ASSERT_TRUE(run_until([&] { return queue.unclaims.size() == 2; }));
    for (const auto& u : queue.unclaims) {
        EXPECT_EQ(u.new_state, job_state::waiting);
        ASSERT_TRUE(u.next_attempt_at);
        const auto local = std::chrono::hh_mm_ss(*u.next_attempt_at -
                                                 std::chrono::floor<std::chrono::days>(*u.next_attempt_at));
        EXPECT_EQ(local.hours(), 20h);
        EXPECT_EQ(local.minutes(), 0min);
    }
    EXPECT_TRUE(api.requests.empty());
    finish();
}

TEST_F(DispatchEngineTest, TwoKeysArePacedIndependentlyUnderOneTimer) {
    auto o = options();
    o.accounts = {{.name = "shop", .rate = 10}, {.name = "agency", .rate = 5}};
    add_jobs(20);
    for (int i = 0; i < 20; ++i) {
        queue.add_job("agency", 2, recipient(5000 + i), R"({"type":"text","body":"Hello"})");
    }
    api.fallback = fake_answer::success(20ms);
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 40; }));
    std::map<std::string, std::vector<pace_time>> by_key;
    for (const auto& q : api.requests) {
        by_key[q.account].push_back(q.at);
    }
    for (const auto& [account, times] : by_key) {
        const std::size_t limit = account == "shop" ? 10 : 5;
        for (std::size_t i = 0; i + limit < times.size(); ++i) {
            EXPECT_GE(times[i + limit] - times[i], 1s) << account;
        }
    }
    finish();
}

// ---- per-number caps and the per-recipient gap ----------------------------------------------------------

// The wall time at which a request left (the fake API stamps the monotonic clock).
timestamp wall_of(const virtual_clock& clock, pace_time at) {
    return clock.now() - std::chrono::duration_cast<std::chrono::milliseconds>(clock.steady_now() - at);
}

TEST_F(DispatchEngineTest, OperatorCapsBoundEveryUtcMinuteOfANumber) {
    add_jobs(12);
    auto o = options();
    o.number_caps[std::string(number_a)] = send_caps{.per_minute = 5};
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 12; }));
    std::map<timestamp, int> by_minute;
    for (const auto& q : api.requests) {
        ++by_minute[std::chrono::floor<std::chrono::minutes>(wall_of(clock, q.at))];
    }
    EXPECT_GE(by_minute.size(), 3u);
    for (const auto& [minute, n] : by_minute) {
        EXPECT_LE(n, 5) << "minute " << minute.time_since_epoch().count();
    }
    EXPECT_EQ(api.requests.size(), 12u) << "a job was sent twice";
    // The jobs that had to wait for a later minute went back to the queue, without an attempt.
    ASSERT_FALSE(queue.unclaims.empty());
    for (const auto& u : queue.unclaims) {
        EXPECT_EQ(u.new_state, job_state::waiting);
        ASSERT_TRUE(u.next_attempt_at);
        EXPECT_EQ(*u.next_attempt_at, std::chrono::ceil<std::chrono::minutes>(u.now));
    }
    for (const auto& r : queue.results) {
        EXPECT_EQ(r.attempt.n, 1) << "job " << r.attempt.job_id;
    }
    finish();
}

TEST_F(DispatchEngineTest, MinIntervalSpacesTheSendsOfANumber) {
    add_jobs(5);
    auto o = options();
    o.number_caps[std::string(number_a)] = send_caps{.min_interval = 3s};
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 5; }));
    ASSERT_EQ(api.requests.size(), 5u);
    for (std::size_t i = 1; i < api.requests.size(); ++i) {
        EXPECT_GE(api.requests[i].at - api.requests[i - 1].at, 3s);
    }
    finish();
}

TEST_F(DispatchEngineTest, ARecipientWaitsItsGapWhileTheOthersGo) {
    const std::string twice = recipient(1);
    queue.add_job("shop", 1, twice, R"({"type":"text","body":"first"})");
    queue.add_job("shop", 1, twice, R"({"type":"text","body":"second"})");
    for (int i = 0; i < 5; ++i) {
        queue.add_job("shop", 1, recipient(100 + i), R"({"type":"text","body":"Hi"})");
    }
    auto o = options();
    o.per_recipient_gap = 6s;
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 7; }));
    std::vector<pace_time> to_twice;
    pace_time others_done{};
    for (const auto& q : api.requests) {
        if (q.body.to == twice) {
            to_twice.push_back(q.at);
        } else {
            others_done = std::max(others_done, q.at);
        }
    }
    ASSERT_EQ(to_twice.size(), 2u);
    EXPECT_GE(to_twice[1] - to_twice[0], 6s);
    EXPECT_LT(others_done, to_twice[1]) << "the other recipients waited behind the gap";
    EXPECT_LT(others_done - to_twice[0], 1s) << "the other recipients did not go at the key's pace";
    finish();
}

TEST_F(DispatchEngineTest, ASpreadBatchLeavesThroughTheLeastLoadedNumberThatMaySend) {
    queue.add_batch(3, R"({"type":"text","body":"Hi"})", {std::string(number_a), std::string(number_b)});
    add_jobs(10, 3);
    auto o = options();
    o.number_caps[std::string(number_a)] = send_caps{.per_minute = 2};
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 10; }));
    std::map<std::string, int> by_number;
    for (const auto& q : api.requests) {
        ++by_number[q.body.instance_id];
    }
    EXPECT_EQ(by_number[std::string(number_a)], 2);
    EXPECT_EQ(by_number[std::string(number_b)], 8);
    EXPECT_LT(api.requests.back().at - api.requests.front().at, 2s) << "a job waited for a capped number";
    EXPECT_TRUE(queue.unclaims.empty());
    finish();
}

TEST_F(DispatchEngineTest, ARestartKeepsTheDaysBudgetFromTheStoresCounters) {
    add_jobs(3);
    auto o = options();
    o.number_caps[std::string(number_a)] = send_caps{.per_day = 100};
    o.number_counts[std::string(number_a)] =
        window_counts{.at = clock.now(), .minute = 0, .hour = 40, .day = 100};
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.unclaims.size() == 3; }));
    EXPECT_TRUE(api.requests.empty());
    for (const auto& u : queue.unclaims) {
        EXPECT_EQ(u.new_state, job_state::waiting);
        ASSERT_TRUE(u.next_attempt_at);
        EXPECT_EQ(*u.next_attempt_at, std::chrono::ceil<std::chrono::days>(u.now)) << "not the next UTC day";
    }
    finish();
}

// ---- the instance monitor ---------------------------------------------------------------------------------

TEST_F(DispatchEngineTest, ADisconnectedNumbersJobsAreHeldWithoutAttemptsAndReleasedWhenItIsBack) {
    api.instance_status[std::string(number_a)] = "disconnected";
    api.instance_status[std::string(number_b)] = "connected";
    add_jobs(5, 1);  // number_a
    add_jobs(5, 2);  // number_b
    auto o = options();
    o.instance_poll_interval = 10s;
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 5; }));
    EXPECT_EQ(queue.count_state(job_state::held), 5u);
    // No job is claimed while its only number is down, yet the key keeps polling it: nothing else would
    // tell that it is back.
    const pace_time reconnected = clock.steady_now() + 25s;
    ASSERT_TRUE(run_until([&] { return clock.steady_now() >= reconnected; }));
    EXPECT_EQ(queue.count_state(job_state::held), 5u);
    EXPECT_TRUE(queue.releases.empty());
    for (const auto& q : api.requests) {
        EXPECT_EQ(q.body.instance_id, number_b) << "sent through a disconnected number";
    }
    const std::size_t polls_while_down = api.polls.size();
    api.instance_status[std::string(number_a)] = "connected";
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 10; }));
    EXPECT_GE(polls_while_down, 3u);
    ASSERT_EQ(queue.releases.size(), 1u);
    EXPECT_EQ(queue.releases[0], number_a);
    for (const auto& r : queue.results) {
        EXPECT_EQ(r.attempt.n, 1) << "job " << r.attempt.job_id
                                  << " used an attempt while its number was down";
    }
    for (const auto& u : queue.unclaims) {
        EXPECT_EQ(u.new_state, job_state::held);
        EXPECT_LE(u.job_id, 5) << "a job of the connected number was held";
        ASSERT_TRUE(u.hold);
        EXPECT_EQ(u.hold->scope, hold_scope::number);
        EXPECT_EQ(u.hold->subject, number_a);
        EXPECT_EQ(u.hold->cause, number_disconnected_cause);
        EXPECT_EQ(u.hold->reason_code, "disconnected");
    }
    EXPECT_LE(max_per_second(), 10u);
    finish();
}

TEST_F(DispatchEngineTest, TheWarmUpPolicyScaledBySafetyStateCapsTheNumber) {
    api::instance_health h;
    h.safety = api::safety_state::warning;  // half the warm-up policy
    h.safety_text = "warning";
    h.warmup =
        api::warmup_policy{.max_per_minute = 6, .max_per_hour = {}, .max_per_day = {}, .min_interval = {}};
    api.health[std::string(number_a)] = h;
    add_jobs(9);
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 9; }));
    std::map<timestamp, int> by_minute;
    for (const auto& q : api.requests) {
        ++by_minute[std::chrono::floor<std::chrono::minutes>(wall_of(clock, q.at))];
    }
    EXPECT_GE(by_minute.size(), 3u);
    for (const auto& [minute, n] : by_minute) {
        EXPECT_LE(n, 3) << "minute " << minute.time_since_epoch().count();
    }
    finish();
}

TEST_F(DispatchEngineTest, PollsStopOnceTheKeyHasNoWork) {
    add_jobs(3);
    auto o = options();
    o.instance_poll_interval = 10s;
    o.health_poll_interval = 20s;
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 3; }));
    const pace_time idle_from = clock.steady_now() + 1min;
    ASSERT_TRUE(run_until([&] { return clock.steady_now() >= idle_from; }));
    const std::size_t polls = api.polls.size();
    const pace_time later = clock.steady_now() + 10min;
    ASSERT_TRUE(run_until([&] { return clock.steady_now() >= later; }));
    EXPECT_EQ(api.polls.size(), polls) << "a key without work kept polling";
    EXPECT_LE(polls, 6u);
    finish();
}

TEST_F(DispatchEngineTest, ConsecutiveProviderErrorsPauseTheNumberThenOneProbeReopensIt) {
    add_jobs(30);
    for (int i = 0; i < 5; ++i) {
        api.script[recipient(1000 + i)] = {fake_answer::error(502, "PROVIDER_UNAVAILABLE")};
    }
    api.fallback = fake_answer::success(1s);
    auto o = options();
    o.number_breaker.cooldown = 15s;
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 30; }));
    EXPECT_EQ(engine_->stats().breaker_opened, 1u);
    // The five 502s opened it: nothing left through the number during the cool-down…
    ASSERT_GE(api.requests.size(), 8u);
    EXPECT_GE(api.requests[5].at - api.requests[4].at, 15s);
    // …then one probe, alone until its answer (a second), after which the pace is back to 10/s.
    EXPECT_GE(api.requests[6].at - api.requests[5].at, 1s);
    EXPECT_LT(api.requests[7].at - api.requests[6].at, 200ms);
    finish();
    EXPECT_EQ(queue.count_state(job_state::failed) + queue.count_state(job_state::dead), 0u);
}

TEST_F(DispatchEngineTest, ABatchWhoseFirstAnswersAllFailWithOneCodeIsHeldNotFailedWhole) {
    add_jobs(60, 1);
    const auto others = add_jobs(10, 2);
    api.fallback = fake_answer::error(400, "VALIDATION_ERROR");
    api.fallback.latency = 300ms;
    for (int i = 0; i < 10; ++i) {
        api.script[recipient(2000 + i)] = {fake_answer::success(300ms)};
    }
    start();
    ASSERT_TRUE(run_until([&] {
        return queue.count_state(job_state::sent) == others.size() && queue.inflight() == 0 &&
               queue.count_state(job_state::held) + queue.count_state(job_state::failed) == 60;
    }));
    ASSERT_EQ(queue.holds.size(), 1u);
    const auto& h = queue.holds[0].target;
    EXPECT_EQ(h.scope, hold_scope::batch);
    EXPECT_EQ(h.subject, "batch-1");
    EXPECT_EQ(h.cause, "batch-failures");
    EXPECT_EQ(h.reason_code, "VALIDATION_ERROR");
    // Exactly the first 20 answers failed; those in flight when it tripped are held with the batch.
    EXPECT_EQ(queue.count_state(job_state::failed), 20u);
    std::size_t sent_for_batch_1 = 0;
    for (const auto& r : api.requests) {
        sent_for_batch_1 += r.body.to.starts_with(recipient(1000).substr(0, 9)) ? 1 : 0;
    }
    EXPECT_LE(sent_for_batch_1, 25u) << "the batch kept sending after its breaker tripped";
    for (const auto& r : queue.results) {
        if (r.new_state == job_state::held) {
            ASSERT_TRUE(r.hold);
            EXPECT_EQ(r.hold->subject, "batch-1");
        }
    }
    EXPECT_EQ(engine_->stats().batches_held, 1u);
    finish();
}

TEST_F(DispatchEngineTest, ATemplateBatchIsPreviewedOnceWithItsFirstVariablesBeforeItsFirstSend) {
    queue.add_batch(3, R"({"templateId":"tpl_welcome"})", {std::string(number_a)});
    for (int i = 0; i < 5; ++i) {
        queue.add_job("shop", 3, recipient(3000 + i), R"({"name":"Ana"})");
    }
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 5; }));
    ASSERT_EQ(api.previews.size(), 1u);
    EXPECT_EQ(api.previews[0].template_id, "tpl_welcome");
    ASSERT_TRUE(api.previews[0].body.variables);
    EXPECT_EQ(api.previews[0].body.variables->at("name").as_string(), "Ana");
    EXPECT_EQ(api.previews[0].body.instance_id, std::string(number_a));
    ASSERT_FALSE(api.requests.empty());
    EXPECT_LT(api.previews[0].at, api.requests[0].at);
    EXPECT_LE(max_per_second(), 10u);
    finish();
}

// A *.campaign.json batch's one job creates the campaign (POST /campaigns with the stored body, no message
// sent) and keeps its id; an unanswered creation is held, never sent again, even with on_ambiguous = retry.
TEST_F(DispatchEngineTest, ACampaignJobCreatesTheCampaignAndKeepsItsId) {
    const std::int64_t job = add_campaign();
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 1; }));
    ASSERT_EQ(api.campaigns.size(), 1u);
    EXPECT_EQ(api.campaigns[0].account, "shop");
    EXPECT_EQ(api.campaigns[0].body.at("name").as_string(), "Spring");
    EXPECT_TRUE(api.requests.empty()) << "a campaign job sent a message";
    ASSERT_NE(queue.last_result(job), nullptr);
    EXPECT_EQ(queue.last_result(job)->attempt.message_id, "campaign-1");
    EXPECT_EQ(queue.last_result(job)->api_status, "scheduled");
    EXPECT_EQ(queue.last_result(job)->delivery, store::delivery_kind::campaign)
        << "a campaign's id is no message to reconcile";
    finish();
}

// A campaign job is reconciled from GET /campaigns/{id}/stats (never GET /messages/{id}): each check's
// counts are recorded for its batch, and the job settles "completed" once no recipient is pending or sent.
TEST_F(DispatchEngineTest, ACampaignIsReconciledFromItsStatsUntilEveryRecipientHasEnded) {
    engine_options o = options();
    o.delivery_idle_claim_interval = 1s;
    const std::int64_t job = add_campaign();
    api.campaign_progress = api::campaign_stats{.total = 3, .pending = 1, .sent = 2};
    start(o);
    ASSERT_TRUE(run_until([&] { return !queue.delivery_updates.empty(); }));
    const store::delivery_update first = queue.delivery_updates.front();
    ASSERT_TRUE(first.campaign);
    EXPECT_EQ(first.campaign->campaign_id, "campaign-1");
    EXPECT_EQ(first.campaign->total, 3);
    EXPECT_EQ(first.campaign->pending, 1);
    EXPECT_EQ(first.campaign->sent, 2);
    EXPECT_EQ(first.status, "running");
    EXPECT_TRUE(first.settled.empty());
    EXPECT_TRUE(first.next_check_at) << "a running campaign is checked again";

    api.campaign_progress = api::campaign_stats{.total = 3, .delivered = 1, .read = 1, .failed = 1};
    ASSERT_TRUE(run_until([&] { return queue.unsettled() == 0; }));
    EXPECT_EQ(queue.deliveries[job].settled, "completed");
    const store::delivery_update& last = queue.delivery_updates.back();
    ASSERT_TRUE(last.campaign);
    EXPECT_EQ(last.campaign->read, 1);
    EXPECT_EQ(last.campaign->failed, 1);
    for (const auto& r : api.reads) {
        EXPECT_EQ(r.what, "stats campaign-1") << "a campaign's id was read as a message's";
    }
    finish();
}

TEST_F(DispatchEngineTest, ACampaignCreatedWithoutAnAnswerIsHeldNotCreatedAgain) {
    const std::int64_t job = add_campaign();
    api.campaign_answer = fake_answer{.k = fake_answer::kind::ambiguous};
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::held) == 1; }));
    ASSERT_NE(queue.last_result(job), nullptr);
    EXPECT_TRUE(queue.last_result(job)->attempt.ambiguous);
    finish();
    EXPECT_EQ(api.campaigns.size(), 1u);
}

TEST_F(DispatchEngineTest, ARefusedPreviewHoldsTheTemplateBatchBeforeAnyMessageGoes) {
    queue.add_batch(3, R"({"templateId":"tpl_missing"})", {std::string(number_a)});
    for (int i = 0; i < 5; ++i) {
        queue.add_job("shop", 3, recipient(3000 + i), R"({"name":"Ana"})");
    }
    api.preview_answer = fake_answer::error(404, "TEMPLATE_NOT_FOUND");
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::held) == 5; }));
    EXPECT_TRUE(api.requests.empty()) << "a message of a batch whose template was refused went out";
    ASSERT_EQ(queue.holds.size(), 1u);
    EXPECT_EQ(queue.holds[0].target.subject, "batch-3");
    EXPECT_EQ(queue.holds[0].target.cause, "template-preview");
    EXPECT_EQ(queue.holds[0].target.reason_code, "TEMPLATE_NOT_FOUND");
    finish();
    EXPECT_EQ(api.previews.size(), 1u);
}

TEST_F(DispatchEngineTest, APausedBatchsClaimedJobsGoBackInsteadOfBeingSent) {
    add_jobs(20, 1);
    add_jobs(5, 2);
    api.fallback = fake_answer::success(1s);
    auto o = options();
    o.window_per_key = 25;
    start(o);
    ASSERT_TRUE(run_until([&] { return api.requests.size() >= 2; }));
    const std::size_t before = api.requests.size();
    queue.hold_batch("batch-1");     // the operator paused it: the store holds its jobs…
    engine_->drop_batch("batch-1");  // …and the engine gives back those it had claimed
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) >= 5 && queue.inflight() == 0; }));
    std::size_t batch_1_after = 0;
    for (std::size_t i = before; i < api.requests.size(); ++i) {
        batch_1_after += api.requests[i].body.to.starts_with(recipient(1000).substr(0, 9)) ? 1 : 0;
    }
    EXPECT_EQ(batch_1_after, 0u) << "jobs of a paused batch were sent after the pause";
    EXPECT_GE(queue.unclaims.size(), 20u - before);
    finish();
}

TEST_F(DispatchEngineTest, OtherRequestsWithTheKeyWaitForASlotOfItsPacer) {
    add_jobs(60);
    start();
    ASSERT_TRUE(run_until([&] { return api.requests.size() >= 20; }));
    // The operator's calls, while the key sends at full pace: each waits for a slot.
    std::vector<pace_time> granted;
    for (int i = 0; i < 3; ++i) {
        engine_->request_slot("shop", [&] { granted.push_back(clock.steady_now()); });
    }
    bool other_account = false;
    engine_->request_slot("nobody", [&] { other_account = true; });
    EXPECT_TRUE(other_account) << "a key the engine does not pace is not waited for";
    ASSERT_TRUE(run_until([&] { return granted.size() == 3 && queue.count_state(job_state::sent) == 60; }));
    EXPECT_LE(max_per_second(granted), 10u) << "the key's budget is shared by every request made with it";
    finish();
}

// ---- reconciliation (issue 7) ----------------------------------------------------------------------------

// A world of its own (io_context, virtual clock, fakes, engine), for runs compared with each other.
struct engine_world {
    explicit engine_world(engine_options o) {
        queue.add_batch(1, R"({"type":"text","body":"Hi {{name}}"})", {std::string(number_a)});
        engine = std::make_unique<dispatch_engine>(std::move(o), queue, api, clock);
        asio::co_spawn(io, engine->run(), [this](std::exception_ptr) { done = true; });
    }
    void finish() {
        engine->stop();
        clock.run_until([&] { return done; });
    }
    std::vector<pace_time> send_times() const {
        std::vector<pace_time> at;
        for (const auto& r : api.requests) {
            at.push_back(r.at);
        }
        return at;
    }
    std::vector<pace_time> read_times(std::string_view what = {}) const {
        std::vector<pace_time> at;
        for (const auto& r : api.reads) {
            if (what.empty() || r.what.starts_with(what)) {
                at.push_back(r.at);
            }
        }
        return at;
    }
    asio::io_context io;
    virtual_clock clock{io};
    fake_queue queue{clock};
    fake_api api{io, clock};
    std::unique_ptr<dispatch_engine> engine;
    bool done = false;
};

TEST_F(DispatchEngineTest, DeliveryChecksTakeOnlySpareCapacityAndNeverDelayASend) {
    // The same 60 sends, once with 300 deliveries already due for a check and once without: the sends leave
    // at the same instants, and the checks go in what the sends leave, within the housekeeping share.
    const auto run = [](bool backlog, std::vector<pace_time>& reads, std::size_t& most) {
        engine_world w(options());
        for (int i = 0; i < 60; ++i) {
            w.queue.add_job("shop", 1, recipient(1000 + i), R"({"type":"text","body":"Hi Ana"})");
        }
        if (backlog) {
            for (int i = 0; i < 300; ++i) {
                w.api.messages.push_back(listed("old-" + std::to_string(i), recipient(5000 + i), "delivered",
                                                "Hi Ana", w.clock.now() - 1h));
                w.queue.add_delivery("shop", 100'000 + i, w.api.messages.back().id, w.clock.now() - 1h);
            }
        }
        EXPECT_TRUE(w.clock.run_until([&] { return w.queue.count_state(job_state::sent) == 60; }));
        w.api.set_status("delivered");
        EXPECT_TRUE(w.clock.run_until([&] { return w.queue.unsettled() == 0; }));
        w.finish();
        reads = w.read_times();
        std::vector<pace_time> all = w.send_times();
        all.insert(all.end(), reads.begin(), reads.end());
        for (const auto& p : w.api.polls) {
            all.push_back(p.at);
        }
        std::sort(all.begin(), all.end());
        most = 0;
        for (std::size_t i = 0; i < all.size(); ++i) {
            const auto end =
                std::lower_bound(all.begin() + static_cast<std::ptrdiff_t>(i), all.end(), all[i] + 1s);
            most = std::max(most, static_cast<std::size_t>(end - all.begin()) - i);
        }
        return w.send_times();
    };
    std::vector<pace_time> quiet_reads;
    std::vector<pace_time> busy_reads;
    std::size_t quiet_most = 0;
    std::size_t busy_most = 0;
    const std::vector<pace_time> quiet = run(false, quiet_reads, quiet_most);
    const std::vector<pace_time> busy = run(true, busy_reads, busy_most);
    ASSERT_EQ(quiet.size(), 60u);
    EXPECT_EQ(busy, quiet) << "a reconciliation read delayed a send";
    EXPECT_LE(busy_most, 10u) << "the key's budget is shared by every request made with it";
    ASSERT_GT(busy_reads.size(), quiet_reads.size());
    for (const pace_time r : busy_reads) {
        EXPECT_FALSE(r > busy.front() && r < busy.back()) << "a read took a slot while sends were waiting";
    }
    // Housekeeping keeps to its share: 0.2 of 10 req/s, one read per 500 ms at most.
    for (std::size_t i = 1; i < busy_reads.size(); ++i) {
        EXPECT_GE(busy_reads[i] - busy_reads[i - 1], 500ms);
    }
    // 360 deliveries in far fewer reads: the due ones were found in pages of GET /messages.
    EXPECT_LT(busy_reads.size(), 40u);
}

TEST_F(DispatchEngineTest, DeliveriesArePolledAtGrowingIntervalsUntilAFinalStatus) {
    engine_options o = options();
    o.delivery_idle_claim_interval = 1s;
    const auto ids = add_jobs(2);
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 2; }));
    api.set_status("sent");
    const std::string first_message = queue.last_result(ids[0])->attempt.message_id;
    const auto reads_of = [&] {
        std::vector<pace_time> at;
        for (const auto& r : api.reads) {
            if (r.what == "get " + first_message) {
                at.push_back(r.at);
            }
        }
        return at;
    };
    ASSERT_TRUE(run_until([&] { return reads_of().size() >= 6; }));
    const std::vector<pace_time> at = reads_of();
    const pace_time sent_at = api.requests[0].at;
    EXPECT_GE(at[0] - sent_at, 5s) << "the first check comes first_check after the send";
    for (std::size_t i = 2; i < at.size(); ++i) {
        EXPECT_GE(at[i] - at[i - 1], (at[i - 1] - at[i - 2]) * 3 / 2) << "the checks space out as it ages";
    }
    EXPECT_EQ(queue.deliveries[ids[0]].status, "sent");
    EXPECT_TRUE(queue.deliveries[ids[0]].status_at);
    EXPECT_TRUE(queue.deliveries[ids[0]].settled.empty());

    const timestamp read_at = clock.now();
    api.set_status("read");
    ASSERT_TRUE(run_until([&] { return queue.unsettled() == 0; }));
    EXPECT_EQ(queue.deliveries[ids[0]].settled, "read");
    EXPECT_EQ(queue.deliveries[ids[0]].status_at, read_at)
        << "the status's own time (readAt), not the check's";
    // A final status stops the polling: an hour later nothing more was asked.
    const std::size_t reads = api.reads.size();
    const pace_time later = clock.steady_now() + 1h;
    ASSERT_TRUE(run_until([&] { return clock.steady_now() >= later; }));
    EXPECT_EQ(api.reads.size(), reads);
    EXPECT_EQ(engine_->stats().deliveries_settled.at("read"), 2u);
    finish();
}

TEST_F(DispatchEngineTest, ADeliveryWithoutAFinalStatusIsGivenUpAtMaxAge) {
    engine_options o = options();
    o.reconcile.max_age = 2min;
    o.delivery_idle_claim_interval = 1s;
    const auto ids = add_jobs(1);
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 1; }));
    api.set_status("sent");
    ASSERT_TRUE(run_until([&] { return queue.unsettled() == 0; }));
    EXPECT_EQ(queue.deliveries[ids[0]].settled, "gave-up");
    EXPECT_EQ(queue.deliveries[ids[0]].status, "sent");
    ASSERT_FALSE(api.reads.empty());
    EXPECT_LE(api.reads.back().at - api.requests[0].at, 2min + 2s) << "polled past reconcile.max_age";
    const std::size_t reads = api.reads.size();
    const pace_time later = clock.steady_now() + 1h;
    ASSERT_TRUE(run_until([&] { return clock.steady_now() >= later; }));
    EXPECT_EQ(api.reads.size(), reads);
    finish();
}

TEST_F(DispatchEngineTest, AnAmbiguousSendThatWentIsFoundAndNotSentAgain) {
    const auto ids = add_jobs(3);
    api.script[recipient(1001)] = {fake_answer{.k = fake_answer::kind::ambiguous}};
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 3; }));
    EXPECT_EQ(api.requests.size(), 3u) << "a second POST for a message that had gone";
    EXPECT_EQ(queue.results.size(), 3u);
    const store::job_result* r = queue.last_result(ids[1]);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->new_state, job_state::sent);
    EXPECT_TRUE(r->attempt.ambiguous);
    EXPECT_EQ(r->attempt.outcome, attempt_outcome::ambiguous);
    EXPECT_EQ(r->attempt.settled, settle_outcome::found);
    EXPECT_TRUE(r->count_send);
    const auto kept = std::find_if(api.messages.begin(), api.messages.end(),
                                   [&](const api::message_details& m) { return m.to == recipient(1001); });
    ASSERT_NE(kept, api.messages.end());
    EXPECT_EQ(r->attempt.message_id, kept->id);
    EXPECT_TRUE(queue.deliveries.contains(ids[1])) << "found, it is reconciled like any sent message";
    // The list was read after the settle delay, filtered to the job's number.
    ASSERT_FALSE(api.reads.empty());
    EXPECT_EQ(api.reads[0].what, "list");
    EXPECT_GE(api.reads[0].at - api.requests[1].at, 2s);
    EXPECT_EQ(engine_->stats().settled_found, 1u);
    EXPECT_EQ(engine_->stats().ambiguous, 1u);
    finish();
}

TEST_F(DispatchEngineTest, AnAmbiguousSendIsSettledPromptlyWhileTheKeySendsAtFullPace) {
    const auto ids = add_jobs(80);
    api.script[recipient(1005)] = {fake_answer{.k = fake_answer::kind::ambiguous}};
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 80; }));
    EXPECT_EQ(api.requests.size(), 80u);
    ASSERT_FALSE(api.reads.empty());
    EXPECT_EQ(api.reads[0].what, "list");
    // Its page took the next send slot after the settle delay, ahead of the sends still waiting.
    EXPECT_LE(api.reads[0].at - api.requests[5].at, 2s + 200ms);
    EXPECT_LT(api.reads[0].at, api.requests.back().at);
    EXPECT_EQ(queue.last_result(ids[5])->attempt.settled, settle_outcome::found);
    std::vector<pace_time> reads;
    for (const auto& r : api.reads) {
        reads.push_back(r.at);
    }
    EXPECT_LE(max_per_second(reads), 10u);
    finish();
}

TEST_F(DispatchEngineTest, AnAmbiguousSendNotFoundIsHeldWhenThePolicySaysHold) {
    engine_options o = options();
    o.retry.on_ambiguous = ambiguous_policy::hold;
    add_jobs(1);
    api.script[recipient(1000)] = {fake_answer{.k = fake_answer::kind::ambiguous}};
    api.ambiguous_processed = false;
    // Older traffic of the account: the walk stops at the first message older than the attempt.
    for (int i = 0; i < 250; ++i) {
        api.messages.push_back(
            listed("old-" + std::to_string(i), recipient(1000), "read", "something else", clock.now() - 1h));
    }
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.results.size() == 1; }));
    EXPECT_EQ(queue.results[0].new_state, job_state::held);
    EXPECT_EQ(queue.results[0].attempt.settled, settle_outcome::not_found);
    EXPECT_EQ(api.reads.size(), 1u) << "one page reached messages older than the attempt";
    EXPECT_EQ(api.requests.size(), 1u);
    finish();
}

// A crash left job 2's attempt 1 ambiguous (the store's recovery): before its claim sends, the account's
// messages are read; the message that attempt created is there, so no second POST is made.
TEST_F(DispatchEngineTest, AJobWhoseCrashLeftAttemptWentIsFoundAndNotSentAgain) {
    const auto ids = add_jobs(3);
    const timestamp crashed = clock.now() - 1min;
    queue.crash_left(ids[1], 1, crashed);
    api.messages.push_back(
        listed("msg-before-the-crash", recipient(1001), "delivered", "Hi Ana", crashed + 300ms));
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 3; }));
    EXPECT_EQ(api.requests.size(), 2u) << "a second POST for a message that had gone before the crash";
    for (const auto& q : api.requests) {
        EXPECT_NE(q.body.to, recipient(1001));
    }
    const store::job_result* r = queue.last_result(ids[1]);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->new_state, job_state::sent);
    EXPECT_EQ(r->attempt.message_id, "msg-before-the-crash");
    EXPECT_EQ(r->attempt.n, 2);
    EXPECT_FALSE(r->attempt.counted) << "no request of its own";
    EXPECT_EQ(r->attempt.finished_at, crashed + 300ms) << "sent when the message was created";
    EXPECT_EQ(r->instance_id, number_a);
    EXPECT_TRUE(r->count_send);
    ASSERT_TRUE(r->settles);
    EXPECT_EQ(r->settles->n, 1);
    EXPECT_EQ(r->settles->outcome, settle_outcome::found);
    EXPECT_EQ(r->api_status, "delivered");
    ASSERT_FALSE(api.reads.empty());
    EXPECT_EQ(api.reads[0].what, "list");
    EXPECT_EQ(engine_->stats().settled_found, 1u);
    finish();
}

// Not there (the walk reached messages older than the crashed claim): the job is sent once, and its
// result records the earlier attempt as settled-not-found.
TEST_F(DispatchEngineTest, AJobWhoseCrashLeftAttemptSentNothingIsSentOnce) {
    const auto ids = add_jobs(1);
    const timestamp crashed = clock.now() - 1min;
    queue.crash_left(ids[0], 1, crashed);
    // The same message, sent long before the attempt: not its.
    api.messages.push_back(listed("older", recipient(1000), "read", "Hi Ana", crashed - 1h));
    start();
    ASSERT_TRUE(run_until([&] { return queue.count_state(job_state::sent) == 1; }));
    ASSERT_EQ(api.requests.size(), 1u);
    ASSERT_EQ(api.reads.size(), 1u);
    EXPECT_LT(api.reads[0].at, api.requests[0].at) << "the send waited for the settle";
    const store::job_result* r = queue.last_result(ids[0]);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->attempt.n, 2);
    EXPECT_TRUE(r->attempt.counted);
    EXPECT_NE(r->attempt.message_id, "older");
    ASSERT_TRUE(r->settles);
    EXPECT_EQ(r->settles->n, 1);
    EXPECT_EQ(r->settles->outcome, settle_outcome::not_found);
    EXPECT_EQ(engine_->stats().settled_not_found, 1u);
    finish();
}

// Stopping before the page is read: the job goes back unsent, its earlier attempt still unsettled.
TEST_F(DispatchEngineTest, AJobWhoseCrashLeftAttemptIsNotSettledBeforeAStopIsGivenBack) {
    const auto ids = add_jobs(1);
    queue.crash_left(ids[0], 1, clock.now() - 1min);
    start();
    ASSERT_TRUE(run_until([&] { return queue.claims.size() >= 1 && queue.inflight() == 1; }));
    finish();
    EXPECT_TRUE(api.requests.empty());
    EXPECT_TRUE(queue.results.empty());
    ASSERT_EQ(queue.unclaims.size(), 1u);
    EXPECT_EQ(queue.unclaims[0].job_id, ids[0]);
    EXPECT_EQ(queue.unclaims[0].new_state, job_state::ready);
}

// Its batch paused (or cancelled) while the crash-left attempt was being settled: the job goes back unsent,
// the attempt unsettled (the next claim asks again), nothing counted.
TEST_F(DispatchEngineTest, AJobSettlingItsCrashLeftAttemptWhenItsBatchIsPausedGoesBackUnsent) {
    const auto ids = add_jobs(1);
    queue.crash_left(ids[0], 1, clock.now() - 1min);
    start();
    ASSERT_TRUE(run_until([&] { return queue.inflight() == 1; }));
    engine_->drop_batch("batch-1");
    ASSERT_TRUE(run_until([&] { return queue.unclaims.size() == 1; }));
    EXPECT_EQ(queue.unclaims[0].job_id, ids[0]);
    EXPECT_TRUE(api.requests.empty());
    EXPECT_TRUE(queue.results.empty());
    EXPECT_EQ(engine_->stats().settled_not_found + engine_->stats().settle_unresolved, 0u);
    queue.hold_batch("batch-1");  // what the store does for the operator's pause
    finish();
    EXPECT_TRUE(api.requests.empty());
}

TEST_F(DispatchEngineTest, AnAmbiguousSendWhoseListCannotBeReadIsUnresolvedAndRetried) {
    engine_options o = options();
    o.settle.max_pages = 2;
    add_jobs(1);
    api.script[recipient(1000)] = {fake_answer{.k = fake_answer::kind::ambiguous}};
    api.read_script = {fake_answer::error(502, "PROVIDER_UNAVAILABLE"), fake_answer::error(503, "")};
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.results.size() == 2; }));
    EXPECT_EQ(queue.results[0].new_state, job_state::waiting);
    EXPECT_EQ(queue.results[0].attempt.settled, settle_outcome::unresolved);
    EXPECT_EQ(queue.results[1].new_state, job_state::sent);
    EXPECT_EQ(queue.results[1].attempt.settled, settle_outcome::none);
    EXPECT_EQ(engine_->stats().settle_unresolved, 1u);
    finish();
}

TEST_F(DispatchEngineTest, ReconcileNowClaimsTheDueChecksAtOnce) {
    engine_options o = options();
    o.delivery_idle_claim_interval = 1h;
    start(o);
    ASSERT_TRUE(run_until([&] { return queue.delivery_claims >= 1; }));
    api::message_details m;
    m.id = "m-1";
    m.status = "delivered";
    api.messages.push_back(m);
    queue.add_delivery("shop", 42, "m-1", clock.now() - 1min);
    const pace_time asked = clock.steady_now() + 10s;
    ASSERT_TRUE(run_until([&] { return clock.steady_now() >= asked; }));
    EXPECT_EQ(queue.unsettled(), 1u) << "claimed before its idle interval";
    engine_->reconcile_now();
    ASSERT_TRUE(run_until([&] { return queue.unsettled() == 0; }));
    EXPECT_LE(clock.steady_now() - asked, 2s);
    EXPECT_EQ(queue.deliveries[42].settled, "delivered");
    finish();
}

}  // namespace
}  // namespace msgflash::engine::test
