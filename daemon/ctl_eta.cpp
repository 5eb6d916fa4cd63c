#include "daemon/ctl_eta.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

namespace msgflash::ctl {

namespace {
constexpr double seconds_per_minute = 60;
constexpr double seconds_per_hour = 3'600;
constexpr double seconds_per_day = 86'400;
}  // namespace

std::optional<double> number_cap_rate(const instance_config& caps) {
    std::optional<double> rate;
    auto tighten = [&](double r) { rate = rate ? std::min(*rate, r) : r; };
    if (caps.per_minute) {
        tighten(*caps.per_minute / seconds_per_minute);
    }
    if (caps.per_hour) {
        tighten(*caps.per_hour / seconds_per_hour);
    }
    if (caps.per_day) {
        tighten(*caps.per_day / seconds_per_day);
    }
    if (caps.min_interval && caps.min_interval->count() > 0) {
        tighten(1000.0 / static_cast<double>(caps.min_interval->count()));
    }
    return rate;
}

double batch_pace(const pace_inputs& in) {
    double pace =
        in.account_rate / static_cast<double>(std::max<std::size_t>(1, in.account_batches_in_flight));
    if (!in.numbers.empty()) {
        double numbers = 0;
        for (const auto& n : in.numbers) {
            if (!n.cap_rate) {
                return pace;  // one uncapped number can take the account's whole share
            }
            numbers += *n.cap_rate / static_cast<double>(std::max<std::size_t>(1, n.batches_sharing));
        }
        pace = std::min(pace, numbers);
    }
    return std::max(0.0, pace);
}

batch_estimate estimate_batch(std::int64_t pending, double pace, timestamp now,
                              std::optional<timestamp> send_at, std::optional<timestamp> expires_at) {
    batch_estimate e;
    e.pace = pace;
    pending = std::max<std::int64_t>(0, pending);
    const timestamp start = send_at ? std::max(now, *send_at) : now;
    if (pending == 0) {
        e.eta = std::chrono::seconds{0};
        return e;
    }
    if (pace > 0) {
        const double secs = std::ceil(static_cast<double>(pending) / pace) +
                            std::chrono::duration<double>(start - now).count();
        e.eta = std::chrono::seconds{static_cast<std::int64_t>(
            std::min(secs, static_cast<double>(std::numeric_limits<std::int32_t>::max())))};
    }
    if (expires_at) {
        const double window = std::max(0.0, std::chrono::duration<double>(*expires_at - start).count());
        const double can_send = std::floor(window * pace);
        e.will_expire =
            can_send >= static_cast<double>(pending) ? 0 : pending - static_cast<std::int64_t>(can_send);
    }
    return e;
}

void rate_meter::sample(std::chrono::steady_clock::time_point at, std::int64_t done) {
    if (last_at_ && at > *last_at_) {
        const double secs = std::chrono::duration<double>(at - *last_at_).count();
        const double r = static_cast<double>(std::max<std::int64_t>(0, done - last_done_)) / secs;
        rate_ = rate_ ? alpha_ * r + (1 - alpha_) * *rate_ : r;
    }
    if (!last_at_ || at > *last_at_) {
        last_at_ = at;
        last_done_ = done;
    }
}

}  // namespace msgflash::ctl
