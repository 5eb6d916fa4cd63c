#include "core/number_caps.hpp"

#include <algorithm>
#include <cmath>
#include <functional>

namespace msgflash {

namespace {

using std::chrono::milliseconds;

constexpr std::size_t at_risk_step = step_of(safety_level::at_risk);

std::optional<std::uint32_t> scale_count(std::optional<std::uint32_t> count, double factor) {
    if (!count || *count == 0) {
        return count;
    }
    const auto scaled = static_cast<std::uint32_t>(std::floor(*count * factor));
    return std::max<std::uint32_t>(scaled, 1);
}

template <class T>
std::optional<T> stricter(const std::optional<T>& a, const std::optional<T>& b) {
    if (a && b) {
        return std::min(*a, *b);
    }
    return a ? a : b;
}

// One window (minute, hour or day): when its count stops holding a send back.
struct window_rule {
    std::optional<std::uint32_t> cap;
    std::uint64_t ours;
    std::optional<std::uint64_t> reported;
    timestamp window_start;
    milliseconds length;
    send_limit limit;
};

}  // namespace

send_caps scale(const send_caps& caps, double factor) {
    factor = std::clamp(std::isnan(factor) ? 0.0 : factor, 0.0, 1.0);
    send_caps out = caps;
    if (factor <= 0) {
        out.paused = true;
        return out;
    }
    out.per_minute = scale_count(caps.per_minute, factor);
    out.per_hour = scale_count(caps.per_hour, factor);
    out.per_day = scale_count(caps.per_day, factor);
    if (caps.min_interval) {
        out.min_interval =
            milliseconds{static_cast<milliseconds::rep>(std::ceil(caps.min_interval->count() / factor))};
    }
    return out;
}

send_caps tighter(const send_caps& a, const send_caps& b) {
    return send_caps{
        .per_minute = stricter(a.per_minute, b.per_minute),
        .per_hour = stricter(a.per_hour, b.per_hour),
        .per_day = stricter(a.per_day, b.per_day),
        .min_interval = a.min_interval && b.min_interval ? std::max(a.min_interval, b.min_interval)
                                                         : (a.min_interval ? a.min_interval : b.min_interval),
        .paused = a.paused || b.paused,
    };
}

number_caps::number_caps(const hysteresis_options& options) : options_(options) {
    options_.clean_period = std::max(options_.clean_period, milliseconds{1});
}

std::size_t number_caps::step(timestamp now) const {
    if (!last_bad_) {
        return target_;
    }
    const auto clean = now > *last_bad_ ? now - *last_bad_ : milliseconds::zero();
    const auto given_back = static_cast<std::size_t>(clean / options_.clean_period);
    const std::size_t decayed = cut_step_ > given_back ? cut_step_ - given_back : 0;
    return std::max(target_, decayed);
}

void number_caps::observe(const health_signals& health, timestamp now) {
    const std::size_t current = step(now);
    const std::size_t target = health.safety ? step_of(*health.safety) : 0;
    const bool worse_than_last = health_.safety && health.safety && *health.safety > *health_.safety;
    const bool score_fell = health.score && best_score_ && *best_score_ - *health.score > options_.score_drop;

    std::size_t cut = current;
    if (target > current || worse_than_last) {
        cut = std::max(cut, target);
    }
    if (score_fell) {
        // A falling score alone slows the number by one step but never pauses it: only critical does.
        cut = std::max({cut, target, std::min(current + 1, at_risk_step)});
    }
    if (target > current || worse_than_last || score_fell) {
        cut_step_ = cut;
        last_bad_ = now;
        best_score_ = health.score;
    } else if (health.score) {
        best_score_ = std::max(best_score_.value_or(*health.score), *health.score);
    }
    target_ = target;
    health_ = health;
}

send_caps number_caps::caps(const send_caps& operator_caps, timestamp now) const {
    const send_caps guidance = health_.warmup.value_or(send_caps{});
    return scale(tighter(guidance, operator_caps), factor(now));
}

void count_send(window_counts& counts, timestamp now) {
    const auto roll = [&](auto unit, std::uint64_t& n) {
        if (std::chrono::floor<decltype(unit)>(counts.at) != std::chrono::floor<decltype(unit)>(now)) {
            n = 0;
        }
        ++n;
    };
    roll(std::chrono::minutes{}, counts.minute);
    roll(std::chrono::hours{}, counts.hour);
    roll(std::chrono::days{}, counts.day);
    counts.at = now;
}

send_gate next_send_time(const send_caps& caps, const window_counts& ours,
                         const std::optional<usage_report>& reported, std::optional<timestamp> last_send,
                         timestamp now) {
    using std::chrono::days;
    using std::chrono::hours;
    using std::chrono::minutes;
    const auto zero_cap = [](const std::optional<std::uint32_t>& c) { return c && *c == 0; };
    if (caps.paused || zero_cap(caps.per_minute) || zero_cap(caps.per_hour) || zero_cap(caps.per_day)) {
        return {std::nullopt, send_limit::paused};
    }
    const auto ours_in = [&](auto unit) -> std::uint64_t {
        return std::chrono::floor<decltype(unit)>(ours.at) == std::chrono::floor<decltype(unit)>(now);
    };
    const std::array<window_rule, 3> rules{{
        {caps.per_minute, ours_in(minutes{}) ? ours.minute : 0,
         reported ? reported->last_minute : std::nullopt, std::chrono::floor<minutes>(now), minutes{1},
         send_limit::per_minute},
        {caps.per_hour, ours_in(hours{}) ? ours.hour : 0, reported ? reported->last_hour : std::nullopt,
         std::chrono::floor<hours>(now), hours{1}, send_limit::per_hour},
        {caps.per_day, ours_in(days{}) ? ours.day : 0, reported ? reported->last_24h : std::nullopt,
         std::chrono::floor<days>(now), days{1}, send_limit::per_day},
    }};

    send_gate gate{now, send_limit::none};
    const auto hold_until = [&](timestamp t, send_limit why) {
        if (t > *gate.at) {
            gate = {t, why};
        }
    };
    if (last_send && caps.min_interval) {
        hold_until(*last_send + *caps.min_interval, send_limit::min_interval);
    }
    for (const window_rule& r : rules) {
        if (!r.cap) {
            continue;
        }
        if (r.ours >= *r.cap) {
            hold_until(r.window_start + r.length, r.limit);
        }
        const bool report_current = reported && now < reported->reported_at + r.length;
        if (report_current && r.reported && *r.reported >= *r.cap) {
            hold_until(reported->reported_at + r.length, r.limit);
        }
    }
    return gate;
}

std::string_view to_string(safety_level s) noexcept {
    switch (s) {
        case safety_level::healthy:
            return "healthy";
        case safety_level::warning:
            return "warning";
        case safety_level::at_risk:
            return "at_risk";
        case safety_level::critical:
            return "critical";
    }
    return "?";
}

std::string_view to_string(send_limit l) noexcept {
    switch (l) {
        case send_limit::none:
            return "none";
        case send_limit::paused:
            return "paused";
        case send_limit::min_interval:
            return "min_interval";
        case send_limit::per_minute:
            return "per_minute";
        case send_limit::per_hour:
            return "per_hour";
        case send_limit::per_day:
            return "per_day";
    }
    return "?";
}

namespace {

// One number and one recipient as a 64-bit key (the 0 byte keeps "ab"+"c" apart from "a"+"bc").
std::uint64_t pair_key(std::string_view number, std::string_view recipient) {
    const std::uint64_t a = std::hash<std::string_view>{}(number);
    const std::uint64_t b = std::hash<std::string_view>{}(recipient);
    // splitmix64's finaliser, so that the two hashes mix rather than cancel.
    std::uint64_t z = a ^ (b + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

}  // namespace

recipient_gap::recipient_gap(milliseconds gap) : gap_(std::max(gap, milliseconds::zero())) {}

timestamp recipient_gap::next_allowed(std::string_view number, std::string_view recipient,
                                      timestamp now) const {
    const auto it = last_.find(pair_key(number, recipient));
    if (it == last_.end()) {
        return now;
    }
    return std::max(now, it->second + gap_);
}

void recipient_gap::on_sent(std::string_view number, std::string_view recipient, timestamp now) {
    forget_before(now);
    const std::uint64_t key = pair_key(number, recipient);
    auto [it, inserted] = last_.try_emplace(key, now);
    if (!inserted) {
        it->second = std::max(it->second, now);
    }
    sends_.emplace_back(now, key);
}

void recipient_gap::forget_before(timestamp now) {
    while (!sends_.empty() && sends_.front().first + gap_ <= now) {
        const auto [at, key] = sends_.front();
        sends_.pop_front();
        const auto it = last_.find(key);
        if (it != last_.end() && it->second == at) {
            last_.erase(it);
        }
    }
}

}  // namespace msgflash
