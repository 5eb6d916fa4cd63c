#include "core/sending_window.hpp"

#include <array>
#include <stdexcept>

#include <date/tz.h>

namespace msgflash {

namespace {

using std::chrono::milliseconds;
using std::chrono::minutes;
using local_ms = date::local_time<milliseconds>;

// The longest stretch to search for an opening: a window that is not empty opens every local day except
// when a DST gap swallows it, and no zone has two such days in a row.
constexpr int max_days_searched = 4;

bool within(minutes from, minutes to, milliseconds time_of_day) noexcept {
    if (from < to) {
        return time_of_day >= from && time_of_day < to;
    }
    return time_of_day >= from || time_of_day < to;
}

}  // namespace

std::optional<minutes> parse_clock_time(std::string_view text) noexcept {
    constexpr int hours_per_day = 24;
    constexpr int minutes_per_hour = 60;
    const auto digit = [&](std::size_t i) { return text[i] >= '0' && text[i] <= '9'; };
    if (text.size() != 5 || text[2] != ':' || !digit(0) || !digit(1) || !digit(3) || !digit(4)) {
        return std::nullopt;
    }
    const int h = (text[0] - '0') * 10 + (text[1] - '0');
    const int m = (text[3] - '0') * 10 + (text[4] - '0');
    if (h >= hours_per_day || m >= minutes_per_hour) {
        return std::nullopt;
    }
    return minutes{h * minutes_per_hour + m};
}

const date::time_zone* find_time_zone(std::string_view name) noexcept {
    if (name.empty()) {
        return nullptr;
    }
    try {
        return date::locate_zone(name);
    } catch (const std::exception&) {  // unknown zone, or no readable tz database
        return nullptr;
    }
}

window_parse parse_window(const sending_window& w) {
    window_parse out;
    const auto from = parse_clock_time(w.from);
    const auto to = parse_clock_time(w.to);
    const auto* zone = find_time_zone(w.tz);
    if (!from) {
        out.field = "from";
        out.error = "must be a local time \"HH:MM\" between 00:00 and 23:59";
    } else if (!to) {
        out.field = "to";
        out.error = "must be a local time \"HH:MM\" between 00:00 and 23:59";
    } else if (*from == *to) {
        out.field = "to";
        out.error =
            "must differ from \"from\" (an empty window never opens; omit the window to send at any hour)";
    } else if (zone == nullptr) {
        out.field = "tz";
        out.error = "unknown time zone \"" + w.tz + "\" (expected an IANA name such as \"Europe/Paris\")";
    } else {
        out.schedule = window_schedule(*from, *to, zone);
    }
    return out;
}

bool window_schedule::is_open(timestamp t) const {
    const local_ms local = zone_->to_local(t);
    return within(from_, to_, local - date::floor<date::days>(local));
}

timestamp window_schedule::next_open(timestamp now) const {
    if (is_open(now)) {
        return now;
    }
    // The window opens when the local clock reaches `from`. That local time may occur twice (DST overlap:
    // both are candidates) or not at all (DST gap: the window opens at the transition, if still open then).
    const auto today = date::floor<date::days>(zone_->to_local(now));
    for (int d = 0; d <= max_days_searched; ++d) {
        const local_ms opening{today + date::days{d} + from_};
        const auto info = zone_->get_info(opening);
        std::array<timestamp, 2> candidates{};
        std::size_t n = 0;
        switch (info.result) {
            case date::local_info::unique:
                candidates[n++] = timestamp{opening.time_since_epoch() - info.first.offset};
                break;
            case date::local_info::ambiguous:
                candidates[n++] = timestamp{opening.time_since_epoch() - info.first.offset};
                candidates[n++] = timestamp{opening.time_since_epoch() - info.second.offset};
                break;
            case date::local_info::nonexistent:
                candidates[n++] = std::chrono::time_point_cast<milliseconds>(info.second.begin);
                break;
        }
        for (std::size_t i = 0; i < n; ++i) {
            if (candidates[i] >= now && is_open(candidates[i])) {
                return candidates[i];
            }
        }
    }
    return now;  // unreachable for a validated window; open rather than never
}

}  // namespace msgflash
