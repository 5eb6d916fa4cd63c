// Human durations as the configuration writes them: "250ms", "2s", "5m", "24h", "7d", or sums like "1h30m".
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace msgflash {

// nullopt for anything that is not one or more <digits><unit> terms (units: ms, s, m, h, d) or that
// overflows.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

// The shortest exact spelling that parse_duration reads back: 90000ms -> "1m30s", 0 -> "0s".
std::string format_duration(std::chrono::milliseconds d);

}  // namespace msgflash
