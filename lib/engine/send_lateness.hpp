// How late sends leave behind their pacer slot (bench/scale): the scheduler sets a key's timer for the
// instant its next send may leave (quiet_until, last send + spacing, the pacer, the numbers' gates) and the
// send leaves when the single timer and the event loop get to it. The difference is counted here, in fixed
// log-scale buckets (four per octave of microseconds, so a quantile is within 19 % above the true one), with
// no allocation per send. The engine keeps a second one for the answers' latency; /metrics exports both.
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstddef>
#include <cstdint>

namespace msgflash::engine {

class lateness_histogram {
  public:
    using duration = std::chrono::nanoseconds;

    void add(duration late) {
        const std::uint64_t us = late.count() <= 0 ? 0 : static_cast<std::uint64_t>(late.count()) / 1'000;
        ++counts_[bucket_of(us)];
        ++count_;
        sum_ += std::max(late, duration::zero());
        max_ = std::max(max_, late);
    }

    duration sum() const noexcept { return sum_; }
    // For a Prometheus histogram: at the upper bound of each octave (microseconds 7, 15, 31, …) up to
    // `through`, how many observations were at most that long — exact, the bounds are the buckets' own.
    template <class F>
    void each_octave(std::chrono::microseconds through, F&& f) const {
        std::uint64_t seen = counts_[0] + counts_[1] + counts_[2] + counts_[3];
        for (std::size_t b = 4; b < buckets - 1; ++b) {
            seen += counts_[b];
            if ((b - 4) % per_octave == per_octave - 1) {
                const std::uint64_t upper = upper_of(b);
                if (upper > static_cast<std::uint64_t>(through.count())) {
                    return;
                }
                f(std::chrono::microseconds(upper), seen);
            }
        }
    }

    std::uint64_t count() const noexcept { return count_; }
    duration max() const noexcept { return max_; }
    // The upper bound of the bucket holding the q-quantile (0 < q <= 1), capped at max(); zero when empty.
    duration quantile(double q) const {
        if (count_ == 0) {
            return duration::zero();
        }
        const auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_) + 0.999999);
        std::uint64_t seen = 0;
        for (std::size_t b = 0; b < buckets; ++b) {
            seen += counts_[b];
            if (seen >= std::max<std::uint64_t>(rank, 1)) {
                if (b == buckets - 1) {
                    return max_;  // the last bucket is open-ended
                }
                return std::min(duration(std::chrono::microseconds(upper_of(b))), max_);
            }
        }
        return max_;
    }

  private:
    static constexpr std::size_t per_octave = 4;  // 2 bits below the leading one
    static constexpr std::size_t octaves = 40;    // 2^40 µs: 12 days, more than any lateness
    static constexpr std::size_t buckets = 4 + octaves * per_octave;

    // 0–3 µs: one bucket each; above, the octave of the leading bit and the next two bits.
    static std::size_t bucket_of(std::uint64_t us) {
        if (us < 4) {
            return static_cast<std::size_t>(us);
        }
        const auto top = static_cast<std::size_t>(std::bit_width(us)) - 1;  // >= 2
        const auto sub = static_cast<std::size_t>((us >> (top - 2)) & 3);
        return std::min(4 + (top - 2) * per_octave + sub, buckets - 1);
    }
    // The largest value (µs) that falls in bucket b.
    static std::uint64_t upper_of(std::size_t b) {
        if (b < 4) {
            return b;
        }
        const std::size_t top = (b - 4) / per_octave + 2;
        const std::uint64_t sub = (b - 4) % per_octave;
        return ((4 + sub + 1) << (top - 2)) - 1;
    }

    std::array<std::uint64_t, buckets> counts_{};
    std::uint64_t count_ = 0;
    duration sum_{};
    duration max_{};
};

}  // namespace msgflash::engine
