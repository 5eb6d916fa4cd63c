// msgflash-sim's world in virtual time: limiter, quotas, team rules, routes, validation, delivery progress,
// paging, campaigns, templates, faults and the control API. No sockets, no clock reads.
#include <algorithm>
#include <set>
#include <thread>
#include <vector>

#include "tests/unit/sim/sim_test_support.hpp"

namespace msgflash::sim::testing {
namespace {

constexpr std::string_view rate_limited_body =
    R"({"error":{"code":"API_RATE_LIMIT_EXCEEDED","message":"Too many API requests","details":[]}})";

// ------------------------------------------------------------------------------------------- rate limiter

class SimRateLimit : public SimWorldTest {
  protected:
    SimRateLimit() { cfg.limits.enabled = true; }
};

TEST_F(SimRateLimit, ElevenInOneSecondTenPassTheEleventhGetsTheDocumentedBody) {
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(get("/api/v1/instances").status, 200u) << "request " << i;
        advance(90ms);
    }
    // The 11th arrives 900 ms after the first: still inside the first one's second.
    const auto r = get("/api/v1/instances");
    EXPECT_EQ(r.status, 429u);
    EXPECT_EQ(r.body, rate_limited_body);
    ASSERT_TRUE(r.retry_after.has_value());
    EXPECT_EQ(*r.retry_after, "1");
    EXPECT_EQ(r.content_type, "application/json");
    EXPECT_EQ(stat("shop", "rateLimited"), 1);

    advance(1001ms);  // every earlier arrival, the rejected one included, has left the window
    EXPECT_EQ(get("/api/v1/instances").status, 200u);
}

TEST_F(SimRateLimit, AnArrivalExactlyOneWindowLaterHasLeftTheWindow) {
    cfg.limits.count_rejected = false;
    for (int i = 0; i < 10; ++i) {
        EXPECT_EQ(get("/api/v1/instances").status, 200u);
    }
    advance(999ms);
    EXPECT_EQ(get("/api/v1/instances").status, 429u);
    advance(1ms);  // exactly 1000 ms after the ten
    EXPECT_EQ(get("/api/v1/instances").status, 200u);
}

TEST_F(SimRateLimit, CountRejectedKeepsAHammeringClientOut) {
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u);
    }
    advance(500ms);
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 429u);
    }
    advance(500ms);  // the ten accepted ones left; the ten rejected ones still count
    EXPECT_EQ(get("/api/v1/instances").status, 429u);
    EXPECT_EQ(stat("shop", "rateLimited"), 11);
}

TEST_F(SimRateLimit, WithoutCountRejectedOnlyAcceptedRequestsCount) {
    cfg.limits.count_rejected = false;
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u);
    }
    advance(500ms);
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 429u);
    }
    advance(500ms);
    EXPECT_EQ(get("/api/v1/instances").status, 200u);
}

TEST_F(SimRateLimit, RetryAfterSecondsIsTheCeilingOfTheWaitAndAtLeastOne) {
    cfg.limits.window = 2500ms;
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u);
    }
    advance(100ms);
    const auto r = get("/api/v1/instances");
    ASSERT_EQ(r.status, 429u);
    EXPECT_EQ(r.retry_after, std::optional<std::string>("3"));  // 2400 ms rounded up

    advance(2399ms);  // 1 ms before the ten leave: still at least one second
    const auto late = get("/api/v1/instances");
    ASSERT_EQ(late.status, 429u);
    EXPECT_EQ(late.retry_after, std::optional<std::string>("1"));
}

TEST_F(SimRateLimit, RetryAfterDateIsAnImfFixdateFromWallTime) {
    cfg.limits.retry_after = "date";
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u);
    }
    advance(100ms);
    const auto r = get("/api/v1/instances");
    ASSERT_EQ(r.status, 429u);
    ASSERT_TRUE(r.retry_after.has_value());
    // Wall time is 10:00:00.100; the wait of 900 ms rounds up to one second.
    EXPECT_EQ(*r.retry_after, "Wed, 15 Apr 2026 10:00:01 GMT");
}

TEST_F(SimRateLimit, RetryAfterNoneSendsNoHeader) {
    cfg.limits.retry_after = "none";
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u);
    }
    const auto r = get("/api/v1/instances");
    ASSERT_EQ(r.status, 429u);
    EXPECT_FALSE(r.retry_after.has_value());
    EXPECT_EQ(r.body, rate_limited_body);
}

TEST_F(SimRateLimit, TheRateIsPerKeyAndFollowsTheAccountsRate) {
    cfg.accounts[1].rate = 2;  // agency
    for (int i = 0; i < 10; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u);
    }
    EXPECT_EQ(get("/api/v1/instances").status, 429u);
    EXPECT_EQ(get("/api/v1/instances", agency_key, agency_team).status, 200u);
    EXPECT_EQ(get("/api/v1/instances", agency_key, agency_team).status, 200u);
    EXPECT_EQ(get("/api/v1/instances", agency_key, agency_team).status, 429u);
}

TEST_F(SimRateLimit, ControlApiSwitchesTheLimiterOff) {
    ASSERT_EQ(control("POST", "/_sim/limits", json::object{{"enabled", false}}).status, 200u);
    for (int i = 0; i < 50; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u) << i;
    }
    EXPECT_EQ(stat("shop", "maxWindow"), 50);
}

TEST_F(SimRateLimit, MaxWindowIsTheMostRequestsInAnyOneWindow) {
    cfg.limits.enabled = false;
    for (int i = 0; i < 5; ++i) {
        get("/api/v1/instances");
    }
    advance(999ms);
    for (int i = 0; i < 6; ++i) {
        get("/api/v1/instances");
    }
    EXPECT_EQ(stat("shop", "maxWindow"), 11);
    advance(1ms);  // the first five leave the window
    for (int i = 0; i < 3; ++i) {
        get("/api/v1/instances");
    }
    EXPECT_EQ(stat("shop", "maxWindow"), 11);
    EXPECT_EQ(stat("shop", "requests"), 14);
}

TEST_F(SimRateLimit, MaxWindowCountsRejectedRequestsToo) {
    for (int i = 0; i < 13; ++i) {
        get("/api/v1/instances");
    }
    EXPECT_EQ(stat("shop", "maxWindow"), 13);
    EXPECT_EQ(stat("shop", "rateLimited"), 3);
}

// ------------------------------------------------------------------------------------------- auth and quota

TEST_F(SimWorldTest, MissingOrUnknownKeysAreUnauthorizedAndNotCountedForAnyAccount) {
    const auto missing = get("/api/v1/instances", std::nullopt);
    EXPECT_EQ(missing.status, 401u);
    EXPECT_EQ(code(missing), "UNAUTHORIZED");
    EXPECT_EQ(get("/api/v1/instances", "msgf_live_FAKE_nobody").status, 401u);
    EXPECT_EQ(stat("shop", "requests"), 0);
    EXPECT_EQ(w().stats().at("unauthenticated").to_number<int>(), 2);
}

TEST_F(SimWorldTest, RevokedKeyIsUnauthorizedAndCountedForItsAccount) {
    cfg.accounts[0].revoked = true;
    const auto r = get("/api/v1/instances");
    EXPECT_EQ(r.status, 401u);
    EXPECT_EQ(code(r), "UNAUTHORIZED");
    EXPECT_EQ(stat("shop", "requests"), 1);
    EXPECT_EQ(stat("shop", "unauthorized"), 1);
    EXPECT_EQ(stat("shop", "quotaUsed"), 0);
}

TEST_F(SimWorldTest, QuotaIsExhaustedThenResetsAtTheUtcMonthBoundary) {
    using namespace std::chrono;
    cfg.accounts[0].monthly_quota = 3;
    wall = wall_time{sys_days{year{2026} / April / 30} + hours{23} + minutes{59}};
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(get("/api/v1/instances").status, 200u);
    }
    const auto r = get("/api/v1/instances");
    EXPECT_EQ(r.status, 429u);
    EXPECT_EQ(code(r), "MONTHLY_API_REQUEST_QUOTA_EXCEEDED");
    EXPECT_FALSE(r.retry_after.has_value());
    EXPECT_EQ(stat("shop", "quotaUsed"), 3);

    wall = wall_time{sys_days{year{2026} / May / 1}} - 1ms;  // last millisecond of April
    EXPECT_EQ(get("/api/v1/instances").status, 429u);
    wall = wall_time{sys_days{year{2026} / May / 1}};
    EXPECT_EQ(get("/api/v1/instances").status, 200u);
    EXPECT_EQ(stat("shop", "quotaUsed"), 1);
}

TEST_F(SimWorldTest, ConfiguredQuotaUsedCountsForTheFirstPeriod) {
    cfg.accounts[0].monthly_quota = 5;
    cfg.accounts[0].quota_used = 5;
    EXPECT_EQ(code(get("/api/v1/instances")), "MONTHLY_API_REQUEST_QUOTA_EXCEEDED");
}

TEST_F(SimRateLimit, RateLimitedRequestsConsumeNoQuota) {
    for (int i = 0; i < 15; ++i) {
        get("/api/v1/instances");
    }
    EXPECT_EQ(stat("shop", "quotaUsed"), 10);
    EXPECT_EQ(stat("shop", "requests"), 15);
}

TEST_F(SimWorldTest, UsageReportsTheCalendarMonthAndCounts) {
    ASSERT_EQ(send_text().status, 200u);
    const auto r = get("/api/v1/usage");
    ASSERT_EQ(r.status, 200u);
    const auto d = data(r);
    EXPECT_EQ(str(d.at("plan")), "pro");
    EXPECT_EQ(str(d.at("period").at("start")), "2026-04-01T00:00:00.000Z");
    EXPECT_EQ(str(d.at("period").at("end")), "2026-05-01T00:00:00.000Z");
    EXPECT_EQ(d.at("apiRequests").at("used").to_number<int>(), 2);
    EXPECT_EQ(d.at("apiRequests").at("limit").to_number<int>(), 1'000'000);
    EXPECT_EQ(d.at("apiRequests").at("remaining").to_number<int>(), 999'998);
    EXPECT_EQ(d.at("messages").at("sent").to_number<int>(), 1);
}

TEST_F(SimWorldTest, BillingAndAccountRoutesHaveTheirShapes) {
    const auto me = data(get("/api/v1/me"));
    EXPECT_EQ(me, json::parse(R"({"name":"shop","plan":"pro","type":"personal"})"));

    const auto sub = data(get("/api/v1/billing/subscription"));
    EXPECT_EQ(str(sub.at("status")), "active");
    EXPECT_EQ(str(sub.at("currentPeriodStart")), "2026-04-01T00:00:00.000Z");
    EXPECT_EQ(str(sub.at("currentPeriodEnd")), "2026-05-01T00:00:00.000Z");
    EXPECT_EQ(sub.at("cancelAtPeriodEnd"), json::value(false));

    const auto usage = data(get("/api/v1/billing/usage", tiny_key));
    EXPECT_EQ(usage.at("usage").at("instances").to_number<int>(), 1);
    EXPECT_EQ(usage.at("limits").at("monthlyApiRequestQuota").to_number<int>(), 1000);
    EXPECT_EQ(usage.at("limits").at("instances").to_number<int>(), 1);  // free plan
    EXPECT_EQ(usage.at("features").at("campaigns"), json::value(false));
    EXPECT_EQ(usage.at("features").at("whatsappBusiness"), json::value(false));

    EXPECT_EQ(get("/api/v1/billing/payments").body, R"({"data":[]})");
}

TEST_F(SimWorldTest, InactiveSubscriptionShowsInBillingAndBlocksSends) {
    cfg.accounts[0].subscription_active = false;
    EXPECT_EQ(str(data(get("/api/v1/billing/subscription")).at("status")), "inactive");
    const auto r = send_text();
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(code(r), "SUBSCRIPTION_INACTIVE");
    EXPECT_EQ(code(post("/api/v1/messages/schedule", json::object{})), "SUBSCRIPTION_INACTIVE");
    EXPECT_EQ(code(post("/api/v1/campaigns", json::object{})), "SUBSCRIPTION_INACTIVE");
    EXPECT_EQ(get("/api/v1/instances").status, 200u);  // reads still work
}

// ------------------------------------------------------------------------------------------- team rules

TEST_F(SimWorldTest, PersonalKeyWithAnyTeamHeaderIsTeamKeyRequired) {
    auto r = get("/api/v1/instances", shop_key, agency_team);
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(code(r), "TEAM_KEY_REQUIRED");
    EXPECT_EQ(code(get("/api/v1/instances", shop_key, "")), "TEAM_KEY_REQUIRED");
}

TEST_F(SimWorldTest, TeamKeyOnEveryPersonalOnlyRouteIsNotAllowed) {
    for (auto route : {"/api/v1/me", "/api/v1/usage", "/api/v1/billing/subscription", "/api/v1/billing/usage",
                       "/api/v1/billing/payments"}) {
        const auto r = get(route, agency_key, agency_team);
        EXPECT_EQ(r.status, 403u) << route;
        EXPECT_EQ(code(r), "TEAM_KEY_NOT_ALLOWED") << route;
        // Checked before the team header: no header still says NOT_ALLOWED.
        EXPECT_EQ(code(get(route, agency_key)), "TEAM_KEY_NOT_ALLOWED") << route;
    }
}

TEST_F(SimWorldTest, TeamKeyWithoutOrWithAnotherTeamIdIsTeamNotFound) {
    auto r = get("/api/v1/instances", agency_key);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(code(r), "TEAM_NOT_FOUND");
    EXPECT_EQ(code(get("/api/v1/instances", agency_key, unknown_uuid)), "TEAM_NOT_FOUND");
    EXPECT_EQ(get("/api/v1/instances", agency_key, agency_team).status, 200u);
}

TEST_F(SimWorldTest, TeamKeyWithItsTeamSeesOnlyTheTeamsInstances) {
    const auto list = data(get("/api/v1/instances", agency_key, agency_team)).as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(str(list[0].at("id")), agency_main);
    EXPECT_EQ(str(list[1].at("id")), agency_down);
    EXPECT_EQ(code(get("/api/v1/instances/" + std::string(shop_main), agency_key, agency_team)), "NOT_FOUND");
}

// ------------------------------------------------------------------------------------------- routing

TEST_F(SimWorldTest, UnknownRoutesAreNotFoundEnvelopesAfterAuth) {
    auto r = get("/api/v1/nothing-here");
    EXPECT_EQ(r.status, 404u);
    const auto err = parse(r).at("error");
    EXPECT_EQ(str(err.at("code")), "NOT_FOUND");
    EXPECT_TRUE(err.at("details").is_array());
    EXPECT_EQ(get("/api/v1/nothing-here", std::nullopt).status, 401u);
    EXPECT_EQ(call("DELETE", "/api/v1/instances", shop_key).status, 404u);
    EXPECT_EQ(get("/elsewhere", std::nullopt).status, 404u);
    EXPECT_EQ(get("/api/v1/instances/a/b/c/d/e").status, 404u);
}

TEST_F(SimWorldTest, RoutesWithoutQueryParametersRefuseThem) {
    const auto r = get("/api/v1/instances?page=2");
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(code(r), "VALIDATION_ERROR");
}

TEST_F(SimWorldTest, PostBodiesMustBeJsonWithTheJsonContentType) {
    auto r = call("POST", "/api/v1/messages/send", shop_key, "{}", std::nullopt, "text/plain");
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(code(r), "BAD_REQUEST");
    EXPECT_EQ(code(call("POST", "/api/v1/messages/send", shop_key, "{not json")), "BAD_REQUEST");
    EXPECT_EQ(code(call("POST", "/api/v1/messages/send", shop_key, "")), "BAD_REQUEST");
    EXPECT_EQ(
        call("POST", "/api/v1/messages/send", shop_key, "{}", std::nullopt, "application/json; charset=utf-8")
            .status,
        400u);
    EXPECT_EQ(code(call("POST", "/api/v1/messages/send", shop_key, "{}", std::nullopt,
                        "Application/JSON; charset=utf-8")),
              "VALIDATION_ERROR");
    EXPECT_EQ(code(call("POST", "/api/v1/messages/send", shop_key, "[1,2]")), "VALIDATION_ERROR");
}

// ------------------------------------------------------------------------------------------- instances

TEST_F(SimWorldTest, InstanceListHasTheDocumentedShapeAndOnlyTheAccountsInstances) {
    const auto r = get("/api/v1/instances");
    ASSERT_EQ(r.status, 200u);
    const auto list = data(r).as_array();
    ASSERT_EQ(list.size(), 2u);
    EXPECT_EQ(list[0],
              json::parse(R"({"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7","name":"boutique-principale",
        "waNumber":"+33612345678","status":"connected","webhook":null,"meta":null,"deletedAt":null,
        "createdAt":"2026-04-01T09:00:00.000Z","updatedAt":"2026-04-01T09:00:00.000Z"})"));
    EXPECT_EQ(str(list[1].at("id")), shop_second);
}

TEST_F(SimWorldTest, InstanceDetailStateAndNotFound) {
    const std::string base = "/api/v1/instances/" + std::string(shop_main);
    const auto detail = data(get(base));
    EXPECT_EQ(str(detail.at("waNumber")), "+33612345678");
    EXPECT_FALSE(detail.as_object().contains("webhook"));  // docs: the detail shows no webhook/meta
    EXPECT_EQ(data(get(base + "/state")),
              json::parse(R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","status":"connected",
                  "providerState":"open"})"));
    EXPECT_EQ(
        str(data(get("/api/v1/instances/" + std::string(agency_down) + "/state", agency_key, agency_team))
                .at("providerState")),
        "close");
    EXPECT_EQ(str(data(get("/api/v1/instances/" + std::string(tiny_main) + "/state", tiny_key))
                      .at("providerState")),
              "connecting");
    for (const auto& target :
         std::vector<std::string>{"/api/v1/instances/" + std::string(agency_main),
                                  "/api/v1/instances/" + std::string(unknown_uuid) + "/state",
                                  "/api/v1/instances/not-a-uuid/health"}) {
        const auto r = get(target);
        EXPECT_EQ(r.status, 404u) << target;
        EXPECT_EQ(code(r), "NOT_FOUND") << target;
    }
}

TEST_F(SimWorldTest, ControlInstanceStatusShowsInListAndState) {
    ASSERT_EQ(get("/api/v1/instances").status, 200u);  // fills any cache
    advance(5s);
    const auto r =
        control("POST", "/_sim/instances/" + std::string(shop_main), json::object{{"status", "connecting"}});
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto first = data(get("/api/v1/instances")).as_array()[0];
    EXPECT_EQ(str(first.at("status")), "connecting");
    EXPECT_EQ(str(first.at("updatedAt")), "2026-04-15T10:00:05.000Z");
    EXPECT_EQ(str(data(get("/api/v1/instances/" + std::string(shop_main) + "/state")).at("providerState")),
              "connecting");
    // And a send through it now fails as the provider would.
    EXPECT_EQ(code(send_text()), "PROVIDER_UNAVAILABLE");
}

TEST_F(SimWorldTest, HealthMergesTheConfiguredDocumentOverDefaults) {
    const auto h = data(get("/api/v1/instances/" + std::string(shop_main) + "/health"));
    EXPECT_EQ(str(h.at("safetyState")), "healthy");
    EXPECT_EQ(h.at("safetyScore").to_number<int>(), 92);
    EXPECT_EQ(h.at("warmupPolicy"),
              json::parse(R"({"maxPerMinute":20,"maxPerHour":200,"maxPerDay":1000,"minIntervalSeconds":2})"));
    EXPECT_EQ(h.at("recommendations").as_array().size(), 1u);
    EXPECT_EQ(h.at("usageWindowSummary"), json::parse(R"({"lastMinute":0,"lastHour":0,"last24h":0})"));

    const auto agency =
        data(get("/api/v1/instances/" + std::string(agency_main) + "/health", agency_key, agency_team));
    EXPECT_TRUE(agency.at("warmupPolicy").is_null());
    EXPECT_TRUE(agency.at("recommendations").as_array().empty());
}

TEST_F(SimWorldTest, HealthUsageWindowSummaryCountsAcceptedSendsLive) {
    for (int i = 0; i < 3; ++i) {
        ASSERT_EQ(send_text("+3361111111" + std::to_string(i)).status, 200u);
    }
    ASSERT_EQ(send_text("+33611111119", "x", shop_second).status, 200u);  // another number: not counted
    EXPECT_EQ(code(send_text("bad")), "INVALID_DESTINATION");             // refused: not counted
    const std::string health = "/api/v1/instances/" + std::string(shop_main) + "/health";
    EXPECT_EQ(data(get(health)).at("usageWindowSummary"),
              json::parse(R"({"lastMinute":3,"lastHour":3,"last24h":3})"));
    advance(60s);
    EXPECT_EQ(data(get(health)).at("usageWindowSummary"),
              json::parse(R"({"lastMinute":0,"lastHour":3,"last24h":3})"));
    advance(24h);
    EXPECT_EQ(data(get(health)).at("usageWindowSummary"),
              json::parse(R"({"lastMinute":0,"lastHour":0,"last24h":0})"));
}

TEST_F(SimWorldTest, ConfiguredUsageWindowSummaryWinsAndControlMergesHealth) {
    cfg.instances[0].health["usageWindowSummary"] =
        json::parse(R"({"lastMinute":19,"lastHour":150,"last24h":900})");
    ASSERT_EQ(send_text().status, 200u);
    const std::string health = "/api/v1/instances/" + std::string(shop_main) + "/health";
    EXPECT_EQ(data(get(health)).at("usageWindowSummary").at("lastMinute").to_number<int>(), 19);

    const auto r = control("POST", "/_sim/instances/" + std::string(shop_main),
                           json::object{{"health", json::object{{"safetyState", "critical"},
                                                                {"warmupPolicy", nullptr},
                                                                {"surprise", 1}}}});
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto h = data(get(health));
    EXPECT_EQ(str(h.at("safetyState")), "critical");
    EXPECT_TRUE(h.at("warmupPolicy").is_null());
    EXPECT_EQ(h.at("safetyScore").to_number<int>(), 92);  // untouched keys stay
    EXPECT_EQ(h.at("surprise").to_number<int>(), 1);      // unknown fields pass through
}

// ------------------------------------------------------------------------------------------- sends

TEST_F(SimWorldTest, AcceptedSendAnswers200QueuedAndIsRecorded) {
    const auto r = send_text("+33612345678", "Code 4711");
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto d = data(r);
    EXPECT_EQ(d.as_object().size(), 2u);
    EXPECT_EQ(str(d.at("status")), "queued");
    const auto id = str(d.at("id"));
    EXPECT_EQ(id.size(), 36u);
    EXPECT_EQ(id[14], '4');  // UUID v4

    const auto m = data(get("/api/v1/messages/" + id));
    EXPECT_EQ(str(m.at("id")), id);
    EXPECT_EQ(str(m.at("instanceId")), shop_main);
    EXPECT_EQ(str(m.at("to")), "+33612345678");
    EXPECT_EQ(str(m.at("type")), "text");
    EXPECT_EQ(str(m.at("body")), "Code 4711");
    EXPECT_EQ(str(m.at("status")), "queued");
    EXPECT_EQ(str(m.at("createdAt")), "2026-04-15T10:00:00.000Z");
    EXPECT_EQ(stat("shop", "acceptedSends"), 1);

    const auto dump = parse(control("GET", "/_sim/messages")).at("messages").as_array();
    ASSERT_EQ(dump.size(), 1u);
    EXPECT_EQ(str(dump[0].at("account")), "shop");
    EXPECT_TRUE(dump[0].at("templateId").is_null());
    EXPECT_TRUE(dump[0].at("variables").is_null());

    EXPECT_EQ(code(get("/api/v1/messages/" + id, tiny_key)), "NOT_FOUND");  // another account's message
    EXPECT_EQ(code(get("/api/v1/messages/" + std::string(unknown_uuid))), "NOT_FOUND");
}

TEST_F(SimWorldTest, SendSchemaProblemsAreValidationErrorsNamingTheFields) {
    struct bad_case {
        const char* body;
        const char* fields;
    };
    const bad_case cases[] = {
        {R"({"to":"+33611111111","type":"text","body":"x"})", "instanceId"},
        {R"({"instanceId":"nope","to":"+33611111111","type":"text","body":"x"})", "instanceId"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","type":"text","body":"x"})", "to"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":33611111111,"type":"text","body":"x"})",
         "to"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111"})", "type"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"text","body":"x",
            "templateId":"e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"})",
         "templateId"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"sticker"})",
         "type"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"text"})",
         "body"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"image"})",
         "mediaUrl"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"document",
            "mediaUrl":"ftp://x/y.pdf"})",
         "mediaUrl"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"buttons",
            "buttons":["a"]})",
         "title,description"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"buttons",
            "title":"t","description":"d","buttons":["a","b","c"]})",
         "buttons"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"buttons",
            "title":"t","description":"d"})",
         "buttons"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"text","body":"x",
            "priority":1})",
         "priority"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"text","body":"x",
            "variables":{"a":[1]}})",
         "variables.a"},
        {R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111","type":"text","body":"x",
            "sendAt":"2030-01-01T00:00:00Z"})",
         "sendAt"},
    };
    for (const auto& c : cases) {
        const auto r = call("POST", "/api/v1/messages/send", shop_key, c.body);
        EXPECT_EQ(r.status, 400u) << c.body;
        EXPECT_EQ(code(r), "VALIDATION_ERROR") << c.body;
        EXPECT_EQ(detail_fields(r), c.fields) << c.body;
    }
    EXPECT_EQ(stat("shop", "acceptedSends"), 0);
}

TEST_F(SimWorldTest, SendsToAnotherAccountsInstanceAreNotFound) {
    const auto r = send_text("+33611111111", "x", agency_main);
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(code(r), "NOT_FOUND");
}

TEST_F(SimWorldTest, DestinationsMustBeE164) {
    for (auto to : {"0612345678", "+3361234", "+1234567890123456", "+33 612345678", "+33612345678x"}) {
        const auto r = send_text(to);
        EXPECT_EQ(r.status, 422u) << to;
        EXPECT_EQ(code(r), "INVALID_DESTINATION") << to;
    }
    EXPECT_EQ(send_text("+12345678").status, 200u);         // 8 digits
    EXPECT_EQ(send_text("+123456789012345").status, 200u);  // 15 digits
}

TEST_F(SimWorldTest, MediaAndButtonsSendsAreAcceptedWithTheirContent) {
    auto r = post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                        {"to", "+33611111111"},
                                                        {"type", "image"},
                                                        {"mediaUrl", "https://cdn.example/p.jpg"}});
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto m = data(get("/api/v1/messages/" + str(data(r).at("id"))));
    EXPECT_EQ(str(m.at("type")), "image");
    EXPECT_EQ(str(m.at("mediaUrl")), "https://cdn.example/p.jpg");
    EXPECT_FALSE(m.as_object().contains("body"));

    r = post("/api/v1/messages/send",
             json::parse(R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111",
                "type":"buttons","title":"Order","description":"Confirm?","footer":"shop",
                "buttons":[{"id":"y","text":"Yes"},{"id":"n","text":"No"}]})"));
    EXPECT_EQ(r.status, 200u) << r.body;
}

TEST_F(SimWorldTest, ButtonsNeedABusinessAccount) {
    cfg.accounts[0].business = false;
    const auto r =
        post("/api/v1/messages/send",
             json::parse(R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","to":"+33611111111",
                            "type":"buttons","title":"t","description":"d","buttons":["Yes"]})"));
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(code(r), "UNSUPPORTED_FEATURE");
}

TEST_F(SimWorldTest, DirectBodyPlaceholdersAreFilledOrRefused) {
    auto r = post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                        {"to", "+33611111111"},
                                                        {"type", "text"},
                                                        {"body", "Hi {{name}}, -30% at {{ instance.name }}"},
                                                        {"variables", json::object{{"name", "Ana"}}}});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(str(data(get("/api/v1/messages/" + str(data(r).at("id")))).at("body")),
              "Hi Ana, -30% at boutique-principale");

    r = post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                   {"to", "+33611111111"},
                                                   {"type", "text"},
                                                   {"body", "Hi {{name}}, order {{orderId}}"}});
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(code(r), "TEMPLATE_VARIABLES_MISSING");
    EXPECT_EQ(detail_fields(r), "variables.name,variables.orderId");

    r = post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                   {"to", "+33611111111"},
                                                   {"type", "text"},
                                                   {"body", "Hi {{contact.firstName}}"}});
    EXPECT_EQ(code(r), "TEMPLATE_CONTEXT_UNAVAILABLE");

    r = post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                   {"to", "+33611111111"},
                                                   {"type", "text"},
                                                   {"body", "Hi {{first name}}"}});
    EXPECT_EQ(code(r), "TEMPLATE_INVALID");
}

TEST_F(SimWorldTest, TemplateSendsAreCheckedAndRendered) {
    auto tpl_send = [&](std::string_view id, json::object vars) {
        return post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                          {"to", "+33611111111"},
                                                          {"templateId", id},
                                                          {"variables", std::move(vars)}});
    };
    auto r = tpl_send(tpl_welcome, {{"name", "Ana"}});
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto m = data(get("/api/v1/messages/" + str(data(r).at("id"))));
    EXPECT_EQ(str(m.at("templateId")), tpl_welcome);
    EXPECT_EQ(str(m.at("body")), "Hi Ana, welcome to boutique-principale!");

    r = tpl_send(unknown_uuid, {});
    EXPECT_EQ(r.status, 404u);
    EXPECT_EQ(code(r), "NOT_FOUND");
    EXPECT_EQ(code(tpl_send(tpl_agency, {{"name", "x"}, {"code", "y"}})), "NOT_FOUND");  // another account's

    r = tpl_send(tpl_broken, {{"name", "x"}});
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(code(r), "TEMPLATE_INVALID");

    r = tpl_send(tpl_order, {{"orderId", 42}});
    EXPECT_EQ(code(r), "TEMPLATE_VARIABLES_MISSING");
    EXPECT_EQ(detail_fields(r), "variables.name");

    r = tpl_send(tpl_loyalty, {{"points", 10}});
    EXPECT_EQ(r.status, 400u);
    EXPECT_EQ(code(r), "TEMPLATE_CONTEXT_UNAVAILABLE");
    EXPECT_EQ(detail_fields(r), "contact.firstName");

    r = tpl_send(tpl_order, {{"name", "Bo"}, {"orderId", 42}});
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(str(data(get("/api/v1/messages/" + str(data(r).at("id")))).at("body")),
              "Hello Bo, your order 42 is ready.");
}

TEST_F(SimWorldTest, SendingThroughANumberThatIsNotConnectedIsProviderUnavailable) {
    const auto r = send_text("+33611111111", "x", agency_down, agency_key);
    // The team key needs its header: without it the team rule answers first.
    EXPECT_EQ(code(r), "TEAM_NOT_FOUND");
    const auto r2 = post(
        "/api/v1/messages/send",
        json::object{{"instanceId", agency_down}, {"to", "+33611111111"}, {"type", "text"}, {"body", "x"}},
        agency_key, agency_team);
    EXPECT_EQ(r2.status, 502u);
    EXPECT_EQ(code(r2), "PROVIDER_UNAVAILABLE");
    EXPECT_EQ(stat("agency", "acceptedSends"), 0);
}

TEST_F(SimWorldTest, ScheduledSendsNeedAFutureSendAtWithAnOffset) {
    auto schedule = [&](const json::value& send_at) {
        json::object body{
            {"instanceId", shop_main}, {"to", "+33611111111"}, {"type", "text"}, {"body", "later"}};
        if (!send_at.is_null()) {
            body["sendAt"] = send_at;
        }
        return post("/api/v1/messages/schedule", body);
    };
    EXPECT_EQ(detail_fields(schedule(nullptr)), "sendAt");
    EXPECT_EQ(detail_fields(schedule("2026-04-15T12:00:00")), "sendAt");        // no offset
    EXPECT_EQ(detail_fields(schedule("2026-04-15T11:00:00+02:00")), "sendAt");  // 09:00Z: the past
    EXPECT_EQ(detail_fields(schedule("2026-02-30T11:00:00Z")), "sendAt");       // no such day
    EXPECT_EQ(detail_fields(schedule(20260415)), "sendAt");

    const auto r = schedule("2026-04-15T12:00:10.5+02:00");  // 10:00:10.500Z
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(str(data(r).at("status")), "scheduled");
    const std::string target = "/api/v1/messages/" + str(data(r).at("id"));
    EXPECT_EQ(str(data(get(target)).at("sendAt")), "2026-04-15T10:00:10.500Z");
    advance(10s);
    EXPECT_EQ(str(data(get(target)).at("status")), "scheduled");
    advance(500ms);
    EXPECT_EQ(str(data(get(target)).at("status")), "queued");
    advance(1s);
    const auto sent = data(get(target));
    EXPECT_EQ(str(sent.at("status")), "sent");
    EXPECT_EQ(str(sent.at("sentAt")), "2026-04-15T10:00:11.500Z");
}

TEST_F(SimWorldTest, DuplicateSendsAreCounted) {
    ASSERT_EQ(send_text("+33611111111", "same").status, 200u);
    ASSERT_EQ(send_text("+33611111111", "same").status, 200u);
    ASSERT_EQ(send_text("+33611111111", "same").status, 200u);
    EXPECT_EQ(stat("shop", "duplicates"), 2);
    ASSERT_EQ(send_text("+33622222222", "same").status, 200u);               // another number
    ASSERT_EQ(send_text("+33611111111", "other").status, 200u);              // another text
    ASSERT_EQ(send_text("+33611111111", "same", shop_second).status, 200u);  // another instance
    auto with_vars = [&](std::string_view name) {
        return post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                          {"to", "+33611111111"},
                                                          {"templateId", tpl_welcome},
                                                          {"variables", json::object{{"name", name}}}});
    };
    ASSERT_EQ(with_vars("Ana").status, 200u);
    ASSERT_EQ(with_vars("Bo").status, 200u);
    EXPECT_EQ(stat("shop", "duplicates"), 2);
    ASSERT_EQ(with_vars("Bo").status, 200u);
    EXPECT_EQ(stat("shop", "duplicates"), 3);
    EXPECT_EQ(stat("shop", "acceptedSends"), 9);
}

// ------------------------------------------------------------------------------------------- delivery

TEST_F(SimWorldTest, StatusMovesOneStepAtATime) {
    cfg.delivery.step = 2s;
    const auto id = str(data(send_text()).at("id"));
    const std::string target = "/api/v1/messages/" + id;
    auto at = [&] { return data(get(target)); };
    EXPECT_EQ(str(at().at("status")), "queued");
    EXPECT_FALSE(at().as_object().contains("sentAt"));
    advance(1999ms);
    EXPECT_EQ(str(at().at("status")), "queued");
    advance(1ms);
    EXPECT_EQ(str(at().at("status")), "sent");
    EXPECT_EQ(str(at().at("sentAt")), "2026-04-15T10:00:02.000Z");
    advance(2s);
    EXPECT_EQ(str(at().at("status")), "delivered");
    EXPECT_EQ(str(at().at("deliveredAt")), "2026-04-15T10:00:04.000Z");
    EXPECT_FALSE(at().as_object().contains("readAt"));
    advance(2s);
    const auto m = at();
    EXPECT_EQ(str(m.at("status")), "read");
    EXPECT_EQ(str(m.at("readAt")), "2026-04-15T10:00:06.000Z");
    EXPECT_FALSE(m.as_object().contains("failedAt"));
    advance(1h);
    EXPECT_EQ(str(at().at("status")), "read");
}

TEST_F(SimWorldTest, FailedShareOneEndsEveryMessageFailedAtStepTwo) {
    cfg.delivery.failed_share = 1;
    const std::string target = "/api/v1/messages/" + str(data(send_text()).at("id"));
    advance(1s);
    EXPECT_EQ(str(data(get(target)).at("status")), "sent");
    advance(1s);
    auto m = data(get(target));
    EXPECT_EQ(str(m.at("status")), "failed");
    EXPECT_EQ(str(m.at("failedAt")), "2026-04-15T10:00:02.000Z");
    EXPECT_FALSE(m.as_object().contains("deliveredAt"));
    advance(10s);
    EXPECT_EQ(str(data(get(target)).at("status")), "failed");
}

std::vector<std::string> final_statuses(sim_config cfg, int n) {
    world w(std::move(cfg));
    const steady_time t{};
    const wall_time wall = april_15();
    std::vector<std::string> ids;
    for (int i = 0; i < n; ++i) {
        const auto body = json::serialize(json::object{{"instanceId", shop_main},
                                                       {"to", "+3361111" + std::to_string(1000 + i)},
                                                       {"type", "text"},
                                                       {"body", "x"}});
        request req;
        req.method = "POST";
        req.target = "/api/v1/messages/send";
        req.api_key = shop_key;
        req.content_type = "application/json";
        req.body = body;
        ids.emplace_back(json::parse(w.handle(req, t, wall).body).at("data").at("id").as_string());
    }
    std::vector<std::string> out;
    for (const auto& id : ids) {
        const auto target = "/api/v1/messages/" + id;
        request req;
        req.method = "GET";
        req.target = target;
        req.api_key = shop_key;
        const auto m = json::parse(w.handle(req, t + 1h, wall + 1h).body).at("data");
        out.push_back(id + ":" + std::string(m.at("status").as_string()));
    }
    return out;
}

TEST_F(SimWorldTest, FailedShareIsDrawnFromTheSeedReproducibly) {
    cfg.limits.enabled = false;
    cfg.delivery.failed_share = 0.5;
    cfg.faults.seed = 7;
    const auto a = final_statuses(cfg, 40);
    const auto b = final_statuses(cfg, 40);
    EXPECT_EQ(a, b);
    const auto failed =
        std::count_if(a.begin(), a.end(), [](const auto& s) { return s.ends_with(":failed"); });
    EXPECT_GT(failed, 5);
    EXPECT_LT(failed, 35);
    cfg.faults.seed = 8;
    EXPECT_NE(final_statuses(cfg, 40), a);
}

// ------------------------------------------------------------------------------------------- paging

class SimPaging : public SimWorldTest {
  protected:
    std::vector<std::string> send_many(int n, std::string_view instance = shop_main) {
        std::vector<std::string> ids;
        for (int i = 0; i < n; ++i) {
            const auto r = send_text("+3361000" + std::to_string(1000 + ids_sent_++), "m", instance);
            EXPECT_EQ(r.status, 200u) << r.body;
            ids.push_back(str(data(r).at("id")));
            advance(10ms);
        }
        return ids;
    }
    static std::vector<std::string> ids_of(const json::value& page) {
        std::vector<std::string> out;
        for (const auto& m : page.at("messages").as_array()) {
            out.emplace_back(m.at("id").as_string());
        }
        return out;
    }
    int ids_sent_ = 0;
};

TEST_F(SimPaging, NewestFirstWithCursorAndHasMore) {
    const auto ids = send_many(5);
    auto page = data(get("/api/v1/messages?limit=2"));
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{ids[4], ids[3]}));
    EXPECT_EQ(page.at("hasMore"), json::value(true));
    ASSERT_TRUE(page.at("nextCursor").is_string());

    page = data(get("/api/v1/messages?limit=2&cursor=" + str(page.at("nextCursor"))));
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{ids[2], ids[1]}));
    EXPECT_EQ(page.at("hasMore"), json::value(true));

    page = data(get("/api/v1/messages?cursor=" + str(page.at("nextCursor")) + "&limit=2"));
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{ids[0]}));
    EXPECT_EQ(page.at("hasMore"), json::value(false));
    EXPECT_TRUE(page.at("nextCursor").is_null());
}

TEST_F(SimPaging, ExactlyOneFullPageHasNoMore) {
    send_many(3);
    const auto page = data(get("/api/v1/messages?limit=3"));
    EXPECT_EQ(ids_of(page).size(), 3u);
    EXPECT_EQ(page.at("hasMore"), json::value(false));
    EXPECT_TRUE(page.at("nextCursor").is_null());
}

TEST_F(SimPaging, DefaultLimitIsTwenty) {
    send_many(25);
    const auto page = data(get("/api/v1/messages"));
    EXPECT_EQ(ids_of(page).size(), 20u);
    EXPECT_EQ(page.at("hasMore"), json::value(true));
}

TEST_F(SimPaging, PagesStayStableWhileNewMessagesArrive) {
    const auto ids = send_many(6);
    auto first = data(get("/api/v1/messages?limit=3"));
    send_many(4);  // newer messages land before the first page, not inside the next one
    const auto second = data(get("/api/v1/messages?limit=3&cursor=" + str(first.at("nextCursor"))));
    EXPECT_EQ(ids_of(second), (std::vector<std::string>{ids[2], ids[1], ids[0]}));
    EXPECT_EQ(second.at("hasMore"), json::value(false));
}

TEST_F(SimPaging, OnlyTheAccountsMessagesAreListed) {
    send_many(2);
    ASSERT_EQ(
        post("/api/v1/messages/send",
             json::object{
                 {"instanceId", agency_main}, {"to", "+4915100000000"}, {"type", "text"}, {"body", "a"}},
             agency_key, agency_team)
            .status,
        200u);
    EXPECT_EQ(ids_of(data(get("/api/v1/messages"))).size(), 2u);
    EXPECT_EQ(ids_of(data(get("/api/v1/messages", agency_key, agency_team))).size(), 1u);
}

TEST_F(SimPaging, FiltersByStatusAndInstance) {
    const auto old_ones = send_many(2);
    advance(5s);  // those two are read by now
    const auto other = send_many(1, shop_second);
    const auto fresh = send_many(1);
    auto page = data(get("/api/v1/messages?status=read"));
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{old_ones[1], old_ones[0]}));
    page = data(get("/api/v1/messages?status=queued&instanceId=" + std::string(shop_main)));
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{fresh[0]}));
    page = data(get("/api/v1/messages?instanceId=" + std::string(shop_second)));
    EXPECT_EQ(ids_of(page), other);
    page = data(get("/api/v1/messages?limit=1&status=read"));
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{old_ones[1]}));
    page = data(get("/api/v1/messages?limit=1&status=read&cursor=" + str(page.at("nextCursor"))));
    EXPECT_EQ(ids_of(page), (std::vector<std::string>{old_ones[0]}));
    EXPECT_EQ(page.at("hasMore"), json::value(false));
}

TEST_F(SimPaging, BadCursorsLimitsAndParametersAreValidationErrors) {
    send_many(2);
    const auto agency_cursor = [&] {
        for (int i = 0; i < 2; ++i) {
            post("/api/v1/messages/send",
                 json::object{
                     {"instanceId", agency_main}, {"to", "+4915100000000"}, {"type", "text"}, {"body", "a"}},
                 agency_key, agency_team);
        }
        return str(data(get("/api/v1/messages?limit=1", agency_key, agency_team)).at("nextCursor"));
    }();
    for (const std::string& q :
         std::vector<std::string>{"limit=0", "limit=101", "limit=abc", "limit=", "limit=5x",
                                  "cursor=not*base64", "cursor=bTE6OTk5", "cursor=" + agency_cursor,
                                  "status=lost", "instanceId=xyz", "sort=asc", "limit=1&limit=2"}) {
        const auto r = get("/api/v1/messages?" + q);
        EXPECT_EQ(r.status, 400u) << q;
        EXPECT_EQ(code(r), "VALIDATION_ERROR") << q;
    }
    EXPECT_EQ(get("/api/v1/messages?limit=100").status, 200u);
    EXPECT_EQ(get("/api/v1/messages?limit=1").status, 200u);
}

// ------------------------------------------------------------------------------------------- campaigns

class SimCampaigns : public SimWorldTest {
  protected:
    json::object campaign(std::string_view schedule = "2026-04-15T10:00:10Z") {
        return json::object{{"instanceId", shop_main},
                            {"name", "spring"},
                            {"schedule", schedule},
                            {"recipients", json::object{{"type", "explicit"},
                                                        {"value", json::array{"c1", "c2", "c3", "c4"}}}},
                            {"type", "text"},
                            {"body", "Spring sale"}};
    }
    json::value stats(const std::string& id) { return data(get("/api/v1/campaigns/" + id + "/stats")); }
    static std::string counts(const json::value& s) {
        std::string out;
        for (auto k : {"pending", "sent", "delivered", "read", "failed"}) {
            out += std::to_string(s.at(k).to_number<int>()) + (std::string_view(k) == "failed" ? "" : "/");
        }
        return out;
    }
};

TEST_F(SimCampaigns, CreateAnswers201WithTheDocumentedShape) {
    const auto r = post("/api/v1/campaigns", campaign());
    ASSERT_EQ(r.status, 201u) << r.body;
    auto d = data(r).as_object();
    const auto id = str(d.at("id"));
    EXPECT_EQ(id.size(), 36u);
    d.erase("id");
    EXPECT_EQ(json::value(d), json::parse(R"({"name":"spring","status":"scheduled",
        "instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7","schedule":"2026-04-15T10:00:10.000Z","repeat":"none",
        "recipientCount":4,"safety":{"decision":"allow","reasons":[]},"createdAt":"2026-04-15T10:00:00.000Z"})"));
    EXPECT_EQ(str(data(get("/api/v1/campaigns/" + id)).at("name")), "spring");
    EXPECT_EQ(code(get("/api/v1/campaigns/" + id, tiny_key)), "NOT_FOUND");
    EXPECT_EQ(code(get("/api/v1/campaigns/" + std::string(unknown_uuid) + "/stats")), "NOT_FOUND");
}

TEST_F(SimCampaigns, AnUnhealthyInstanceWarnsButStillCreates) {
    auto body = campaign();
    body["instanceId"] = shop_second;
    body["recipients"] = json::object{{"type", "tags"}, {"value", json::array{"vip"}}};
    body["repeat"] = "weekly";
    const auto r = post("/api/v1/campaigns", body);
    ASSERT_EQ(r.status, 201u) << r.body;
    const auto d = data(r);
    EXPECT_EQ(str(d.at("safety").at("decision")), "warn");
    EXPECT_EQ(d.at("safety").at("reasons").as_array().size(), 1u);
    EXPECT_EQ(d.at("recipientCount").to_number<int>(), 100);
    EXPECT_EQ(str(d.at("repeat")), "weekly");
}

TEST_F(SimCampaigns, ValidationFollowsTheDocumentedRules) {
    struct bad_case {
        const char* field;
        json::value value;  // null: remove the field
        const char* expected;
    };
    const std::vector<bad_case> cases{
        {"instanceId", json::value(nullptr), "instanceId"},
        {"instanceId", json::value("7c9e6679"), "instanceId"},
        {"name", json::value(nullptr), "name"},
        {"name", json::value(""), "name"},
        {"schedule", json::value(nullptr), "schedule"},
        {"schedule", json::value("tomorrow"), "schedule"},
        {"schedule", json::value("2026-04-16T08:00:00"), "schedule"},
        {"repeat", json::value("monthly"), "repeat"},
        {"recipients", json::value(nullptr), "recipients"},
        {"recipients", json::value(json::parse(R"({"type":"everyone"})")), "recipients.type"},
        {"recipients", json::value(json::parse(R"({"value":["a"]})")), "recipients.type"},
        {"recipients", json::value(json::parse(R"({"type":"tags"})")), "recipients.value"},
        {"recipients", json::value(json::parse(R"({"type":"explicit","value":[]})")), "recipients.value"},
        {"recipients", json::value(json::parse(R"({"type":"explicit","value":[1]})")), "recipients.value"},
        {"recipients", json::value(json::parse(R"({"type":"group"})")), "recipients.groupId"},
        {"recipients", json::value(json::parse(R"({"type":"group","groupId":"g1"})")), "recipients.groupId"},
        {"recipients", json::value(json::parse(R"({"type":"all","segment":"x"})")), "recipients.segment"},
        {"body", json::value(nullptr), "body"},
        {"templateId", json::value(tpl_welcome), "templateId"},
        {"type", json::value(nullptr), "type"},
        {"audience", json::value(5), "audience"},
    };
    for (const auto& c : cases) {
        auto body = campaign();
        if (c.value.is_null()) {
            body.erase(c.field);
        } else {
            body[c.field] = c.value;
        }
        const auto r = post("/api/v1/campaigns", body);
        EXPECT_EQ(r.status, 400u) << c.field << " " << json::serialize(c.value);
        EXPECT_EQ(code(r), "VALIDATION_ERROR") << c.field;
        EXPECT_EQ(detail_fields(r), c.expected) << c.field << " " << json::serialize(c.value);
    }
    // Neither mode: an empty campaign.
    auto empty = campaign();
    empty.erase("type");
    empty.erase("body");
    EXPECT_EQ(detail_fields(post("/api/v1/campaigns", empty)), "type");
    // A group campaign with its groupId is fine, and counts the synthetic audience.
    auto group = campaign();
    group["recipients"] = json::object{{"type", "group"}, {"groupId", unknown_uuid}};
    const auto r = post("/api/v1/campaigns", group);
    ASSERT_EQ(r.status, 201u) << r.body;
    EXPECT_EQ(data(r).at("recipientCount").to_number<int>(), 100);
}

TEST_F(SimCampaigns, PlanFeatureAndReferenceErrors) {
    auto r = post("/api/v1/campaigns", campaign(), tiny_key);
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(code(r), "CAMPAIGNS_NOT_AVAILABLE_ON_PLAN");

    auto body = campaign();
    body["instanceId"] = agency_main;
    EXPECT_EQ(code(post("/api/v1/campaigns", body)), "NOT_FOUND");

    body = campaign();
    body.erase("type");
    body.erase("body");
    body["templateId"] = unknown_uuid;
    EXPECT_EQ(code(post("/api/v1/campaigns", body)), "NOT_FOUND");
    body["templateId"] = tpl_broken;
    EXPECT_EQ(code(post("/api/v1/campaigns", body)), "TEMPLATE_INVALID");
    body["templateId"] = tpl_loyalty;  // contacts resolve per recipient in a campaign
    body["variables"] = json::object{{"points", 3}};
    EXPECT_EQ(post("/api/v1/campaigns", body).status, 201u);

    ASSERT_EQ(control("POST", "/_sim/accounts/shop", json::object{{"business", false}}).status, 200u);
    body = campaign();
    body["type"] = "buttons";
    body["title"] = "t";
    body["description"] = "d";
    body["buttons"] = json::array{"Yes", "No"};
    r = post("/api/v1/campaigns", body);
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(code(r), "UNSUPPORTED_FEATURE");
}

TEST_F(SimCampaigns, StatsProgressAfterTheSchedule) {
    cfg.delivery.failed_share = 0.5;
    const auto id = str(data(post("/api/v1/campaigns", campaign())).at("id"));
    EXPECT_EQ(counts(stats(id)), "4/0/0/0/0");
    EXPECT_EQ(stats(id).at("total").to_number<int>(), 4);
    EXPECT_EQ(str(stats(id).at("campaignId")), id);
    advance(10s);
    EXPECT_EQ(str(data(get("/api/v1/campaigns/" + id)).at("status")), "running");
    EXPECT_EQ(counts(stats(id)), "4/0/0/0/0");
    advance(1s);
    EXPECT_EQ(counts(stats(id)), "0/4/0/0/0");
    advance(1s);
    const auto s = stats(id);
    const int failed = s.at("failed").to_number<int>();
    EXPECT_EQ(s.at("delivered").to_number<int>() + failed, 4);
    EXPECT_EQ(str(data(get("/api/v1/campaigns/" + id)).at("status")), "running");  // nobody has read yet
    advance(1s);
    EXPECT_EQ(stats(id).at("read").to_number<int>(), 4 - failed);
    EXPECT_EQ(stats(id).at("failed").to_number<int>(), failed);
    EXPECT_EQ(str(data(get("/api/v1/campaigns/" + id)).at("status")), "completed");
}

TEST_F(SimCampaigns, FailedShareAppliesToCampaignRecipients) {
    cfg.delivery.failed_share = 1;
    const auto id = str(data(post("/api/v1/campaigns", campaign())).at("id"));
    advance(12s);
    EXPECT_EQ(counts(stats(id)), "0/0/0/0/4");
    advance(1s);
    EXPECT_EQ(counts(stats(id)), "0/0/0/0/4");
}

TEST_F(SimCampaigns, PauseResumeAndConflicts) {
    const auto id = str(data(post("/api/v1/campaigns", campaign("2026-04-15T09:59:59.500+00:00"))).at("id"));
    const std::string base = "/api/v1/campaigns/" + id;
    EXPECT_EQ(str(data(get(base)).at("status")), "running");  // it started 500 ms ago
    auto r = post(base + "/pause", json::object{});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(str(data(r).at("status")), "paused");
    r = post(base + "/pause", json::object{});
    EXPECT_EQ(r.status, 409u);
    EXPECT_EQ(code(r), "CONFLICT");

    advance(1h);  // a paused campaign does not progress
    EXPECT_EQ(counts(stats(id)), "4/0/0/0/0");
    r = post(base + "/resume", json::object{});
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(str(data(r).at("status")), "running");
    EXPECT_EQ(code(post(base + "/resume", json::object{})), "CONFLICT");
    advance(499ms);
    EXPECT_EQ(counts(stats(id)), "4/0/0/0/0");
    advance(1ms);  // 500 ms before the pause plus 500 ms after: one step
    EXPECT_EQ(counts(stats(id)), "0/4/0/0/0");
    advance(2s);
    EXPECT_EQ(str(data(get(base)).at("status")), "completed");
    EXPECT_EQ(code(post(base + "/pause", json::object{})), "CONFLICT");
    EXPECT_EQ(code(post("/api/v1/campaigns/" + std::string(unknown_uuid) + "/pause", json::object{})),
              "NOT_FOUND");
}

TEST_F(SimCampaigns, AScheduledCampaignCanBePausedBeforeItStarts) {
    const auto id = str(data(post("/api/v1/campaigns", campaign())).at("id"));  // starts in 10 s
    const std::string base = "/api/v1/campaigns/" + id;
    ASSERT_EQ(post(base + "/pause", json::object{}).status, 200u);
    advance(30s);
    EXPECT_EQ(str(data(get(base)).at("status")), "paused");
    EXPECT_EQ(counts(stats(id)), "4/0/0/0/0");
    ASSERT_EQ(post(base + "/resume", json::object{}).status, 200u);
    advance(1s);  // it starts at the resume
    EXPECT_EQ(counts(stats(id)), "0/4/0/0/0");
}

// ------------------------------------------------------------------------------------------- templates

TEST_F(SimWorldTest, TemplatesListAndDetail) {
    const auto list = data(get("/api/v1/templates")).as_array();
    ASSERT_EQ(list.size(), 4u);
    EXPECT_EQ(list[0], json::parse(R"({"id":"e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b","name":"welcome",
        "body":"Hi {{name}}, welcome to {{instance.name}}!","variables":["name","instance.name"],"status":"approved"})"));
    EXPECT_EQ(str(list[2].at("status")), "invalid");
    EXPECT_EQ(str(data(get("/api/v1/templates/" + std::string(tpl_order))).at("name")), "order-ready");
    EXPECT_EQ(code(get("/api/v1/templates/" + std::string(tpl_agency))), "NOT_FOUND");
}

TEST_F(SimWorldTest, TemplatePreviewRendersOrExplains) {
    const std::string welcome = "/api/v1/templates/" + std::string(tpl_welcome) + "/preview";
    auto r =
        post(welcome, json::object{{"variables", json::object{{"name", "Ana"}}}, {"instanceId", shop_main}});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(data(r), json::parse(R"({"templateId":"e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b",
        "rendered":"Hi Ana, welcome to boutique-principale!"})"));

    r = post(welcome, json::object{{"variables", json::object{{"name", "Ana"}}}});
    EXPECT_EQ(code(r), "TEMPLATE_CONTEXT_UNAVAILABLE");  // {{instance.name}} without an instance
    r = post(welcome, json::object{{"instanceId", shop_main}});
    EXPECT_EQ(code(r), "TEMPLATE_VARIABLES_MISSING");
    EXPECT_EQ(detail_fields(r), "variables.name");
    r = post(welcome, json::object{{"instanceId", agency_main}, {"variables", json::object{{"name", "A"}}}});
    EXPECT_EQ(code(r), "NOT_FOUND");
    r = post(welcome, json::object{{"vars", 1}});
    EXPECT_EQ(code(r), "VALIDATION_ERROR");
    EXPECT_EQ(code(post("/api/v1/templates/" + std::string(tpl_broken) + "/preview", json::object{})),
              "TEMPLATE_INVALID");
    EXPECT_EQ(code(post("/api/v1/templates/" + std::string(tpl_loyalty) + "/preview",
                        json::object{{"variables", json::object{{"points", 1}}}})),
              "TEMPLATE_CONTEXT_UNAVAILABLE");
    EXPECT_EQ(code(post("/api/v1/templates/" + std::string(unknown_uuid) + "/preview", json::object{})),
              "NOT_FOUND");
}

// ------------------------------------------------------------------------------------------- faults

class SimFaults : public SimWorldTest {
  protected:
    response script(std::initializer_list<std::string_view> names) {
        json::array a;
        for (auto n : names) {
            a.emplace_back(n);
        }
        return control("POST", "/_sim/faults", json::object{{"script", a}});
    }
};

TEST_F(SimFaults, ScriptedFaultsAreConsumedOnePerEligibleRequest) {
    ASSERT_EQ(script({"PROVIDER_TIMEOUT", "none", "PROVIDER_UNAVAILABLE", "PROVIDER_ERROR", "INTERNAL_ERROR",
                      "SERVICE_UNAVAILABLE"})
                  .status,
              200u);
    auto r = send_text("+33611111111");
    EXPECT_EQ(r.status, 502u);
    EXPECT_EQ(code(r), "PROVIDER_TIMEOUT");
    EXPECT_EQ(send_text("+33611111112").status, 200u);
    EXPECT_EQ(code(send_text("+33611111113")), "PROVIDER_UNAVAILABLE");
    EXPECT_EQ(code(send_text("+33611111114")), "PROVIDER_ERROR");
    r = send_text("+33611111115");
    EXPECT_EQ(r.status, 500u);
    EXPECT_EQ(code(r), "INTERNAL_ERROR");
    r = send_text("+33611111116");
    EXPECT_EQ(r.status, 503u);
    EXPECT_EQ(code(r), "SERVICE_UNAVAILABLE");
    EXPECT_EQ(send_text("+33611111117").status, 200u);  // the script is used up
    EXPECT_EQ(stat("shop", "acceptedSends"), 2);        // failed requests were not processed
    EXPECT_EQ(stat("shop", "faults"), 5);
    EXPECT_EQ(parse(control("GET", "/_sim/messages")).at("messages").as_array().size(), 2u);
}

TEST_F(SimFaults, ReadsAreNotEligibleUnlessOnReads) {
    ASSERT_EQ(script({"PROVIDER_ERROR"}).status, 200u);
    EXPECT_EQ(get("/api/v1/instances").status, 200u);
    EXPECT_EQ(code(send_text()), "PROVIDER_ERROR");  // the script waited for the POST
    ASSERT_EQ(
        control("POST", "/_sim/faults", json::object{{"on_reads", true}, {"script", {"PROVIDER_ERROR"}}})
            .status,
        200u);
    EXPECT_EQ(code(get("/api/v1/instances")), "PROVIDER_ERROR");
}

TEST_F(SimFaults, RequestsRefusedBeforeTheFaultStageDoNotConsumeTheScript) {
    cfg.limits.enabled = true;
    cfg.accounts[0].rate = 1;
    ASSERT_EQ(script({"PROVIDER_ERROR"}).status, 200u);
    EXPECT_EQ(send_text("+33611111111", "x", shop_main, std::nullopt).status, 401u);
    EXPECT_EQ(get("/api/v1/instances").status, 200u);  // uses the one request of this second
    EXPECT_EQ(send_text().status, 429u);
    advance(1s);
    EXPECT_EQ(code(send_text()), "PROVIDER_ERROR");
}

TEST_F(SimFaults, AmbiguousAnswersAreProcessedThenTheConnectionCloses) {
    ASSERT_EQ(script({"ambiguous"}).status, 200u);
    const auto r = send_text();
    EXPECT_EQ(r.mode, delivery_mode::close_without_answer);
    EXPECT_EQ(stat("shop", "acceptedSends"), 1);
    EXPECT_EQ(stat("shop", "faults"), 1);
}

TEST_F(SimFaults, SlowAnswersTrickle) {
    ASSERT_EQ(script({"slow"}).status, 200u);
    const auto r = send_text();
    EXPECT_EQ(r.mode, delivery_mode::trickle);
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(str(data(r).at("status")), "queued");
}

TEST_F(SimFaults, GarbageIsA200ThatIsNotJson) {
    ASSERT_EQ(script({"garbage"}).status, 200u);
    const auto r = send_text();
    EXPECT_EQ(r.status, 200u);
    EXPECT_EQ(r.content_type, "application/json");
    boost::system::error_code ec;
    json::parse(r.body, ec);
    EXPECT_TRUE(ec) << r.body;
    EXPECT_EQ(stat("shop", "acceptedSends"), 1);
}

TEST_F(SimFaults, WrongContentTypeKeepsTheJsonBody) {
    ASSERT_EQ(script({"wrong_content_type"}).status, 200u);
    const auto r = send_text();
    EXPECT_EQ(r.content_type, "text/html");
    EXPECT_EQ(str(data(r).at("status")), "queued");
}

TEST_F(SimFaults, HugeBodyIsValidJsonOfTheConfiguredSize) {
    ASSERT_EQ(
        control("POST", "/_sim/faults", json::object{{"huge_body_bytes", 100000}, {"script", {"huge_body"}}})
            .status,
        200u);
    const auto r = send_text();
    EXPECT_EQ(r.status, 200u);
    EXPECT_GE(r.body.size(), 99'000u);
    EXPECT_LE(r.body.size(), 101'000u);
    EXPECT_EQ(str(data(r).at("status")), "queued");
}

TEST_F(SimFaults, ProbabilitiesDrawReproduciblyFromTheSeed) {
    auto run = [&](std::uint64_t seed) {
        sim_config c = cfg;
        c.faults.seed = seed;
        c.faults.provider_error = 0.3;
        c.faults.garbage = 0.2;
        world w(c);
        std::string trace;
        for (int i = 0; i < 64; ++i) {
            const auto body = json::serialize(json::object{{"instanceId", shop_main},
                                                           {"to", "+3361111" + std::to_string(1000 + i)},
                                                           {"type", "text"},
                                                           {"body", "x"}});
            request req;
            req.method = "POST";
            req.target = "/api/v1/messages/send";
            req.api_key = shop_key;
            req.content_type = "application/json";
            req.body = body;
            const auto r = w.handle(req, now, wall);
            trace += r.status == 502 ? 'E' : (r.body.starts_with("<html>") ? 'G' : '.');
        }
        return trace;
    };
    const auto a = run(42);
    EXPECT_EQ(a, run(42));
    EXPECT_NE(a, run(43));
    const auto errors = std::count(a.begin(), a.end(), 'E');
    const auto garbage = std::count(a.begin(), a.end(), 'G');
    EXPECT_GT(errors, 8);
    EXPECT_LT(errors, 32);
    EXPECT_GT(garbage, 3);
    EXPECT_LT(garbage, 25);
}

TEST_F(SimFaults, IdsDoNotDependOnOtherDraws) {
    auto first_id = [&](milliseconds latency) {
        sim_config c = cfg;
        c.faults.latency_max = latency;
        world w(c);
        request req;
        req.method = "POST";
        req.target = "/api/v1/messages/send";
        req.api_key = shop_key;
        req.content_type = "application/json";
        const auto body = json::serialize(
            json::object{{"instanceId", shop_main}, {"to", "+33611111111"}, {"type", "text"}, {"body", "x"}});
        req.body = body;
        return std::string(json::parse(w.handle(req, now, wall).body).at("data").at("id").as_string());
    };
    EXPECT_EQ(first_id(0ms), first_id(50ms));
}

TEST_F(SimFaults, LatencyIsDrawnForEveryApiAnswerOnly) {
    cfg.faults.latency_min = 20ms;
    cfg.faults.latency_max = 40ms;
    std::set<long> seen;
    for (int i = 0; i < 50; ++i) {
        const auto r = i % 2 == 0 ? get("/api/v1/instances") : get("/api/v1/instances", std::nullopt);
        EXPECT_GE(r.latency, 20ms);
        EXPECT_LE(r.latency, 40ms);
        seen.insert(static_cast<long>(r.latency.count()));
    }
    EXPECT_GT(seen.size(), 5u);
    EXPECT_EQ(control("GET", "/_sim/stats").latency, 0ms);
}

TEST_F(SimFaults, ResetsComeFromTheCounterThenTheProbability) {
    EXPECT_FALSE(w().draw_reset());
    ASSERT_EQ(control("POST", "/_sim/faults", json::object{{"reset_next", 2}}).status, 200u);
    EXPECT_TRUE(w().draw_reset());
    EXPECT_TRUE(w().draw_reset());
    EXPECT_FALSE(w().draw_reset());
    ASSERT_EQ(control("POST", "/_sim/faults", json::object{{"reset", 1}}).status, 200u);
    EXPECT_TRUE(w().draw_reset());
    EXPECT_EQ(w().faults().reset, 1.0);
}

TEST_F(SimFaults, ArrivalJitterStaysInItsRange) {
    EXPECT_EQ(w().draw_arrival_jitter(), 0ms);
    ASSERT_EQ(control("POST", "/_sim/faults", json::object{{"jitter_min", "5ms"}, {"jitter_max", 15}}).status,
              200u);
    std::set<long> seen;
    for (int i = 0; i < 100; ++i) {
        const auto j = w().draw_arrival_jitter();
        EXPECT_GE(j, 5ms);
        EXPECT_LE(j, 15ms);
        seen.insert(static_cast<long>(j.count()));
    }
    EXPECT_GT(seen.size(), 5u);
}

// ------------------------------------------------------------------------------------------- control API

TEST_F(SimWorldTest, ControlRoutesAnswerLoopbackOnly) {
    const auto r = call("GET", "/_sim/stats", std::nullopt, {}, std::nullopt, "", false);
    EXPECT_EQ(r.status, 403u);
    EXPECT_EQ(code(r), "FORBIDDEN");
    EXPECT_EQ(control("GET", "/_sim/nothing").status, 404u);
}

TEST_F(SimWorldTest, ControlStatsEqualsStatsAndCountsConnections) {
    w().note_connection_opened();
    w().note_connection_opened();
    w().note_tls_handshake();
    get("/api/v1/instances");
    const auto r = control("GET", "/_sim/stats");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(parse(r), json::value(w().stats()));
    EXPECT_EQ(parse(r).at("connections").to_number<int>(), 2);
    EXPECT_EQ(parse(r).at("tlsHandshakes").to_number<int>(), 1);
    const auto shop = parse(r).at("accounts").at("shop").as_object();
    for (auto key : {"requests", "rateLimited", "maxWindow", "acceptedSends", "duplicates", "quotaUsed",
                     "unauthorized", "faults"}) {
        EXPECT_TRUE(shop.contains(key)) << key;
    }
    EXPECT_EQ(shop.at("requests").to_number<int>(), 1);
    EXPECT_TRUE(parse(r).at("accounts").as_object().contains("tiny"));
}

TEST_F(SimWorldTest, ControlMessagesAreOldestFirstAndFilterByAccount) {
    ASSERT_EQ(send_text("+33611111111").status, 200u);
    ASSERT_EQ(
        post("/api/v1/messages/send",
             json::object{
                 {"instanceId", agency_main}, {"to", "+4915100000000"}, {"type", "text"}, {"body", "a"}},
             agency_key, agency_team)
            .status,
        200u);
    ASSERT_EQ(post("/api/v1/messages/send", json::object{{"instanceId", shop_main},
                                                         {"to", "+33611111112"},
                                                         {"templateId", tpl_welcome},
                                                         {"variables", json::object{{"name", "Ana"}}}})
                  .status,
              200u);
    const auto all = parse(control("GET", "/_sim/messages")).at("messages").as_array();
    ASSERT_EQ(all.size(), 3u);
    EXPECT_EQ(str(all[0].at("to")), "+33611111111");
    EXPECT_EQ(str(all[1].at("account")), "agency");
    const auto shop = parse(control("GET", "/_sim/messages?account=shop")).at("messages").as_array();
    ASSERT_EQ(shop.size(), 2u);
    EXPECT_EQ(str(shop[1].at("templateId")), tpl_welcome);
    EXPECT_EQ(shop[1].at("variables"), json::parse(R"({"name":"Ana"})"));
    EXPECT_EQ(str(shop[1].at("status")), "queued");
    EXPECT_EQ(control("GET", "/_sim/messages?account=nobody").status, 404u);
    EXPECT_EQ(code(control("GET", "/_sim/messages?acount=shop")), "VALIDATION_ERROR");
}

TEST_F(SimWorldTest, ControlAccountsChangeBehaviourAtOnce) {
    auto r = control("POST", "/_sim/accounts/shop", json::object{{"revoked", true}});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(parse(r).at("revoked"), json::value(true));
    EXPECT_EQ(get("/api/v1/instances").status, 401u);
    ASSERT_EQ(control("POST", "/_sim/accounts/shop",
                      json::object{{"revoked", false}, {"monthly_quota", 10}, {"quota_used", 10}})
                  .status,
              200u);
    EXPECT_EQ(code(get("/api/v1/instances")), "MONTHLY_API_REQUEST_QUOTA_EXCEEDED");
    ASSERT_EQ(control("POST", "/_sim/accounts/shop",
                      json::object{{"quota_used", 0}, {"subscription_active", false}})
                  .status,
              200u);
    EXPECT_EQ(code(send_text()), "SUBSCRIPTION_INACTIVE");
    ASSERT_EQ(control("POST", "/_sim/accounts/shop",
                      json::object{{"campaigns", false}, {"subscription_active", true}})
                  .status,
              200u);
    EXPECT_EQ(code(post("/api/v1/campaigns", json::object{})), "CAMPAIGNS_NOT_AVAILABLE_ON_PLAN");
    ASSERT_EQ(control("POST", "/_sim/limits", json::object{{"enabled", true}}).status, 200u);
    ASSERT_EQ(control("POST", "/_sim/accounts/shop", json::object{{"rate", 1}}).status, 200u);
    EXPECT_EQ(get("/api/v1/instances").status, 200u);
    EXPECT_EQ(get("/api/v1/instances").status, 429u);
}

TEST_F(SimWorldTest, ControlBodiesAreStrict) {
    struct bad_case {
        std::string target;
        const char* body;
        const char* field;
    };
    const std::vector<bad_case> cases{
        {"/_sim/accounts/shop", R"({"revokd":true})", "revokd"},
        {"/_sim/accounts/shop", R"({"revoked":"yes"})", "revoked"},
        {"/_sim/accounts/shop", R"({"rate":0})", "rate"},
        {"/_sim/accounts/shop", R"({"monthly_quota":-1})", "monthly_quota"},
        {"/_sim/instances/" + std::string(shop_main), R"({"status":"online"})", "status"},
        {"/_sim/instances/" + std::string(shop_main), R"({"health":[1]})", "health"},
        {"/_sim/instances/" + std::string(shop_main), R"({"name":"x"})", "name"},
        {"/_sim/faults", R"({"provider_error":1.5})", "provider_error"},
        {"/_sim/faults", R"({"provider_error":0.6,"garbage":0.6})", "faults"},
        {"/_sim/faults", R"({"latency_max":"soon"})", "latency_max"},
        {"/_sim/faults", R"({"latency_min":"2s"})", "latency_min"},
        {"/_sim/faults", R"({"script":["PROVIDER_TIMEOUT","boom"]})", "script[1]"},
        {"/_sim/faults", R"({"reset_next":-2})", "reset_next"},
        {"/_sim/faults", R"({"chaos":1})", "chaos"},
        {"/_sim/limits", R"({"retry_after":"later"})", "retry_after"},
        {"/_sim/limits", R"({"enabled":1})", "enabled"},
        {"/_sim/limits", R"({"burst":5})", "burst"},
    };
    for (const auto& c : cases) {
        const auto r = call("POST", c.target, std::nullopt, c.body);
        EXPECT_EQ(r.status, 400u) << c.target << " " << c.body;
        EXPECT_EQ(code(r), "VALIDATION_ERROR") << c.body;
        EXPECT_EQ(detail_fields(r), c.field) << c.body;
    }
    // A refused body changes nothing, not even its valid fields.
    EXPECT_EQ(call("POST", "/_sim/faults", std::nullopt, R"({"garbage":0.5,"chaos":1})").status, 400u);
    EXPECT_EQ(w().faults().garbage, 0.0);
    EXPECT_EQ(code(call("POST", "/_sim/faults", std::nullopt, "{oops")), "BAD_REQUEST");
    EXPECT_EQ(control("POST", "/_sim/accounts/nobody", json::object{{"revoked", true}}).status, 404u);
    EXPECT_EQ(control("POST", "/_sim/instances/" + std::string(unknown_uuid), json::object{}).status, 404u);
}

TEST_F(SimWorldTest, ControlFaultsAcceptTomlNamesAndDurationSpellings) {
    const auto r = control("POST", "/_sim/faults",
                           json::object{{"latency_min", "250ms"},
                                        {"latency_max", 1500},
                                        {"slow_chunk_interval", "1s"},
                                        {"slow_chunk_bytes", 4},
                                        {"provider_timeout", 0.25},
                                        {"seed", 99}});
    ASSERT_EQ(r.status, 200u) << r.body;
    const auto f = w().faults();
    EXPECT_EQ(f.latency_min, 250ms);
    EXPECT_EQ(f.latency_max, 1500ms);
    EXPECT_EQ(f.slow_chunk_interval, 1000ms);
    EXPECT_EQ(f.slow_chunk_bytes, 4u);
    EXPECT_EQ(f.provider_timeout, 0.25);
    EXPECT_EQ(f.seed, 99u);
    EXPECT_EQ(str(parse(r).at("latency_max")), "1s500ms");
}

TEST_F(SimWorldTest, ControlLimitsAnswerTheirState) {
    const auto r =
        control("POST", "/_sim/limits",
                json::object{{"retry_after", "date"}, {"count_rejected", false}, {"window", "2s"}});
    ASSERT_EQ(r.status, 200u) << r.body;
    EXPECT_EQ(parse(r),
              json::parse(R"({"enabled":false,"window":"2s","retry_after":"date","count_rejected":false})"));
}

TEST_F(SimWorldTest, ResetStatsZeroesCountersButKeepsState) {
    cfg.limits.enabled = true;
    w().note_connection_opened();
    ASSERT_EQ(send_text().status, 200u);
    ASSERT_EQ(send_text().status, 200u);
    EXPECT_EQ(stat("shop", "duplicates"), 1);
    const auto r = control("POST", "/_sim/reset-stats");
    ASSERT_EQ(r.status, 200u);
    EXPECT_EQ(parse(r).at("connections").to_number<int>(), 0);
    EXPECT_EQ(stat("shop", "requests"), 0);
    EXPECT_EQ(stat("shop", "maxWindow"), 0);
    EXPECT_EQ(stat("shop", "acceptedSends"), 0);
    EXPECT_EQ(stat("shop", "quotaUsed"), 2);  // the quota is state, not a statistic
    ASSERT_EQ(send_text().status, 200u);
    EXPECT_EQ(stat("shop", "duplicates"), 0);  // fingerprints were forgotten too
    EXPECT_EQ(stat("shop", "maxWindow"), 1);
    EXPECT_EQ(parse(control("GET", "/_sim/messages")).at("messages").as_array().size(), 3u);
}

// ------------------------------------------------------------------------------------------- threads

TEST_F(SimWorldTest, TwoThreadsShareTheWorldSafely) {
    cfg.limits.enabled = true;
    cfg.accounts[0].rate = 100;
    auto& world = w();
    auto worker = [&](int offset) {
        for (int i = 0; i < 1000; ++i) {
            request req;
            req.method = i % 10 == 0 ? "POST" : "GET";
            req.target = i % 10 == 0 ? "/api/v1/messages/send" : "/api/v1/instances";
            req.api_key = shop_key;
            req.content_type = "application/json";
            const auto body =
                json::serialize(json::object{{"instanceId", shop_main},
                                             {"to", "+336" + std::to_string(10'000'000 + offset + i)},
                                             {"type", "text"},
                                             {"body", "x"}});
            req.body = body;
            // 1000 requests over 10 s per thread: 200 req/s together, so some are limited.
            (void)world.handle(req, now + milliseconds(i * 10), wall + milliseconds(i * 10));
        }
    };
    std::thread a(worker, 0);
    std::thread b(worker, 5000);
    a.join();
    b.join();
    const auto s = account_stats("shop");
    EXPECT_EQ(s.at("requests").to_number<int>(), 2000);
    // 100 arrivals per second from each thread; how they interleave decides how many overlap.
    EXPECT_GE(s.at("maxWindow").to_number<int>(), 100);
    EXPECT_LE(s.at("maxWindow").to_number<int>(), 200);
    EXPECT_GT(s.at("rateLimited").to_number<int>(), 0);
}

}  // namespace
}  // namespace msgflash::sim::testing
