// The MsgFlash endpoints the daemon calls, as data: method, target and JSON body of each request (docs:
// api-overview "Available endpoints", instances.txt; SPEC §11 for the send body). Pure, so tests can read
// them.
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "api/api_types.hpp"

namespace msgflash::api {

inline constexpr std::string_view api_prefix = "/api/v1";

enum class http_method { get, post };

struct endpoint_request {
    http_method method = http_method::get;
    std::string target;  // "/api/v1/messages/send", query included
    std::string body;    // JSON; empty: no body (and no Content-Type)
    // May be sent again on a fresh connection when a kept-alive one turns out stale (see http_pool.hpp). True
    // for reads and for the side-effect-free template preview; false for anything that changes state.
    bool idempotent = true;
    // http_request::on_write: the caller's hook, called as the request is written.
    std::function<void()> on_write;
};

// RFC 3986: everything but unreserved characters (ALPHA DIGIT - . _ ~) as %XX. For path segments and
// query values, so that an id or cursor can never change the route.
std::string percent_encode(std::string_view text);

// Messages
endpoint_request send_message_request(const send_request& r);
endpoint_request schedule_message_request(const schedule_request& r);
endpoint_request get_message_request(std::string_view id);
endpoint_request list_messages_request(const message_query& q);

// Instances
endpoint_request list_instances_request();
endpoint_request get_instance_request(std::string_view id);
endpoint_request instance_state_request(std::string_view id);
endpoint_request instance_health_request(std::string_view id);

// Campaigns. `body` is POST /campaigns' documented body (instanceId, name, schedule, repeat, recipients,
// templateId | type + content, variables, buttons…), sent as given: the caller removes file-only fields.
endpoint_request create_campaign_request(const boost::json::object& body);
endpoint_request get_campaign_request(std::string_view id);
endpoint_request campaign_stats_request(std::string_view id);
endpoint_request pause_campaign_request(std::string_view id);
endpoint_request resume_campaign_request(std::string_view id);

// Templates
endpoint_request list_templates_request();
endpoint_request get_template_request(std::string_view id);
endpoint_request preview_template_request(std::string_view id, const template_preview_request& r);

// Usage and billing (personal keys only: team keys get TEAM_KEY_NOT_ALLOWED)
endpoint_request usage_request();
endpoint_request billing_subscription_request();
endpoint_request billing_usage_request();

}  // namespace msgflash::api
