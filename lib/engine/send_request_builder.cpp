#include "engine/send_request_builder.hpp"

#include <optional>

#include <boost/json/parse.hpp>

namespace msgflash::engine {

namespace {

namespace json = boost::json;

std::optional<json::value> parse_or_null(std::string_view text, std::string_view what, std::string& error) {
    if (text.empty()) {
        return json::value{};
    }
    boost::system::error_code ec;
    json::value v = json::parse(text, ec);
    if (ec) {
        error = std::string(what) + " is not JSON: " + ec.message();
        return std::nullopt;
    }
    return v;
}

std::optional<std::string> string_field(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    if (v == nullptr || !v->is_string()) {
        return std::nullopt;
    }
    return std::string(v->get_string());
}

void fill_direct(const json::object& src, api::message_content& c) {
    c.type = string_field(src, "type");
    c.body = string_field(src, "body");
    c.media_url = string_field(src, "mediaUrl");
    c.title = string_field(src, "title");
    c.description = string_field(src, "description");
    c.footer = string_field(src, "footer");
    if (const json::value* b = src.if_contains("buttons"); b != nullptr && b->is_array()) {
        c.buttons = b->get_array();
    }
    if (const json::value* v = src.if_contains("variables"); v != nullptr && v->is_object()) {
        c.variables = v->get_object();
    }
}

}  // namespace

bool is_template_message(std::string_view message_json) {
    std::string error;
    const auto message = parse_or_null(message_json, "the batch message", error);
    return message && message->is_object() && string_field(message->get_object(), "templateId").has_value();
}

built_request build_send_request(std::string_view message_json, std::string_view payload_json,
                                 std::string instance_id, std::string to) {
    std::string error;
    const auto message = parse_or_null(message_json, "the batch message", error);
    const auto payload = message ? parse_or_null(payload_json, "the job payload", error) : std::nullopt;
    if (!message || !payload) {
        return error;
    }
    static const json::object empty;
    const json::object& m = message->is_object() ? message->get_object() : empty;
    if (const json::value* c = m.if_contains("campaign")) {
        if (!c->is_object()) {
            return std::string("the batch's campaign is not an object");
        }
        return campaign_create{c->get_object()};
    }

    api::send_request r{.instance_id = std::move(instance_id), .to = std::move(to), .content = {}};
    if (auto template_id = string_field(m, "templateId")) {
        r.content.template_id = std::move(template_id);
        if (payload->is_object()) {
            r.content.variables = payload->get_object();
        } else if (const json::value* v = m.if_contains("variables"); v != nullptr && v->is_object()) {
            r.content.variables = v->get_object();
        }
        return r;
    }
    // Direct mode: the payload is the message rendered for this recipient; an older or hand-made row may
    // carry only variables, and then the batch's message is sent as it is.
    const bool rendered = payload->is_object() && payload->get_object().contains("type");
    fill_direct(rendered ? payload->get_object() : m, r.content);
    if (!r.content.type) {
        return std::string("neither the job payload nor the batch message has a type or templateId");
    }
    return r;
}

}  // namespace msgflash::engine
