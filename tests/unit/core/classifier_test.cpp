#include "core/classifier.hpp"

#include <map>
#include <string>

#include <gtest/gtest.h>

#include "core/api_errors.hpp"

namespace msgflash {
namespace {

// SPEC §5, written out independently of the classifier: the verdict for each documented code.
struct expected {
    action act;
    hold_cause cause = hold_cause::none;
};

const std::map<std::string, expected>& spec_table() {
    static const std::map<std::string, expected> table = {
        {"UNAUTHORIZED", {action::hold_key, hold_cause::auth}},
        {"FORBIDDEN", {action::fail}},
        {"SUBSCRIPTION_INACTIVE", {action::hold_key, hold_cause::auth}},
        {"API_RATE_LIMIT_EXCEEDED", {action::rate_limited}},
        {"MONTHLY_API_REQUEST_QUOTA_EXCEEDED", {action::hold_key, hold_cause::quota}},
        {"MAX_INSTANCES_REACHED", {action::fail}},
        {"API_KEYS_NOT_AVAILABLE_ON_PLAN", {action::fail}},
        {"MAX_API_KEYS_REACHED", {action::fail}},
        {"WEBHOOKS_NOT_AVAILABLE_ON_PLAN", {action::fail}},
        {"MAX_WEBHOOK_ENDPOINTS_REACHED", {action::fail}},
        {"CAMPAIGNS_NOT_AVAILABLE_ON_PLAN", {action::fail}},
        {"STATUSES_NOT_AVAILABLE_ON_PLAN", {action::fail}},
        {"MAX_CONTACT_GROUPS_REACHED", {action::fail}},
        {"FEATURE_NOT_AVAILABLE_ON_PLAN", {action::fail}},
        {"VALIDATION_ERROR", {action::fail}},
        {"BAD_REQUEST", {action::fail}},
        {"TEMPLATE_INVALID", {action::fail}},
        {"TEMPLATE_VARIABLES_MISSING", {action::fail}},
        {"TEMPLATE_CONTEXT_UNAVAILABLE", {action::fail}},
        {"INVALID_DESTINATION", {action::fail}},
        {"NOT_FOUND", {action::fail}},
        {"CONFLICT", {action::fail}},
        {"INTERNAL_ERROR", {action::retry}},
        {"PROVIDER_TIMEOUT", {action::retry}},
        {"PROVIDER_UNAVAILABLE", {action::retry}},
        {"PROVIDER_ERROR", {action::retry}},
        {"TEAM_KEY_REQUIRED", {action::hold_key, hold_cause::configuration}},
        {"TEAM_KEY_NOT_ALLOWED", {action::hold_key, hold_cause::configuration}},
        {"TEAM_NOT_FOUND", {action::hold_key, hold_cause::configuration}},
        {"TEAM_ACCESS_DENIED", {action::hold_key, hold_cause::configuration}},
        {"TEAM_FEATURE_UNAVAILABLE", {action::fail}},
        {"TEAM_LIMIT_REACHED", {action::fail}},
        {"TEAM_SEAT_LIMIT_REACHED", {action::fail}},
        {"INSTANCE_NOT_ASSIGNED", {action::hold_number, hold_cause::configuration}},
        {"INVITE_INVALID_OR_EXPIRED", {action::fail}},
        {"INVITE_EMAIL_MISMATCH", {action::fail}},
        {"INVITE_DUPLICATE_MEMBER", {action::fail}},
        {"PLAN_CHANGE_BLOCKED_ACTIVE_TEAMS", {action::fail}},
        {"BILLING_PAYMENTS_TEAM_OWNER_ONLY", {action::fail}},
        {"BILLING_TEAM_MUTATION_FORBIDDEN", {action::fail}},
        {"UNSUPPORTED_FEATURE", {action::fail}},
    };
    return table;
}

TEST(Classifier, WalksTheErrorTableRowByRow) {
    ASSERT_EQ(spec_table().size(), api_error_table().size());
    for (const auto& row : api_error_table()) {
        SCOPED_TRACE(std::string(row.code));
        const auto it = spec_table().find(std::string(row.code));
        ASSERT_NE(it, spec_table().end()) << "no SPEC §5 expectation for this row";
        const verdict v = classify(transport_outcome::answered, row.http_status, row.code);
        EXPECT_EQ(v.act, it->second.act) << to_string(v.act);
        EXPECT_EQ(v.cause, it->second.cause) << to_string(v.cause);
        EXPECT_FALSE(v.ambiguous);
        // Holds and rate limits are not the job's fault; everything else the server judged is an attempt.
        const bool free =
            v.act == action::rate_limited || v.act == action::hold_key || v.act == action::hold_number;
        EXPECT_EQ(v.counts_attempt, !free);
        EXPECT_EQ(v.provider_failure, row.http_status == 502);
    }
}

TEST(Classifier, SuccessIsSentWhateverTheTwoHundredStatus) {
    for (unsigned status : {200u, 201u, 202u}) {
        const verdict v = classify(transport_outcome::answered, status, "");
        EXPECT_EQ(v.act, action::sent);
        EXPECT_TRUE(v.counts_attempt);
        EXPECT_FALSE(v.ambiguous);
    }
}

TEST(Classifier, UndocumentedCodesFallBackOnTheStatus) {
    EXPECT_EQ(classify(transport_outcome::answered, 503, "").act, action::retry);
    EXPECT_EQ(classify(transport_outcome::answered, 503, "SERVICE_UNAVAILABLE").act, action::retry);
    EXPECT_EQ(classify(transport_outcome::answered, 504, "").act, action::retry);
    EXPECT_EQ(classify(transport_outcome::answered, 500, "").act, action::retry);
    EXPECT_EQ(classify(transport_outcome::answered, 408, "").act, action::retry);
    EXPECT_EQ(classify(transport_outcome::answered, 429, "SOMETHING_NEW").act, action::rate_limited);
    EXPECT_EQ(classify(transport_outcome::answered, 401, "").cause, hold_cause::auth);
    EXPECT_EQ(classify(transport_outcome::answered, 400, "SOMETHING_NEW").act, action::fail);
    EXPECT_EQ(classify(transport_outcome::answered, 418, "").act, action::fail);
    EXPECT_FALSE(classify(transport_outcome::answered, 502, "").provider_failure)
        << "only a documented PROVIDER_* code feeds the number's breaker";
}

TEST(Classifier, ADocumentedCodeWinsOverAnOddStatus) {
    // The code is the API's precise word; a proxy may have rewritten the status.
    EXPECT_EQ(classify(transport_outcome::answered, 500, "INVALID_DESTINATION").act, action::fail);
    EXPECT_EQ(classify(transport_outcome::answered, 400, "PROVIDER_TIMEOUT").act, action::retry);
}

TEST(Classifier, NotSentRetriesWithoutSpendingAnAttempt) {
    const verdict v = classify(transport_outcome::not_sent, 0, "");
    EXPECT_EQ(v, (verdict{action::retry, hold_cause::none, false, false, false}));
}

TEST(Classifier, AmbiguousIsFlaggedAndCounted) {
    const verdict v = classify(transport_outcome::ambiguous, 0, "");
    EXPECT_EQ(v, (verdict{action::retry, hold_cause::none, true, true, false}));
}

TEST(Classifier, UnparseableTwoHundredIsAmbiguousOtherStatusesRetry) {
    EXPECT_TRUE(classify(transport_outcome::unparseable, 200, "").ambiguous);
    EXPECT_EQ(classify(transport_outcome::unparseable, 200, "").act, action::retry);
    const verdict v = classify(transport_outcome::unparseable, 502, "");
    EXPECT_EQ(v.act, action::retry);
    EXPECT_FALSE(v.ambiguous);
    EXPECT_TRUE(v.counts_attempt);
}

}  // namespace
}  // namespace msgflash
