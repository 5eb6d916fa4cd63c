// Retry-After (RFC 9110 §10.2.3) turned into a wait: delta-seconds or an HTTP-date, read against a wall-clock
// `now` that the caller passes in. Pure: no clock reads, no allocation.
#pragma once

#include <chrono>
#include <optional>
#include <string_view>

namespace msgflash {

// The longest wait Retry-After can give; larger delta-seconds and far-future dates are clamped to it. The
// same bound RFC 9111 §1.2.2 sets for delta-seconds that overflow (2^31 seconds).
inline constexpr std::chrono::seconds max_retry_after{2'147'483'648LL};

// An HTTP-date in any of the three forms a recipient must accept (RFC 9110 §5.6.7):
//   IMF-fixdate  "Sun, 06 Nov 1994 08:49:37 GMT"
//   RFC 850      "Sunday, 06-Nov-94 08:49:37 GMT"  (a two-digit year more than 50 years ahead of `now` is
//   read
//                                                   as the most recent past year with those digits)
//   asctime      "Sun Nov  6 08:49:37 1994"
// Names are case-sensitive as the grammar says; the weekday must be a valid name but is not checked against
// the date. nullopt for anything else, including impossible dates (31 Feb) and times (25:00:00).
std::optional<std::chrono::sys_seconds> parse_http_date(std::string_view text,
                                                        std::chrono::system_clock::time_point now);

// How long to wait from `now`: delta-seconds as given, or the HTTP-date minus `now` (rounded up to whole
// seconds, zero when the date is not in the future), clamped to max_retry_after. Surrounding spaces and tabs
// are ignored. nullopt when the value is neither form ("-1", "1.5", "5s", "", a malformed date): the caller
// then falls back to its own backoff.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

}  // namespace msgflash
