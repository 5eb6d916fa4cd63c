#include "api/api_decode.hpp"

#include <chrono>
#include <string>

#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

#include "core/api_errors.hpp"

namespace msgflash::api {
namespace {

using namespace std::chrono_literals;
using std::chrono::system_clock;

const system_clock::time_point now = std::chrono::sys_days{std::chrono::year{2026} / 11 / 27} + 8h;
constexpr std::string_view json_type = "application/json; charset=utf-8";

template <class T>
decoded<T> decode(unsigned status, std::string_view body, std::string_view content_type = json_type,
                  std::string_view retry_after = {}) {
    return decode_answer<T>(raw_answer{status, content_type, body, retry_after}, now);
}

template <class T>
const T& value_of(const decoded<T>& d) {
    if (const auto* f = std::get_if<api_failure>(&d)) {
        ADD_FAILURE() << "expected a value, got " << f->detail;
        static const T empty{};
        return empty;
    }
    return std::get<T>(d);
}

template <class T>
api_failure failure_of(const decoded<T>& d) {
    if (!std::holds_alternative<api_failure>(d)) {
        ADD_FAILURE() << "expected a failure";
        return {};
    }
    return std::get<api_failure>(d);
}

// ---- envelopes ------------------------------------------------------------------------------------------

TEST(Decode, MessageRef) {
    const auto d = decode<message_ref>(200, R"({"data":{"id":"m-1","status":"queued","extra":[1,2]}})");
    EXPECT_EQ(value_of(d), (message_ref{"m-1", "queued"}));
}

TEST(Decode, ErrorEnvelope) {
    const auto f = failure_of(decode<message_ref>(
        422,
        R"({"error":{"code":"INVALID_DESTINATION","message":"Invalid recipient number","details":[{"field":"to"}]}})"));
    EXPECT_EQ(f.outcome, transport_outcome::answered);
    EXPECT_EQ(f.http_status, 422u);
    ASSERT_TRUE(f.error.has_value());
    EXPECT_EQ(f.error->code, "INVALID_DESTINATION");
    EXPECT_EQ(f.error->errc(), api_errc::invalid_destination);
    EXPECT_EQ(f.error->message, "Invalid recipient number");
    ASSERT_TRUE(f.error->details.is_array());
    EXPECT_EQ(f.error->details.as_array().size(), 1u);
    EXPECT_EQ(f.ec, boost::system::error_code(make_error_code(api_errc::invalid_destination)));
    EXPECT_FALSE(f.retry_after.has_value());
}

TEST(Decode, ErrorEnvelopeWithoutMessageOrDetails) {
    const auto f = failure_of(decode<message_ref>(503, R"({"error":{"code":"SERVICE_UNAVAILABLE"}})"));
    EXPECT_EQ(f.outcome, transport_outcome::answered);
    ASSERT_TRUE(f.error.has_value());
    EXPECT_EQ(f.error->errc(), api_errc::unknown_code);
    EXPECT_TRUE(f.error->message.empty());
    EXPECT_TRUE(f.error->details.is_null());
}

TEST(Decode, RetryAfterBothForms) {
    constexpr auto body = R"({"error":{"code":"API_RATE_LIMIT_EXCEEDED","message":"Too many API requests"}})";
    auto f = failure_of(decode<message_ref>(429, body, json_type, "2"));
    ASSERT_TRUE(f.error.has_value());
    EXPECT_EQ(f.error->retry_after, 2s);
    EXPECT_EQ(f.retry_after, 2s);

    f = failure_of(decode<message_ref>(429, body, json_type, "Fri, 27 Nov 2026 08:00:03 GMT"));
    EXPECT_EQ(f.error->retry_after, 3s);

    f = failure_of(decode<message_ref>(429, body, json_type, "whenever"));
    EXPECT_EQ(f.error->retry_after, std::nullopt);
}

TEST(Decode, RetryAfterIsKeptWhenTheBodyIsUnreadable) {
    const auto f = failure_of(decode<message_ref>(503, "<html>busy</html>", "text/html", "7"));
    EXPECT_EQ(f.outcome, transport_outcome::unparseable);
    EXPECT_EQ(f.retry_after, 7s);
}

TEST(Decode, NotJson) {
    const auto f = failure_of(decode<message_ref>(200, "<html><body>502 Bad Gateway</body></html>"));
    EXPECT_EQ(f.outcome, transport_outcome::unparseable);
    EXPECT_EQ(f.http_status, 200u);
    EXPECT_EQ(f.ec, client_errc::not_json);
    EXPECT_EQ(f.body_excerpt, "<html><body>502 Bad Gateway</body></html>");
}

TEST(Decode, WrongContentType) {
    for (std::string_view ct :
         {"text/html", "", "application/jsonx", "text/json", "application/problem+json"}) {
        const auto f = failure_of(decode<message_ref>(200, R"({"data":{"id":"m","status":"queued"}})", ct));
        EXPECT_EQ(f.outcome, transport_outcome::unparseable) << ct;
        EXPECT_EQ(f.ec, client_errc::wrong_content_type) << ct;
    }
    EXPECT_TRUE(is_json_content_type("Application/JSON"));
    EXPECT_TRUE(is_json_content_type(" application/json ;charset=UTF-8"));
}

TEST(Decode, ErrorStatusWithoutEnvelope) {
    for (std::string_view body : {R"({"message":"nope"})", R"({"error":"NOT_FOUND"})",
                                  R"({"error":{"code":""}})", R"({"error":{"code":42}})", "[]", "null"}) {
        const auto f = failure_of(decode<message_ref>(404, body));
        EXPECT_EQ(f.outcome, transport_outcome::unparseable) << body;
        EXPECT_EQ(f.http_status, 404u);
        EXPECT_EQ(f.ec, client_errc::unexpected_shape) << body;
        EXPECT_FALSE(f.error.has_value());
    }
}

TEST(Decode, SuccessWithoutData) {
    for (std::string_view body : {R"({})", R"({"error":{"code":"NOT_FOUND"}})", "[1]", "\"data\""}) {
        const auto f = failure_of(decode<message_ref>(200, body));
        EXPECT_EQ(f.ec, client_errc::unexpected_shape) << body;
    }
}

TEST(Decode, WrongShapesNameThePlace) {
    struct row {
        std::string_view body;
        std::string_view problem;
    };
    for (const auto& r : {
             row{R"({"data":[]})", "data: expected an object"},
             row{R"({"data":{"status":"queued"}})", "data.id: required"},
             row{R"({"data":{"id":null,"status":"queued"}})", "data.id: required"},
             row{R"({"data":{"id":"","status":"queued"}})", "data.id: must not be empty"},
             row{R"({"data":{"id":7,"status":"queued"}})", "data.id: expected a string"},
             row{R"({"data":{"id":"m"}})", "data.status: required"},
         }) {
        const auto f = failure_of(decode<message_ref>(200, r.body));
        EXPECT_EQ(f.detail, r.problem) << r.body;
    }
}

TEST(Decode, DeepNestingIsRefusedNotCrashed) {
    const std::string deep = std::string(10'000, '[') + std::string(10'000, ']');
    const auto f = failure_of(decode<message_ref>(200, deep));
    EXPECT_EQ(f.ec, client_errc::not_json);
}

// ---- messages --------------------------------------------------------------------------------------------

TEST(Decode, MessageDetailsWithNulls) {
    const auto d = decode<message_details>(200, R"({"data":{"id":"m-2","status":"delivered","instanceId":"i",
        "to":"+33612345678","type":"text","body":null,"createdAt":"2026-11-27T08:00:00.000Z",
        "sentAt":"2026-11-27T08:00:01.000Z","deliveredAt":"2026-11-27T08:00:02.000Z","unknown":{"x":1}}})");
    const auto& m = value_of(d);
    EXPECT_EQ(m.id, "m-2");
    EXPECT_EQ(m.status, "delivered");
    EXPECT_EQ(m.to, "+33612345678");
    EXPECT_EQ(m.body, std::nullopt);
    EXPECT_EQ(m.delivered_at, "2026-11-27T08:00:02.000Z");
    EXPECT_EQ(m.read_at, std::nullopt);
}

TEST(Decode, MessagePage) {
    auto d = decode<message_page>(
        200, R"({"data":{"messages":[{"id":"a","status":"sent"},{"id":"b","status":"read"}],
        "nextCursor":"bTE6Mw","hasMore":true}})");
    const auto& p = value_of(d);
    ASSERT_EQ(p.messages.size(), 2u);
    EXPECT_EQ(p.messages[1].id, "b");
    EXPECT_TRUE(p.has_more);
    EXPECT_EQ(p.next_cursor, "bTE6Mw");

    d = decode<message_page>(200, R"({"data":{"messages":[],"nextCursor":null,"hasMore":false}})");
    EXPECT_FALSE(value_of(d).has_more);
    EXPECT_EQ(value_of(d).next_cursor, std::nullopt);
}

TEST(Decode, MessagePageShapes) {
    struct row {
        std::string_view body;
        std::string_view problem;
    };
    for (const auto& r : {
             row{R"({"data":{"nextCursor":null,"hasMore":false}})", "data.messages: required"},
             row{R"({"data":{"messages":{},"hasMore":false}})", "data.messages: expected an array"},
             row{R"({"data":{"messages":[{"id":"a","status":"sent"},{"id":"b"}],"hasMore":false}})",
                 "data.messages[1].status: required"},
             row{R"({"data":{"messages":[]}})", "data.hasMore: required"},
             row{R"({"data":{"messages":[],"hasMore":"yes"}})", "data.hasMore: expected true or false"},
             row{R"({"data":{"messages":[],"nextCursor":null,"hasMore":true}})",
                 "data.nextCursor: required when hasMore is true"},
         }) {
        EXPECT_EQ(failure_of(decode<message_page>(200, r.body)).detail, r.problem) << r.body;
    }
}

// ---- instances -------------------------------------------------------------------------------------------

TEST(Decode, InstancesAsDocumented) {
    // docs: instances.txt, "Success response".
    const auto d =
        decode<std::vector<instance>>(200, R"({"data":[{"id":"inst_uuid","name":"boutique-principale",
        "waNumber":"+33612345678","status":"connected","webhook":null,"meta":null,"deletedAt":null,
        "createdAt":"2026-04-01T09:00:00.000Z","updatedAt":"2026-04-01T09:10:00.000Z"}]})");
    const auto& list = value_of(d);
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].id, "inst_uuid");
    EXPECT_TRUE(list[0].connected());
    EXPECT_EQ(list[0].wa_number, "+33612345678");
    EXPECT_EQ(list[0].deleted_at, std::nullopt);

    const auto state = decode<instance_state>(
        200, R"({"data":{"instanceId":"inst_uuid","status":"connected","providerState":"open"}})");
    EXPECT_EQ(value_of(state), (instance_state{"inst_uuid", "connected", "open"}));
}

TEST(Decode, InstanceListElementShape) {
    EXPECT_EQ(
        failure_of(decode<std::vector<instance>>(200, R"({"data":[{"id":"a","status":"connected"},7]})"))
            .detail,
        "data[1]: expected an object");
}

TEST(Decode, HealthFull) {
    const auto d = decode<instance_health>(200, R"({"data":{"safetyState":"warning","safetyScore":64.5,
        "warmupPolicy":{"maxPerMinute":20,"maxPerHour":200,"maxPerDay":1000,"minIntervalSeconds":2.5,"burst":3},
        "usageWindowSummary":{"lastMinute":1,"lastHour":12,"last24h":100},
        "recommendations":["Reduce volume"],"riskFactors":["new number"]}})");
    const auto& h = value_of(d);
    EXPECT_EQ(h.safety, safety_state::warning);
    EXPECT_EQ(h.safety_text, "warning");
    EXPECT_EQ(h.safety_score, 64.5);
    ASSERT_TRUE(h.warmup.has_value());
    EXPECT_EQ(h.warmup->max_per_minute, 20u);
    EXPECT_EQ(h.warmup->max_per_day, 1000u);
    EXPECT_EQ(h.warmup->min_interval, std::chrono::milliseconds(2500));
    ASSERT_TRUE(h.usage.has_value());
    EXPECT_EQ(h.usage->last_24h, 100u);
    EXPECT_EQ(h.recommendations, std::vector<std::string>{"Reduce volume"});
    EXPECT_EQ(h.unknown_fields, (std::vector<std::string>{"riskFactors", "warmupPolicy.burst"}));
}

TEST(Decode, HealthSparseAndNull) {
    // SPEC §11: every field may be missing; warmupPolicy may be null.
    auto h = value_of(decode<instance_health>(200, R"({"data":{"warmupPolicy":null}})"));
    EXPECT_EQ(h.safety, std::nullopt);
    EXPECT_EQ(h.warmup, std::nullopt);
    EXPECT_EQ(h.usage, std::nullopt);
    EXPECT_TRUE(h.recommendations.empty());

    h = value_of(
        decode<instance_health>(200, R"({"data":{"safetyState":"on_fire","warmupPolicy":{"maxPerDay":5}}})"));
    EXPECT_EQ(h.safety, safety_state::unknown);
    EXPECT_EQ(h.safety_text, "on_fire");
    ASSERT_TRUE(h.warmup.has_value());
    EXPECT_EQ(h.warmup->max_per_day, 5u);
    EXPECT_EQ(h.warmup->max_per_hour, std::nullopt);
}

TEST(Decode, HealthNumbersOutOfRange) {
    struct row {
        std::string_view body;
        std::string_view problem;
    };
    for (const auto& r : {
             row{R"({"data":{"safetyScore":101}})", "data.safetyScore: expected a number from 0 to 100"},
             row{R"({"data":{"safetyScore":-1}})", "data.safetyScore: expected a number from 0 to 100"},
             row{R"({"data":{"safetyScore":"92"}})", "data.safetyScore: expected a number from 0 to 100"},
             row{R"({"data":{"warmupPolicy":{"maxPerDay":4294967296}}})",
                 "data.warmupPolicy.maxPerDay: expected a whole number from 0 to 4294967295"},
             row{R"({"data":{"warmupPolicy":{"maxPerDay":-5}}})",
                 "data.warmupPolicy.maxPerDay: expected a whole number from 0 to 4294967295"},
             row{R"({"data":{"warmupPolicy":{"maxPerDay":2.5}}})",
                 "data.warmupPolicy.maxPerDay: expected a whole number from 0 to 4294967295"},
             row{R"({"data":{"warmupPolicy":{"minIntervalSeconds":1e300}}})",
                 "data.warmupPolicy.minIntervalSeconds: expected a number from 0 to 2147483648"},
             row{R"({"data":{"usageWindowSummary":{"last24h":18446744073709551616}}})",
                 "data.usageWindowSummary.last24h: expected a whole number from 0 to 18446744073709551615"},
             row{R"({"data":{"warmupPolicy":[]}})", "data.warmupPolicy: expected an object"},
             row{R"({"data":{"recommendations":["a",1]}})", "data.recommendations[1]: expected a string"},
         }) {
        EXPECT_EQ(failure_of(decode<instance_health>(200, r.body)).detail, r.problem) << r.body;
    }
}

TEST(Decode, HugeNumbersThatAreExact) {
    const auto h = value_of(decode<instance_health>(
        200,
        R"({"data":{"usageWindowSummary":{"last24h":18446744073709551615},"warmupPolicy":{"maxPerHour":5.0}}})"));
    EXPECT_EQ(h.usage->last_24h, 18446744073709551615u);
    EXPECT_EQ(h.warmup->max_per_hour, 5u);
}

TEST(Decode, NumberTooLargeForADouble) {
    // Boost.JSON reads it as infinity; the range check refuses it.
    const auto f = failure_of(decode<instance_health>(200, R"({"data":{"safetyScore":1e999}})"));
    EXPECT_EQ(f.outcome, transport_outcome::unparseable);
    EXPECT_EQ(f.detail, "data.safetyScore: expected a number from 0 to 100");
}

// ---- campaigns, templates, billing
// -------------------------------------------------------------------------

TEST(Decode, Campaign) {
    const auto c = value_of(decode<campaign>(201, R"({"data":{"id":"c1","name":"promo","status":"scheduled",
        "instanceId":"i","schedule":"2026-11-27T08:00:00.000Z","repeat":"none","recipientCount":100,
        "safety":{"decision":"warn","reasons":["instance safetyState is warning"]},"createdAt":"x"}})"));
    EXPECT_EQ(c.id, "c1");
    EXPECT_EQ(c.recipient_count, 100u);
    ASSERT_TRUE(c.safety.has_value());
    EXPECT_EQ(c.safety->decision, "warn");
    EXPECT_EQ(c.safety->reasons.size(), 1u);
}

TEST(Decode, CampaignStatsAbsentCountsAreZero) {
    const auto s =
        value_of(decode<campaign_stats>(200, R"({"data":{"campaignId":"c1","total":100,"sent":40}})"));
    EXPECT_EQ(s.total, 100u);
    EXPECT_EQ(s.sent, 40u);
    EXPECT_EQ(s.failed, 0u);
    EXPECT_EQ(failure_of(decode<campaign_stats>(200, R"({"data":{"total":-1}})")).ec,
              client_errc::unexpected_shape);
}

TEST(Decode, Templates) {
    const auto list =
        value_of(decode<std::vector<message_template>>(200, R"({"data":[{"id":"t1","name":"welcome",
        "body":"Hi {{name}}","variables":["name"],"status":"approved"}]})"));
    ASSERT_EQ(list.size(), 1u);
    EXPECT_EQ(list[0].variables, std::vector<std::string>{"name"});
    const auto p =
        value_of(decode<template_preview>(200, R"({"data":{"templateId":"t1","rendered":"Hi Ana"}})"));
    EXPECT_EQ(p.rendered, "Hi Ana");
    EXPECT_EQ(failure_of(decode<template_preview>(200, R"({"data":{"templateId":"t1"}})")).detail,
              "data.rendered: required");
}

TEST(Decode, UsageAndBilling) {
    const auto u =
        value_of(decode<usage_summary>(200, R"({"data":{"plan":"pro","period":{"start":"a","end":"b"},
        "apiRequests":{"used":5,"limit":1000000,"remaining":999995},"messages":{"sent":2}}})"));
    EXPECT_EQ(u.plan, "pro");
    EXPECT_EQ(u.period.end, "b");
    EXPECT_EQ(u.api_requests_remaining, 999995u);
    EXPECT_EQ(u.messages_sent, 2u);

    const auto s = value_of(decode<subscription>(200, R"({"data":{"plan":"pro","status":"active",
        "currentPeriodStart":"a","currentPeriodEnd":"b","cancelAtPeriodEnd":false}})"));
    EXPECT_EQ(s.status, "active");
    EXPECT_EQ(s.cancel_at_period_end, false);

    const auto b = value_of(decode<billing_usage>(200, R"({"data":{"period":{"start":"a","end":"b"},
        "usage":{"apiRequests":5,"messagesSent":2,"instances":2},"limits":{"monthlyApiRequestQuota":1000000,
        "instances":10},"features":{"campaigns":true,"whatsappBusiness":false}}})"));
    EXPECT_EQ(b.monthly_api_request_quota, 1000000u);
    EXPECT_EQ(b.instance_limit, 10u);
    EXPECT_EQ(b.features.at("whatsappBusiness"), false);
    EXPECT_EQ(failure_of(decode<billing_usage>(200, R"({"data":{"features":{"campaigns":"yes"}}})")).detail,
              "data.features.campaigns: expected true or false");
}

// ---- the key never survives into what the client keeps or logs
// ----------------------------------------------

TEST(Decode, EchoedSecretIsScrubbed) {
    constexpr std::string_view secret = "msgf_live_SECRET0123456789";
    const redaction redact{secret, "<api key>"};
    const std::string body =
        R"({"error":{"code":"UNAUTHORIZED","message":"key msgf_live_SECRET0123456789 revoked",)"
        R"("details":[{"key":"msgf_live_SECRET0123456789"}]}})";
    const auto d = decode_answer<message_ref>(raw_answer{401, json_type, body, {}}, now, redact);
    const auto& f = std::get<api_failure>(d);
    ASSERT_TRUE(f.error.has_value());
    EXPECT_EQ(f.error->message, "key <api key> revoked");
    EXPECT_EQ(boost::json::serialize(f.error->details), R"([{"key":"<api key>"}])");
    EXPECT_EQ(f.detail.find(secret), std::string::npos);

    const std::string html = "<p>your key is msgf_live_SECRET0123456789</p>";
    const auto g = std::get<api_failure>(
        decode_answer<message_ref>(raw_answer{500, "text/html", html, {}}, now, redact));
    EXPECT_EQ(g.body_excerpt, "<p>your key is <api key></p>");
}

TEST(Excerpt, PrintableAndBounded) {
    EXPECT_EQ(sanitize_excerpt("a\x01"
                               "b\n\xff",
                               10),
              "a.b..");
    EXPECT_EQ(sanitize_excerpt(std::string(200, 'x'), 5), "xxxxx...");
}

TEST(Excerpt, SecretCutByTheLimitLeavesNoPiece) {
    constexpr std::string_view secret = "msgf_live_SECRET0123456789";
    const redaction redact{secret, "<k>"};
    // The limit falls inside the secret: the piece before the cut must not survive.
    const std::string text = "0123456789" + std::string(secret) + "tail";
    EXPECT_EQ(sanitize_excerpt(text, 15, redact), "0123456789<k>ta...");
    const std::string prefix_only = "0123456789msgf_live_SEC";
    EXPECT_EQ(sanitize_excerpt(prefix_only + std::string(100, 'z'), 20, redact), "0123456789...");
}

}  // namespace
}  // namespace msgflash::api
