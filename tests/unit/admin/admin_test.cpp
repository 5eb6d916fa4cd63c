// The admin endpoint's pure parts: the Prometheus text format and the routes of docs/admin-api.md.
#include <array>

#include <gtest/gtest.h>

#include "admin/control_route.hpp"
#include "admin/metrics_text.hpp"

namespace msgflash::admin {
namespace {

TEST(MetricsText, FamiliesSamplesAndEscapedLabels) {
    metrics_text m;
    m.family("msgflash_jobs", "gauge", "Jobs by state.\nOne line per state");
    m.sample("msgflash_jobs", {{"account", "sh\"o\\p"}, {"state", "ready"}}, 3);
    m.sample("msgflash_pace", {}, 9.5);
    EXPECT_EQ(m.text(),
              "# HELP msgflash_jobs Jobs by state.\\nOne line per state\n"
              "# TYPE msgflash_jobs gauge\n"
              "msgflash_jobs{account=\"sh\\\"o\\\\p\",state=\"ready\"} 3\n"
              "msgflash_pace 9.5\n");
}

TEST(MetricsText, HistogramsAreCumulativeWithInfSumAndCount) {
    metrics_text m;
    const std::array<double, 2> upper{0.01, 0.1};
    const std::array<std::uint64_t, 2> cumulative{2, 5};
    m.histogram("msgflash_latency_seconds", {{"account", "shop"}}, upper, cumulative, 0.42, 7);
    EXPECT_EQ(m.text(),
              "msgflash_latency_seconds_bucket{account=\"shop\",le=\"0.01\"} 2\n"
              "msgflash_latency_seconds_bucket{account=\"shop\",le=\"0.1\"} 5\n"
              "msgflash_latency_seconds_bucket{account=\"shop\",le=\"+Inf\"} 7\n"
              "msgflash_latency_seconds_sum{account=\"shop\"} 0.42\n"
              "msgflash_latency_seconds_count{account=\"shop\"} 7\n");
}

TEST(ControlRoute, EveryDocumentedCall) {
    struct row {
        std::string_view method;
        std::string_view target;
        route_kind kind;
        std::string_view subject;
    };
    const row rows[] = {
        {"GET", "/healthz", route_kind::healthz, ""},
        {"GET", "/readyz", route_kind::readyz, ""},
        {"GET", "/metrics", route_kind::metrics, ""},
        {"POST", "/control/batches/spring-2026/pause", route_kind::batch_pause, "spring-2026"},
        {"POST", "/control/batches/a%2Fb%20c/resume", route_kind::batch_resume, "a/b c"},
        {"POST", "/control/batches/x/cancel", route_kind::batch_cancel, "x"},
        {"POST", "/control/batches/x/retry", route_kind::batch_retry, "x"},
        {"POST", "/control/retry-dead", route_kind::retry_dead, ""},
        {"POST", "/control/accounts/shop/resume", route_kind::account_resume, "shop"},
        {"POST", "/control/instances/7c9e6679-7425-40de-944b-e07fc1f90ae7/resume",
         route_kind::instance_resume, "7c9e6679-7425-40de-944b-e07fc1f90ae7"},
        {"POST", "/control/reconcile", route_kind::reconcile, ""},
        {"POST", "/control/reconcile?batch=b%201", route_kind::reconcile, "b 1"},
        {"POST", "/control/campaigns/c1/pause", route_kind::campaign_pause, "c1"},
        {"POST", "/control/campaigns/c1/resume", route_kind::campaign_resume, "c1"},
    };
    for (const row& r : rows) {
        const route_result got = parse_route(r.method, r.target);
        ASSERT_TRUE(got.ok) << r.target << ": " << got.error.message;
        EXPECT_EQ(got.ok->kind, r.kind) << r.target;
        EXPECT_EQ(got.ok->subject, r.subject) << r.target;
        EXPECT_EQ(got.ok->control(), r.method == "POST") << r.target;
    }
}

TEST(ControlRoute, WrongMethodsUnknownPathsAndMalformedSegments) {
    EXPECT_EQ(parse_route("POST", "/healthz").error.status, 405u);
    EXPECT_EQ(parse_route("GET", "/control/retry-dead").error.status, 405u);
    EXPECT_EQ(parse_route("GET", "/nothing").error.status, 404u);
    EXPECT_EQ(parse_route("POST", "/control/batches/x/explode").error.status, 404u);
    EXPECT_EQ(parse_route("POST", "/control/batches/x").error.status, 404u);
    EXPECT_EQ(parse_route("POST", "/control/batches/%zz/pause").error.status, 400u);
    EXPECT_EQ(parse_route("POST", "/control/batches/a%00b/pause").error.status, 400u);
    EXPECT_EQ(parse_route("POST", "/control/batches/a%2/pause").error.status, 400u);
    EXPECT_EQ(parse_route("POST", "/control/reconcile?all=1").error.status, 400u);
    EXPECT_EQ(percent_decode("100%25"), std::optional<std::string>("100%"));
    EXPECT_EQ(percent_decode("%"), std::nullopt);
}

}  // namespace
}  // namespace msgflash::admin
