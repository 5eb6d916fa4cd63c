#include "core/duration.hpp"

#include <array>
#include <cstdint>
#include <limits>

namespace msgflash {
namespace {

struct unit {
    std::string_view suffix;
    std::int64_t ms;
};

// Longest suffix first so that "ms" is not read as "m" followed by garbage.
constexpr std::array<unit, 5> units{
    {{"ms", 1}, {"s", 1000}, {"m", 60'000}, {"h", 3'600'000}, {"d", 86'400'000}}};

}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
    if (text.empty()) {
        return std::nullopt;
    }
    std::int64_t total = 0;
    std::size_t i = 0;
    while (i < text.size()) {
        if (text[i] < '0' || text[i] > '9') {
            return std::nullopt;
        }
        std::int64_t value = 0;
        while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
            if (value > (std::numeric_limits<std::int64_t>::max() - 9) / 10) {
                return std::nullopt;
            }
            value = value * 10 + (text[i] - '0');
            ++i;
        }
        const unit* matched = nullptr;
        for (const auto& u : units) {
            if (text.substr(i, u.suffix.size()) == u.suffix) {
                matched = &u;
                break;
            }
        }
        if (matched == nullptr) {
            return std::nullopt;
        }
        i += matched->suffix.size();
        if (value > (std::numeric_limits<std::int64_t>::max() - total) / matched->ms) {
            return std::nullopt;
        }
        total += value * matched->ms;
    }
    return std::chrono::milliseconds(total);
}

std::string format_duration(std::chrono::milliseconds d) {
    std::int64_t left = d.count();
    if (left == 0) {
        return "0s";
    }
    std::string out;
    if (left < 0) {
        out += '-';
        left = -left;
    }
    for (auto it = units.rbegin(); it != units.rend(); ++it) {
        if (left >= it->ms) {
            out += std::to_string(left / it->ms);
            out += it->suffix;
            left %= it->ms;
        }
    }
    return out;
}

}  // namespace msgflash
