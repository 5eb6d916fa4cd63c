#include "config/config_text.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

namespace msgflash {

bool looks_like_api_key(std::string_view text) noexcept {
    return text.find("msgf_live_") != std::string_view::npos ||
           text.find("msgf_team_") != std::string_view::npos;
}

std::string quote(std::string_view text) {
    if (looks_like_api_key(text)) {
        return "<value that looks like an API key, not shown>";
    }
    // Enough to recognise a value; a pasted paragraph would drown the message.
    constexpr std::size_t max_quoted = 80;
    std::string out = "\"";
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (i == max_quoted) {
            out += "…";
            break;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c == 0x7f) {
            std::array<char, 8> buf{};
            std::snprintf(buf.data(), buf.size(), "\\u%04x", c);
            out += buf.data();
        } else {
            out += static_cast<char>(c);
        }
    }
    out += '"';
    return out;
}

namespace {

std::size_t edit_distance(std::string_view a, std::string_view b) {
    // Optimal string alignment: insertions, deletions, substitutions and adjacent transpositions ("retyr").
    const auto eq = [](char x, char y) {
        return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
    };
    std::vector<std::vector<std::size_t>> d(a.size() + 1, std::vector<std::size_t>(b.size() + 1));
    for (std::size_t i = 0; i <= a.size(); ++i) {
        d[i][0] = i;
    }
    for (std::size_t j = 0; j <= b.size(); ++j) {
        d[0][j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t cost = eq(a[i - 1], b[j - 1]) ? 0 : 1;
            d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
            if (i > 1 && j > 1 && eq(a[i - 1], b[j - 2]) && eq(a[i - 2], b[j - 1])) {
                d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
            }
        }
    }
    return d[a.size()][b.size()];
}

}  // namespace

std::optional<std::string> closest_match(std::string_view text, const std::vector<std::string>& candidates) {
    constexpr std::size_t max_suggest_distance = 2;
    std::optional<std::string> best;
    std::size_t best_distance = max_suggest_distance + 1;
    for (const auto& c : candidates) {
        const std::size_t d = edit_distance(text, c);
        if (d < best_distance && d < c.size()) {
            best = c;
            best_distance = d;
        }
    }
    return best;
}

}  // namespace msgflash
