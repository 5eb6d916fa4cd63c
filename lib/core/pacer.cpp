#include "core/pacer.hpp"

#include <algorithm>
#include <cmath>

namespace msgflash {

namespace {

// How long one request in `per_span` requests per `span` occupies, rounded up so pacing errs on the slow
// side.
pace_duration share_of(pace_duration span, double per_span) {
    const double ticks = std::ceil(static_cast<double>(span.count()) / per_span);
    return pace_duration{static_cast<pace_duration::rep>(ticks)};
}

// Housekeeping goes only while the key's last span is at most this full, so sends that come just after still
// find the slots they need. Measured (pacer_test, Poisson sends at 80 % of the rate): sends waited 31 ms
// more on average when housekeeping kept only its own share free, 5 ms with half the span kept free.
constexpr double housekeeping_fill_limit = 0.5;

}  // namespace

pacer::pacer(const pacer_options& options) : options_(options) {
    options_.rate = std::max<std::uint32_t>(options_.rate, 1);
    options_.jitter_bound = std::max(options_.jitter_bound, pace_duration::zero());
    options_.housekeeping_share = std::clamp(options_.housekeeping_share, 0.0, 1.0);
    options_.min_rate = std::clamp(options_.min_rate, 1e-3, static_cast<double>(options_.rate));
    options_.decrease_factor = std::clamp(options_.decrease_factor, 0.0, 1.0);
    options_.recovery_step = std::max(options_.recovery_step, 0.0);
    options_.clean_period = std::max(options_.clean_period, pace_duration{1});
    span_ = pace_duration{limiter_window} + options_.jitter_bound + pace_duration{server_clock_guard};
    log_.resize(options_.rate);
    const auto share = static_cast<std::size_t>(std::ceil(options_.housekeeping_share * options_.rate));
    const auto half = static_cast<std::size_t>(options_.rate * housekeeping_fill_limit);
    housekeeping_headroom_ = std::min<std::size_t>(std::max(share, half), options_.rate - 1);
}

double pacer::current_rate(pace_time now) const {
    const double configured = options_.rate;
    if (!slowed_) {
        return configured;
    }
    const auto clean = now > recover_from_ ? now - recover_from_ : pace_duration::zero();
    const auto steps = static_cast<double>(clean / options_.clean_period);
    return std::min(configured, slowed_rate_ + steps * options_.recovery_step * configured);
}

pace_duration pacer::spacing(double rate) const {
    return share_of(span_, rate);
}

pace_time pacer::next_allowed(pace_time now, request_class cls) const {
    const double rate = current_rate(now);
    if (cls == request_class::housekeeping && options_.housekeeping_share <= 0) {
        return pace_time::max();
    }
    pace_time at = std::max(now, paused_until_);
    if (departures_ >= log_.size()) {
        at = std::max(at, log_[head_] + span_);
    }
    if (departures_ > 0 && rate < options_.rate) {
        at = std::max(at, last_departure_ + spacing(rate));
    }
    if (cls == request_class::housekeeping) {
        // Spare capacity: the span before it holds at most rate - headroom - 1 departures, so a burst of
        // sends arriving just after still finds `headroom` free slots.
        const std::size_t occupied = log_.size() - housekeeping_headroom_;
        if (departures_ >= occupied) {
            at = std::max(at, log_[(head_ + log_.size() - occupied) % log_.size()] + span_);
        }
        if (last_housekeeping_) {
            at = std::max(at, *last_housekeeping_ + spacing(rate * options_.housekeeping_share));
        }
    }
    return at;
}

pace_time pacer::on_sent(pace_time now, request_class cls) {
    // The proof needs departures in order; a stale `now` is recorded as the latest departure instead, which
    // only makes later requests wait longer.
    now = std::max(now, last_departure_);
    log_[head_] = now;
    head_ = (head_ + 1) % log_.size();
    ++departures_;
    last_departure_ = now;
    if (cls == request_class::housekeeping) {
        last_housekeeping_ = now;
    }
    return now;
}

void pacer::on_left(pace_time recorded, pace_time actual) {
    if (actual <= recorded) {
        return;
    }
    // The log in departure order is non-decreasing: the entries in [recorded, actual) are a run ending at the
    // newest one. Walk back from the newest while they are at least `recorded`.
    const std::size_t kept = static_cast<std::size_t>(std::min<std::uint64_t>(departures_, log_.size()));
    bool moved = false;
    for (std::size_t back = 1; back <= kept; ++back) {
        pace_time& t = log_[(head_ + log_.size() - back) % log_.size()];
        if (t < recorded) {
            break;
        }
        if (t < actual) {
            t = actual;
            moved = true;
        }
    }
    if (!moved) {
        return;  // no longer in the log
    }
    last_departure_ = std::max(last_departure_, actual);
    if (last_housekeeping_ && *last_housekeeping_ >= recorded && *last_housekeeping_ < actual) {
        last_housekeeping_ = actual;
    }
}

void pacer::on_rate_limited(pace_time now, pace_time sent_at, std::optional<pace_duration> retry_after) {
    const pace_duration pause =
        retry_after ? std::max(*retry_after, pace_duration::zero()) : options_.default_rate_limit_pause;
    paused_until_ = std::max(paused_until_, now + pause);
    double rate = current_rate(now);
    if (!slowed_ || sent_at >= last_cut_) {
        rate = std::max(options_.min_rate, rate * options_.decrease_factor);
        last_cut_ = now;
    }
    slowed_ = true;
    slowed_rate_ = rate;
    recover_from_ = paused_until_;
}

}  // namespace msgflash
