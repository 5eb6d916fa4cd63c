// The MsgFlash API's answers and request bodies as plain data. Where the documentation shows a shape we
// follow it; where it is silent the shapes are the simulator's (docs/simulator.md), decoded in
// api_decode.cpp.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

namespace msgflash::api {

// ---- messages ------------------------------------------------------------------------------------------

// POST /messages/send and /messages/schedule: {"data":{"id","status"}} (SPEC §11).
struct message_ref {
    std::string id;
    std::string status;  // "queued", "scheduled", …
    bool operator==(const message_ref&) const = default;
};

// GET /messages/{id}, and one entry of GET /messages. Timestamps are ISO 8601 strings as sent.
struct message_details {
    std::string id;
    std::string status;  // scheduled | queued | sent | delivered | read | failed
    std::optional<std::string> instance_id;
    std::optional<std::string> to;
    std::optional<std::string> type;
    std::optional<std::string> body;
    std::optional<std::string> media_url;
    std::optional<std::string> template_id;
    std::optional<std::string> created_at;
    std::optional<std::string> send_at;
    std::optional<std::string> sent_at;
    std::optional<std::string> delivered_at;
    std::optional<std::string> read_at;
    std::optional<std::string> failed_at;
    bool operator==(const message_details&) const = default;
};

// GET /messages: {"data":{"messages":[…],"nextCursor":…,"hasMore":…}} (docs: api-overview "paginated lists").
struct message_page {
    std::vector<message_details> messages;
    std::optional<std::string> next_cursor;  // set exactly when has_more
    bool has_more = false;
};

// What the paging helper gathered by following nextCursor.
struct message_collection {
    std::vector<message_details> messages;
    std::size_t pages = 0;
    bool complete = false;                   // hasMore was false on the last page read
    std::optional<std::string> next_cursor;  // where to go on when !complete
};

// ---- instances (docs: instances.txt) -------------------------------------------------------------------

struct instance {
    std::string id;      // the instanceId to send with
    std::string status;  // disconnected | connecting | connected
    std::optional<std::string> name;
    std::optional<std::string> wa_number;
    std::optional<std::string> created_at;
    std::optional<std::string> updated_at;
    std::optional<std::string> deleted_at;

    bool connected() const noexcept { return status == "connected"; }
    bool operator==(const instance&) const = default;
};

struct instance_state {
    std::string instance_id;
    std::string status;                         // disconnected | connecting | connected
    std::optional<std::string> provider_state;  // "open", …
    bool operator==(const instance_state&) const = default;
};

// /instances/{id}/health (SPEC §11). Every field is optional: missing ones fall back to the operator caps.
enum class safety_state { healthy, warning, at_risk, critical, unknown };

struct warmup_policy {
    std::optional<std::uint32_t> max_per_minute;
    std::optional<std::uint32_t> max_per_hour;
    std::optional<std::uint32_t> max_per_day;
    std::optional<std::chrono::milliseconds> min_interval;  // minIntervalSeconds, fractions kept
    bool operator==(const warmup_policy&) const = default;
};

struct usage_window_summary {
    std::optional<std::uint64_t> last_minute;
    std::optional<std::uint64_t> last_hour;
    std::optional<std::uint64_t> last_24h;
    bool operator==(const usage_window_summary&) const = default;
};

struct instance_health {
    std::optional<safety_state> safety;   // unknown: a value SPEC §11 does not list (see safety_text)
    std::string safety_text;              // safetyState as sent
    std::optional<double> safety_score;   // 0–100
    std::optional<warmup_policy> warmup;  // null or absent: no guidance
    std::optional<usage_window_summary> usage;
    std::vector<std::string> recommendations;
    std::vector<std::string> unknown_fields;  // top-level names we do not read (the client logs each once)
    bool operator==(const instance_health&) const = default;
};

// ---- campaigns (docs: campaigns-create.txt) ------------------------------------------------------------

struct campaign_safety {
    std::string decision;  // allow | warn
    std::vector<std::string> reasons;
    bool operator==(const campaign_safety&) const = default;
};

struct campaign {
    std::string id;
    std::string status;  // scheduled | running | paused | completed
    std::optional<std::string> name;
    std::optional<std::string> instance_id;
    std::optional<std::string> schedule;
    std::optional<std::string> repeat;
    std::optional<std::uint64_t> recipient_count;
    std::optional<campaign_safety> safety;
    std::optional<std::string> created_at;
    bool operator==(const campaign&) const = default;
};

// Absent counts read as 0.
struct campaign_stats {
    std::optional<std::string> campaign_id{};
    std::uint64_t total = 0;
    std::uint64_t pending = 0;
    std::uint64_t sent = 0;
    std::uint64_t delivered = 0;
    std::uint64_t read = 0;
    std::uint64_t failed = 0;
    bool operator==(const campaign_stats&) const = default;
};

// ---- templates -----------------------------------------------------------------------------------------

struct message_template {
    std::string id;
    std::optional<std::string> name;
    std::optional<std::string> body;
    std::vector<std::string> variables;
    std::optional<std::string> status;
    bool operator==(const message_template&) const = default;
};

struct template_preview {
    std::optional<std::string> template_id;
    std::string rendered;
    bool operator==(const template_preview&) const = default;
};

// ---- usage and billing ---------------------------------------------------------------------------------

struct billing_period {
    std::optional<std::string> start;
    std::optional<std::string> end;
    bool operator==(const billing_period&) const = default;
};

// GET /usage: the compact summary.
struct usage_summary {
    std::optional<std::string> plan;
    billing_period period;
    std::optional<std::uint64_t> api_requests_used;
    std::optional<std::uint64_t> api_requests_limit;
    std::optional<std::uint64_t> api_requests_remaining;
    std::optional<std::uint64_t> messages_sent;
    bool operator==(const usage_summary&) const = default;
};

// GET /billing/subscription.
struct subscription {
    std::optional<std::string> plan;
    std::optional<std::string> status;  // active | inactive | …
    std::optional<std::string> current_period_start;
    std::optional<std::string> current_period_end;
    std::optional<bool> cancel_at_period_end;
    bool operator==(const subscription&) const = default;
};

// GET /billing/usage: usage, limits and features.
struct billing_usage {
    billing_period period;
    std::optional<std::uint64_t> api_requests;
    std::optional<std::uint64_t> messages_sent;
    std::optional<std::uint64_t> instances;
    std::optional<std::uint64_t> monthly_api_request_quota;
    std::optional<std::uint64_t> instance_limit;
    std::map<std::string, bool> features;
    bool operator==(const billing_usage&) const = default;
};

// ---- request bodies ------------------------------------------------------------------------------------

// The content fields shared by sends and campaigns (SPEC §11; docs: campaigns-create.txt): either
// template_id (+ variables) or type + its content. Unset fields are left out of the body; the API validates.
struct message_content {
    std::optional<std::string> template_id;
    std::optional<std::string> type;  // text | image | video | audio | document | voice_note | buttons
    std::optional<std::string> body;
    std::optional<std::string> media_url;
    std::optional<std::string> title;
    std::optional<std::string> description;
    std::optional<std::string> footer;
    std::optional<boost::json::array> buttons;
    std::optional<boost::json::object> variables;
};

struct send_request {
    std::string instance_id;
    std::string to;  // E.164
    message_content content;
};

struct schedule_request {
    std::string instance_id;
    std::string to;
    message_content content;
    std::string send_at;  // ISO 8601 with an offset
};

// GET /messages filters; unset ones are not sent.
struct message_query {
    std::optional<std::uint32_t> limit;  // 1–100 on the simulator
    std::optional<std::string> cursor;
    std::optional<std::string> status;
    std::optional<std::string> instance_id;
};

struct template_preview_request {
    std::optional<boost::json::object> variables;
    std::optional<std::string> instance_id;
};

}  // namespace msgflash::api
