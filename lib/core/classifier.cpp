#include "core/classifier.hpp"

namespace msgflash {
namespace {

using enum api_errc;

constexpr verdict sent_verdict{action::sent, hold_cause::none, true, false, false};
constexpr verdict retry_verdict{action::retry, hold_cause::none, true, false, false};
constexpr verdict fail_verdict{action::fail, hold_cause::none, true, false, false};

constexpr verdict hold(action a, hold_cause c) {
    // A hold is not the job's fault: it consumes no attempt (SPEC §4).
    return {a, c, false, false, false};
}

// A documented code decides, whatever the status it came with.
verdict classify_code(api_errc code) {
    switch (code) {
        case api_rate_limit_exceeded:
            return {action::rate_limited, hold_cause::none, false, false, false};
        case monthly_api_request_quota_exceeded:
            return hold(action::hold_key, hold_cause::quota);
        case unauthorized:
        case subscription_inactive:
            return hold(action::hold_key, hold_cause::auth);
        case team_key_required:
        case team_key_not_allowed:
        case team_not_found:
        case team_access_denied:
            return hold(action::hold_key, hold_cause::configuration);
        case instance_not_assigned:
            return hold(action::hold_number, hold_cause::configuration);
        case provider_timeout:
        case provider_unavailable:
        case provider_error:
            return {action::retry, hold_cause::none, true, false, true};
        case internal_error:
            return retry_verdict;
        default:
            // Validation, templates, destinations, plan limits, FORBIDDEN, NOT_FOUND, CONFLICT, the team
            // administration codes: sending the same request again cannot succeed.
            return fail_verdict;
    }
}

// No documented code: decide by the status class.
verdict classify_status(unsigned status) {
    if (status == 429) {
        // An undocumented 429 is still the server asking us to slow down.
        return {action::rate_limited, hold_cause::none, false, false, false};
    }
    if (status == 401) {
        return hold(action::hold_key, hold_cause::auth);
    }
    if (status == 408 || status >= 500) {
        return retry_verdict;
    }
    return fail_verdict;
}

}  // namespace

verdict classify(transport_outcome outcome, unsigned http_status, std::string_view api_code) {
    switch (outcome) {
        case transport_outcome::not_sent:
            // The server never saw it. Not an attempt: a network outage must not run jobs out of
            // attempts; retry.max_age still bounds them.
            return {action::retry, hold_cause::none, false, false, false};
        case transport_outcome::ambiguous:
            return {action::retry, hold_cause::none, true, true, false};
        case transport_outcome::unparseable:
            // A 2xx whose body we cannot read may still mean the message was accepted: treat it as
            // ambiguous so it is settled, not blindly sent twice. Anything else: retry, logged raw.
            if (http_status >= 200 && http_status < 300) {
                return {action::retry, hold_cause::none, true, true, false};
            }
            return retry_verdict;
        case transport_outcome::answered:
            break;
    }
    if (http_status >= 200 && http_status < 300) {
        return sent_verdict;
    }
    if (auto row = find_api_error(api_code)) {
        return classify_code(row->errc);
    }
    return classify_status(http_status);
}

std::string_view to_string(action a) {
    switch (a) {
        case action::sent:
            return "sent";
        case action::rate_limited:
            return "rate_limited";
        case action::hold_key:
            return "hold_key";
        case action::hold_number:
            return "hold_number";
        case action::fail:
            return "fail";
        case action::retry:
            return "retry";
    }
    return "unknown";
}

std::string_view to_string(hold_cause c) {
    switch (c) {
        case hold_cause::none:
            return "none";
        case hold_cause::quota:
            return "quota";
        case hold_cause::auth:
            return "auth";
        case hold_cause::configuration:
            return "configuration";
    }
    return "unknown";
}

}  // namespace msgflash
