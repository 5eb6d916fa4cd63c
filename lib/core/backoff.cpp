#include "core/backoff.hpp"

#include <algorithm>
#include <cmath>

namespace msgflash {

namespace {

using std::chrono::milliseconds;

// base * factor^(exponent), in milliseconds, capped; computed in double so that a large exponent saturates
// at the cap instead of overflowing.
milliseconds grown(milliseconds base, double factor, std::uint32_t exponent, milliseconds cap) noexcept {
    const double value = static_cast<double>(base.count()) * std::pow(factor, static_cast<double>(exponent));
    const auto limit = static_cast<double>(cap.count());
    if (!(value < limit)) {  // also NaN
        return std::max(cap, milliseconds::zero());
    }
    return milliseconds{static_cast<milliseconds::rep>(std::max(value, 0.0))};
}

}  // namespace

milliseconds backoff_ceiling(const backoff_policy& policy, std::uint32_t attempt) noexcept {
    return grown(policy.base, policy.factor, std::max<std::uint32_t>(attempt, 1) - 1, policy.cap);
}

milliseconds backoff_delay(const backoff_policy& policy, std::uint32_t attempt, double u) noexcept {
    // generate_canonical may return exactly 1.0 (LWG 2524); NaN counts as 0.
    u = std::isnan(u) ? 0.0 : std::clamp(u, 0.0, std::nextafter(1.0, 0.0));
    const auto choices = static_cast<double>(backoff_ceiling(policy, attempt).count()) + 1;
    return milliseconds{static_cast<milliseconds::rep>(std::floor(u * choices))};
}

retry_decision decide_retry(const backoff_policy& policy, std::uint32_t attempt, timestamp first_queued,
                            timestamp now, double u) noexcept {
    const timestamp at = now + backoff_delay(policy, attempt, u);
    if (attempt >= policy.max_attempts) {
        return {retry_kind::attempts_exhausted, at};
    }
    if (at > first_queued + policy.max_age) {
        return {retry_kind::too_old, at};
    }
    return {retry_kind::retry, at};
}

std::string_view to_string(retry_kind k) noexcept {
    switch (k) {
        case retry_kind::retry:
            return "retry";
        case retry_kind::attempts_exhausted:
            return "attempts_exhausted";
        case retry_kind::too_old:
            return "too_old";
    }
    return "?";
}

number_breaker::number_breaker(const breaker_options& options) : options_(options) {
    options_.failure_threshold = std::max<std::uint32_t>(options_.failure_threshold, 1);
}

milliseconds number_breaker::cooldown() const noexcept {
    return grown(options_.cooldown, options_.cooldown_factor, std::max<std::uint32_t>(opens_, 1) - 1,
                 options_.max_cooldown);
}

breaker_state number_breaker::state(timestamp now) const noexcept {
    if (opens_ == 0) {
        return breaker_state::closed;
    }
    return now < open_until_ ? breaker_state::open : breaker_state::half_open;
}

timestamp number_breaker::next_allowed(timestamp now) const noexcept {
    switch (state(now)) {
        case breaker_state::closed:
            return now;
        case breaker_state::open:
            return open_until_;
        case breaker_state::half_open:
            return probe_out_ ? std::max(now, probe_sent_at_ + cooldown()) : now;
    }
    return now;
}

bool number_breaker::allows(timestamp now) const noexcept {
    return next_allowed(now) <= now;
}

void number_breaker::on_sent(timestamp now) noexcept {
    if (state(now) == breaker_state::half_open) {
        probe_out_ = true;
        probe_sent_at_ = now;
    }
}

void number_breaker::open(timestamp now) noexcept {
    ++opens_;
    failures_ = 0;
    probe_out_ = false;
    changed_at_ = now;
    open_until_ = now + cooldown();
}

void number_breaker::on_answer(timestamp sent_at, timestamp now, provider_signal signal) noexcept {
    switch (state(now)) {
        case breaker_state::closed:
            if (sent_at < changed_at_ || signal == provider_signal::neutral) {
                return;
            }
            if (signal == provider_signal::success) {
                failures_ = 0;
            } else if (++failures_ >= options_.failure_threshold) {
                open(now);
            }
            return;
        case breaker_state::open:
            return;  // every request it could be about left before the breaker opened
        case breaker_state::half_open:
            if (!probe_out_ || sent_at < probe_sent_at_) {
                return;
            }
            if (signal == provider_signal::success) {
                opens_ = 0;
                failures_ = 0;
                probe_out_ = false;
                changed_at_ = now;
            } else if (signal == provider_signal::failure) {
                open(now);
            } else {
                probe_out_ = false;  // no verdict: another probe may go
            }
            return;
    }
}

std::string_view to_string(breaker_state s) noexcept {
    switch (s) {
        case breaker_state::closed:
            return "closed";
        case breaker_state::open:
            return "open";
        case breaker_state::half_open:
            return "half_open";
    }
    return "?";
}

batch_probation::verdict batch_probation::on_sent() {
    if (verdict_ == verdict::undecided) {
        verdict_ = verdict::passed;
    }
    return verdict_;
}

batch_probation::verdict batch_probation::on_failed(std::string_view code) {
    if (verdict_ != verdict::undecided) {
        return verdict_;
    }
    if (failures_ > 0 && code != code_) {
        verdict_ = verdict::passed;  // failures that differ are the recipients', not the batch's
        return verdict_;
    }
    code_ = std::string(code);
    if (++failures_ >= first_) {
        verdict_ = verdict::tripped;
    }
    return verdict_;
}

}  // namespace msgflash
