#include "core/retry_after.hpp"

#include <array>
#include <cstdint>

namespace msgflash {
namespace {

using namespace std::chrono;

constexpr std::array<std::string_view, 7> short_days{"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<std::string_view, 7> long_days{"Monday", "Tuesday",  "Wednesday", "Thursday",
                                                    "Friday", "Saturday", "Sunday"};
constexpr std::array<std::string_view, 12> month_names{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                       "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

// RFC 850 two-digit years: "more than 50 years in the future" is read as the previous century (RFC 9110
// §5.6.7).
constexpr int two_digit_year_horizon = 50;

std::string_view trim_ows(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// A left-to-right reader over one date string; every step fails cleanly at the end of the input.
class cursor {
  public:
    explicit cursor(std::string_view s) : s_(s) {}

    bool done() const { return pos_ == s_.size(); }

    bool literal(std::string_view lit) {
        if (s_.substr(pos_, lit.size()) != lit) {
            return false;
        }
        pos_ += lit.size();
        return true;
    }

    // Exactly n digits.
    bool digits(std::size_t n, int& out) {
        if (pos_ + n > s_.size()) {
            return false;
        }
        int v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const char c = s_[pos_ + i];
            if (c < '0' || c > '9') {
                return false;
            }
            v = v * 10 + (c - '0');
        }
        out = v;
        pos_ += n;
        return true;
    }

    // The first name in the list that matches here; its index.
    template <std::size_t N>
    bool one_of(const std::array<std::string_view, N>& names, int& index) {
        for (std::size_t i = 0; i < N; ++i) {
            if (literal(names[i])) {
                index = static_cast<int>(i);
                return true;
            }
        }
        return false;
    }

  private:
    std::string_view s_;
    std::size_t pos_ = 0;
};

bool read_time(cursor& c, int& h, int& m, int& s) {
    return c.digits(2, h) && c.literal(":") && c.digits(2, m) && c.literal(":") && c.digits(2, s);
}

std::optional<sys_seconds> make_time(int y, int month_index, int d, int h, int m, int s) {
    // Second 60 is allowed for leap seconds (RFC 9110 §5.6.7: time-of-day's second is 00-60).
    if (h > 23 || m > 59 || s > 60 || d < 1) {
        return std::nullopt;
    }
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(month_index + 1)},
                             day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    return sys_days{ymd} + hours{h} + minutes{m} + seconds{s};
}

std::optional<sys_seconds> parse_imf_fixdate(std::string_view text) {
    cursor c(text);
    int weekday = 0;
    int d = 0;
    int mon = 0;
    int y = 0;
    int h = 0;
    int m = 0;
    int s = 0;
    if (!c.one_of(short_days, weekday) || !c.literal(", ") || !c.digits(2, d) || !c.literal(" ") ||
        !c.one_of(month_names, mon) || !c.literal(" ") || !c.digits(4, y) || !c.literal(" ") ||
        !read_time(c, h, m, s) || !c.literal(" GMT") || !c.done()) {
        return std::nullopt;
    }
    return make_time(y, mon, d, h, m, s);
}

std::optional<sys_seconds> parse_rfc850(std::string_view text, system_clock::time_point now) {
    cursor c(text);
    int weekday = 0;
    int d = 0;
    int mon = 0;
    int yy = 0;
    int h = 0;
    int m = 0;
    int s = 0;
    if (!c.one_of(long_days, weekday) || !c.literal(", ") || !c.digits(2, d) || !c.literal("-") ||
        !c.one_of(month_names, mon) || !c.literal("-") || !c.digits(2, yy) || !c.literal(" ") ||
        !read_time(c, h, m, s) || !c.literal(" GMT") || !c.done()) {
        return std::nullopt;
    }
    const int this_year = static_cast<int>(year_month_day{floor<days>(now)}.year());
    int y = this_year - this_year % 100 + yy;
    if (y > this_year + two_digit_year_horizon) {
        y -= 100;
    }
    return make_time(y, mon, d, h, m, s);
}

std::optional<sys_seconds> parse_asctime(std::string_view text) {
    cursor c(text);
    int weekday = 0;
    int mon = 0;
    int d = 0;
    int y = 0;
    int h = 0;
    int m = 0;
    int s = 0;
    if (!c.one_of(short_days, weekday) || !c.literal(" ") || !c.one_of(month_names, mon) || !c.literal(" ")) {
        return std::nullopt;
    }
    // date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
    if (c.literal(" ")) {
        if (!c.digits(1, d)) {
            return std::nullopt;
        }
    } else if (!c.digits(2, d)) {
        return std::nullopt;
    }
    if (!c.literal(" ") || !read_time(c, h, m, s) || !c.literal(" ") || !c.digits(4, y) || !c.done()) {
        return std::nullopt;
    }
    return make_time(y, mon, d, h, m, s);
}

}  // namespace

std::optional<sys_seconds> parse_http_date(std::string_view text, system_clock::time_point now) {
    if (auto t = parse_imf_fixdate(text)) {
        return t;
    }
    if (auto t = parse_rfc850(text, now)) {
        return t;
    }
    return parse_asctime(text);
}

std::optional<seconds> parse_retry_after(std::string_view value, system_clock::time_point now) {
    value = trim_ows(value);
    if (value.empty()) {
        return std::nullopt;
    }
    if (value.front() >= '0' && value.front() <= '9') {
        // delta-seconds = 1*DIGIT
        std::int64_t n = 0;
        for (char c : value) {
            if (c < '0' || c > '9') {
                return std::nullopt;
            }
            if (n < max_retry_after.count()) {
                n = n * 10 + (c - '0');
            }
        }
        return seconds{n < max_retry_after.count() ? n : max_retry_after.count()};
    }
    const auto date = parse_http_date(value, now);
    if (!date) {
        return std::nullopt;
    }
    // Whole seconds on both sides: ceil(date - now) is date - floor(now) for a whole-second date, and a
    // nanosecond difference would overflow for dates centuries away.
    const seconds wait = *date - floor<seconds>(now);
    if (wait <= seconds::zero()) {
        return seconds::zero();
    }
    return wait < max_retry_after ? wait : max_retry_after;
}

}  // namespace msgflash
