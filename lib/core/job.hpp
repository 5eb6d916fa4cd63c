// The job model (SPEC §3–§4): job and batch states, what a batch and a job are when they enter the queue,
// and the record of one attempt. Pure data and pure rules; the store persists it, the engine decides with it.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace msgflash {

// Every time in the queue: UTC, millisecond resolution (stored as integer milliseconds since the epoch).
using timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

constexpr std::int64_t to_millis(timestamp t) noexcept {
    return t.time_since_epoch().count();
}
constexpr timestamp from_millis(std::int64_t ms) noexcept {
    return timestamp{std::chrono::milliseconds{ms}};
}

// SPEC §4. `waiting`: not due yet (sendAt, backoff, sending window). `ready`: due, may be claimed now.
// `inflight`: claimed, its request may be on the wire. `held`: waiting on something outside the job.
enum class job_state { waiting, ready, inflight, sent, failed, dead, expired, cancelled, held };

// `paused`: by the operator. `held`: by the daemon (e.g. a batch's first attempts all failed with one code).
enum class batch_state { active, paused, cancelled, held };

// What a hold applies to: an API key (account), one WhatsApp number (instance id), one batch.
enum class hold_scope { key, number, batch };

// How one attempt ended, as recorded in the attempts table.
enum class attempt_outcome {
    sent,            // the API returned a message id
    failed,          // permanent API error: the job ends failed
    retry,           // transient error: backed off, tried again later
    ambiguous,       // request written, no answer (timeout, reset)
    rate_limited,    // 429 API_RATE_LIMIT_EXCEEDED: not an attempt, the job goes back to the front
    held,            // the answer held the key, number or batch: the job consumes no attempt
    crash_recovery,  // found inflight at start: the daemon died with the request possibly written
};

// How an ambiguous attempt was settled before any retry (issue 7 item 2): the account's recent messages
// held one that matches the job (it was sent: no second request), held none, or could not be read.
enum class settle_outcome { none, found, not_found, unresolved };

// A job that reached one of these never changes state again (except an operator's retry of `dead`).
constexpr bool is_terminal(job_state s) noexcept {
    return s == job_state::sent || s == job_state::failed || s == job_state::dead ||
           s == job_state::expired || s == job_state::cancelled;
}

// A job in one of these has not been sent and can still be held, cancelled or expired.
constexpr bool is_pending(job_state s) noexcept {
    return s == job_state::waiting || s == job_state::ready || s == job_state::held;
}

// The states a job may move to from `from` (SPEC §4); the store refuses any other transition.
bool is_valid_transition(job_state from, job_state to) noexcept;

std::string_view to_string(job_state s) noexcept;
std::string_view to_string(batch_state s) noexcept;
std::string_view to_string(hold_scope s) noexcept;
std::string_view to_string(attempt_outcome o) noexcept;
std::optional<job_state> parse_job_state(std::string_view s) noexcept;
std::optional<batch_state> parse_batch_state(std::string_view s) noexcept;
std::optional<hold_scope> parse_hold_scope(std::string_view s) noexcept;
std::optional<attempt_outcome> parse_attempt_outcome(std::string_view s) noexcept;
// settled-found, settled-not-found, unresolved; "" for none (stored as NULL).
std::string_view to_string(settle_outcome o) noexcept;
std::optional<settle_outcome> parse_settle_outcome(std::string_view s) noexcept;

// Local sending hours ("09:00".."20:00" in an IANA zone). Kept as given; the engine interprets it.
struct sending_window {
    std::string from{};
    std::string to{};
    std::string tz{};

    friend bool operator==(const sending_window&, const sending_window&) = default;
};

// One batch as the spool hands it to the queue. `id` is the idempotency id (SPEC §3); `fingerprint` is the
// SHA-256 (hex) of what defines the batch's content, so the same id dropped again with other content is
// reported as a conflict. An empty fingerprint disables that check (e.g. line files adding to one batch).
struct batch_spec {
    std::string id{};
    std::string account{};
    std::string source_file{};
    std::string fingerprint{};
    int priority = 0;  // higher first
    std::optional<timestamp> send_at{};
    std::optional<timestamp> expires_at{};
    std::optional<sending_window> window{};
    std::vector<std::string> instance_ids{};  // one number, or several to spread the batch over
    std::string message_json = "null";        // the batch's message object as JSON text (template for jobs)
    bool allow_duplicates = false;            // false: a `to` repeated inside the batch is queued once
    bool campaign = false;  // a *.campaign.json: one job that creates the campaign, no recipient (`to` empty)
};

// One recipient of a batch. `ref` is the job's identity inside its batch (default: `to`).
struct job_spec {
    std::string ref{};
    std::string to{};
    std::string payload_json = "null";  // variables, or the rendered message, as JSON text
    std::string instance_id{};          // empty: the batch's single instance, or chosen at dispatch
    // Per-job overrides of the batch's fields (line files carry them per line).
    std::optional<int> priority{};
    std::optional<timestamp> send_at{};
    std::optional<timestamp> expires_at{};
    std::uint64_t line = 0;  // where it came from, for reports (0: unknown)
};

// One attempt to send a job: what happened on the wire.
struct attempt_record {
    std::int64_t job_id = 0;
    int n = 0;  // the attempt number given by the claim (1 for the first)
    timestamp started_at{};
    timestamp finished_at{};
    unsigned http_status = 0;  // 0: no answer
    std::string api_code{};    // the error envelope's code, empty if none
    std::int64_t latency_ms = 0;
    std::string message_id{};
    bool ambiguous = false;
    attempt_outcome outcome = attempt_outcome::retry;
    bool counted = true;  // consumes one of retry.max_attempts (false for 429 rate limits and holds)
    settle_outcome settled = settle_outcome::none;  // an ambiguous attempt: how it was settled
};

// Fair dispatch across one account's batches: a job's place in line is its account's dispatch round when
// its batch arrived plus its ordinal inside the batch. Claiming in fair_seq order then takes the account's
// batches round-robin, and a small batch that arrives late is not stuck behind a million-recipient one.
constexpr std::int64_t fair_seq(std::int64_t dispatch_round, std::int64_t ordinal_in_batch) noexcept {
    return dispatch_round + ordinal_in_batch;
}

}  // namespace msgflash
