// msgflashctl's output helpers: aligned tables for people, short durations, UTC times and the progress bar of
// `watch` (the CSV of `export` is lib/report's, shared with the daemon's reports). Pure string building; the
// commands decide where it goes.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/job.hpp"

namespace msgflash::ctl {

// A text table: a header row and rows of cells, columns padded to their widest cell (counted in UTF-8
// code points), numbers right-aligned.
class table {
  public:
    enum class align { left, right };
    struct column {
        std::string header;
        align alignment = align::left;
    };

    explicit table(std::vector<column> columns) : columns_(std::move(columns)) {}
    // Missing cells are blank; extra cells are an error of the caller (dropped).
    void add_row(std::vector<std::string> cells);
    std::size_t rows() const noexcept { return rows_.size(); }
    // Lines joined by '\n' (ending with one), two spaces between columns, no trailing blanks.
    std::string render() const;

  private:
    std::vector<column> columns_;
    std::vector<std::vector<std::string>> rows_;
};

// Code points in a UTF-8 string (bytes that do not start a sequence are not counted).
std::size_t display_width(std::string_view s) noexcept;

// "45s", "3m20s", "2h05m", "3d04h": two units at most, for ETAs and ages. Negative durations print as "0s".
std::string short_duration(std::chrono::seconds d);
// "2026-11-27T07:00:00Z" (seconds, UTC).
std::string utc_time(timestamp t);
// "12.3/s" for a rate of jobs per second ("3.0/min", "4.2/h" below one a second); "-" for none.
std::string rate_text(std::optional<double> per_second);

// One line of `watch`'s live display: "[#####.....]  432/1000  43.2%  12.0/s  ETA 47s". `width` is the
// bar's inside width in characters.
std::string progress_line(std::int64_t done, std::int64_t total, std::optional<double> rate,
                          std::optional<std::chrono::seconds> eta, std::size_t width);

}  // namespace msgflash::ctl
