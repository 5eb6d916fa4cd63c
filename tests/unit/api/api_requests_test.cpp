#include "api/api_requests.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <gtest/gtest.h>

namespace msgflash::api {
namespace {

namespace json = boost::json;

TEST(Requests, PercentEncoding) {
    EXPECT_EQ(percent_encode("7c9e6679-7425-40de-944b-e07fc1f90ae7"), "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    EXPECT_EQ(percent_encode("a/b?c=d&e f"), "a%2Fb%3Fc%3Dd%26e%20f");
    EXPECT_EQ(percent_encode("bTE6Mw~_."), "bTE6Mw~_.");
    EXPECT_EQ(percent_encode("\xc3\xa9"), "%C3%A9");
}

TEST(Requests, IdsCannotChangeTheRoute) {
    EXPECT_EQ(get_message_request("../instances").target, "/api/v1/messages/..%2Finstances");
    EXPECT_EQ(instance_health_request("x/y").target, "/api/v1/instances/x%2Fy/health");
}

TEST(Requests, Targets) {
    EXPECT_EQ(list_instances_request().target, "/api/v1/instances");
    EXPECT_EQ(get_instance_request("i").target, "/api/v1/instances/i");
    EXPECT_EQ(instance_state_request("i").target, "/api/v1/instances/i/state");
    EXPECT_EQ(instance_health_request("i").target, "/api/v1/instances/i/health");
    EXPECT_EQ(get_message_request("m").target, "/api/v1/messages/m");
    EXPECT_EQ(get_campaign_request("c").target, "/api/v1/campaigns/c");
    EXPECT_EQ(campaign_stats_request("c").target, "/api/v1/campaigns/c/stats");
    EXPECT_EQ(pause_campaign_request("c").target, "/api/v1/campaigns/c/pause");
    EXPECT_EQ(resume_campaign_request("c").target, "/api/v1/campaigns/c/resume");
    EXPECT_EQ(list_templates_request().target, "/api/v1/templates");
    EXPECT_EQ(get_template_request("t").target, "/api/v1/templates/t");
    EXPECT_EQ(usage_request().target, "/api/v1/usage");
    EXPECT_EQ(billing_subscription_request().target, "/api/v1/billing/subscription");
    EXPECT_EQ(billing_usage_request().target, "/api/v1/billing/usage");
}

TEST(Requests, ListQuery) {
    EXPECT_EQ(list_messages_request({}).target, "/api/v1/messages");
    message_query q;
    q.limit = 50;
    q.cursor = "bTE6Mw==";
    q.status = "sent";
    q.instance_id = "i";
    EXPECT_EQ(list_messages_request(q).target,
              "/api/v1/messages?limit=50&cursor=bTE6Mw%3D%3D&status=sent&instanceId=i");
}

TEST(Requests, SendBody) {
    send_request r;
    r.instance_id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    r.to = "+33612345678";
    r.content.type = "text";
    r.content.body = "Hi {{name}}";
    r.content.variables = json::object{{"name", "Ana"}};
    const auto e = send_message_request(r);
    EXPECT_EQ(e.method, http_method::post);
    EXPECT_EQ(e.target, "/api/v1/messages/send");
    EXPECT_FALSE(e.idempotent);
    EXPECT_EQ(json::parse(e.body), json::parse(R"({"instanceId":"7c9e6679-7425-40de-944b-e07fc1f90ae7",
        "to":"+33612345678","type":"text","body":"Hi {{name}}","variables":{"name":"Ana"}})"));
}

TEST(Requests, ScheduleAndButtons) {
    schedule_request r;
    r.instance_id = "i";
    r.to = "+33612345678";
    r.content.type = "buttons";
    r.content.title = "T";
    r.content.description = "D";
    r.content.buttons = json::array{"Yes", "No"};
    r.send_at = "2026-11-27T08:00:00+01:00";
    const auto e = schedule_message_request(r);
    EXPECT_EQ(e.target, "/api/v1/messages/schedule");
    EXPECT_EQ(json::parse(e.body),
              json::parse(R"({"instanceId":"i","to":"+33612345678","type":"buttons","title":"T",
        "description":"D","buttons":["Yes","No"],"sendAt":"2026-11-27T08:00:00+01:00"})"));
}

TEST(Requests, TemplateModeLeavesDirectFieldsOut) {
    send_request r;
    r.instance_id = "i";
    r.to = "+33612345678";
    r.content.template_id = "t";
    EXPECT_EQ(json::parse(send_message_request(r).body),
              json::parse(R"({"instanceId":"i","to":"+33612345678","templateId":"t"})"));
}

TEST(Requests, PreviewIsIdempotentAndPauseIsNot) {
    template_preview_request p;
    p.variables = json::object{{"name", "Ana"}};
    const auto e = preview_template_request("t", p);
    EXPECT_EQ(e.target, "/api/v1/templates/t/preview");
    EXPECT_EQ(e.method, http_method::post);
    EXPECT_TRUE(e.idempotent);
    EXPECT_EQ(json::parse(e.body), json::parse(R"({"variables":{"name":"Ana"}})"));
    EXPECT_EQ(preview_template_request("t", {}).body, "{}");

    EXPECT_FALSE(pause_campaign_request("c").idempotent);
    EXPECT_TRUE(pause_campaign_request("c").body.empty());
    EXPECT_FALSE(create_campaign_request(json::object{{"name", "x"}}).idempotent);
    EXPECT_TRUE(list_instances_request().idempotent);
    EXPECT_TRUE(list_instances_request().body.empty());
}

}  // namespace
}  // namespace msgflash::api
