#include "api/api_requests.hpp"

#include <utility>

#include <boost/json/serialize.hpp>

namespace msgflash::api {
namespace {

namespace json = boost::json;

std::string target(std::string_view tail) {
    std::string out(api_prefix);
    out += tail;
    return out;
}

// "/api/v1/<collection>/<id><suffix>", the id percent-encoded.
std::string target(std::string_view collection, std::string_view id, std::string_view suffix = {}) {
    std::string out(api_prefix);
    out += collection;
    out += '/';
    out += percent_encode(id);
    out += suffix;
    return out;
}

endpoint_request get(std::string t) {
    return {http_method::get, std::move(t), {}, true, {}};
}

endpoint_request post(std::string t, const json::object& body, bool idempotent) {
    return {http_method::post, std::move(t), json::serialize(body), idempotent, {}};
}

void put(json::object& o, std::string_view key, const std::optional<std::string>& v) {
    if (v) {
        o[key] = *v;
    }
}

void put_content(json::object& o, const message_content& c) {
    put(o, "templateId", c.template_id);
    put(o, "type", c.type);
    put(o, "body", c.body);
    put(o, "mediaUrl", c.media_url);
    put(o, "title", c.title);
    put(o, "description", c.description);
    put(o, "footer", c.footer);
    if (c.buttons) {
        o["buttons"] = *c.buttons;
    }
    if (c.variables) {
        o["variables"] = *c.variables;
    }
}

}  // namespace

std::string percent_encode(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (char ch : text) {
        const auto c = static_cast<unsigned char>(ch);
        const bool unreserved = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                                c == '-' || c == '.' || c == '_' || c == '~';
        if (unreserved) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 0xf];
        }
    }
    return out;
}

endpoint_request send_message_request(const send_request& r) {
    json::object o;
    o["instanceId"] = r.instance_id;
    o["to"] = r.to;
    put_content(o, r.content);
    return post(target("/messages/send"), o, false);
}

endpoint_request schedule_message_request(const schedule_request& r) {
    json::object o;
    o["instanceId"] = r.instance_id;
    o["to"] = r.to;
    put_content(o, r.content);
    o["sendAt"] = r.send_at;
    return post(target("/messages/schedule"), o, false);
}

endpoint_request get_message_request(std::string_view id) {
    return get(target("/messages", id));
}

endpoint_request list_messages_request(const message_query& q) {
    std::string t = target("/messages");
    char sep = '?';
    auto param = [&](std::string_view name, std::string_view value) {
        t += sep;
        t += name;
        t += '=';
        t += percent_encode(value);
        sep = '&';
    };
    if (q.limit) {
        param("limit", std::to_string(*q.limit));
    }
    if (q.cursor) {
        param("cursor", *q.cursor);
    }
    if (q.status) {
        param("status", *q.status);
    }
    if (q.instance_id) {
        param("instanceId", *q.instance_id);
    }
    return get(std::move(t));
}

endpoint_request list_instances_request() {
    return get(target("/instances"));
}
endpoint_request get_instance_request(std::string_view id) {
    return get(target("/instances", id));
}
endpoint_request instance_state_request(std::string_view id) {
    return get(target("/instances", id, "/state"));
}
endpoint_request instance_health_request(std::string_view id) {
    return get(target("/instances", id, "/health"));
}

endpoint_request create_campaign_request(const json::object& body) {
    return post(target("/campaigns"), body, false);
}
endpoint_request get_campaign_request(std::string_view id) {
    return get(target("/campaigns", id));
}
endpoint_request campaign_stats_request(std::string_view id) {
    return get(target("/campaigns", id, "/stats"));
}

// Pause and resume take no body (docs: api-overview); a second one answers 409 CONFLICT, so neither is
// replayed.
endpoint_request pause_campaign_request(std::string_view id) {
    return {http_method::post, target("/campaigns", id, "/pause"), {}, false, {}};
}
endpoint_request resume_campaign_request(std::string_view id) {
    return {http_method::post, target("/campaigns", id, "/resume"), {}, false, {}};
}

endpoint_request list_templates_request() {
    return get(target("/templates"));
}
endpoint_request get_template_request(std::string_view id) {
    return get(target("/templates", id));
}

endpoint_request preview_template_request(std::string_view id, const template_preview_request& r) {
    json::object o;
    if (r.variables) {
        o["variables"] = *r.variables;
    }
    put(o, "instanceId", r.instance_id);
    // A preview renders and changes nothing: safe to send twice.
    return post(target("/templates", id, "/preview"), o, true);
}

endpoint_request usage_request() {
    return get(target("/usage"));
}
endpoint_request billing_subscription_request() {
    return get(target("/billing/subscription"));
}
endpoint_request billing_usage_request() {
    return get(target("/billing/usage"));
}

}  // namespace msgflash::api
