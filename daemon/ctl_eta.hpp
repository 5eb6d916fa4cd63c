// The arithmetic behind `batches` and `watch`: a batch's pace from its account's rate (shared by the
// account's batches in flight) and its numbers' operator caps, whichever is tighter; when its pending jobs
// are done at that pace; and how many of them cannot go before the batch's expiresAt. Pure.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "config/config.hpp"
#include "core/job.hpp"

namespace msgflash::ctl {

// Sends per second an [[instances]] entry's caps allow in the long run: the tightest of per_minute/60,
// per_hour/3600, per_day/86400 and 1/min_interval. nullopt: no operator cap on that number.
std::optional<double> number_cap_rate(const instance_config& caps);

// One number of the batch: its cap rate (nullopt: none) and how many batches in flight send to it.
struct number_share {
    std::optional<double> cap_rate{};
    std::size_t batches_sharing = 1;
};

struct pace_inputs {
    double account_rate = documented_rate_per_key;  // accounts[].rate
    std::size_t account_batches_in_flight = 1;  // the account's batches with pending jobs, this one included
    std::vector<number_share> numbers{};        // the batch's numbers (empty: any of the account's)
};

// Jobs per second this batch can expect: the account's rate divided among its batches in flight, capped by
// the sum of its numbers' shares of their caps (a number without a cap does not limit it).
double batch_pace(const pace_inputs& in);

struct batch_estimate {
    double pace = 0;                            // jobs per second
    std::optional<std::chrono::seconds> eta{};  // from now until the last pending job goes; none at pace 0
    std::int64_t will_expire = 0;               // pending jobs beyond what the pace sends before expiresAt
};

// `pending` jobs sent at `pace` from max(now, send_at). A batch past expiresAt, or with no pace, sends none
// of them. Without expiresAt nothing expires.
batch_estimate estimate_batch(std::int64_t pending, double pace, timestamp now,
                              std::optional<timestamp> send_at, std::optional<timestamp> expires_at);

// `watch`'s measured rate: jobs done per second between two samples, smoothed (exponential average with
// weight `alpha` for the newest sample). nullopt until a sample shows time passing.
class rate_meter {
  public:
    explicit rate_meter(double alpha = 0.3) : alpha_(alpha) {}
    void sample(std::chrono::steady_clock::time_point at, std::int64_t done);
    std::optional<double> rate() const noexcept { return rate_; }

  private:
    double alpha_;
    std::optional<std::chrono::steady_clock::time_point> last_at_{};
    std::int64_t last_done_ = 0;
    std::optional<double> rate_{};
};

}  // namespace msgflash::ctl
