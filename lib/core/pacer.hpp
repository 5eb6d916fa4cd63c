// The pacer of one API key (SPEC §6, §11; issue 5 item 2): when the next request made with the key may
// leave, so that a server counting ARRIVALS over any sliding second never sees more than the key's rate,
// even with network jitter. Pure: time is an argument, nothing here reads a clock.
//
// Why the bound holds. Let R be the key's rate, W = 1 s the server's window, J the jitter bound: request i
// leaves at s_i (the `now` given to on_sent, s_0 <= s_1 <= …) and arrives at a_i = s_i + d_i, where the
// one-way delay d_i lies in [d, d + J] for some unknown d. The pacer keeps a log of the last R departures
// and lets request k leave only when  s_k >= s_{k-R} + W + J + g  (g = server_clock_guard, 1 ms).
// Suppose some window [t, t + W] (closed, the worse case) held R + 1 arrivals. Arrivals may come in another
// order than departures, but among those R + 1 requests let i be the smallest index and j the largest;
// j >= i + R, so s_j >= s_{i+R} and
//     a_j - a_i = (s_j - s_i) + (d_j - d_i) >= (s_{i+R} - s_i) - J >= W + g > W,
// yet both lie in a window of length W: a contradiction. So every window holds at most R arrivals, for any
// latency d and any jitter within J, whatever the answer latency, concurrency or reordering.
// Utilisation: with sends always waiting the log admits R requests per W + J + g, i.e. W / (W + J + g)
// of the rate: 1000 / 1006 = 99.4 % with the default 5 ms jitter bound. A lowered pace (after a 429) adds
// a minimum spacing (W + J + g) / r between departures, which only delays requests, so the bound still
// holds. (A GCRA with a burst of R would not do: it admits R requests at once and one more a single
// emission interval later, R + 1 within 1/R s.)
// `J` must cover ALL variation between on_sent and arrival: call on_sent when the request is written on a
// connection that is already open (a fresh TCP + TLS handshake delays one request by round trips).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

namespace msgflash {

// Monotonic: a step of the wall clock would otherwise open or close windows in the log; nanoseconds, so
// the spacing at any rate (1/7 s is not a whole millisecond) is exact; and the clock of asio::steady_timer,
// so the engine's one timer can wait for key_timeline::earliest() as it is.
using pace_clock = std::chrono::steady_clock;
using pace_time = pace_clock::time_point;
using pace_duration = pace_clock::duration;

// SPEC §11: the limiter's window is unknown; assume a sliding one second over arrival times.
inline constexpr std::chrono::seconds limiter_window{1};
// Margin for a server that stamps arrivals at millisecond resolution and counts both ends of its window
// (truncation moves an arrival by < 1 ms).
inline constexpr std::chrono::milliseconds server_clock_guard{1};

// Every request made with a key is one of these. Sends come first; housekeeping (instance and health
// polls, reconciliation reads) takes spare capacity only, within its share.
enum class request_class { send, housekeeping };

struct pacer_options {
    // accounts[].rate. MsgFlash: 10 req/s per key (docs: Rate limiting).
    std::uint32_t rate = 10;
    // The most the delay from on_sent to the server's arrival varies (network jitter, write scheduling).
    pace_duration jitter_bound = std::chrono::milliseconds{5};
    // pacing.housekeeping_share: the most of the key's current rate that housekeeping may take.
    double housekeeping_share = 0.2;
    // A 429 without Retry-After: nothing leaves for this long (one window, so the server's count drains).
    pace_duration default_rate_limit_pause = std::chrono::seconds{1};
    // Multiplicative decrease at a 429 (AIMD), never below min_rate …
    double decrease_factor = 0.5;
    double min_rate = 1.0;
    // … and additive increase: this share of `rate` regained per clean period (no 429) after the pause.
    double recovery_step = 0.1;
    pace_duration clean_period = std::chrono::seconds{10};
};

class pacer {
  public:
    explicit pacer(const pacer_options& options);

    // The earliest instant >= now at which a request of class `cls` may leave; pace_time::max() when
    // housekeeping has no share at all. The caller gives sends priority: it asks for housekeeping only
    // when no send is ready to go, so housekeeping never takes a slot a waiting send could have used.
    // Housekeeping also waits for spare capacity (the last span holding fewer than rate - headroom
    // requests, headroom = max(ceil(share * rate), rate / 2)) and keeps to its share of the current pace r:
    // one request per span / (share * r).
    pace_time next_allowed(pace_time now, request_class cls) const;
    bool may_send(pace_time now, request_class cls) const { return next_allowed(now, cls) <= now; }

    // A request of class `cls` left at `now` (takes one token). Call it for every request, even one sent
    // early against the pacer's advice: the log must know about every arrival to come. Returns the time
    // recorded (never before the latest departure), for on_left.
    pace_time on_sent(pace_time now, request_class cls);
    // The request recorded at `recorded` only left at `actual` (the caller was stalled between taking the
    // slot and writing the request: a busy thread, a descheduled process). The log moves it, and every
    // later departure recorded before `actual`, to `actual`: later requests wait for the real departure, so
    // a stall no longer has to fit in the jitter bound. Departures stay in order, so the bound's proof holds
    // with the moved times; a correction that comes after `rate` further departures comes too late to help
    // (a stall longer than the span) and changes nothing.
    void on_left(pace_time recorded, pace_time actual);

    // 429 API_RATE_LIMIT_EXCEEDED answered at `now` for a request that left at `sent_at`. Nothing leaves
    // until now + retry_after (or the default pause); the pace is cut once per episode — a 429 for a
    // request sent before the last cut is evidence already acted on — and then recovers step by step.
    void on_rate_limited(pace_time now, pace_time sent_at, std::optional<pace_duration> retry_after);

    // Requests per second the key is paced at now: the configured rate, or less after a 429.
    double current_rate(pace_time now) const;
    std::uint32_t configured_rate() const noexcept { return options_.rate; }
    pace_time paused_until() const noexcept { return paused_until_; }
    // W + J + guard: R departures never fall within a span shorter than this.
    pace_duration span() const noexcept { return span_; }
    const pacer_options& options() const noexcept { return options_; }

  private:
    pace_duration spacing(double rate) const;

    pacer_options options_;
    pace_duration span_;
    std::vector<pace_time> log_;             // ring of the last `rate` departures
    std::size_t head_ = 0;                   // the oldest departure in the ring, overwritten next
    std::size_t housekeeping_headroom_ = 0;  // slots housekeeping leaves free for sends
    std::uint64_t departures_ = 0;
    pace_time last_departure_{};
    std::optional<pace_time> last_housekeeping_;
    pace_time paused_until_{};
    bool slowed_ = false;
    double slowed_rate_ = 0;    // the pace set at the last 429
    pace_time recover_from_{};  // clean periods are counted from here (the end of the last pause)
    pace_time last_cut_{};
};

}  // namespace msgflash
