// The simulated MsgFlash service: routes, validation, rate limits, quotas, team rules, lazy delivery
// progress and fault injection, all decided from the times passed in and one seed. No I/O, no clock reads.
#include "tests/sim/sim_world.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdio>
#include <deque>
#include <mutex>
#include <random>
#include <stdexcept>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <variant>
#include <vector>

#include <boost/json.hpp>

#include "core/api_errors.hpp"
#include "core/duration.hpp"

namespace msgflash::sim {
namespace {

namespace json = boost::json;
using std::chrono::milliseconds;
using steady_duration = std::chrono::steady_clock::duration;

// ---- Assumptions where the MsgFlash docs are silent; docs/simulator.md lists each one. ----
constexpr unsigned send_success_status = 200;         // messages/send|schedule: 200 (docs show no status)
constexpr unsigned campaign_created_status = 201;     // docs: campaigns-create.txt "Success response 201"
constexpr unsigned service_unavailable_status = 503;  // the 503 fault; not a documented API code
constexpr std::string_view service_unavailable_code = "SERVICE_UNAVAILABLE";
constexpr std::string_view service_unavailable_message = "Service temporarily unavailable";
constexpr std::size_t synthetic_audience = 100;  // recipientCount of all / tags / group campaigns
constexpr std::size_t default_page_limit = 20;
constexpr std::size_t max_page_limit = 100;
// docs: instances.txt example; the simulator has no creation history, so every instance has this createdAt.
constexpr std::string_view instance_created_at = "2026-04-01T09:00:00.000Z";
constexpr std::string_view garbage_body =
    "<html><body><h1>502 Bad Gateway</h1>upstream garbage</body></html>";
// The delivery steps (delivery.step each): queued → sent → delivered → read; failed replaces delivered.
constexpr std::int64_t sent_step = 1;
constexpr std::int64_t delivered_step = 2;
constexpr std::int64_t read_step = 3;
// usageWindowSummary windows (SPEC §11).
constexpr auto minute = std::chrono::minutes(1);
constexpr auto hour = std::chrono::hours(1);
constexpr auto day = std::chrono::hours(24);

constexpr std::array<std::string_view, 7> message_types{"text",     "image",      "video",  "audio",
                                                        "document", "voice_note", "buttons"};
constexpr std::array<std::string_view, 5> media_types{"image", "video", "audio", "document", "voice_note"};
constexpr std::array<std::string_view, 6> message_statuses{"scheduled", "queued", "sent",
                                                           "delivered", "read",   "failed"};
constexpr std::array<std::string_view, 3> instance_statuses{"disconnected", "connecting", "connected"};
constexpr std::array<std::string_view, 3> repeat_values{"none", "daily", "weekly"};
constexpr std::array<std::string_view, 4> recipient_types{"all", "tags", "explicit", "group"};
constexpr std::array<std::string_view, 4> plans{"free", "starter", "pro", "plus"};
constexpr std::array<std::string_view, 3> retry_after_modes{"seconds", "date", "none"};

// The direct-mode content fields that mark a body as direct (SPEC §11; docs: campaigns-create.txt).
constexpr std::array<std::string_view, 7> direct_fields{"type",        "body",   "mediaUrl", "title",
                                                        "description", "footer", "buttons"};

template <std::size_t N>
bool one_of(std::string_view value, const std::array<std::string_view, N>& allowed) {
    return std::find(allowed.begin(), allowed.end(), value) != allowed.end();
}

template <std::size_t N>
std::string list_of(const std::array<std::string_view, N>& allowed) {
    std::string out;
    for (auto v : allowed) {
        out += out.empty() ? "" : ", ";
        out += v;
    }
    return out;
}

// docs: faq.txt, "Free: 1, Starter: 3, Pro: 10, Plus: 10" instances.
std::uint64_t plan_instance_limit(std::string_view plan) {
    if (plan == "free") {
        return 1;
    }
    if (plan == "starter") {
        return 3;
    }
    return 10;
}

struct string_hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};
template <class V>
using string_map = std::unordered_map<std::string, V, string_hash, std::equal_to<>>;

// ---------------------------------------------------------------------------------------------- text helpers

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// E.164 as SPEC §3 states it: "+" then 8 to 15 digits.
bool is_e164(std::string_view s) {
    if (s.size() < 9 || s.size() > 16 || s[0] != '+') {
        return false;
    }
    return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

bool is_json_content_type(std::string_view ct) {
    const auto semi = ct.find(';');
    return iequals(trim(ct.substr(0, semi)), "application/json");
}

std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] == '+') {
            out += ' ';
        } else if (s[i] == '%') {
            if (i + 2 >= s.size()) {
                return std::nullopt;
            }
            unsigned v = 0;
            const auto [p, ec] = std::from_chars(s.data() + i + 1, s.data() + i + 3, v, 16);
            if (ec != std::errc{} || p != s.data() + i + 3) {
                return std::nullopt;
            }
            out += static_cast<char>(v);
            i += 2;
        } else {
            out += s[i];
        }
    }
    return out;
}

using query_params = std::vector<std::pair<std::string, std::string>>;

std::optional<query_params> parse_query(std::string_view q) {
    query_params out;
    while (!q.empty()) {
        const auto amp = q.find('&');
        const auto part = q.substr(0, amp);
        q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
        if (part.empty()) {
            continue;
        }
        const auto eq = part.find('=');
        auto key = percent_decode(part.substr(0, eq));
        auto value = percent_decode(eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1));
        if (!key || !value) {
            return std::nullopt;
        }
        out.emplace_back(std::move(*key), std::move(*value));
    }
    return out;
}

constexpr std::string_view base64url_alphabet =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

std::string base64url_encode(std::string_view in) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (unsigned char c : in) {
        acc = (acc << 8) | c;
        bits += 8;
        while (bits >= 6) {
            bits -= 6;
            out += base64url_alphabet[(acc >> bits) & 0x3f];
        }
    }
    if (bits > 0) {
        out += base64url_alphabet[(acc << (6 - bits)) & 0x3f];
    }
    return out;
}

std::optional<std::string> base64url_decode(std::string_view in) {
    std::string out;
    std::uint32_t acc = 0;
    int bits = 0;
    for (char c : in) {
        const auto pos = base64url_alphabet.find(c);
        if (pos == std::string_view::npos) {
            return std::nullopt;
        }
        acc = (acc << 6) | static_cast<std::uint32_t>(pos);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out += static_cast<char>((acc >> bits) & 0xff);
        }
    }
    return out;
}

// ---------------------------------------------------------------------------------------------- time helpers

std::string format_iso(wall_time t) {
    using namespace std::chrono;
    const auto ms = floor<milliseconds>(t);
    const auto d = floor<days>(ms);
    const year_month_day ymd{d};
    const hh_mm_ss hms{ms - d};
    std::array<char, 32> buf{};
    std::snprintf(buf.data(), buf.size(), "%04d-%02u-%02uT%02d:%02d:%02d.%03dZ", static_cast<int>(ymd.year()),
                  static_cast<unsigned>(ymd.month()), static_cast<unsigned>(ymd.day()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()), static_cast<int>(hms.subseconds().count()));
    return buf.data();
}

// RFC 9110 IMF-fixdate, e.g. "Sun, 06 Nov 1994 08:49:37 GMT".
std::string format_http_date(wall_time t) {
    using namespace std::chrono;
    static constexpr std::array<const char*, 7> weekdays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> months{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                        "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const auto s = floor<seconds>(t);
    const auto d = floor<days>(s);
    const year_month_day ymd{d};
    const hh_mm_ss hms{s - d};
    std::array<char, 40> buf{};
    std::snprintf(buf.data(), buf.size(), "%s, %02u %s %04d %02d:%02d:%02d GMT",
                  weekdays[weekday{d}.c_encoding()], static_cast<unsigned>(ymd.day()),
                  months[static_cast<unsigned>(ymd.month()) - 1], static_cast<int>(ymd.year()),
                  static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                  static_cast<int>(hms.seconds().count()));
    return buf.data();
}

// ISO 8601 date-time with a mandatory offset: YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM|±HHMM).
std::optional<wall_time> parse_iso(std::string_view s) {
    using namespace std::chrono;
    std::size_t i = 0;
    auto number = [&](std::size_t n, int& out) {
        if (i + n > s.size()) {
            return false;
        }
        out = 0;
        for (std::size_t k = 0; k < n; ++k) {
            const char c = s[i + k];
            if (c < '0' || c > '9') {
                return false;
            }
            out = out * 10 + (c - '0');
        }
        i += n;
        return true;
    };
    auto expect = [&](char c) {
        if (i < s.size() && s[i] == c) {
            ++i;
            return true;
        }
        return false;
    };
    int y = 0;
    int mo = 0;
    int d = 0;
    int h = 0;
    int mi = 0;
    int sec = 0;
    if (!number(4, y) || !expect('-') || !number(2, mo) || !expect('-') || !number(2, d) || !expect('T') ||
        !number(2, h) || !expect(':') || !number(2, mi) || !expect(':') || !number(2, sec)) {
        return std::nullopt;
    }
    milliseconds frac{0};
    if (expect('.')) {
        int digits = 0;
        int ms = 0;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
            if (digits < 3) {
                ms = ms * 10 + (s[i] - '0');
            }
            ++digits;
            ++i;
        }
        if (digits == 0) {
            return std::nullopt;
        }
        for (int k = digits; k < 3; ++k) {
            ms *= 10;
        }
        frac = milliseconds(ms);
    }
    minutes offset{0};
    if (expect('Z')) {
        // UTC
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        const int sign = s[i] == '-' ? -1 : 1;
        ++i;
        int oh = 0;
        int om = 0;
        if (!number(2, oh)) {
            return std::nullopt;
        }
        expect(':');
        if (!number(2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset = minutes(sign * (oh * 60 + om));
    } else {
        return std::nullopt;  // no offset: ambiguous local time
    }
    if (i != s.size() || h > 23 || mi > 59 || sec > 59) {
        return std::nullopt;
    }
    const year_month_day ymd{year{y}, month{static_cast<unsigned>(mo)},
                             std::chrono::day{static_cast<unsigned>(d)}};
    if (!ymd.ok()) {
        return std::nullopt;
    }
    const auto local = sys_days{ymd} + hours{h} + minutes{mi} + seconds{sec} + frac;
    return wall_time{duration_cast<wall_time::duration>((local - offset).time_since_epoch())};
}

// The billing period: the calendar month of `wall`, in UTC.
struct month_period {
    int index = 0;  // year * 12 + month, comparable
    wall_time start;
    wall_time end;
};

month_period period_of(wall_time wall) {
    using namespace std::chrono;
    const year_month_day ymd{floor<days>(wall)};
    const auto first = ymd.year() / ymd.month() / 1;
    const auto next = first + months{1};
    return {static_cast<int>(ymd.year()) * 12 + static_cast<int>(static_cast<unsigned>(ymd.month())),
            wall_time{sys_days{first}}, wall_time{sys_days{next}}};
}

// ---------------------------------------------------------------------------------------------- randomness

double uniform01(std::mt19937_64& g) {
    return static_cast<double>(g() >> 11) * 0x1.0p-53;
}

std::int64_t uniform_int(std::mt19937_64& g, std::int64_t lo, std::int64_t hi) {
    if (hi <= lo) {
        return lo;
    }
    const auto span = static_cast<std::uint64_t>(hi - lo) + 1;
    return lo + static_cast<std::int64_t>(g() % span);
}

std::string make_uuid(std::mt19937_64& g) {
    std::uint64_t hi = g();
    std::uint64_t lo = g();
    hi = (hi & ~std::uint64_t{0xf000}) | 0x4000;                      // version 4
    lo = (lo & 0x3fff'ffff'ffff'ffffULL) | 0x8000'0000'0000'0000ULL;  // RFC 4122 variant
    std::array<char, 40> buf{};
    std::snprintf(buf.data(), buf.size(), "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(hi >> 32),
                  static_cast<unsigned>((hi >> 16) & 0xffff), static_cast<unsigned>(hi & 0xffff),
                  static_cast<unsigned>(lo >> 48), static_cast<unsigned long long>(lo & 0xffff'ffff'ffffULL));
    return buf.data();
}

// FNV-1a, 64 bits: the duplicate detector keeps hashes, not whole request bodies.
std::uint64_t fnv1a(std::string_view s) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    for (unsigned char c : s) {
        h = (h ^ c) * 0x100000001b3ULL;
    }
    return h;
}

// ---------------------------------------------------------------------------------------------- responses

json::object detail(std::string_view field, std::string_view message) {
    return json::object{{"field", field}, {"message", message}};
}

std::string error_body(std::string_view code, std::string_view message, json::array details) {
    json::object err;
    err["code"] = code;
    err["message"] = message;
    err["details"] = std::move(details);
    return json::serialize(json::object{{"error", std::move(err)}});
}

response make_error(api_errc e, std::string_view message = {}, json::array details = {}) {
    const auto& info = api_error(e);
    response r;
    r.status = info.http_status;
    r.body = error_body(info.code, message.empty() ? info.message : message, std::move(details));
    return r;
}

response make_data(json::value data, unsigned status = 200) {
    response r;
    r.status = status;
    json::object o;
    o["data"] = std::move(data);
    r.body = json::serialize(o);
    return r;
}

response make_raw(const json::value& doc) {
    response r;
    r.body = json::serialize(doc);
    return r;
}

// Schema problems gathered before answering, so one VALIDATION_ERROR lists them all.
class issues {
  public:
    void add(std::string_view field, std::string_view message) { list_.push_back(detail(field, message)); }
    bool empty() const { return list_.empty(); }
    response answer() { return make_error(api_errc::validation_error, {}, std::move(list_)); }

  private:
    json::array list_;
};

const json::value* find(const json::object& o, std::string_view key) {
    const auto it = o.find(key);
    return it == o.end() ? nullptr : &it->value();
}

template <std::size_t N>
void reject_unknown(const json::object& o, const std::array<std::string_view, N>& allowed, issues& is,
                    std::string_view prefix = {}) {
    for (const auto& kv : o) {
        if (!one_of(kv.key(), allowed)) {
            is.add(std::string(prefix) + std::string(kv.key()), "unknown field");
        }
    }
}

// A present field must be a string; nullopt when absent or wrong (the wrong case is recorded).
std::optional<std::string> string_field(const json::object& o, std::string_view key, issues& is,
                                        std::string_view prefix = {}) {
    const auto* v = find(o, key);
    if (v == nullptr) {
        return std::nullopt;
    }
    if (!v->is_string()) {
        is.add(std::string(prefix) + std::string(key), "must be a string");
        return std::nullopt;
    }
    return std::string(v->get_string());
}

std::string number_text(const json::value& v) {
    if (v.is_int64()) {
        return std::to_string(v.get_int64());
    }
    if (v.is_uint64()) {
        return std::to_string(v.get_uint64());
    }
    return json::serialize(v);
}

// ---------------------------------------------------------------------------------------------- placeholders

struct placeholder {
    std::string name;
    std::size_t begin;  // the first '{'
    std::size_t end;    // one past the last '}'
};

struct placeholder_scan {
    std::vector<placeholder> items;
    std::string problem;  // non-empty: malformed
};

bool valid_placeholder_name(std::string_view name) {
    if (name.empty()) {
        return false;
    }
    bool segment_start = true;
    for (char c : name) {
        const bool alpha = std::isalpha(static_cast<unsigned char>(c)) != 0 || c == '_';
        const bool digit = c >= '0' && c <= '9';
        if (c == '.') {
            if (segment_start) {
                return false;
            }
            segment_start = true;
        } else if (segment_start ? !alpha : !(alpha || digit)) {
            return false;
        } else {
            segment_start = false;
        }
    }
    return !segment_start;
}

placeholder_scan scan_placeholders(std::string_view text) {
    placeholder_scan out;
    std::size_t pos = 0;
    while ((pos = text.find("{{", pos)) != std::string_view::npos) {
        const auto close = text.find("}}", pos + 2);
        if (close == std::string_view::npos) {
            out.problem = "unclosed {{ at offset " + std::to_string(pos);
            return out;
        }
        const auto name = trim(text.substr(pos + 2, close - pos - 2));
        if (!valid_placeholder_name(name)) {
            out.problem =
                "invalid placeholder {{" + std::string(text.substr(pos + 2, close - pos - 2)) + "}}";
            return out;
        }
        out.items.push_back({std::string(name), pos, close + 2});
        pos = close + 2;
    }
    return out;
}

std::vector<std::string> placeholder_names(std::string_view text) {
    std::vector<std::string> names;
    for (auto& p : scan_placeholders(text).items) {
        if (std::find(names.begin(), names.end(), p.name) == names.end()) {
            names.push_back(std::move(p.name));
        }
    }
    return names;
}

using variable_list = std::vector<std::pair<std::string, std::string>>;

const std::string* lookup_variable(const variable_list& vars, std::string_view name) {
    for (const auto& [k, v] : vars) {
        if (k == name) {
            return &v;
        }
    }
    return nullptr;
}

struct rendered {
    std::optional<api_errc> error;
    json::array details;
    std::string text;
};

// The fields {{instance.*}} resolves (SPEC brief: name and waNumber).
struct instance_context {
    std::string_view name;
    std::string_view wa_number;
};

// contact_later: campaigns resolve {{contact.*}} per recipient, so they are left in place.
rendered render(std::string_view text, const variable_list& vars, const instance_context* inst,
                bool contact_later, std::string_view field) {
    rendered out;
    auto scan = scan_placeholders(text);
    if (!scan.problem.empty()) {
        out.error = api_errc::template_invalid;
        out.details.push_back(detail(field, scan.problem));
        return out;
    }
    json::array unavailable;
    json::array missing;
    std::vector<std::string> missing_names;
    std::size_t last = 0;
    for (const auto& p : scan.items) {
        out.text.append(text.substr(last, p.begin - last));
        last = p.end;
        std::string_view name = p.name;
        if (name.starts_with("contact.")) {
            if (contact_later) {
                out.text.append(text.substr(p.begin, p.end - p.begin));
            } else {
                unavailable.push_back(detail(name, "no contact context: the message goes to a raw number"));
            }
            continue;
        }
        if (name.starts_with("instance.")) {
            const auto field_name = name.substr(9);
            if (inst == nullptr) {
                unavailable.push_back(detail(name, "no instance context: give instanceId"));
            } else if (field_name == "name") {
                out.text.append(inst->name);
            } else if (field_name == "waNumber") {
                out.text.append(inst->wa_number);
            } else {
                unavailable.push_back(detail(name, "instances have no such field"));
            }
            continue;
        }
        const std::string* value = lookup_variable(vars, name);
        if (value == nullptr && name.starts_with("custom.")) {
            value = lookup_variable(vars, name.substr(7));
        }
        if (value == nullptr) {
            if (std::find(missing_names.begin(), missing_names.end(), name) == missing_names.end()) {
                missing_names.emplace_back(name);
                missing.push_back(detail("variables." + std::string(name), "not provided"));
            }
            continue;
        }
        out.text.append(*value);
    }
    out.text.append(text.substr(last));
    if (!unavailable.empty()) {
        out.error = api_errc::template_context_unavailable;
        out.details = std::move(unavailable);
    } else if (!missing.empty()) {
        out.error = api_errc::template_variables_missing;
        out.details = std::move(missing);
    }
    return out;
}

// ---------------------------------------------------------------------------------------------- content

// The content of a send or a campaign: exactly one of template mode and direct mode.
struct content {
    bool template_mode = false;
    std::string template_id;
    std::string type;
    std::optional<std::string> body;
    std::optional<std::string> media_url;
    std::optional<std::string> title;
    std::optional<std::string> description;
    std::optional<std::string> footer;
    const json::value* buttons = nullptr;
    const json::object* variables_json = nullptr;
    variable_list variables;
};

bool nonempty(const std::optional<std::string>& s) {
    return s && !s->empty();
}

void read_content(const json::object& o, issues& is, content& c) {
    const bool has_template = o.contains("templateId");
    bool direct = false;
    for (auto f : direct_fields) {
        direct = direct || o.contains(f);
    }
    if (has_template && direct) {
        is.add("templateId", "exactly one content mode: templateId, or type with its content, not both");
    } else if (!has_template && !direct) {
        is.add("type", "exactly one content mode is required: templateId, or type with its content");
    }
    if (const auto* vars = find(o, "variables")) {
        if (!vars->is_object()) {
            is.add("variables", "must be an object");
        } else {
            c.variables_json = &vars->get_object();
            for (const auto& kv : vars->get_object()) {
                if (kv.value().is_string()) {
                    c.variables.emplace_back(kv.key(), kv.value().get_string());
                } else if (kv.value().is_number()) {
                    c.variables.emplace_back(kv.key(), number_text(kv.value()));
                } else {
                    is.add("variables." + std::string(kv.key()), "must be a string or a number");
                }
            }
        }
    }
    if (has_template) {
        c.template_mode = !direct;
        auto id = string_field(o, "templateId", is);
        if (id && !is_uuid(*id)) {
            is.add("templateId", "must be a UUID");
        }
        c.template_id = id.value_or("");
    }
    if (!direct) {
        return;
    }
    auto type = string_field(o, "type", is);
    c.body = string_field(o, "body", is);
    c.media_url = string_field(o, "mediaUrl", is);
    c.title = string_field(o, "title", is);
    c.description = string_field(o, "description", is);
    c.footer = string_field(o, "footer", is);
    c.buttons = find(o, "buttons");
    if (!o.contains("type")) {
        is.add("type", "required in direct mode; one of " + list_of(message_types));
        return;
    }
    if (!type) {
        return;
    }
    if (!one_of(*type, message_types)) {
        is.add("type", "must be one of " + list_of(message_types));
        return;
    }
    c.type = *type;
    if (c.type == "text" && !nonempty(c.body)) {
        is.add("body", "required for type text");
    }
    if (one_of(c.type, media_types)) {
        if (!nonempty(c.media_url)) {
            is.add("mediaUrl", "required for type " + c.type);
        } else if (!c.media_url->starts_with("https://") && !c.media_url->starts_with("http://")) {
            is.add("mediaUrl", "must be an http(s) URL");
        }
    }
    if (c.type == "buttons") {
        if (!nonempty(c.title)) {
            is.add("title", "required for type buttons");
        }
        if (!nonempty(c.description)) {
            is.add("description", "required for type buttons");
        }
        // docs: campaigns-create.txt, "List of buttons (max 2)".
        if (c.buttons == nullptr || !c.buttons->is_array() || c.buttons->get_array().empty() ||
            c.buttons->get_array().size() > 2) {
            is.add("buttons", "required for type buttons: an array of 1 or 2 buttons");
        } else {
            const auto& arr = c.buttons->get_array();
            for (std::size_t i = 0; i < arr.size(); ++i) {
                const bool ok = (arr[i].is_string() && !arr[i].get_string().empty()) ||
                                (arr[i].is_object() && !arr[i].get_object().empty());
                if (!ok) {
                    is.add("buttons[" + std::to_string(i) + "]", "must be a non-empty string or object");
                }
            }
        }
    } else if (c.buttons != nullptr) {
        is.add("buttons", "only for type buttons");
    }
}

// The duplicate detector's view of a send: the same instance, number and content.
std::uint64_t send_fingerprint(std::string_view instance_id, std::string_view to, const content& c) {
    std::string key;
    auto add = [&](std::string_view part) {
        key.append(part);
        key.push_back('\x1f');
    };
    add(instance_id);
    add(to);
    add(c.type);
    add(c.body.value_or("\x01"));
    add(c.media_url.value_or("\x01"));
    add(c.template_id);
    add(c.title.value_or("\x01"));
    add(c.description.value_or("\x01"));
    add(c.footer.value_or("\x01"));
    add(c.buttons != nullptr ? json::serialize(*c.buttons) : std::string("\x01"));
    auto vars = c.variables;
    std::sort(vars.begin(), vars.end());
    for (const auto& [k, v] : vars) {
        add(k);
        add(v);
    }
    return fnv1a(key);
}

// ---------------------------------------------------------------------------------------------- routing

struct path_segments {
    std::array<std::string_view, 4> s{};
    std::size_t n = 0;
    bool too_long = false;
};

path_segments split_path(std::string_view rest) {
    path_segments out;
    while (true) {
        const auto slash = rest.find('/');
        if (out.n == out.s.size()) {
            out.too_long = true;
            return out;
        }
        out.s[out.n++] = rest.substr(0, slash);
        if (slash == std::string_view::npos) {
            return out;
        }
        rest.remove_prefix(slash + 1);
    }
}

enum class route {
    unknown,
    instances_list,
    instance_get,
    instance_state,
    instance_health,
    messages_send,
    messages_schedule,
    messages_list,
    message_get,
    campaign_create,
    campaign_get,
    campaign_stats,
    campaign_pause,
    campaign_resume,
    templates_list,
    template_get,
    template_preview,
    usage,
    me,
    billing_subscription,
    billing_usage,
    billing_payments,
};

struct matched_route {
    route r = route::unknown;
    std::string_view id;
};

matched_route match(std::string_view method, const path_segments& p) {
    if (p.too_long) {
        return {};
    }
    const bool get = method == "GET";
    const bool post = method == "POST";
    const auto& s = p.s;
    if (s[0] == "instances") {
        if (p.n == 1 && get) {
            return {route::instances_list, {}};
        }
        if (p.n == 2 && get) {
            return {route::instance_get, s[1]};
        }
        if (p.n == 3 && get && s[2] == "state") {
            return {route::instance_state, s[1]};
        }
        if (p.n == 3 && get && s[2] == "health") {
            return {route::instance_health, s[1]};
        }
    } else if (s[0] == "messages") {
        if (p.n == 1 && get) {
            return {route::messages_list, {}};
        }
        if (p.n == 2 && post && s[1] == "send") {
            return {route::messages_send, {}};
        }
        if (p.n == 2 && post && s[1] == "schedule") {
            return {route::messages_schedule, {}};
        }
        if (p.n == 2 && get) {
            return {route::message_get, s[1]};
        }
    } else if (s[0] == "campaigns") {
        if (p.n == 1 && post) {
            return {route::campaign_create, {}};
        }
        if (p.n == 2 && get) {
            return {route::campaign_get, s[1]};
        }
        if (p.n == 3 && get && s[2] == "stats") {
            return {route::campaign_stats, s[1]};
        }
        if (p.n == 3 && post && s[2] == "pause") {
            return {route::campaign_pause, s[1]};
        }
        if (p.n == 3 && post && s[2] == "resume") {
            return {route::campaign_resume, s[1]};
        }
    } else if (s[0] == "templates") {
        if (p.n == 1 && get) {
            return {route::templates_list, {}};
        }
        if (p.n == 2 && get) {
            return {route::template_get, s[1]};
        }
        if (p.n == 3 && post && s[2] == "preview") {
            return {route::template_preview, s[1]};
        }
    } else if (p.n == 1 && get && s[0] == "usage") {
        return {route::usage, {}};
    } else if (p.n == 1 && get && s[0] == "me") {
        return {route::me, {}};
    } else if (p.n == 2 && get && s[0] == "billing") {
        if (s[1] == "subscription") {
            return {route::billing_subscription, {}};
        }
        if (s[1] == "usage") {
            return {route::billing_usage, {}};
        }
        if (s[1] == "payments") {
            return {route::billing_payments, {}};
        }
    }
    return {};
}

// docs: error-codes.txt, TEAM_KEY_NOT_ALLOWED: "/me, /usage, /billing/subscription, /billing/usage,
// /billing/payments" — by path, whatever the method.
bool personal_only(const path_segments& p) {
    if (p.too_long) {
        return false;
    }
    if (p.n == 1) {
        return p.s[0] == "me" || p.s[0] == "usage";
    }
    return p.n == 2 && p.s[0] == "billing" &&
           (p.s[1] == "subscription" || p.s[1] == "usage" || p.s[1] == "payments");
}

// ---------------------------------------------------------------------------------------------- faults

enum class fault_kind {
    none,
    provider_timeout,
    provider_unavailable,
    provider_error,
    internal_error,
    service_unavailable,
    ambiguous,
    slow,
    garbage,
    wrong_content_type,
    huge_body,
};

// The names the control API's "script" takes, in the order the random draw walks the probabilities.
constexpr std::array<std::pair<std::string_view, fault_kind>, 11> fault_names{{
    {"PROVIDER_TIMEOUT", fault_kind::provider_timeout},
    {"PROVIDER_UNAVAILABLE", fault_kind::provider_unavailable},
    {"PROVIDER_ERROR", fault_kind::provider_error},
    {"INTERNAL_ERROR", fault_kind::internal_error},
    {"SERVICE_UNAVAILABLE", fault_kind::service_unavailable},
    {"ambiguous", fault_kind::ambiguous},
    {"slow", fault_kind::slow},
    {"garbage", fault_kind::garbage},
    {"wrong_content_type", fault_kind::wrong_content_type},
    {"huge_body", fault_kind::huge_body},
    {"none", fault_kind::none},
}};

std::string_view fault_name(fault_kind k) {
    for (const auto& [name, kind] : fault_names) {
        if (kind == k) {
            return name;
        }
    }
    return "none";
}

std::array<double, 10> fault_probabilities(const fault_config& f) {
    return {f.provider_timeout,
            f.provider_unavailable,
            f.provider_error,
            f.internal_error,
            f.service_unavailable,
            f.ambiguous,
            f.slow,
            f.garbage,
            f.wrong_content_type,
            f.huge_body};
}

// The fault knobs by their TOML names (the control API uses the same names).
struct probability_field {
    std::string_view name;
    double fault_config::*member;
};
constexpr std::array<probability_field, 11> probability_fields{{
    {"provider_timeout", &fault_config::provider_timeout},
    {"provider_unavailable", &fault_config::provider_unavailable},
    {"provider_error", &fault_config::provider_error},
    {"internal_error", &fault_config::internal_error},
    {"service_unavailable", &fault_config::service_unavailable},
    {"ambiguous", &fault_config::ambiguous},
    {"slow", &fault_config::slow},
    {"garbage", &fault_config::garbage},
    {"wrong_content_type", &fault_config::wrong_content_type},
    {"huge_body", &fault_config::huge_body},
    {"reset", &fault_config::reset},
}};
struct duration_field {
    std::string_view name;
    milliseconds fault_config::*member;
};
constexpr std::array<duration_field, 5> duration_fields{{
    {"latency_min", &fault_config::latency_min},
    {"latency_max", &fault_config::latency_max},
    {"jitter_min", &fault_config::jitter_min},
    {"jitter_max", &fault_config::jitter_max},
    {"slow_chunk_interval", &fault_config::slow_chunk_interval},
}};

// A control-API duration: "250ms" or an integer of milliseconds.
std::optional<milliseconds> control_duration(const json::value& v) {
    if (v.is_string()) {
        return parse_duration(v.get_string());
    }
    if (v.is_int64() && v.get_int64() >= 0) {
        return milliseconds(v.get_int64());
    }
    if (v.is_uint64()) {
        return milliseconds(static_cast<std::int64_t>(v.get_uint64()));
    }
    return std::nullopt;
}

std::optional<std::uint64_t> control_uint(const json::value& v) {
    if (v.is_int64() && v.get_int64() >= 0) {
        return static_cast<std::uint64_t>(v.get_int64());
    }
    if (v.is_uint64()) {
        return v.get_uint64();
    }
    return std::nullopt;
}

// ---------------------------------------------------------------------------------------------- state

struct account_stats {
    std::uint64_t requests = 0;
    std::uint64_t rate_limited = 0;
    std::uint64_t max_window = 0;
    std::uint64_t accepted_sends = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t unauthorized = 0;
    std::uint64_t faults = 0;
};

struct account_state {
    account_config cfg;
    bool team = false;
    std::deque<steady_time> limiter;  // the arrivals the limiter counts, oldest first
    std::deque<steady_time> recent;   // every counted arrival within one window, for maxWindow
    std::optional<int> quota_period;  // month_period::index that quota_used belongs to
    std::uint64_t sends_this_period = 0;
    account_stats stats;
    std::unordered_set<std::uint64_t> fingerprints;
    std::vector<std::uint32_t> messages;   // indexes into impl::messages, oldest first
    std::vector<std::uint32_t> instances;  // indexes into impl::instances
    std::string instances_body;            // cached GET /instances answer; empty when stale
};

struct instance_state {
    instance_config cfg;
    std::uint32_t account = 0;
    wall_time created;
    wall_time updated;
    std::deque<steady_time> sends;  // accepted sends within the last 24 h, for usageWindowSummary
};

struct template_state {
    template_config cfg;
    std::uint32_t account = 0;
};

struct message_record {
    std::string id;
    std::uint32_t account = 0;
    std::uint32_t instance = 0;
    std::string to;
    std::string type;
    std::optional<std::string> body;  // rendered
    std::optional<std::string> media_url;
    std::optional<std::uint32_t> template_index;
    std::string variables;  // serialized JSON object; empty when none were given
    wall_time created;
    wall_time start_wall;  // when the delivery steps begin: acceptance, or sendAt
    steady_time start;
    bool scheduled = false;
    bool fails = false;
};

struct campaign_record {
    std::string id;
    std::uint32_t account = 0;
    std::uint32_t instance = 0;
    std::string name;
    wall_time schedule;
    wall_time created;
    std::string repeat;
    std::uint64_t recipients = 0;
    std::uint64_t failed = 0;
    bool warn = false;
    std::vector<std::string> reasons;
    steady_time start;
    bool paused = false;
    steady_time paused_at;
    steady_duration paused_total{0};
};

struct parsed_body {
    bool present = false;
    bool json_type = false;
    bool valid = false;
    json::value value;
};

}  // namespace

struct world::impl {
    mutable std::mutex mutex;
    limit_config limits;
    fault_config faults;
    delivery_config delivery;
    std::vector<account_state> accounts;
    std::vector<instance_state> instances;
    string_map<std::uint32_t> instance_index;
    std::vector<template_state> templates;
    string_map<std::uint32_t> template_index;
    std::vector<message_record> messages;
    string_map<std::uint32_t> message_index;
    std::vector<campaign_record> campaigns;
    string_map<std::uint32_t> campaign_index;
    std::deque<fault_kind> script;
    std::uint64_t reset_next = 0;
    std::uint64_t connections = 0;
    std::uint64_t open_connections = 0;  // a gauge: reset-stats leaves it alone
    std::uint64_t idle_closed = 0;
    std::uint64_t tls_handshakes = 0;
    std::uint64_t unauthenticated = 0;
    // One generator per purpose, all from faults.seed: turning on latency does not change message ids.
    std::mt19937_64 ids_rng;
    std::mt19937_64 delivery_rng;
    std::mt19937_64 fault_rng;
    std::mt19937_64 latency_rng;
    std::mt19937_64 network_rng;
    std::string rate_limited_body;

    explicit impl(sim_config cfg)
        : limits(std::move(cfg.limits)), faults(cfg.faults), delivery(cfg.delivery) {
        reseed();
        rate_limited_body = error_body(api_error(api_errc::api_rate_limit_exceeded).code,
                                       api_error(api_errc::api_rate_limit_exceeded).message, {});
        const auto epoch = parse_iso(instance_created_at).value_or(wall_time{});
        for (auto& a : cfg.accounts) {
            account_state s;
            s.team = a.key.starts_with("msgf_team_");
            s.cfg = std::move(a);
            accounts.push_back(std::move(s));
        }
        for (auto& i : cfg.instances) {
            const auto owner = account_named(i.account);
            if (!owner) {
                throw std::invalid_argument("msgflash-sim: instance " + i.id + " names unknown account " +
                                            i.account);
            }
            instance_state s;
            s.account = *owner;
            s.created = epoch;
            s.updated = epoch;
            s.cfg = std::move(i);
            const auto index = static_cast<std::uint32_t>(instances.size());
            instance_index.emplace(s.cfg.id, index);
            accounts[*owner].instances.push_back(index);
            instances.push_back(std::move(s));
        }
        for (auto& t : cfg.templates) {
            const auto owner = account_named(t.account);
            if (!owner) {
                throw std::invalid_argument("msgflash-sim: template " + t.id + " names unknown account " +
                                            t.account);
            }
            template_index.emplace(t.id, static_cast<std::uint32_t>(templates.size()));
            templates.push_back({std::move(t), *owner});
        }
    }

    void reseed() {
        auto seeded = [&](std::uint32_t stream) {
            std::seed_seq seq{static_cast<std::uint32_t>(faults.seed),
                              static_cast<std::uint32_t>(faults.seed >> 32), stream};
            return std::mt19937_64(seq);
        };
        ids_rng = seeded(1);
        delivery_rng = seeded(2);
        fault_rng = seeded(3);
        latency_rng = seeded(4);
        network_rng = seeded(5);
    }

    std::optional<std::uint32_t> account_named(std::string_view name) const {
        for (std::size_t i = 0; i < accounts.size(); ++i) {
            if (accounts[i].cfg.name == name) {
                return static_cast<std::uint32_t>(i);
            }
        }
        return std::nullopt;
    }

    account_state* account_with_key(std::string_view key) {
        for (auto& a : accounts) {
            if (a.cfg.key == key) {
                return &a;
            }
        }
        return nullptr;
    }

    // The account's instance with this id, or nullptr (another account's instance is "not found").
    instance_state* own_instance(std::uint32_t account, std::string_view id) {
        const auto it = instance_index.find(id);
        if (it == instance_index.end() || instances[it->second].account != account) {
            return nullptr;
        }
        return &instances[it->second];
    }

    const template_state* own_template(std::uint32_t account, std::string_view id) const {
        const auto it = template_index.find(id);
        if (it == template_index.end() || templates[it->second].account != account) {
            return nullptr;
        }
        return &templates[it->second];
    }

    std::uint32_t index_of(const account_state& a) const {
        return static_cast<std::uint32_t>(&a - accounts.data());
    }

    std::chrono::milliseconds draw_latency() {
        if (faults.latency_max <= faults.latency_min) {
            return faults.latency_min;
        }
        return milliseconds(uniform_int(latency_rng, faults.latency_min.count(), faults.latency_max.count()));
    }

    // ---------------------------------------------------------------------------------- sliding windows

    static void insert_sorted(std::deque<steady_time>& d, steady_time t) {
        if (d.empty() || d.back() <= t) {
            d.push_back(t);
        } else {
            d.insert(std::upper_bound(d.begin(), d.end(), t), t);
        }
    }

    // A window is half-open: an arrival exactly `window` before `now` has left it.
    static void expire(std::deque<steady_time>& d, steady_time now, steady_duration window) {
        while (!d.empty() && d.front() <= now - window) {
            d.pop_front();
        }
    }

    // nullopt: accepted; else the 429 answer.
    std::optional<response> rate_limit(account_state& a, steady_time arrival, wall_time wall) {
        const steady_duration window = limits.window;
        insert_sorted(a.recent, arrival);
        expire(a.recent, a.recent.back(), window);
        a.stats.max_window = std::max<std::uint64_t>(a.stats.max_window, a.recent.size());
        if (!limits.enabled) {
            return std::nullopt;
        }
        expire(a.limiter, arrival, window);
        if (a.limiter.size() < a.cfg.rate) {
            insert_sorted(a.limiter, arrival);
            return std::nullopt;
        }
        // The request would pass once enough of the counted arrivals have left the window.
        const auto frees_at = a.limiter[a.limiter.size() - a.cfg.rate] + window;
        if (limits.count_rejected) {
            insert_sorted(a.limiter, arrival);
        }
        ++a.stats.rate_limited;
        response r;
        r.status = api_error(api_errc::api_rate_limit_exceeded).http_status;
        r.body = rate_limited_body;
        const auto wait_ms = std::chrono::ceil<milliseconds>(frees_at - arrival).count();
        const auto wait_s = std::max<std::int64_t>(1, (wait_ms + 999) / 1000);
        if (limits.retry_after == "seconds") {
            r.retry_after = std::to_string(wait_s);
        } else if (limits.retry_after == "date") {
            r.retry_after = format_http_date(wall + std::chrono::seconds(wait_s));
        }
        return r;
    }

    void roll_quota_period(account_state& a, wall_time wall) {
        const int period = period_of(wall).index;
        if (!a.quota_period) {
            a.quota_period = period;  // the configured quota_used belongs to the first period seen
        } else if (period > *a.quota_period) {
            a.quota_period = period;
            a.cfg.quota_used = 0;
            a.sends_this_period = 0;
        }
    }

    fault_kind next_fault() {
        if (!script.empty()) {
            const auto k = script.front();
            script.pop_front();
            return k;
        }
        const auto probs = fault_probabilities(faults);
        double total = 0;
        for (double p : probs) {
            total += p;
        }
        if (total <= 0) {
            return fault_kind::none;
        }
        const double x = uniform01(fault_rng);
        double acc = 0;
        for (std::size_t i = 0; i < probs.size(); ++i) {
            acc += probs[i];
            if (x < acc) {
                return fault_names[i].second;
            }
        }
        return fault_kind::none;
    }

    // ---------------------------------------------------------------------------------- the API

    struct call {
        const request& req;
        steady_time arrival;
        wall_time wall;
        account_state& acct;
        std::uint32_t acct_index;
        const parsed_body& body;
        std::string_view query;
    };

    response api(const request& req, const path_segments& path, std::string_view query,
                 const parsed_body& body, steady_time arrival, wall_time wall) {
        // docs: api-overview.txt, "All requests to /api/v1/* require a MsgFlash API key".
        account_state* acct = req.api_key ? account_with_key(*req.api_key) : nullptr;
        if (acct == nullptr) {
            ++unauthenticated;
            return make_error(api_errc::unauthorized);
        }
        ++acct->stats.requests;
        if (acct->cfg.revoked) {
            insert_sorted(acct->recent, arrival);
            expire(acct->recent, acct->recent.back(), limits.window);
            acct->stats.max_window = std::max<std::uint64_t>(acct->stats.max_window, acct->recent.size());
            ++acct->stats.unauthorized;
            return make_error(api_errc::unauthorized);
        }
        if (auto limited = rate_limit(*acct, arrival, wall)) {
            return std::move(*limited);
        }
        roll_quota_period(*acct, wall);
        if (acct->cfg.quota_used >= acct->cfg.monthly_quota) {
            return make_error(api_errc::monthly_api_request_quota_exceeded);
        }
        ++acct->cfg.quota_used;

        const bool eligible = req.method != "GET" || faults.on_reads;
        const fault_kind fault = eligible ? next_fault() : fault_kind::none;
        if (fault != fault_kind::none) {
            ++acct->stats.faults;
        }
        switch (fault) {
            case fault_kind::provider_timeout:
                return make_error(api_errc::provider_timeout);
            case fault_kind::provider_unavailable:
                return make_error(api_errc::provider_unavailable);
            case fault_kind::provider_error:
                return make_error(api_errc::provider_error);
            case fault_kind::internal_error:
                return make_error(api_errc::internal_error);
            case fault_kind::service_unavailable: {
                response r;
                r.status = service_unavailable_status;
                r.body = error_body(service_unavailable_code, service_unavailable_message, {});
                return r;
            }
            default:
                break;
        }

        call c{req, arrival, wall, *acct, index_of(*acct), body, query};
        response r = route_call(c, path);

        switch (fault) {
            case fault_kind::ambiguous:
                r.mode = delivery_mode::close_without_answer;
                break;
            case fault_kind::slow:
                r.mode = delivery_mode::trickle;
                break;
            case fault_kind::garbage:
                r.status = 200;
                r.body = garbage_body;
                break;
            case fault_kind::wrong_content_type:
                r.content_type = "text/html";
                break;
            case fault_kind::huge_body:
                pad(r.body, faults.huge_body_bytes);
                break;
            default:
                break;
        }
        return r;
    }

    // Grows a JSON object body to about `size` bytes with a "padding" member; still valid JSON.
    static void pad(std::string& body, std::size_t size) {
        static constexpr std::string_view member = R"(,"padding":"")";
        if (body.empty() || body.back() != '}') {
            return;
        }
        const std::size_t fill = size > body.size() + member.size() ? size - body.size() - member.size() : 0;
        body.pop_back();
        body.reserve(body.size() + member.size() + fill + 1);
        body.append(R"(,"padding":")");
        body.append(fill, 'x');
        body.append("\"}");
    }

    response route_call(call& c, const path_segments& path) {
        // Team rules (docs: error-codes.txt, "Teams & workspaces"; order: simulator.md).
        if (!c.acct.team) {
            if (c.req.team_id) {
                return make_error(api_errc::team_key_required);
            }
        } else {
            if (personal_only(path)) {
                return make_error(api_errc::team_key_not_allowed);
            }
            if (!c.req.team_id || !iequals(*c.req.team_id, c.acct.cfg.team_id)) {
                return make_error(api_errc::team_not_found);
            }
        }
        const auto m = match(c.req.method, path);
        if (m.r == route::unknown) {
            return make_error(api_errc::not_found, "Route not found");
        }
        // Routes that take query parameters say so; elsewhere a query is refused.
        if (!c.query.empty() && m.r != route::messages_list) {
            return make_error(api_errc::validation_error, {},
                              json::array{detail("query", "this route takes no query parameters")});
        }
        switch (m.r) {
            case route::instances_list:
                return list_instances(c);
            case route::instance_get:
                return get_instance(c, m.id);
            case route::instance_state:
                return instance_state_of(c, m.id);
            case route::instance_health:
                return instance_health(c, m.id);
            case route::messages_send:
                return send(c, false);
            case route::messages_schedule:
                return send(c, true);
            case route::messages_list:
                return list_messages(c);
            case route::message_get:
                return get_message(c, m.id);
            case route::campaign_create:
                return create_campaign(c);
            case route::campaign_get:
                return get_campaign(c, m.id);
            case route::campaign_stats:
                return campaign_stats(c, m.id);
            case route::campaign_pause:
                return pause_campaign(c, m.id, true);
            case route::campaign_resume:
                return pause_campaign(c, m.id, false);
            case route::templates_list:
                return list_templates(c);
            case route::template_get:
                return get_template(c, m.id);
            case route::template_preview:
                return preview_template(c, m.id);
            case route::usage:
                return usage(c);
            case route::me:
                return make_data(
                    json::object{{"name", c.acct.cfg.name}, {"plan", c.acct.cfg.plan}, {"type", "personal"}});
            case route::billing_subscription:
                return billing_subscription(c);
            case route::billing_usage:
                return billing_usage(c);
            case route::billing_payments:
                return make_data(json::array{});
            case route::unknown:
                break;
        }
        return make_error(api_errc::not_found, "Route not found");
    }

    // A POST body that must be a JSON object: nullptr and `error` set otherwise.
    static const json::object* body_object(const call& c, response& error) {
        if (!c.body.json_type) {
            error = make_error(api_errc::bad_request, "Content-Type must be application/json");
            return nullptr;
        }
        if (!c.body.present || !c.body.valid) {
            error = make_error(api_errc::bad_request, "The request body is not valid JSON");
            return nullptr;
        }
        if (!c.body.value.is_object()) {
            error = make_error(api_errc::validation_error, {},
                               json::array{detail("body", "the request body must be a JSON object")});
            return nullptr;
        }
        return &c.body.value.get_object();
    }

    // ---------------------------------------------------------------------------------- instances

    static std::string_view provider_state(std::string_view status) {
        if (status == "connected") {
            return "open";
        }
        if (status == "connecting") {
            return "connecting";
        }
        return "close";
    }

    response list_instances(call& c) {
        auto& a = c.acct;
        if (a.instances_body.empty()) {
            json::array list;
            for (auto idx : a.instances) {
                const auto& i = instances[idx];
                list.push_back(json::object{{"id", i.cfg.id},
                                            {"name", i.cfg.name},
                                            {"waNumber", i.cfg.wa_number},
                                            {"status", i.cfg.status},
                                            {"webhook", nullptr},
                                            {"meta", nullptr},
                                            {"deletedAt", nullptr},
                                            {"createdAt", format_iso(i.created)},
                                            {"updatedAt", format_iso(i.updated)}});
            }
            a.instances_body = json::serialize(json::object{{"data", std::move(list)}});
        }
        response r;
        r.body = a.instances_body;
        return r;
    }

    response get_instance(call& c, std::string_view id) {
        const auto* i = own_instance(c.acct_index, id);
        if (i == nullptr) {
            return make_error(api_errc::not_found, "Instance not found");
        }
        // docs: instances.txt, "Instance details" shows exactly these fields.
        return make_data(json::object{{"id", i->cfg.id},
                                      {"name", i->cfg.name},
                                      {"waNumber", i->cfg.wa_number},
                                      {"status", i->cfg.status},
                                      {"createdAt", format_iso(i->created)},
                                      {"updatedAt", format_iso(i->updated)}});
    }

    response instance_state_of(call& c, std::string_view id) {
        const auto* i = own_instance(c.acct_index, id);
        if (i == nullptr) {
            return make_error(api_errc::not_found, "Instance not found");
        }
        return make_data(json::object{{"instanceId", i->cfg.id},
                                      {"status", i->cfg.status},
                                      {"providerState", provider_state(i->cfg.status)}});
    }

    json::object health_document(instance_state& i, steady_time now) {
        expire(i.sends, now, day);
        const auto count_since = [&](steady_duration span) {
            return static_cast<std::uint64_t>(i.sends.end() -
                                              std::upper_bound(i.sends.begin(), i.sends.end(), now - span));
        };
        json::object h;
        h["safetyState"] = "healthy";
        h["safetyScore"] = 100;
        h["warmupPolicy"] = nullptr;
        h["usageWindowSummary"] = json::object{{"lastMinute", count_since(minute)},
                                               {"lastHour", count_since(hour)},
                                               {"last24h", count_since(day)}};
        h["recommendations"] = json::array{};
        for (const auto& kv : i.cfg.health) {
            h[kv.key()] = kv.value();
        }
        return h;
    }

    response instance_health(call& c, std::string_view id) {
        auto* i = own_instance(c.acct_index, id);
        if (i == nullptr) {
            return make_error(api_errc::not_found, "Instance not found");
        }
        return make_data(health_document(*i, c.arrival));
    }

    // ---------------------------------------------------------------------------------- messages

    static constexpr std::array<std::string_view, 11> send_fields{
        "instanceId", "to",    "templateId",  "variables", "type",   "body",
        "mediaUrl",   "title", "description", "footer",    "buttons"};
    static constexpr std::array<std::string_view, 12> schedule_fields{
        "instanceId", "to",    "templateId",  "variables", "type",    "body",
        "mediaUrl",   "title", "description", "footer",    "buttons", "sendAt"};

    static instance_context context_of(const instance_state& i) { return {i.cfg.name, i.cfg.wa_number}; }

    // Template and placeholder checks shared by sends, previews and campaigns; the text on success.
    std::variant<std::string, response> resolve_content(const call& c, const content& ct,
                                                        const instance_state* inst, bool contact_later) {
        const auto context = inst != nullptr ? std::optional(context_of(*inst)) : std::nullopt;
        const instance_context* ctx = context ? &*context : nullptr;
        if (ct.template_mode) {
            const auto* tpl = own_template(c.acct_index, ct.template_id);
            if (tpl == nullptr) {
                return make_error(api_errc::not_found, "Template not found");
            }
            if (!tpl->cfg.valid) {
                return make_error(api_errc::template_invalid, {},
                                  json::array{detail("templateId", "the template is marked invalid")});
            }
            auto out = render(tpl->cfg.body, ct.variables, ctx, contact_later, "templateId");
            if (out.error) {
                return make_error(*out.error, {}, std::move(out.details));
            }
            return std::move(out.text);
        }
        if (!ct.body) {
            return std::string{};
        }
        auto out = render(*ct.body, ct.variables, ctx, contact_later, "body");
        if (out.error) {
            return make_error(*out.error, {}, std::move(out.details));
        }
        return std::move(out.text);
    }

    response send(call& c, bool schedule) {
        if (!c.acct.cfg.subscription_active) {
            return make_error(api_errc::subscription_inactive);
        }
        response error;
        const auto* o = body_object(c, error);
        if (o == nullptr) {
            return error;
        }
        issues is;
        if (schedule) {
            reject_unknown(*o, schedule_fields, is);
        } else {
            reject_unknown(*o, send_fields, is);
        }
        const auto instance_id = string_field(*o, "instanceId", is);
        if (!o->contains("instanceId")) {
            is.add("instanceId", "required");
        } else if (instance_id && !is_uuid(*instance_id)) {
            is.add("instanceId", "must be a UUID");
        }
        const auto to = string_field(*o, "to", is);
        if (!o->contains("to")) {
            is.add("to", "required");
        }
        content ct;
        read_content(*o, is, ct);
        std::optional<wall_time> send_at;
        if (schedule) {
            const auto text = string_field(*o, "sendAt", is);
            if (!o->contains("sendAt")) {
                is.add("sendAt", "required: an ISO 8601 date-time with an offset");
            } else if (text) {
                send_at = parse_iso(*text);
                if (!send_at) {
                    is.add("sendAt",
                           "must be an ISO 8601 date-time with an offset, e.g. 2026-11-27T08:00:00+01:00");
                } else if (*send_at <= c.wall) {
                    is.add("sendAt", "must be in the future");
                }
            }
        }
        if (!is.empty()) {
            return is.answer();
        }
        auto* inst = own_instance(c.acct_index, *instance_id);
        if (inst == nullptr) {
            return make_error(api_errc::not_found, "Instance not found");
        }
        if (!is_e164(*to)) {
            return make_error(api_errc::invalid_destination, {},
                              json::array{detail("to", "must be E.164: + then 8 to 15 digits")});
        }
        if (ct.type == "buttons" && !c.acct.cfg.business) {
            return make_error(api_errc::unsupported_feature, "Buttons need a WhatsApp Business account");
        }
        auto resolved = resolve_content(c, ct, inst, false);
        if (auto* r = std::get_if<response>(&resolved)) {
            return std::move(*r);
        }
        // Assumption (simulator.md): the provider cannot send through a number that is not connected.
        if (inst->cfg.status != "connected") {
            return make_error(api_errc::provider_unavailable, "Instance is not connected");
        }

        message_record m;
        m.id = make_uuid(ids_rng);
        m.account = c.acct_index;
        m.instance = instance_index.find(inst->cfg.id)->second;
        m.to = *to;
        m.type = ct.template_mode ? "text" : ct.type;
        if (ct.template_mode || ct.body) {
            m.body = std::move(std::get<std::string>(resolved));
        }
        m.media_url = ct.media_url;
        if (ct.template_mode) {
            m.template_index = template_index.find(ct.template_id)->second;
        }
        if (ct.variables_json != nullptr) {
            m.variables = json::serialize(*ct.variables_json);
        }
        m.created = c.wall;
        m.scheduled = schedule;
        m.start_wall = schedule ? *send_at : c.wall;
        m.start = c.arrival + std::chrono::duration_cast<steady_duration>(m.start_wall - c.wall);
        m.fails = uniform01(delivery_rng) < delivery.failed_share;

        if (!c.acct.fingerprints.insert(send_fingerprint(inst->cfg.id, m.to, ct)).second) {
            ++c.acct.stats.duplicates;
        }
        ++c.acct.stats.accepted_sends;
        ++c.acct.sends_this_period;
        insert_sorted(inst->sends, c.arrival);
        expire(inst->sends, inst->sends.back(), day);

        const auto index = static_cast<std::uint32_t>(messages.size());
        message_index.emplace(m.id, index);
        c.acct.messages.push_back(index);
        json::object data{{"id", m.id}, {"status", schedule ? "scheduled" : "queued"}};
        messages.push_back(std::move(m));
        return make_data(std::move(data), send_success_status);
    }

    // Steps taken since the message's delivery began; -1 before (scheduled).
    std::int64_t steps_at(steady_time start, steady_time now) const {
        if (now < start) {
            return -1;
        }
        return (now - start) / std::chrono::duration_cast<steady_duration>(delivery.step);
    }

    static std::string_view status_for(std::int64_t steps, bool fails) {
        if (steps < 0) {
            return "scheduled";
        }
        if (steps < sent_step) {
            return "queued";
        }
        if (steps < delivered_step) {
            return "sent";
        }
        if (fails) {
            return "failed";
        }
        return steps < read_step ? "delivered" : "read";
    }

    json::object message_json(const message_record& m, steady_time now, bool control) const {
        const auto steps = steps_at(m.start, now);
        json::object o;
        o["id"] = m.id;
        if (control) {
            o["account"] = accounts[m.account].cfg.name;
        }
        o["instanceId"] = instances[m.instance].cfg.id;
        o["to"] = m.to;
        o["type"] = m.type;
        if (control || m.body) {
            o["body"] = m.body ? json::value(*m.body) : json::value(nullptr);
        }
        if (m.media_url) {
            o["mediaUrl"] = *m.media_url;
        }
        if (control || m.template_index) {
            o["templateId"] =
                m.template_index ? json::value(templates[*m.template_index].cfg.id) : json::value(nullptr);
        }
        if (control) {
            o["variables"] = m.variables.empty() ? json::value(nullptr) : json::parse(m.variables);
        }
        o["status"] = status_for(steps, m.fails);
        o["createdAt"] = format_iso(m.created);
        if (m.scheduled) {
            o["sendAt"] = format_iso(m.start_wall);
        }
        const auto at = [&](std::int64_t step) { return format_iso(m.start_wall + step * delivery.step); };
        if (steps >= sent_step) {
            o["sentAt"] = at(sent_step);
        }
        if (steps >= delivered_step) {
            o[m.fails ? "failedAt" : "deliveredAt"] = at(delivered_step);
        }
        if (steps >= read_step && !m.fails) {
            o["readAt"] = at(read_step);
        }
        return o;
    }

    response get_message(call& c, std::string_view id) {
        const auto it = message_index.find(id);
        if (it == message_index.end() || messages[it->second].account != c.acct_index) {
            return make_error(api_errc::not_found, "Message not found");
        }
        return make_data(message_json(messages[it->second], c.arrival, false));
    }

    static std::string encode_cursor(std::uint32_t seq) {
        return base64url_encode("m1:" + std::to_string(seq));
    }

    std::optional<std::uint32_t> decode_cursor(std::string_view cursor, std::uint32_t account) const {
        const auto raw = base64url_decode(cursor);
        if (!raw || !raw->starts_with("m1:") || raw->size() == 3) {
            return std::nullopt;
        }
        std::uint32_t seq = 0;
        const auto* end = raw->data() + raw->size();
        const auto [p, ec] = std::from_chars(raw->data() + 3, end, seq);
        if (ec != std::errc{} || p != end || seq >= messages.size() || messages[seq].account != account) {
            return std::nullopt;
        }
        return seq;
    }

    response list_messages(call& c) {
        const auto params = parse_query(c.query);
        if (!params) {
            return make_error(api_errc::validation_error, {},
                              json::array{detail("query", "bad percent-encoding")});
        }
        issues is;
        std::size_t limit = default_page_limit;
        std::optional<std::uint32_t> cursor;
        std::optional<std::string> status;
        std::optional<std::string> instance_id;
        std::vector<std::string_view> seen;
        for (const auto& [k, v] : *params) {
            if (std::find(seen.begin(), seen.end(), k) != seen.end()) {
                is.add(k, "given more than once");
                continue;
            }
            seen.push_back(k);
            if (k == "limit") {
                std::size_t n = 0;
                const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
                if (v.empty() || ec != std::errc{} || p != v.data() + v.size() || n < 1 ||
                    n > max_page_limit) {
                    is.add("limit", "must be an integer between 1 and " + std::to_string(max_page_limit));
                } else {
                    limit = n;
                }
            } else if (k == "cursor") {
                cursor = decode_cursor(v, c.acct_index);
                if (!cursor) {
                    is.add("cursor", "invalid cursor: pass back nextCursor unchanged");
                }
            } else if (k == "status") {
                if (!one_of(v, message_statuses)) {
                    is.add("status", "must be one of " + list_of(message_statuses));
                }
                status = v;
            } else if (k == "instanceId") {
                if (!is_uuid(v)) {
                    is.add("instanceId", "must be a UUID");
                }
                instance_id = v;
            } else {
                is.add(k, "unknown query parameter");
            }
        }
        if (!is.empty()) {
            return is.answer();
        }
        const auto& seqs = c.acct.messages;
        // Newest first, from just below the cursor: later inserts never shift a page.
        auto pos = cursor ? std::lower_bound(seqs.begin(), seqs.end(), *cursor) - seqs.begin()
                          : static_cast<std::ptrdiff_t>(seqs.size());
        const auto matches = [&](const message_record& m) {
            if (instance_id && instances[m.instance].cfg.id != *instance_id) {
                return false;
            }
            return !status || status_for(steps_at(m.start, c.arrival), m.fails) == *status;
        };
        json::array page;
        std::optional<std::uint32_t> last;
        bool more = false;
        while (pos > 0) {
            --pos;
            const auto seq = seqs[static_cast<std::size_t>(pos)];
            const auto& m = messages[seq];
            if (!matches(m)) {
                continue;
            }
            if (page.size() == limit) {
                more = true;
                break;
            }
            page.push_back(message_json(m, c.arrival, false));
            last = seq;
        }
        json::object data;
        data["messages"] = std::move(page);
        data["nextCursor"] = more ? json::value(encode_cursor(*last)) : json::value(nullptr);
        data["hasMore"] = more;
        return make_data(std::move(data));
    }

    // ---------------------------------------------------------------------------------- campaigns

    static constexpr std::array<std::string_view, 14> campaign_fields{
        "instanceId", "name", "schedule", "repeat", "recipients",  "templateId", "variables",
        "type",       "body", "mediaUrl", "title",  "description", "footer",     "buttons"};
    static constexpr std::array<std::string_view, 3> recipient_fields{"type", "value", "groupId"};

    std::int64_t campaign_steps(const campaign_record& k, steady_time now) const {
        const auto at = k.paused ? std::min(now, k.paused_at) : now;
        return steps_at(k.start + k.paused_total, at);
    }

    std::string_view campaign_status(const campaign_record& k, steady_time now) const {
        if (k.paused) {
            return "paused";
        }
        const auto steps = campaign_steps(k, now);
        if (steps < 0) {
            return "scheduled";
        }
        // A repeating campaign never ends; a one-off one ends when its last recipient has read.
        return steps >= read_step && k.repeat == "none" ? "completed" : "running";
    }

    json::object campaign_json(const campaign_record& k, steady_time now) const {
        json::array reasons;
        for (const auto& r : k.reasons) {
            reasons.emplace_back(r);
        }
        return json::object{
            {"id", k.id},
            {"name", k.name},
            {"status", campaign_status(k, now)},
            {"instanceId", instances[k.instance].cfg.id},
            {"schedule", format_iso(k.schedule)},
            {"repeat", k.repeat},
            {"recipientCount", k.recipients},
            {"safety", json::object{{"decision", k.warn ? "warn" : "allow"}, {"reasons", reasons}}},
            {"createdAt", format_iso(k.created)}};
    }

    response create_campaign(call& c) {
        if (!c.acct.cfg.subscription_active) {
            return make_error(api_errc::subscription_inactive);
        }
        if (!c.acct.cfg.campaigns) {
            return make_error(api_errc::campaigns_not_available_on_plan);
        }
        response error;
        const auto* o = body_object(c, error);
        if (o == nullptr) {
            return error;
        }
        issues is;
        reject_unknown(*o, campaign_fields, is);
        const auto instance_id = string_field(*o, "instanceId", is);
        if (!o->contains("instanceId")) {
            is.add("instanceId", "required");
        } else if (instance_id && !is_uuid(*instance_id)) {
            is.add("instanceId", "must be a UUID");
        }
        const auto name = string_field(*o, "name", is);
        if (!o->contains("name") || (name && name->empty())) {
            is.add("name", "required");
        }
        std::optional<wall_time> schedule;
        const auto schedule_text = string_field(*o, "schedule", is);
        if (!o->contains("schedule")) {
            is.add("schedule", "required: an ISO 8601 date-time with an offset");
        } else if (schedule_text) {
            schedule = parse_iso(*schedule_text);
            if (!schedule) {
                is.add("schedule",
                       "must be an ISO 8601 date-time with an offset, e.g. 2026-11-27T08:00:00+01:00");
            }
        }
        auto repeat = string_field(*o, "repeat", is);
        if (repeat && !one_of(*repeat, repeat_values)) {
            is.add("repeat", "must be one of " + list_of(repeat_values));
        }
        std::uint64_t recipients = 0;
        const auto* rec = find(*o, "recipients");
        if (rec == nullptr) {
            is.add("recipients", "required");
        } else if (!rec->is_object()) {
            is.add("recipients", "must be an object");
        } else {
            const auto& r = rec->get_object();
            reject_unknown(r, recipient_fields, is, "recipients.");
            const auto type = string_field(r, "type", is, "recipients.");
            if (!r.contains("type")) {
                is.add("recipients.type", "required: one of " + list_of(recipient_types));
            } else if (type && !one_of(*type, recipient_types)) {
                is.add("recipients.type", "must be one of " + list_of(recipient_types));
            }
            const auto* value = find(r, "value");
            std::size_t values = 0;
            if (value != nullptr) {
                if (!value->is_array()) {
                    is.add("recipients.value", "must be an array of strings");
                } else {
                    for (const auto& v : value->get_array()) {
                        if (!v.is_string() || v.get_string().empty()) {
                            is.add("recipients.value", "must be an array of non-empty strings");
                            break;
                        }
                    }
                    values = value->get_array().size();
                }
            }
            if (type && (*type == "tags" || *type == "explicit") && values == 0) {
                is.add("recipients.value", "required and non-empty for type " + *type);
            }
            const auto group = string_field(r, "groupId", is, "recipients.");
            if (group && !is_uuid(*group)) {
                is.add("recipients.groupId", "must be a UUID");
            }
            if (type && *type == "group" && !r.contains("groupId")) {
                is.add("recipients.groupId", "required for type group");
            }
            recipients = type && *type == "explicit" ? values : synthetic_audience;
        }
        content ct;
        read_content(*o, is, ct);
        if (!is.empty()) {
            return is.answer();
        }
        auto* inst = own_instance(c.acct_index, *instance_id);
        if (inst == nullptr) {
            return make_error(api_errc::not_found, "Instance not found");
        }
        if (ct.type == "buttons" && !c.acct.cfg.business) {
            return make_error(api_errc::unsupported_feature, "Buttons need a WhatsApp Business account");
        }
        auto resolved = resolve_content(c, ct, inst, true);
        if (auto* r = std::get_if<response>(&resolved)) {
            return std::move(*r);
        }

        campaign_record k;
        k.id = make_uuid(ids_rng);
        k.account = c.acct_index;
        k.instance = instance_index.find(inst->cfg.id)->second;
        k.name = *name;
        k.schedule = *schedule;
        k.created = c.wall;
        k.repeat = repeat.value_or("none");
        k.recipients = recipients;
        for (std::uint64_t i = 0; i < recipients; ++i) {
            k.failed += uniform01(delivery_rng) < delivery.failed_share ? 1 : 0;
        }
        const auto health = health_document(*inst, c.arrival);
        const auto* state = health.if_contains("safetyState");
        if (state != nullptr && state->is_string() && state->get_string() != "healthy") {
            k.reasons.push_back("instance safetyState is " + std::string(state->get_string()));
        }
        if (inst->cfg.status != "connected") {
            k.reasons.push_back("instance is " + inst->cfg.status);
        }
        k.warn = !k.reasons.empty();
        k.start = c.arrival + std::chrono::duration_cast<steady_duration>(k.schedule - c.wall);
        const auto index = static_cast<std::uint32_t>(campaigns.size());
        campaign_index.emplace(k.id, index);
        auto data = campaign_json(k, c.arrival);
        campaigns.push_back(std::move(k));
        return make_data(std::move(data), campaign_created_status);
    }

    campaign_record* own_campaign(std::uint32_t account, std::string_view id) {
        const auto it = campaign_index.find(id);
        if (it == campaign_index.end() || campaigns[it->second].account != account) {
            return nullptr;
        }
        return &campaigns[it->second];
    }

    response get_campaign(call& c, std::string_view id) {
        const auto* k = own_campaign(c.acct_index, id);
        if (k == nullptr) {
            return make_error(api_errc::not_found, "Campaign not found");
        }
        return make_data(campaign_json(*k, c.arrival));
    }

    response campaign_stats(call& c, std::string_view id) {
        const auto* k = own_campaign(c.acct_index, id);
        if (k == nullptr) {
            return make_error(api_errc::not_found, "Campaign not found");
        }
        // Every recipient is one step of the same ladder as a message; counts are current states.
        const auto steps = campaign_steps(*k, c.arrival);
        std::uint64_t pending = 0;
        std::uint64_t sent = 0;
        std::uint64_t delivered = 0;
        std::uint64_t read = 0;
        std::uint64_t failed = 0;
        if (steps < sent_step) {
            pending = k->recipients;
        } else if (steps < delivered_step) {
            sent = k->recipients;
        } else {
            failed = k->failed;
            (steps < read_step ? delivered : read) = k->recipients - k->failed;
        }
        return make_data(json::object{{"campaignId", k->id},
                                      {"total", k->recipients},
                                      {"pending", pending},
                                      {"sent", sent},
                                      {"delivered", delivered},
                                      {"read", read},
                                      {"failed", failed}});
    }

    response pause_campaign(call& c, std::string_view id, bool pause) {
        auto* k = own_campaign(c.acct_index, id);
        if (k == nullptr) {
            return make_error(api_errc::not_found, "Campaign not found");
        }
        const auto status = campaign_status(*k, c.arrival);
        if (pause) {
            if (status != "running" && status != "scheduled") {
                return make_error(api_errc::conflict, "Campaign is " + std::string(status) + ", not running");
            }
            k->paused = true;
            k->paused_at = c.arrival;
        } else {
            if (status != "paused") {
                return make_error(api_errc::conflict, "Campaign is " + std::string(status) + ", not paused");
            }
            k->paused = false;
            // Only the paused time after the start delays the campaign.
            const auto from = std::max(k->paused_at, k->start + k->paused_total);
            if (c.arrival > from) {
                k->paused_total += c.arrival - from;
            }
        }
        return make_data(campaign_json(*k, c.arrival));
    }

    // ---------------------------------------------------------------------------------- templates

    static json::object template_json(const template_state& t) {
        json::array vars;
        for (auto& n : placeholder_names(t.cfg.body)) {
            vars.emplace_back(n);
        }
        return json::object{{"id", t.cfg.id},
                            {"name", t.cfg.name},
                            {"body", t.cfg.body},
                            {"variables", std::move(vars)},
                            {"status", t.cfg.valid ? "approved" : "invalid"}};
    }

    response list_templates(call& c) {
        json::array list;
        for (const auto& t : templates) {
            if (t.account == c.acct_index) {
                list.push_back(template_json(t));
            }
        }
        return make_data(std::move(list));
    }

    response get_template(call& c, std::string_view id) {
        const auto* t = own_template(c.acct_index, id);
        if (t == nullptr) {
            return make_error(api_errc::not_found, "Template not found");
        }
        return make_data(template_json(*t));
    }

    response preview_template(call& c, std::string_view id) {
        response error;
        const auto* o = body_object(c, error);
        if (o == nullptr) {
            return error;
        }
        static constexpr std::array<std::string_view, 2> preview_fields{"variables", "instanceId"};
        issues is;
        reject_unknown(*o, preview_fields, is);
        content ct;
        ct.template_mode = true;
        ct.template_id = std::string(id);
        if (const auto* vars = find(*o, "variables")) {
            if (!vars->is_object()) {
                is.add("variables", "must be an object");
            } else {
                for (const auto& kv : vars->get_object()) {
                    if (kv.value().is_string()) {
                        ct.variables.emplace_back(kv.key(), kv.value().get_string());
                    } else if (kv.value().is_number()) {
                        ct.variables.emplace_back(kv.key(), number_text(kv.value()));
                    } else {
                        is.add("variables." + std::string(kv.key()), "must be a string or a number");
                    }
                }
            }
        }
        const auto instance_id = string_field(*o, "instanceId", is);
        if (instance_id && !is_uuid(*instance_id)) {
            is.add("instanceId", "must be a UUID");
        }
        if (!is.empty()) {
            return is.answer();
        }
        const instance_state* inst = nullptr;
        if (instance_id) {
            inst = own_instance(c.acct_index, *instance_id);
            if (inst == nullptr) {
                return make_error(api_errc::not_found, "Instance not found");
            }
        }
        auto resolved = resolve_content(c, ct, inst, false);
        if (auto* r = std::get_if<response>(&resolved)) {
            return std::move(*r);
        }
        return make_data(json::object{{"templateId", own_template(c.acct_index, id)->cfg.id},
                                      {"rendered", std::move(std::get<std::string>(resolved))}});
    }

    // ---------------------------------------------------------------------------------- billing

    static json::object period_json(const month_period& p) {
        return json::object{{"start", format_iso(p.start)}, {"end", format_iso(p.end)}};
    }

    response usage(call& c) {
        const auto& a = c.acct.cfg;
        const auto remaining = a.monthly_quota > a.quota_used ? a.monthly_quota - a.quota_used : 0;
        return make_data(json::object{
            {"plan", a.plan},
            {"period", period_json(period_of(c.wall))},
            {"apiRequests",
             json::object{{"used", a.quota_used}, {"limit", a.monthly_quota}, {"remaining", remaining}}},
            {"messages", json::object{{"sent", c.acct.sends_this_period}}}});
    }

    response billing_subscription(call& c) {
        const auto p = period_of(c.wall);
        return make_data(json::object{{"plan", c.acct.cfg.plan},
                                      {"status", c.acct.cfg.subscription_active ? "active" : "inactive"},
                                      {"currentPeriodStart", format_iso(p.start)},
                                      {"currentPeriodEnd", format_iso(p.end)},
                                      {"cancelAtPeriodEnd", false}});
    }

    response billing_usage(call& c) {
        const auto& a = c.acct.cfg;
        return make_data(json::object{
            {"period", period_json(period_of(c.wall))},
            {"usage", json::object{{"apiRequests", a.quota_used},
                                   {"messagesSent", c.acct.sends_this_period},
                                   {"instances", c.acct.instances.size()}}},
            {"limits", json::object{{"monthlyApiRequestQuota", a.monthly_quota},
                                    {"instances", plan_instance_limit(a.plan)}}},
            {"features", json::object{{"campaigns", a.campaigns}, {"whatsappBusiness", a.business}}}});
    }

    // ---------------------------------------------------------------------------------- control API

    json::object stats_json() const {
        json::object per_account;
        for (const auto& a : accounts) {
            const auto& s = a.stats;
            per_account[a.cfg.name] =
                json::object{{"requests", s.requests},         {"rateLimited", s.rate_limited},
                             {"maxWindow", s.max_window},      {"acceptedSends", s.accepted_sends},
                             {"duplicates", s.duplicates},     {"quotaUsed", a.cfg.quota_used},
                             {"unauthorized", s.unauthorized}, {"faults", s.faults}};
        }
        return json::object{{"connections", connections},         {"openConnections", open_connections},
                            {"idleClosed", idle_closed},          {"tlsHandshakes", tls_handshakes},
                            {"unauthenticated", unauthenticated}, {"accounts", std::move(per_account)}};
    }

    json::object faults_json() const {
        json::object o;
        o["seed"] = faults.seed;
        for (const auto& f : probability_fields) {
            o[f.name] = faults.*f.member;
        }
        o["on_reads"] = faults.on_reads;
        for (const auto& f : duration_fields) {
            o[f.name] = format_duration(faults.*f.member);
        }
        o["slow_chunk_bytes"] = faults.slow_chunk_bytes;
        o["huge_body_bytes"] = faults.huge_body_bytes;
        json::array s;
        for (auto k : script) {
            s.emplace_back(fault_name(k));
        }
        o["script"] = std::move(s);
        o["reset_next"] = reset_next;
        return o;
    }

    json::object limits_json() const {
        return json::object{{"enabled", limits.enabled},
                            {"window", format_duration(limits.window)},
                            {"retry_after", limits.retry_after},
                            {"count_rejected", limits.count_rejected}};
    }

    json::object account_json(const account_state& a) const {
        return json::object{{"name", a.cfg.name},
                            {"plan", a.cfg.plan},
                            {"revoked", a.cfg.revoked},
                            {"monthly_quota", a.cfg.monthly_quota},
                            {"quota_used", a.cfg.quota_used},
                            {"rate", a.cfg.rate},
                            {"business", a.cfg.business},
                            {"campaigns", a.cfg.campaigns},
                            {"subscription_active", a.cfg.subscription_active}};
    }

    response control(const request& req, std::string_view path, std::string_view query,
                     const parsed_body& body, steady_time arrival, wall_time wall) {
        if (!req.from_loopback) {
            return make_error(api_errc::forbidden, "The control API answers loopback clients only");
        }
        const auto segs = split_path(path.substr(std::string_view("/_sim/").size()));
        const bool get = req.method == "GET";
        const bool post = req.method == "POST";
        if (!query.empty() && !(get && segs.n == 1 && segs.s[0] == "messages")) {
            return make_error(api_errc::validation_error, {},
                              json::array{detail("query", "this route takes no query parameters")});
        }
        if (segs.too_long) {
            return make_error(api_errc::not_found, "Route not found");
        }
        if (get && segs.n == 1 && segs.s[0] == "stats") {
            return make_raw(stats_json());
        }
        if (get && segs.n == 1 && segs.s[0] == "faults") {
            return make_raw(faults_json());
        }
        if (get && segs.n == 1 && segs.s[0] == "limits") {
            return make_raw(limits_json());
        }
        if (get && segs.n == 1 && segs.s[0] == "messages") {
            return control_messages(query, arrival);
        }
        if (post && segs.n == 1 && segs.s[0] == "reset-stats") {
            reset_stats();
            return make_raw(stats_json());
        }
        const bool known = post && ((segs.n == 2 && (segs.s[0] == "instances" || segs.s[0] == "accounts")) ||
                                    (segs.n == 1 && (segs.s[0] == "faults" || segs.s[0] == "limits")));
        if (!known) {
            return make_error(api_errc::not_found, "Route not found");
        }
        if (!body.present || !body.valid) {
            return make_error(api_errc::bad_request, "The request body is not valid JSON");
        }
        if (!body.value.is_object()) {
            return make_error(api_errc::validation_error, {},
                              json::array{detail("body", "the request body must be a JSON object")});
        }
        const auto& o = body.value.get_object();
        if (segs.s[0] == "instances") {
            return control_instance(segs.s[1], o, wall);
        }
        if (segs.s[0] == "accounts") {
            return control_account(segs.s[1], o);
        }
        if (segs.s[0] == "faults") {
            return control_faults(o);
        }
        return control_limits(o);
    }

    response control_messages(std::string_view query, steady_time arrival) {
        const auto params = parse_query(query);
        if (!params) {
            return make_error(api_errc::validation_error, {},
                              json::array{detail("query", "bad percent-encoding")});
        }
        std::optional<std::uint32_t> only;
        for (const auto& [k, v] : *params) {
            if (k != "account") {
                return make_error(api_errc::validation_error, {},
                                  json::array{detail(k, "unknown query parameter")});
            }
            only = account_named(v);
            if (!only) {
                return make_error(api_errc::not_found, "Unknown account");
            }
        }
        json::array list;
        for (const auto& m : messages) {
            if (!only || m.account == *only) {
                list.push_back(message_json(m, arrival, true));
            }
        }
        return make_raw(json::object{{"messages", std::move(list)}});
    }

    void reset_stats() {
        for (auto& a : accounts) {
            a.stats = {};
            a.recent.clear();
            a.fingerprints.clear();
        }
        connections = 0;
        idle_closed = 0;
        tls_handshakes = 0;
        unauthenticated = 0;
    }

    response control_instance(std::string_view id, const json::object& o, wall_time wall) {
        const auto it = instance_index.find(id);
        if (it == instance_index.end()) {
            return make_error(api_errc::not_found, "Instance not found");
        }
        auto& inst = instances[it->second];
        static constexpr std::array<std::string_view, 2> fields{"status", "health"};
        issues is;
        reject_unknown(o, fields, is);
        const auto status = string_field(o, "status", is);
        if (status && !one_of(*status, instance_statuses)) {
            is.add("status", "must be one of " + list_of(instance_statuses));
        }
        const auto* health = find(o, "health");
        if (health != nullptr && !health->is_object()) {
            is.add("health", "must be an object");
        }
        if (!is.empty()) {
            return is.answer();
        }
        if (status && *status != inst.cfg.status) {
            inst.cfg.status = *status;
            inst.updated = wall;
            accounts[inst.account].instances_body.clear();
        }
        if (health != nullptr) {
            for (const auto& kv : health->get_object()) {
                inst.cfg.health[kv.key()] = kv.value();
            }
        }
        return make_raw(
            json::object{{"id", inst.cfg.id}, {"status", inst.cfg.status}, {"health", inst.cfg.health}});
    }

    response control_account(std::string_view name, const json::object& o) {
        const auto index = account_named(name);
        if (!index) {
            return make_error(api_errc::not_found, "Unknown account");
        }
        auto& a = accounts[*index];
        auto next = a.cfg;
        issues is;
        for (const auto& kv : o) {
            const auto k = kv.key();
            const auto& v = kv.value();
            auto flag = [&](bool& out) {
                if (!v.is_bool()) {
                    is.add(k, "must be a boolean");
                } else {
                    out = v.get_bool();
                }
            };
            auto count = [&](std::uint64_t& out, std::uint64_t min) {
                const auto n = control_uint(v);
                if (!n || *n < min) {
                    is.add(k, "must be an integer, at least " + std::to_string(min));
                } else {
                    out = *n;
                }
            };
            if (k == "revoked") {
                flag(next.revoked);
            } else if (k == "business") {
                flag(next.business);
            } else if (k == "campaigns") {
                flag(next.campaigns);
            } else if (k == "subscription_active") {
                flag(next.subscription_active);
            } else if (k == "monthly_quota") {
                count(next.monthly_quota, 0);
            } else if (k == "quota_used") {
                count(next.quota_used, 0);
            } else if (k == "rate") {
                std::uint64_t rate = 0;
                count(rate, 1);
                next.rate = static_cast<unsigned>(std::min<std::uint64_t>(rate, 1'000'000));
            } else if (k == "plan") {
                if (!v.is_string() || !one_of(v.get_string(), plans)) {
                    is.add(k, "must be one of " + list_of(plans));
                } else {
                    next.plan = v.get_string();
                }
            } else {
                is.add(k, "unknown field");
            }
        }
        if (!is.empty()) {
            return is.answer();
        }
        a.cfg = std::move(next);
        return make_raw(account_json(a));
    }

    response control_faults(const json::object& o) {
        auto next = faults;
        std::optional<std::deque<fault_kind>> next_script;
        std::optional<std::uint64_t> next_reset;
        bool reseeding = false;
        issues is;
        for (const auto& kv : o) {
            const auto k = kv.key();
            const auto& v = kv.value();
            bool handled = false;
            for (const auto& f : probability_fields) {
                if (k == f.name) {
                    handled = true;
                    if (!v.is_number() || !(v.to_number<double>() >= 0.0 && v.to_number<double>() <= 1.0)) {
                        is.add(k, "must be a number between 0 and 1");
                    } else {
                        next.*f.member = v.to_number<double>();
                    }
                }
            }
            for (const auto& f : duration_fields) {
                if (k == f.name) {
                    handled = true;
                    const auto d = control_duration(v);
                    if (!d) {
                        is.add(k, "must be a duration such as \"250ms\" or an integer of milliseconds");
                    } else {
                        next.*f.member = *d;
                    }
                }
            }
            if (handled) {
                continue;
            }
            if (k == "seed") {
                const auto n = control_uint(v);
                if (!n) {
                    is.add(k, "must be a non-negative integer");
                } else {
                    next.seed = *n;
                    reseeding = true;
                }
            } else if (k == "on_reads") {
                if (!v.is_bool()) {
                    is.add(k, "must be a boolean");
                } else {
                    next.on_reads = v.get_bool();
                }
            } else if (k == "slow_chunk_bytes" || k == "huge_body_bytes") {
                const auto n = control_uint(v);
                if (!n || *n < 1) {
                    is.add(k, "must be an integer, at least 1");
                } else {
                    (k == "slow_chunk_bytes" ? next.slow_chunk_bytes : next.huge_body_bytes) = *n;
                }
            } else if (k == "reset_next") {
                next_reset = control_uint(v);
                if (!next_reset) {
                    is.add(k, "must be a non-negative integer");
                }
            } else if (k == "script") {
                if (!v.is_array()) {
                    is.add(k, "must be an array of fault names");
                    continue;
                }
                next_script.emplace();
                for (std::size_t i = 0; i < v.get_array().size(); ++i) {
                    const auto& item = v.get_array()[i];
                    const auto named = std::find_if(
                        fault_names.begin(), fault_names.end(),
                        [&](const auto& f) { return item.is_string() && item.get_string() == f.first; });
                    if (named == fault_names.end()) {
                        std::string names;
                        for (const auto& f : fault_names) {
                            names += names.empty() ? "" : ", ";
                            names += f.first;
                        }
                        is.add("script[" + std::to_string(i) + "]", "must be one of " + names);
                    } else {
                        next_script->push_back(named->second);
                    }
                }
            } else {
                is.add(k, "unknown field");
            }
        }
        double sum = 0;
        for (double p : fault_probabilities(next)) {
            sum += p;
        }
        if (sum > 1.0 + 1e-9) {
            is.add("faults", "the fault probabilities sum to more than 1");
        }
        if (next.latency_min > next.latency_max) {
            is.add("latency_min", "must not exceed latency_max");
        }
        if (next.jitter_min > next.jitter_max) {
            is.add("jitter_min", "must not exceed jitter_max");
        }
        if (!is.empty()) {
            return is.answer();
        }
        faults = next;
        if (reseeding) {
            reseed();
        }
        if (next_script) {
            script = std::move(*next_script);
        }
        if (next_reset) {
            reset_next = *next_reset;
        }
        return make_raw(faults_json());
    }

    response control_limits(const json::object& o) {
        auto next = limits;
        issues is;
        for (const auto& kv : o) {
            const auto k = kv.key();
            const auto& v = kv.value();
            if (k == "enabled" || k == "count_rejected") {
                if (!v.is_bool()) {
                    is.add(k, "must be a boolean");
                } else {
                    (k == "enabled" ? next.enabled : next.count_rejected) = v.get_bool();
                }
            } else if (k == "retry_after") {
                if (!v.is_string() || !one_of(v.get_string(), retry_after_modes)) {
                    is.add(k, "must be one of " + list_of(retry_after_modes));
                } else {
                    next.retry_after = v.get_string();
                }
            } else if (k == "window") {
                const auto d = control_duration(v);
                if (!d || d->count() <= 0) {
                    is.add(k, "must be a positive duration such as \"1s\" or an integer of milliseconds");
                } else {
                    next.window = *d;
                }
            } else {
                is.add(k, "unknown field");
            }
        }
        if (!is.empty()) {
            return is.answer();
        }
        limits = std::move(next);
        return make_raw(limits_json());
    }
};

world::world(sim_config config) : impl_(std::make_unique<impl>(std::move(config))) {}

world::~world() = default;

response world::handle(const request& req, steady_time arrival, wall_time wall) {
    const auto qmark = req.target.find('?');
    const auto path = req.target.substr(0, qmark);
    const auto query = qmark == std::string_view::npos ? std::string_view{} : req.target.substr(qmark + 1);
    const bool control = path.starts_with("/_sim/");
    static constexpr std::string_view api_prefix = "/api/v1/";

    // Parse a body outside the lock: it is pure work, and both server threads share the lock.
    parsed_body body;
    if (req.method == "POST") {
        body.present = !req.body.empty();
        body.json_type = is_json_content_type(req.content_type);
        if (body.present && (body.json_type || control)) {
            boost::system::error_code ec;
            body.value = json::parse(req.body, ec);
            body.valid = !ec;
        }
    }

    std::lock_guard lock(impl_->mutex);
    if (control) {
        return impl_->control(req, path, query, body, arrival, wall);
    }
    response r = path.starts_with(api_prefix)
                     ? impl_->api(req, split_path(path.substr(api_prefix.size())), query, body, arrival, wall)
                     : make_error(api_errc::not_found, "Route not found");
    r.latency = impl_->draw_latency();
    return r;
}

bool world::draw_reset() {
    std::lock_guard lock(impl_->mutex);
    if (impl_->reset_next > 0) {
        --impl_->reset_next;
        return true;
    }
    return impl_->faults.reset > 0 && uniform01(impl_->network_rng) < impl_->faults.reset;
}

std::chrono::milliseconds world::draw_arrival_jitter() {
    std::lock_guard lock(impl_->mutex);
    const auto& f = impl_->faults;
    if (f.jitter_max <= f.jitter_min) {
        return f.jitter_min;
    }
    return milliseconds(uniform_int(impl_->network_rng, f.jitter_min.count(), f.jitter_max.count()));
}

fault_config world::faults() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->faults;
}

void world::note_connection_opened() {
    std::lock_guard lock(impl_->mutex);
    ++impl_->connections;
    ++impl_->open_connections;
}

void world::note_connection_closed(bool idle) {
    std::lock_guard lock(impl_->mutex);
    if (impl_->open_connections > 0) {
        --impl_->open_connections;
    }
    if (idle) {
        ++impl_->idle_closed;
    }
}

void world::note_tls_handshake() {
    std::lock_guard lock(impl_->mutex);
    ++impl_->tls_handshakes;
}

boost::json::object world::stats() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->stats_json();
}

}  // namespace msgflash::sim
