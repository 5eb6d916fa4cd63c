// The pure parts of the engine: the decision each answer leads to, backoff bounds, request building.
#include "engine/result_decision.hpp"

#include <gtest/gtest.h>

#include "engine/send_request_builder.hpp"

namespace msgflash::engine {
namespace {

using namespace std::chrono_literals;

send_context context(int attempt) {
    send_context c;
    c.job.id = 7;
    c.job.attempt = attempt;
    c.job.created_at = from_millis(1'000'000);
    c.account = "shop";
    c.instance_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    c.started = from_millis(2'000'000);
    c.finished = from_millis(2'000'120);
    return c;
}

send_answer answer(transport_outcome o, unsigned status, std::string code) {
    send_answer a;
    a.v = classify(o, status, code);
    a.http_status = status;
    a.api_code = std::move(code);
    return a;
}

const store::job_result& result_of(const job_decision& d) {
    return std::get<store::job_result>(d.change);
}

TEST(ResultDecisionTest, SentKeepsIdStatusAndCountsTheSend) {
    send_answer a = answer(transport_outcome::answered, 200, "");
    a.message_id = "m-1";
    a.api_status = "queued";
    const auto d = decide(context(1), a, {}, 0.5);
    const auto& r = result_of(d);
    EXPECT_EQ(r.new_state, job_state::sent);
    EXPECT_EQ(r.attempt.message_id, "m-1");
    EXPECT_EQ(r.api_status, "queued");
    EXPECT_TRUE(r.count_send);
    EXPECT_EQ(r.attempt.latency_ms, 120);
}

TEST(ResultDecisionTest, RetryAtTheLastAttemptOrPastMaxAgeIsDead) {
    retry_rules rules;
    rules.backoff.max_attempts = 3;
    const auto at_limit =
        decide(context(3), answer(transport_outcome::answered, 502, "PROVIDER_ERROR"), rules, 0.5);
    EXPECT_EQ(result_of(at_limit).new_state, job_state::dead);
    const auto below =
        decide(context(2), answer(transport_outcome::answered, 502, "PROVIDER_ERROR"), rules, 0.5);
    EXPECT_EQ(result_of(below).new_state, job_state::waiting);
    EXPECT_EQ(*result_of(below).next_attempt_at, context(2).finished + 2'000ms);  // u = 0.5 of base·factor

    rules.backoff.max_age = 1'000s;
    auto old = context(1);
    old.finished = old.job.created_at + 1'000s;
    const auto too_old = decide(old, answer(transport_outcome::ambiguous, 0, ""), rules, 0.5);
    EXPECT_EQ(result_of(too_old).new_state, job_state::dead);
    EXPECT_EQ(result_of(too_old).last_code, retries_exhausted_code);
    EXPECT_TRUE(result_of(too_old).attempt.ambiguous);
}

TEST(ResultDecisionTest, OnAmbiguousHoldHoldsTheJobAloneAndRetryRetriesIt) {
    retry_rules rules;
    rules.on_ambiguous = ambiguous_policy::hold;
    const auto held = decide(context(1), answer(transport_outcome::ambiguous, 0, ""), rules, 0.5);
    EXPECT_EQ(result_of(held).new_state, job_state::held);
    EXPECT_FALSE(result_of(held).hold) << "held alone, on no key, number or batch hold";
    EXPECT_TRUE(result_of(held).attempt.ambiguous);
    EXPECT_FALSE(held.hold_key || held.hold_number);
    // A plain 502 is not ambiguous: backed off, whatever on_ambiguous says.
    const auto provider =
        decide(context(1), answer(transport_outcome::answered, 502, "PROVIDER_ERROR"), rules, 0.5);
    EXPECT_EQ(result_of(provider).new_state, job_state::waiting);
    rules.on_ambiguous = ambiguous_policy::retry;
    const auto retried = decide(context(1), answer(transport_outcome::ambiguous, 0, ""), rules, 0.5);
    EXPECT_EQ(result_of(retried).new_state, job_state::waiting);
    EXPECT_TRUE(result_of(retried).attempt.ambiguous);
}

TEST(ResultDecisionTest, QuotaHoldsTheKeyUntilTheNextBillingPeriod) {
    const auto d = decide(
        context(1), answer(transport_outcome::answered, 429, "MONTHLY_API_REQUEST_QUOTA_EXCEEDED"), {}, 0.5);
    const auto& r = result_of(d);
    EXPECT_TRUE(d.hold_key);
    EXPECT_FALSE(d.rate_limited);
    EXPECT_EQ(r.new_state, job_state::held);
    EXPECT_FALSE(r.attempt.counted);
    ASSERT_TRUE(r.hold && r.hold->until);
    EXPECT_EQ(r.hold->cause, "quota");
    EXPECT_EQ(*r.hold->until, next_billing_period(context(1).finished));
    using namespace std::chrono;
    EXPECT_EQ(next_billing_period(sys_days{2026y / December / 31} + 23h),
              timestamp{sys_days{2027y / January / 1}});
}

TEST(ResultDecisionTest, CancelledBeforeWritingIsGivenBack) {
    send_answer a = answer(transport_outcome::not_sent, 0, "");
    a.cancelled_unsent = true;
    const auto d = decide(context(4), a, {}, 0.5);
    const auto* u = std::get_if<store::unclaim_request>(&d.change);
    ASSERT_NE(u, nullptr);
    EXPECT_EQ(u->job_id, 7);
    EXPECT_EQ(u->attempt, 4);
    EXPECT_EQ(u->new_state, job_state::ready);
}

TEST(SendRequestBuilderTest, DirectModeSendsTheRenderedPayload) {
    const auto b = build_send_request(R"({"type":"text","body":"Hi {{name}}"})",
                                      R"({"type":"text","body":"Hi Ana"})", "inst", "+33612345678");
    const auto* r = std::get_if<api::send_request>(&b);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->instance_id, "inst");
    EXPECT_EQ(r->to, "+33612345678");
    EXPECT_EQ(r->content.type, "text");
    EXPECT_EQ(r->content.body, "Hi Ana");
    EXPECT_FALSE(r->content.template_id);
}

TEST(SendRequestBuilderTest, TemplateModeSendsTheTemplateWithTheMergedVariables) {
    const auto b = build_send_request(R"({"templateId":"t-1","variables":{"shop":"X"}})",
                                      R"({"shop":"X","name":"Ana"})", "inst", "+33612345678");
    const auto* r = std::get_if<api::send_request>(&b);
    ASSERT_NE(r, nullptr);
    EXPECT_EQ(r->content.template_id, "t-1");
    ASSERT_TRUE(r->content.variables);
    EXPECT_EQ(r->content.variables->at("name").as_string(), "Ana");
    EXPECT_FALSE(r->content.type);
}

TEST(SendRequestBuilderTest, BrokenStoredContentIsReportedNotThrown) {
    EXPECT_TRUE(std::holds_alternative<std::string>(build_send_request("{not json", "null", "i", "+1")));
    EXPECT_TRUE(
        std::holds_alternative<std::string>(build_send_request(R"({"body":"x"})", "null", "i", "+1")));
}

}  // namespace
}  // namespace msgflash::engine
