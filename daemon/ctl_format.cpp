#include "daemon/ctl_format.hpp"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "report/report_format.hpp"

namespace msgflash::ctl {

void table::add_row(std::vector<std::string> cells) {
    cells.resize(columns_.size());
    rows_.push_back(std::move(cells));
}

std::string table::render() const {
    std::vector<std::size_t> widths(columns_.size());
    for (std::size_t c = 0; c < columns_.size(); ++c) {
        widths[c] = display_width(columns_[c].header);
        for (const auto& r : rows_) {
            widths[c] = std::max(widths[c], display_width(r[c]));
        }
    }
    std::string out;
    auto line = [&](auto cell_of) {
        std::string l;
        for (std::size_t c = 0; c < columns_.size(); ++c) {
            const std::string& cell = cell_of(c);
            const std::size_t pad = widths[c] - display_width(cell);
            if (c > 0) {
                l += "  ";
            }
            if (columns_[c].alignment == align::right) {
                l.append(pad, ' ');
                l += cell;
            } else {
                l += cell;
                l.append(pad, ' ');
            }
        }
        while (!l.empty() && l.back() == ' ') {
            l.pop_back();
        }
        out += l;
        out += '\n';
    };
    line([&](std::size_t c) -> const std::string& { return columns_[c].header; });
    for (const auto& r : rows_) {
        line([&](std::size_t c) -> const std::string& { return r[c]; });
    }
    return out;
}

std::size_t display_width(std::string_view s) noexcept {
    return static_cast<std::size_t>(std::count_if(
        s.begin(), s.end(), [](char ch) { return (static_cast<unsigned char>(ch) & 0xC0) != 0x80; }));
}

std::string short_duration(std::chrono::seconds d) {
    std::int64_t s = std::max<std::int64_t>(0, d.count());
    constexpr std::int64_t minute = 60;
    constexpr std::int64_t hour = 60 * minute;
    constexpr std::int64_t day = 24 * hour;
    if (s < minute) {
        return fmt::format("{}s", s);
    }
    if (s < hour) {
        return fmt::format("{}m{:02}s", s / minute, s % minute);
    }
    if (s < day) {
        return fmt::format("{}h{:02}m", s / hour, (s % hour) / minute);
    }
    return fmt::format("{}d{:02}h", s / day, (s % day) / hour);
}

std::string utc_time(timestamp t) {
    return report::utc_seconds(t);
}

std::string rate_text(std::optional<double> per_second) {
    if (!per_second || !std::isfinite(*per_second)) {
        return "-";
    }
    // Slow numbers (a cap of a few hundred a day) would all read "0.0/s": a unit that shows them.
    if (*per_second >= 1 || *per_second <= 0) {
        return fmt::format("{:.1f}/s", *per_second);
    }
    if (*per_second * 60 >= 1) {
        return fmt::format("{:.1f}/min", *per_second * 60);
    }
    return fmt::format("{:.1f}/h", *per_second * 3600);
}

std::string progress_line(std::int64_t done, std::int64_t total, std::optional<double> rate,
                          std::optional<std::chrono::seconds> eta, std::size_t width) {
    const double share =
        total > 0 ? std::clamp(static_cast<double>(done) / static_cast<double>(total), 0.0, 1.0) : 1.0;
    const auto filled = static_cast<std::size_t>(std::floor(share * static_cast<double>(width)));
    std::string bar = "[";
    bar.append(filled, '#');
    bar.append(width - filled, '.');
    bar += ']';
    return fmt::format("{}  {}/{}  {:.1f}%  {}  ETA {}", bar, done, total, share * 100.0, rate_text(rate),
                       eta ? short_duration(*eta) : std::string("-"));
}

}  // namespace msgflash::ctl
