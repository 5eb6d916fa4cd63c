// Local sending hours (SPEC §3 `window`): parses {"from","to","tz"} once, then answers, purely from a given
// instant, whether the window is open and when it next opens. Zones come from the system tz database.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "core/job.hpp"

namespace date {
class time_zone;
}

namespace msgflash {

// "HH:MM" (00:00–23:59) as minutes after local midnight; nullopt for anything else.
std::optional<std::chrono::minutes> parse_clock_time(std::string_view text) noexcept;

struct window_parse;

// A validated sending window. from < to: open on [from, to) each local day; from > to: crosses midnight,
// open on [from, 24:00) and [00:00, to). Local time is read from the wall clock of the zone, so during a
// DST overlap the window may be open twice, and a window lying inside a DST gap does not open that day.
class window_schedule {
  public:
    std::chrono::minutes from() const noexcept { return from_; }
    std::chrono::minutes to() const noexcept { return to_; }
    const date::time_zone& zone() const noexcept { return *zone_; }

    bool is_open(timestamp t) const;
    // The first instant >= now at which the window is open (now itself when it is open).
    timestamp next_open(timestamp now) const;

  private:
    friend window_parse parse_window(const sending_window& w);
    window_schedule(std::chrono::minutes from, std::chrono::minutes to, const date::time_zone* zone) noexcept
        : from_(from), to_(to), zone_(zone) {}

    std::chrono::minutes from_;
    std::chrono::minutes to_;
    const date::time_zone* zone_;
};

// Either a schedule, or the field ("from", "to" or "tz") that is wrong and why.
struct window_parse {
    std::optional<window_schedule> schedule{};
    std::string field{};
    std::string error{};

    bool ok() const noexcept { return schedule.has_value(); }
};

// Validates the strings of a sending_window: both times "HH:MM", from != to (an empty window would never
// open; omit the window to send at any hour), tz a zone of the system's IANA database.
window_parse parse_window(const sending_window& w);

// A zone name of the system tz database (e.g. "Europe/Paris"); nullptr when unknown.
const date::time_zone* find_time_zone(std::string_view name) noexcept;

}  // namespace msgflash
