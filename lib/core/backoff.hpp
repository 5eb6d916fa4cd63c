// Retries (SPEC §5): exponential backoff with full jitter and the retry-or-dead decision, and the
// per-number breaker that pauses a WhatsApp number after consecutive provider failures. Pure: times are
// arguments and randomness is injected.
#pragma once

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <string_view>

#include "core/job.hpp"

namespace msgflash {

// The [retry] settings the backoff needs; the defaults are retry_config's (lib/config), which the engine
// copies in.
struct backoff_policy {
    std::chrono::milliseconds base{2'000};
    double factor = 2.0;
    std::chrono::milliseconds cap{300'000};
    std::uint32_t max_attempts = 10;
    std::chrono::milliseconds max_age{86'400'000};
};

// The top of the jitter range after attempt n (1-based): min(cap, base * factor^(n-1)).
std::chrono::milliseconds backoff_ceiling(const backoff_policy& policy, std::uint32_t attempt) noexcept;

// Full jitter: a whole number of milliseconds drawn uniformly from [0, backoff_ceiling] (both ends
// included), from a uniform value u in [0, 1). u outside [0, 1) is clamped into it.
std::chrono::milliseconds backoff_delay(const backoff_policy& policy, std::uint32_t attempt,
                                        double u) noexcept;

// The same, drawing u from a uniform random bit generator.
template <class Urbg>
std::chrono::milliseconds backoff_delay(const backoff_policy& policy, std::uint32_t attempt, Urbg& random) {
    return backoff_delay(policy, attempt, std::generate_canonical<double, 53>(random));
}

enum class retry_kind {
    retry,               // try again at `at`
    attempts_exhausted,  // dead: attempt n was the last of max_attempts
    too_old,             // dead: the retry would come after first_queued + max_age
};

struct retry_decision {
    retry_kind kind = retry_kind::retry;
    timestamp at{};  // when to try again (also set when dead: when it would have been)

    bool dead() const noexcept { return kind != retry_kind::retry; }
    friend bool operator==(const retry_decision&, const retry_decision&) = default;
};

// After attempt n (1-based, counted attempts only) of a job first queued at `first_queued` ended
// retryable at `now`, with u uniform in [0, 1) for the jitter.
retry_decision decide_retry(const backoff_policy& policy, std::uint32_t attempt, timestamp first_queued,
                            timestamp now, double u) noexcept;

std::string_view to_string(retry_kind k) noexcept;

// ---- per-number breaker --------------------------------------------------------------------------------

struct breaker_options {
    // Consecutive 502 PROVIDER_* on one number that open the breaker. With SPEC's test load of 20 % random
    // 502s, five in a row happen about once in 3,000 answers: a real outage, rarely bad luck.
    std::uint32_t failure_threshold = 5;
    // The first cool-down, doubled (cooldown_factor) on each reopening without a success between, capped.
    std::chrono::milliseconds cooldown{15'000};
    double cooldown_factor = 2.0;
    std::chrono::milliseconds max_cooldown{300'000};  // retry.cap's default: a breaker never waits longer
};

enum class breaker_state {
    closed,     // sending as usual, counting consecutive provider failures
    open,       // paused until the cool-down ends
    half_open,  // one probe may go; its answer closes or reopens the breaker
};

// What an answer for a request on this number says about its provider.
enum class provider_signal {
    success,  // 2xx: the provider took the message
    failure,  // 502 PROVIDER_TIMEOUT / PROVIDER_UNAVAILABLE / PROVIDER_ERROR (verdict::provider_failure)
    neutral,  // anything else (4xx, 5xx without a provider code, ambiguous): says nothing either way
};

// One per WhatsApp number. Answers are matched to the state they belong to by the time their request
// left: a late answer to a request sent before the breaker opened does not close or reopen it.
class number_breaker {
  public:
    explicit number_breaker(const breaker_options& options = {});

    breaker_state state(timestamp now) const noexcept;
    // Whether a request may go to this number now (closed, or half-open with no probe out).
    bool allows(timestamp now) const noexcept;
    // When the breaker lets a request through next: now when it allows one, else the end of the
    // cool-down. A probe whose answer has not come within one cool-down is taken as lost and another may go.
    timestamp next_allowed(timestamp now) const noexcept;

    // A request left for this number at `now` (in half-open, it is the probe).
    void on_sent(timestamp now) noexcept;
    // The answer, at `now`, for a request that left at `sent_at`.
    void on_answer(timestamp sent_at, timestamp now, provider_signal signal) noexcept;

    std::uint32_t consecutive_failures() const noexcept { return failures_; }
    std::uint32_t opens() const noexcept { return opens_; }  // consecutive openings, 0 once closed
    timestamp open_until() const noexcept { return open_until_; }

  private:
    void open(timestamp now) noexcept;
    std::chrono::milliseconds cooldown() const noexcept;  // of the current opening

    breaker_options options_;
    std::uint32_t failures_ = 0;
    std::uint32_t opens_ = 0;
    timestamp changed_at_{};  // last open or close: answers to requests sent before it are stale
    timestamp open_until_{};
    bool probe_out_ = false;
    timestamp probe_sent_at_{};
};

std::string_view to_string(breaker_state s) noexcept;

// ---- batch breaker ---------------------------------------------------------------------------------------

// SPEC §5: when the first answers of a batch (default 20) are all permanent failures with the same code — a
// broken template, a plan without the feature — the batch is held with that code rather than failing every
// one of its jobs. One success, or a second code, and the batch has passed.
class batch_probation {
  public:
    enum class verdict { undecided, passed, tripped };

    // `first` = 0: never trips.
    explicit batch_probation(std::uint32_t first = 20) : first_(first) {
        if (first_ == 0) {
            verdict_ = verdict::passed;
        }
    }

    // Feeds an answer that ended one of the batch's jobs: sent, or failed permanently with `code` (transient
    // answers are not fed). Returns the verdict after it; `tripped` comes once, on the answer that trips it.
    verdict on_sent();
    verdict on_failed(std::string_view code);

    verdict current() const noexcept { return verdict_; }
    const std::string& code() const noexcept { return code_; }  // the common code, once failures began

  private:
    std::uint32_t first_;
    std::uint32_t failures_ = 0;
    std::string code_{};
    verdict verdict_ = verdict::undecided;
};

}  // namespace msgflash
