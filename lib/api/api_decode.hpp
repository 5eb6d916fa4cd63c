// One whole HTTP answer (status, Content-Type, body, Retry-After) turned into a typed value or a failure: the
// envelope rules (docs: api-overview "Response format", error-codes "Format") and each endpoint's data shape.
// Pure: no I/O and no clock reads (the wall-clock `now` only reads HTTP-date Retry-After values).
#pragma once

#include <chrono>
#include <cstddef>
#include <string>
#include <string_view>
#include <variant>

#include "api/api_result.hpp"
#include "api/api_types.hpp"

namespace msgflash::api {

// How much of an unreadable body goes into a log line and api_failure::body_excerpt.
inline constexpr std::size_t body_excerpt_chars = 160;

struct raw_answer {
    unsigned status = 0;
    std::string_view content_type;  // the header's value; empty when absent
    std::string_view body;
    std::string_view retry_after;  // the header's value; empty when absent
};

// A string that must not survive into anything decoded from the answer (the API key, should a server echo
// it): replaced in error messages, details and body excerpts.
struct redaction {
    std::string_view secret;
    std::string_view replacement = "<redacted>";
};

template <class T>
using decoded = std::variant<T, api_failure>;

// The rules, in order:
//  1. Content-Type must be application/json (parameters allowed), else unparseable (wrong_content_type).
//  2. The body must be JSON, else unparseable (not_json).
//  3. 2xx: {"data": …} in T's shape, else unparseable (unexpected_shape). Unknown fields are ignored; a known
//     field with the wrong type, a missing required one, or a number out of range is a shape error; null is
//     "absent" for optional fields.
//  4. Other statuses: {"error":{"code":"…", …}} gives outcome answered with api_error, else unparseable.
// Retry-After is read for every status. Instantiated for every T an endpoint returns: message_ref,
// message_details, message_page, std::vector<instance>, instance, instance_state, instance_health, campaign,
// campaign_stats, std::vector<message_template>, message_template, template_preview, usage_summary,
// subscription, billing_usage.
template <class T>
decoded<T> decode_answer(const raw_answer& answer, std::chrono::system_clock::time_point now,
                         const redaction& redact = {});

// application/json, with any parameters, case-insensitive.
bool is_json_content_type(std::string_view content_type);

// Printable ASCII (others become '.'), at most max_chars then "...", with every occurrence of `secret` (when
// not empty) replaced — including a leading piece of it that the length limit would leave at the end.
std::string sanitize_excerpt(std::string_view text, std::size_t max_chars, const redaction& redact = {});

}  // namespace msgflash::api
