// Text helpers shared by the config reader and the key loader: quoting user values for error messages
// (never echoing anything that looks like an API key) and "did you mean" suggestions.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace msgflash {

// True when text contains a MsgFlash key prefix (msgf_live_ / msgf_team_): such text is never echoed.
bool looks_like_api_key(std::string_view text) noexcept;

// text in double quotes with control characters escaped and long values shortened, for error messages.
// Anything that looks like an API key is replaced by a placeholder.
std::string quote(std::string_view text);

// The candidate closest to text (case-insensitive optimal string alignment distance) when it is at most
// 2 edits away and closer than the candidate's own length; nullopt otherwise.
std::optional<std::string> closest_match(std::string_view text, const std::vector<std::string>& candidates);

}  // namespace msgflash
