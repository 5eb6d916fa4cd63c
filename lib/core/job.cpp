#include "core/job.hpp"

#include <array>
#include <utility>

namespace msgflash {
namespace {

template <typename E, std::size_t N>
std::optional<E> parse_in(const std::array<std::pair<E, std::string_view>, N>& names, std::string_view s) {
    for (const auto& [e, name] : names) {
        if (name == s) {
            return e;
        }
    }
    return std::nullopt;
}

template <typename E, std::size_t N>
std::string_view name_in(const std::array<std::pair<E, std::string_view>, N>& names, E e) {
    for (const auto& [v, name] : names) {
        if (v == e) {
            return name;
        }
    }
    return "unknown";
}

// The spellings are stored in the database and shown by msgflashctl: never rename one.
constexpr std::array<std::pair<job_state, std::string_view>, 9> job_state_names{{
    {job_state::waiting, "waiting"},
    {job_state::ready, "ready"},
    {job_state::inflight, "inflight"},
    {job_state::sent, "sent"},
    {job_state::failed, "failed"},
    {job_state::dead, "dead"},
    {job_state::expired, "expired"},
    {job_state::cancelled, "cancelled"},
    {job_state::held, "held"},
}};

constexpr std::array<std::pair<batch_state, std::string_view>, 4> batch_state_names{{
    {batch_state::active, "active"},
    {batch_state::paused, "paused"},
    {batch_state::cancelled, "cancelled"},
    {batch_state::held, "held"},
}};

constexpr std::array<std::pair<hold_scope, std::string_view>, 3> hold_scope_names{{
    {hold_scope::key, "key"},
    {hold_scope::number, "number"},
    {hold_scope::batch, "batch"},
}};

constexpr std::array<std::pair<attempt_outcome, std::string_view>, 7> outcome_names{{
    {attempt_outcome::sent, "sent"},
    {attempt_outcome::failed, "failed"},
    {attempt_outcome::retry, "retry"},
    {attempt_outcome::ambiguous, "ambiguous"},
    {attempt_outcome::rate_limited, "rate-limited"},
    {attempt_outcome::held, "held"},
    {attempt_outcome::crash_recovery, "crash-recovery"},
}};

constexpr std::array<std::pair<settle_outcome, std::string_view>, 4> settle_names{{
    {settle_outcome::none, ""},
    {settle_outcome::found, "settled-found"},
    {settle_outcome::not_found, "settled-not-found"},
    {settle_outcome::unresolved, "unresolved"},
}};

}  // namespace

bool is_valid_transition(job_state from, job_state to) noexcept {
    using enum job_state;
    if (from == to) {
        return false;
    }
    switch (from) {
        case waiting:
        case held:
            // Due or released; deferred; or ended without being sent. Only a ready job is claimed.
            return to == waiting || to == ready || to == held || to == expired || to == cancelled ||
                   to == dead;
        case ready:
            return to == inflight || to == waiting || to == held || to == expired || to == cancelled ||
                   to == dead;
        case inflight:
            // The answer decides; or back in line (rate limited, held, retried).
            return to != inflight;
        case dead:
            return to == ready || to == waiting;  // the operator's `msgflashctl retry`
        case sent:
        case failed:
        case expired:
        case cancelled:
            return false;
    }
    return false;
}

std::string_view to_string(job_state s) noexcept {
    return name_in(job_state_names, s);
}
std::string_view to_string(batch_state s) noexcept {
    return name_in(batch_state_names, s);
}
std::string_view to_string(hold_scope s) noexcept {
    return name_in(hold_scope_names, s);
}
std::string_view to_string(attempt_outcome o) noexcept {
    return name_in(outcome_names, o);
}

std::optional<job_state> parse_job_state(std::string_view s) noexcept {
    return parse_in(job_state_names, s);
}
std::optional<batch_state> parse_batch_state(std::string_view s) noexcept {
    return parse_in(batch_state_names, s);
}
std::optional<hold_scope> parse_hold_scope(std::string_view s) noexcept {
    return parse_in(hold_scope_names, s);
}
std::optional<attempt_outcome> parse_attempt_outcome(std::string_view s) noexcept {
    return parse_in(outcome_names, s);
}
std::string_view to_string(settle_outcome o) noexcept {
    return name_in(settle_names, o);
}
std::optional<settle_outcome> parse_settle_outcome(std::string_view s) noexcept {
    return parse_in(settle_names, s);
}

}  // namespace msgflash
