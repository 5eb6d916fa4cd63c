// What one API answer means for the job that caused it (SPEC §5): a pure function of the transport
// outcome, the HTTP status and the API's error code. The engine only carries out the verdict.
#pragma once

#include <optional>
#include <string_view>

#include "core/api_errors.hpp"

namespace msgflash {

// How the request ended at the transport level.
enum class transport_outcome {
    answered,     // a complete HTTP answer whose body was understood (data or error envelope)
    not_sent,     // failed before any byte of the request was written: the server cannot have acted
    ambiguous,    // written, then no answer (timeout, reset, close): the server may have acted
    unparseable,  // an HTTP answer came but its body is not the documented shape
};

enum class action {
    sent,          // store the message id and status
    rate_limited,  // not an attempt: back to the front of the queue, the key's pace drops
    hold_key,      // the key cannot send until the cause clears (see hold_cause)
    hold_number,   // the WhatsApp number cannot send until the cause clears
    fail,          // permanent: the job ends failed with the code recorded
    retry,         // transient: back off with full jitter and try again
};

enum class hold_cause {
    none,
    quota,          // MONTHLY_API_REQUEST_QUOTA_EXCEEDED: until the billing period ends
    auth,           // UNAUTHORIZED, SUBSCRIPTION_INACTIVE: until a reload brings a working key
    configuration,  // team rules, unassigned instance: the operator must fix the config
};

struct verdict {
    action act = action::retry;
    hold_cause cause = hold_cause::none;
    bool counts_attempt = true;     // consumes one of retry.max_attempts
    bool ambiguous = false;         // the server may have acted: retry.on_ambiguous applies, flag in reports
    bool provider_failure = false;  // a 502 PROVIDER_*: feeds the per-number breaker

    friend bool operator==(const verdict&, const verdict&) = default;
};

// `api_code` is the error envelope's code, empty when the answer had none (2xx, or a bare 5xx page).
verdict classify(transport_outcome outcome, unsigned http_status, std::string_view api_code);

std::string_view to_string(action a);
std::string_view to_string(hold_cause c);

}  // namespace msgflash
