// Per-number limits (SPEC §6, §11; issue 5 item 3): caps from the health document's warm-up policy and the
// operator's [[instances]] caps, scaled by safetyState with asymmetric hysteresis; when a number may send
// next given the sends counted in the current UTC minute, hour and day; the per-recipient gap. Pure.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <string_view>
#include <unordered_map>

#include "core/job.hpp"

namespace msgflash {

// safetyState (SPEC §11), best first. The engine maps lib/api's decoded health onto health_signals.
enum class safety_level { healthy, warning, at_risk, critical };

// Send limits for one number. An empty optional is no limit. Used for the warm-up policy as the API gives
// it (any field may be missing), for the operator's caps and for the effective result.
struct send_caps {
    std::optional<std::uint32_t> per_minute{};
    std::optional<std::uint32_t> per_hour{};
    std::optional<std::uint32_t> per_day{};
    std::optional<std::chrono::milliseconds> min_interval{};
    bool paused = false;  // nothing may be sent (critical, or a cap of 0)

    friend bool operator==(const send_caps&, const send_caps&) = default;
};

// usageWindowSummary: rolling counts as the API saw them at `reported_at` (they may include sends that
// are not ours, so they can be higher than our counters).
struct usage_report {
    timestamp reported_at{};
    std::optional<std::uint64_t> last_minute{};
    std::optional<std::uint64_t> last_hour{};
    std::optional<std::uint64_t> last_24h{};

    friend bool operator==(const usage_report&, const usage_report&) = default;
};

// What one /instances/{id}/health answer says; missing fields are empty.
struct health_signals {
    std::optional<safety_level> safety{};
    std::optional<double> score{};        // safetyScore, 0–100
    std::optional<send_caps> warmup{};    // warmupPolicy; null or absent: no guidance
    std::optional<usage_report> usage{};  // usageWindowSummary

    friend bool operator==(const health_signals&, const health_signals&) = default;
};

// The pace ladder: share of the caps a number gets at each step. One step per safetyState, halving each
// time (the API gives no figure; halving is the usual "slow down" answer), and critical pauses the number.
inline constexpr std::array<double, 4> pace_steps{1.0, 0.5, 0.25, 0.0};
constexpr std::size_t step_of(safety_level s) noexcept {
    return static_cast<std::size_t>(s);
}

// Caps scaled by a factor in [0, 1]: counts rounded down but never below 1 (0 stays 0), min_interval
// stretched by 1/factor; factor 0 pauses.
send_caps scale(const send_caps& caps, double factor);
// Field by field, the stricter of the two.
send_caps tighter(const send_caps& a, const send_caps& b);

struct hysteresis_options {
    // A safetyScore this many points below the best seen since the last bad signal is a bad signal.
    double score_drop = 10.0;
    // A step is given back only after this long without a bad signal, one step per period.
    std::chrono::milliseconds clean_period{15 * 60'000};
};

// One number's health as the caps see it: cut at once at the first bad signal (safetyState worse than
// the step applied or than the last report, or the score falling by more than score_drop), raised one
// step per clean period. The result is a pure function of the reports seen and `now`.
class number_caps {
  public:
    explicit number_caps(const hysteresis_options& options = {});

    void observe(const health_signals& health, timestamp now);

    // Index into pace_steps applied at `now` (0: full caps … 3: paused).
    std::size_t step(timestamp now) const;
    double factor(timestamp now) const { return pace_steps[step(now)]; }

    // The effective caps: the tighter of the warm-up policy and the operator's caps, scaled by the step.
    // The operator's caps are scaled too: a number its operator already holds below the warm-up must
    // still slow down when its safetyState worsens. With neither, only `paused` can apply.
    send_caps caps(const send_caps& operator_caps, timestamp now) const;

    const health_signals& last_health() const noexcept { return health_; }
    std::optional<timestamp> last_bad_signal() const noexcept { return last_bad_; }

  private:
    hysteresis_options options_;
    health_signals health_{};
    std::size_t target_ = 0;    // the step the last report's safetyState asks for
    std::size_t cut_step_ = 0;  // the step set at the last bad signal
    std::optional<timestamp> last_bad_;
    std::optional<double> best_score_;  // since the last bad signal
};

// Our counters: sends in the UTC minute, hour and day that hold `at` (the store's windows). Counts for an
// earlier window than now's are read as 0.
struct window_counts {
    timestamp at{};
    std::uint64_t minute = 0;
    std::uint64_t hour = 0;
    std::uint64_t day = 0;
};

// One send at `now` (>= counts.at): the windows that `now` has left start again from 0, then each counts it.
void count_send(window_counts& counts, timestamp now);

enum class send_limit { none, paused, min_interval, per_minute, per_hour, per_day };

// When a number may send next. `at` empty: never while paused (caps change only with a new health report
// or config). `limit`: what holds it back (none when at == now).
struct send_gate {
    std::optional<timestamp> at{};
    send_limit limit = send_limit::none;

    bool paused() const noexcept { return !at.has_value(); }
    friend bool operator==(const send_gate&, const send_gate&) = default;
};

// For each window the count is the larger of ours (calendar window, UTC) and the API's (rolling, valid for
// one window length after it was reported). A full window opens again when both have run out: ours at the
// window's end, the API's when its report is one window old.
send_gate next_send_time(const send_caps& caps, const window_counts& ours,
                         const std::optional<usage_report>& reported, std::optional<timestamp> last_send,
                         timestamp now);

std::string_view to_string(safety_level s) noexcept;
std::string_view to_string(send_limit l) noexcept;

// pacing.per_recipient_gap: the least time between two messages from one number to one recipient (after
// WhatsApp's per-recipient pair limit). Remembers only the sends of the last `gap`: memory is bounded by
// the sends within the gap. Pairs are kept as 64-bit hashes: a collision can only delay a send by at most
// `gap`, never let one through early.
class recipient_gap {
  public:
    explicit recipient_gap(std::chrono::milliseconds gap = std::chrono::milliseconds{6'000});

    // The first instant >= now at which `number` may send to `recipient`.
    timestamp next_allowed(std::string_view number, std::string_view recipient, timestamp now) const;
    bool allows(std::string_view number, std::string_view recipient, timestamp now) const {
        return next_allowed(number, recipient, now) <= now;
    }
    void on_sent(std::string_view number, std::string_view recipient, timestamp now);
    // Drops what can no longer hold anything back (on_sent does it too).
    void forget_before(timestamp now);

    std::size_t size() const noexcept { return last_.size(); }
    std::chrono::milliseconds gap() const noexcept { return gap_; }

  private:
    std::chrono::milliseconds gap_;
    std::deque<std::pair<timestamp, std::uint64_t>> sends_;  // oldest first
    std::unordered_map<std::uint64_t, timestamp> last_;      // pair hash -> its last send
};

}  // namespace msgflash
