// What one send's answer does to its job (SPEC §4–§5): a pure function from the claim, the classifier's
// verdict and the retry rules to the store's job_result — or to giving the claim back when the request was
// never written. The engine carries the decision out; tests check it row by row in virtual time.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <variant>

#include "config/config.hpp"
#include "core/backoff.hpp"
#include "core/classifier.hpp"
#include "core/job.hpp"
#include "store/queue_types.hpp"

namespace msgflash::engine {

// retry.* (SPEC §10) as the decision uses it.
struct retry_rules {
    backoff_policy backoff{};
    ambiguous_policy on_ambiguous = ambiguous_policy::retry;
};
retry_rules make_retry_rules(const retry_config& c);

// How one send ended, as the decision needs it (api_result<message_ref> reduced to data).
struct send_answer {
    verdict v{};
    unsigned http_status = 0;
    std::string api_code{};
    std::string message_id{};  // sent
    std::string api_status{};  // sent
    std::optional<std::chrono::seconds> retry_after{};
    // Our own cancellation (shutdown) ended it before any byte was written: the claim is simply given back.
    bool cancelled_unsent = false;
};

struct send_context {
    store::claimed_job job{};
    std::string account{};
    std::string instance_id{};  // the number the request went to
    timestamp started{};
    timestamp finished{};
};

struct job_decision {
    std::variant<store::job_result, store::unclaim_request> change;
    bool rate_limited = false;  // the key's pacer must slow down (retry_after from the answer)
    bool hold_key = false;      // stop claiming for the account: the store holds it
    bool hold_number = false;   // the number is held: its other claimed jobs go back
};

job_decision decide(const send_context& ctx, const send_answer& answer, const retry_rules& rules,
                    double jitter_u01);

// The first instant of the next calendar month, UTC: when a monthly API quota comes back (the sim's billing
// period; the real API's is documented per account, and `msgflashctl resume` lifts it earlier).
timestamp next_billing_period(timestamp now);

// The code recorded for a job that hit retry.max_age or retry.max_attempts on a transient error.
inline constexpr std::string_view retries_exhausted_code = "RETRIES_EXHAUSTED";

}  // namespace msgflash::engine
