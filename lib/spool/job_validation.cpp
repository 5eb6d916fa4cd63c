#include "spool/job_validation.hpp"

#include <algorithm>
#include <array>
#include <charconv>

#include <boost/json/serialize.hpp>
#include <date/date.h>

#include "config/config.hpp"
#include "core/sending_window.hpp"

namespace msgflash::spool {

namespace json = boost::json;

namespace {

using enum problem_code;

// SPEC §3 / docs campaigns-create.txt: the message types, and those that carry a mediaUrl.
constexpr std::array<std::string_view, 7> message_types{"text",     "image",      "video",  "audio",
                                                        "document", "voice_note", "buttons"};
constexpr std::array<std::string_view, 5> media_types{"image", "video", "audio", "document", "voice_note"};
// The fields that put a message in direct mode (docs: campaigns-create.txt, "type + contenu direct").
constexpr std::array<std::string_view, 7> direct_fields{"type",        "body",   "mediaUrl", "title",
                                                        "description", "footer", "buttons"};
// docs: campaigns-create.txt, "buttons: List of buttons (max 2)"; SPEC §3 "1–2 buttons".
constexpr std::size_t max_buttons = 2;
// E.164: at most 15 digits; SPEC §3 asks for at least 8.
constexpr std::size_t min_e164_digits = 8;
constexpr std::size_t max_e164_digits = 15;
constexpr std::array<std::string_view, 3> window_fields{"from", "to", "tz"};

std::string cat(std::string_view a, std::string_view b) {
    std::string s;
    s.reserve(a.size() + b.size());
    s.append(a).append(b);
    return s;
}

std::string_view kind_name(const json::value& v) noexcept {
    switch (v.kind()) {
        case json::kind::null:
            return "null";
        case json::kind::bool_:
            return "a boolean";
        case json::kind::int64:
        case json::kind::uint64:
        case json::kind::double_:
            return "a number";
        case json::kind::string:
            return "a string";
        case json::kind::array:
            return "an array";
        case json::kind::object:
            return "an object";
    }
    return "a value";
}

// A string field, or nullptr (absent, or WRONG_TYPE reported).
const json::string* string_field(const json::object& o, std::string_view key, std::string_view path,
                                 std::uint64_t line, problem_list& problems) {
    const auto* v = find_field(o, key);
    if (v == nullptr) {
        return nullptr;
    }
    if (!v->is_string()) {
        problems.add(line, cat(path, key), wrong_type, "must be a string, not " + std::string(kind_name(*v)));
        return nullptr;
    }
    return &v->get_string();
}

bool nonempty(const json::string* s) noexcept {
    return s != nullptr && !s->empty();
}

bool printable_id(std::string_view id) noexcept {
    return !id.empty() && id.size() <= max_id_bytes &&
           std::none_of(id.begin(), id.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; });
}

bool is_http_url(std::string_view url) noexcept {
    const auto rest = url.starts_with("https://")  ? url.substr(8)
                      : url.starts_with("http://") ? url.substr(7)
                                                   : std::string_view{};
    return !rest.empty() && rest.front() != '/' && std::none_of(url.begin(), url.end(), [](char c) {
        return c == ' ' || static_cast<unsigned char>(c) < 0x20;
    });
}

bool valid_placeholder_name(std::string_view name) noexcept {
    bool segment_start = true;
    for (char c : name) {
        const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
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
    return !name.empty() && !segment_start;
}

std::string_view trim(std::string_view s) noexcept {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
        s.remove_prefix(1);
    }
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) {
        s.remove_suffix(1);
    }
    return s;
}

// Splits a direct-mode body into text and variables. {{instance.*}} is the API's to fill (it knows the
// number); everything else comes from the variables. False on a malformed placeholder.
bool split_body(std::string_view body, std::vector<body_piece>& out, std::string& error) {
    std::size_t pos = 0;
    std::string text;
    while (true) {
        const auto open = body.find("{{", pos);
        if (open == std::string_view::npos) {
            break;
        }
        const auto close = body.find("}}", open + 2);
        if (close == std::string_view::npos) {
            error = "unclosed {{ at character " + std::to_string(open + 1);
            return false;
        }
        const auto name = trim(body.substr(open + 2, close - open - 2));
        if (!valid_placeholder_name(name)) {
            error = "invalid placeholder " + std::string(body.substr(open, close + 2 - open)) +
                    " (names are letters, digits and _, dot-separated)";
            return false;
        }
        text.append(body.substr(pos, open - pos));
        if (name.starts_with("instance.")) {
            text.append(body.substr(open, close + 2 - open));
        } else {
            if (!text.empty()) {
                out.push_back({std::move(text), false});
                text.clear();
            }
            out.push_back({std::string(name), true});
        }
        pos = close + 2;
    }
    text.append(body.substr(pos));
    if (!text.empty()) {
        out.push_back({std::move(text), false});
    }
    return true;
}

const json::value* lookup(const json::object* o, std::string_view name) noexcept {
    if (o == nullptr) {
        return nullptr;
    }
    const auto it = o->find(name);
    return it == o->end() ? nullptr : &it->value();
}

void append_variable(std::string& out, const json::value& v) {
    if (v.is_string()) {
        out.append(v.get_string());
    } else if (v.is_int64() || v.is_uint64()) {
        std::array<char, 24> buf{};
        const auto r = v.is_int64() ? std::to_chars(buf.data(), buf.data() + buf.size(), v.get_int64())
                                    : std::to_chars(buf.data(), buf.data() + buf.size(), v.get_uint64());
        out.append(buf.data(), r.ptr);
    } else {
        out.append(json::serialize(v));
    }
}

std::optional<timestamp> time_field(const json::object& o, std::string_view key, const field_lines& lines,
                                    problem_list& problems, bool& ok) {
    const auto* s = string_field(o, key, "", lines.of(key), problems);
    if (s == nullptr) {
        ok = ok && find_field(o, key) == nullptr;
        return std::nullopt;
    }
    auto t = parse_iso8601(*s);
    if (!t) {
        problems.add(lines.of(key), std::string(key), invalid_time,
                     "\"" + std::string(*s) +
                         "\" is not an ISO 8601 date-time with an offset, e.g. 2026-11-27T08:00:00+01:00");
        ok = false;
    }
    return t;
}

void check_instances(const json::object& o, const field_lines& lines, problem_list& problems,
                     batch_spec& spec, bool& ok) {
    const auto* one = find_field(o, "instanceId");
    const auto* many = find_field(o, "instances");
    if (one != nullptr && many != nullptr) {
        problems.add(lines.of("instances"), "instances", instance_conflict,
                     "instanceId and instances are both given: use one of them");
        ok = false;
        return;
    }
    if (one == nullptr && many == nullptr) {
        problems.add(lines.fallback(), "instanceId", missing_field,
                     "required: instanceId (a UUID from GET /api/v1/instances), or instances: [..]");
        ok = false;
        return;
    }
    const auto add = [&](const json::value& v, const std::string& field, std::uint64_t line) {
        auto id = v.is_string() ? normalize_uuid(v.get_string()) : std::nullopt;
        if (!id) {
            problems.add(line, field, invalid_instance_id,
                         v.is_string() ? "\"" + std::string(v.get_string()) +
                                             "\" is not a UUID like 7c9e6679-7425-40de-944b-e07fc1f90ae7"
                                       : "must be a UUID string, not " + std::string(kind_name(v)));
            ok = false;
        } else if (std::find(spec.instance_ids.begin(), spec.instance_ids.end(), *id) ==
                   spec.instance_ids.end()) {
            spec.instance_ids.push_back(std::move(*id));
        }
    };
    if (one != nullptr) {
        add(*one, "instanceId", lines.of("instanceId"));
        return;
    }
    const auto line = lines.of("instances");
    if (!many->is_array() || many->get_array().empty()) {
        problems.add(line, "instances", invalid_instance_id, "must be a non-empty array of instance UUIDs");
        ok = false;
        return;
    }
    const auto& arr = many->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
        add(arr[i], "instances[" + std::to_string(i) + "]", line);
    }
}

void check_window(const json::value& v, std::uint64_t line, problem_list& problems, batch_spec& spec,
                  bool& ok) {
    if (!v.is_object()) {
        problems.add(line, "window", wrong_type, "must be an object {\"from\",\"to\",\"tz\"}");
        ok = false;
        return;
    }
    const auto& w = v.get_object();
    if (check_known_fields(w, window_fields, "window.", field_lines(line), problems) != 0) {
        ok = false;
    }
    sending_window sw;
    std::array<std::string*, 3> slots{&sw.from, &sw.to, &sw.tz};
    for (std::size_t i = 0; i < window_fields.size(); ++i) {
        const auto* s = string_field(w, window_fields[i], "window.", line, problems);
        if (s == nullptr) {
            if (find_field(w, window_fields[i]) == nullptr) {
                problems.add(line, cat("window.", window_fields[i]), missing_field, "required in a window");
            }
            ok = false;
            return;
        }
        *slots[i] = *s;
    }
    auto parsed = parse_window(sw);
    if (!parsed.ok()) {
        problems.add(line, "window." + parsed.field,
                     parsed.field == "tz" ? unknown_time_zone : invalid_window, parsed.error);
        ok = false;
        return;
    }
    spec.window = std::move(sw);
}

void check_priority(const json::value& v, std::uint64_t line, problem_list& problems, batch_spec& spec,
                    bool& ok) {
    const bool in_range = (v.is_int64() && v.get_int64() >= min_priority && v.get_int64() <= max_priority) ||
                          (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(max_priority));
    if (!in_range) {
        problems.add(line, "priority", invalid_priority,
                     "must be an integer from " + std::to_string(min_priority) + " to " +
                         std::to_string(max_priority) + ", not " + json::serialize(v));
        ok = false;
        return;
    }
    spec.priority =
        static_cast<int>(v.is_int64() ? v.get_int64() : static_cast<std::int64_t>(v.get_uint64()));
}

void check_buttons(const json::object& o, std::string_view path, const field_lines& lines,
                   problem_list& problems, bool& ok) {
    for (std::string_view f : {std::string_view("title"), std::string_view("description")}) {
        if (!nonempty(string_field(o, f, path, lines.of(f), problems))) {
            problems.add(lines.of(f), cat(path, f), invalid_buttons, "required (non-empty) for type buttons");
            ok = false;
        }
    }
    const auto* b = find_field(o, "buttons");
    if (b == nullptr || !b->is_array() || b->get_array().empty() || b->get_array().size() > max_buttons) {
        problems.add(lines.of("buttons"), cat(path, "buttons"), invalid_buttons,
                     "required for type buttons: an array of 1 or 2 buttons");
        ok = false;
        return;
    }
    // The docs give no button fields: a button is its label, or an object the API reads (e.g. {id, text}).
    const auto& arr = b->get_array();
    for (std::size_t i = 0; i < arr.size(); ++i) {
        const bool good = (arr[i].is_string() && !arr[i].get_string().empty()) ||
                          (arr[i].is_object() && !arr[i].get_object().empty());
        if (!good) {
            problems.add(lines.of("buttons"), std::string(path) + "buttons[" + std::to_string(i) + "]",
                         invalid_buttons, "a button is a non-empty string (its label) or a non-empty object");
            ok = false;
        }
    }
}

void check_direct(const json::object& o, std::string_view path, const field_lines& lines,
                  problem_list& problems, content_plan& out, bool& ok) {
    const auto* type = string_field(o, "type", path, lines.of("type"), problems);
    const auto* body = string_field(o, "body", path, lines.of("body"), problems);
    const auto* media = string_field(o, "mediaUrl", path, lines.of("mediaUrl"), problems);
    string_field(o, "footer", path, lines.of("footer"), problems);
    if (type == nullptr) {
        if (find_field(o, "type") == nullptr) {
            problems.add(lines.of("type"), cat(path, "type"), missing_field,
                         "required in direct mode: one of " + list_of(message_types));
        }
        ok = false;
        return;
    }
    if (!one_of(*type, message_types)) {
        problems.add(lines.of("type"), cat(path, "type"), invalid_type,
                     "\"" + std::string(*type) + "\" is not one of " + list_of(message_types));
        ok = false;
        return;
    }
    out.type = *type;
    if (out.type == "text" && !nonempty(body)) {
        problems.add(lines.of("body"), cat(path, "body"), missing_body, "required (non-empty) for type text");
        ok = false;
    }
    if (one_of(out.type, media_types)) {
        if (!nonempty(media)) {
            problems.add(lines.of("mediaUrl"), cat(path, "mediaUrl"), missing_media_url,
                         "required for type " + out.type);
            ok = false;
        } else if (!is_http_url(*media)) {
            problems.add(lines.of("mediaUrl"), cat(path, "mediaUrl"), invalid_media_url,
                         "\"" + std::string(*media) + "\" is not an http:// or https:// URL");
            ok = false;
        }
    }
    if (out.type == "buttons") {
        check_buttons(o, path, lines, problems, ok);
    } else {
        for (std::string_view f : {"title", "description", "buttons"}) {
            if (find_field(o, f) != nullptr) {
                problems.add(lines.of(f), cat(path, f), invalid_buttons, "only for type buttons");
                ok = false;
            }
        }
    }
    if (body != nullptr) {
        std::string error;
        if (!split_body(*body, out.body, error)) {
            problems.add(lines.of("body"), cat(path, "body"), template_invalid, error);
            ok = false;
        }
        out.body_has_variables =
            std::any_of(out.body.begin(), out.body.end(), [](const body_piece& p) { return p.variable; });
    }
}

// The direct-mode payload pieces: the message without body and variables (those are rendered per recipient).
void prepare_rendering(const json::object& content, content_plan& out) {
    json::object head;
    for (const auto& kv : content) {
        if (kv.key() != "body" && kv.key() != "variables" && !kv.value().is_null()) {
            head.emplace(kv.key(), kv.value());
        }
    }
    out.rendered_head = json::serialize(head);
    out.rendered_head.pop_back();  // the closing '}': the body goes before it
    if (!out.body_has_variables) {
        std::string body;
        for (const auto& p : out.body) {
            body.append(p.text);
        }
        out.rendered_fixed = out.rendered_head;
        if (find_field(content, "body") != nullptr) {
            out.rendered_fixed.append(head.empty() ? "\"body\":" : ",\"body\":");
            append_json_string(out.rendered_fixed, body);
        }
        out.rendered_fixed.push_back('}');
    }
}

}  // namespace

std::string list_of(std::span<const std::string_view> list) {
    std::string out;
    for (auto v : list) {
        out += out.empty() ? "" : ", ";
        out += v;
    }
    return out;
}

std::optional<timestamp> parse_iso8601(std::string_view s) noexcept {
    // YYYY-MM-DDTHH:MM[:SS[.fraction]](Z|±hh:mm)
    constexpr std::size_t date_time_chars = 16;  // "YYYY-MM-DDTHH:MM"
    constexpr int max_fraction_digits = 9;
    constexpr int millis_digits = 3;
    std::size_t i = 0;
    const auto num = [&](std::size_t digits, int& value) {
        value = 0;
        for (std::size_t k = 0; k < digits; ++k, ++i) {
            if (i >= s.size() || s[i] < '0' || s[i] > '9') {
                return false;
            }
            value = value * 10 + (s[i] - '0');
        }
        return true;
    };
    const auto sep = [&](char c) { return i < s.size() && s[i++] == c; };
    int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0;
    if (s.size() < date_time_chars || !num(4, y) || !sep('-') || !num(2, mo) || !sep('-') || !num(2, d) ||
        i >= s.size() || (s[i] != 'T' && s[i] != 't') || !(++i, num(2, h)) || !sep(':') || !num(2, mi)) {
        return std::nullopt;
    }
    std::int64_t millis = 0;
    if (i < s.size() && s[i] == ':') {
        ++i;
        if (!num(2, sec)) {
            return std::nullopt;
        }
        if (i < s.size() && (s[i] == '.' || s[i] == ',')) {
            ++i;
            int digits = 0;
            while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
                if (digits < millis_digits) {
                    millis = millis * 10 + (s[i] - '0');
                }
                ++digits;
                ++i;
            }
            if (digits == 0 || digits > max_fraction_digits) {
                return std::nullopt;
            }
            for (int k = digits; k < millis_digits; ++k) {
                millis *= 10;
            }
        }
    }
    int offset_minutes = 0;
    if (i < s.size() && (s[i] == 'Z' || s[i] == 'z')) {
        ++i;
    } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
        const int sign = s[i++] == '-' ? -1 : 1;
        int oh = 0, om = 0;
        if (!num(2, oh) || !sep(':') || !num(2, om) || oh > 23 || om > 59) {
            return std::nullopt;
        }
        offset_minutes = sign * (oh * 60 + om);
    } else {
        return std::nullopt;  // no offset
    }
    const date::year_month_day ymd{date::year{y}, date::month{static_cast<unsigned>(mo)},
                                   date::day{static_cast<unsigned>(d)}};
    if (i != s.size() || !ymd.ok() || h > 23 || mi > 59 || sec > 59) {
        return std::nullopt;
    }
    const auto t = date::sys_days{ymd} + std::chrono::hours{h} + std::chrono::minutes{mi - offset_minutes} +
                   std::chrono::seconds{sec} + std::chrono::milliseconds{millis};
    return timestamp{t};
}

bool is_e164(std::string_view to) noexcept {
    if (to.size() < 1 + min_e164_digits || to.size() > 1 + max_e164_digits || to[0] != '+' || to[1] == '0') {
        return false;
    }
    return std::all_of(to.begin() + 1, to.end(), [](char c) { return c >= '0' && c <= '9'; });
}

void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    append_json_chars(out, s);
    out.push_back('"');
}

void append_json_chars(std::string& out, std::string_view s) {
    static constexpr std::string_view hex = "0123456789abcdef";
    // The bytes JSON needs escaped: '"', '\\' and the control characters.
    static constexpr std::array<bool, 256> needs_escape = [] {
        std::array<bool, 256> t{};
        for (std::size_t c = 0; c < 0x20; ++c) {
            t[c] = true;
        }
        t['"'] = t['\\'] = true;
        return t;
    }();
    std::size_t i = 0;
    while (true) {
        const std::size_t run = i;
        while (i < s.size() && !needs_escape[static_cast<unsigned char>(s[i])]) {
            ++i;
        }
        out.append(s.data() + run, i - run);
        if (i == s.size()) {
            break;
        }
        const auto c = static_cast<unsigned char>(s[i++]);
        switch (c) {
            case '"':
                out.append("\\\"");
                break;
            case '\\':
                out.append("\\\\");
                break;
            case '\n':
                out.append("\\n");
                break;
            case '\r':
                out.append("\\r");
                break;
            case '\t':
                out.append("\\t");
                break;
            default:
                out.append("\\u00");
                out.push_back(hex[c >> 4]);
                out.push_back(hex[c & 0xf]);
        }
    }
}

const json::value* find_field(const json::object& o, std::string_view key) noexcept {
    const auto it = o.find(key);
    return it == o.end() || it->value().is_null() ? nullptr : &it->value();
}

void field_lines::add(std::string_view key, std::uint64_t line) {
    lines_.emplace_back(std::string(key), line);
}

std::uint64_t field_lines::of(std::string_view key) const noexcept {
    for (const auto& [k, l] : lines_) {
        if (k == key) {
            return l;
        }
    }
    return fallback_;
}

std::size_t check_known_fields(const json::object& o, std::span<const std::string_view> allowed,
                               std::string_view path, const field_lines& lines, problem_list& problems) {
    std::size_t unknown = 0;
    for (const auto& kv : o) {
        if (std::find(allowed.begin(), allowed.end(), kv.key()) == allowed.end()) {
            problems.add(lines.of(kv.key()), cat(path, kv.key()), unknown_field,
                         "unknown field (known here: " + list_of(allowed) + ")");
            ++unknown;
        }
    }
    return unknown;
}

bool check_account(const json::object& o, const field_lines& lines, const reader_options& options,
                   problem_list& problems, batch_spec& spec) {
    bool ok = true;
    const auto line = lines.of("account");
    const auto* account = string_field(o, "account", "", line, problems);
    if (account != nullptr) {
        if (std::find(options.accounts.begin(), options.accounts.end(), *account) == options.accounts.end()) {
            std::string known;
            for (const auto& a : options.accounts) {
                known += known.empty() ? "" : ", ";
                known += a;
            }
            problems.add(line, "account", unknown_account,
                         "unknown account \"" + std::string(*account) +
                             "\" (configured: " + (known.empty() ? "none" : known) + ")");
            ok = false;
        } else {
            spec.account = *account;
        }
    } else if (find_field(o, "account") != nullptr) {
        ok = false;
    } else if (options.accounts.size() == 1) {
        spec.account = options.accounts.front();
    } else {
        problems.add(line, "account", missing_field,
                     options.accounts.empty() ? "no account is configured"
                                              : "required: several accounts are configured");
        ok = false;
    }
    return ok;
}

bool check_batch_fields(const json::object& o, const field_lines& lines, const reader_options& options,
                        problem_list& problems, batch_spec& spec) {
    bool ok = true;
    if (const auto* id = string_field(o, "batch", "", lines.of("batch"), problems)) {
        if (!printable_id(*id)) {
            problems.add(
                lines.of("batch"), "batch", invalid_batch_id,
                "must be 1 to " + std::to_string(max_id_bytes) + " bytes without control characters");
            ok = false;
        } else {
            spec.id = *id;
        }
    } else if (find_field(o, "batch") != nullptr) {
        ok = false;
    }
    ok = check_account(o, lines, options, problems, spec) && ok;
    check_instances(o, lines, problems, spec, ok);
    spec.send_at = time_field(o, "sendAt", lines, problems, ok);
    spec.expires_at = time_field(o, "expiresAt", lines, problems, ok);
    if (spec.send_at && spec.expires_at && *spec.expires_at <= *spec.send_at) {
        problems.add(lines.of("expiresAt"), "expiresAt", expires_before_send,
                     "must be after sendAt, or every job would expire unsent");
        ok = false;
    }
    if (const auto* w = find_field(o, "window")) {
        check_window(*w, lines.of("window"), problems, spec, ok);
    }
    if (const auto* p = find_field(o, "priority")) {
        check_priority(*p, lines.of("priority"), problems, spec, ok);
    }
    if (const auto* a = find_field(o, "allowDuplicates")) {
        if (!a->is_bool()) {
            problems.add(lines.of("allowDuplicates"), "allowDuplicates", wrong_type,
                         "must be true or false, not " + std::string(kind_name(*a)));
            ok = false;
        } else {
            spec.allow_duplicates = a->get_bool();
        }
    }
    return ok;
}

bool check_variables(const json::value& v, std::string_view path, std::uint64_t line,
                     problem_list& problems) {
    if (!v.is_object()) {
        problems.add(line, cat(path, "variables"), invalid_variables,
                     "must be an object of strings or numbers, not " + std::string(kind_name(v)));
        return false;
    }
    bool ok = true;
    for (const auto& kv : v.get_object()) {
        if (!kv.value().is_string() && !kv.value().is_number()) {
            problems.add(line, cat(path, "variables.") + std::string(kv.key()), invalid_variables,
                         "must be a string or a number, not " + std::string(kind_name(kv.value())));
            ok = false;
        }
    }
    return ok;
}

bool check_content(const json::object& o, std::string_view path, const field_lines& lines,
                   problem_list& problems, content_plan& out) {
    bool ok = true;
    json::object content;
    bool direct = false;
    for (const auto& kv : o) {
        if (std::find(std::begin(content_fields), std::end(content_fields), kv.key()) !=
            std::end(content_fields)) {
            content.emplace(kv.key(), kv.value());
            direct = direct || (one_of(kv.key(), direct_fields) && !kv.value().is_null());
        }
    }
    out.message_json = json::serialize(content);
    const auto* template_id = find_field(o, "templateId");
    if (template_id != nullptr && direct) {
        problems.add(lines.of("templateId"), cat(path, "templateId"), content_conflict,
                     "exactly one content mode: templateId, or type with its content, not both");
        ok = false;
    } else if (template_id == nullptr && !direct) {
        problems.add(
            lines.fallback(), cat(path, "type"), no_content,
            "no content: give templateId, or type (" + list_of(message_types) + ") with its content");
        ok = false;
    }
    if (const auto* vars = find_field(o, "variables")) {
        if (check_variables(*vars, path, lines.of("variables"), problems)) {
            out.variables = vars->get_object();
        } else {
            ok = false;
        }
    }
    if (template_id != nullptr && !direct) {
        out.template_mode = true;
        auto id = template_id->is_string() ? normalize_uuid(template_id->get_string()) : std::nullopt;
        if (!id) {
            problems.add(lines.of("templateId"), cat(path, "templateId"), invalid_template_id,
                         "must be a template UUID (from GET /api/v1/templates)");
            ok = false;
        } else {
            out.template_id = *id;
        }
        out.variables_json = json::serialize(out.variables);
    } else if (direct) {
        check_direct(o, path, lines, problems, out, ok);
        if (ok) {
            prepare_rendering(content, out);
        }
    }
    return ok;
}

bool render_payload(const content_plan& plan, const json::object* recipient_variables, std::string_view path,
                    std::uint64_t line, problem_list& problems, std::string& payload) {
    payload.clear();
    if (plan.template_mode) {
        if (recipient_variables == nullptr || recipient_variables->empty()) {
            payload = plan.variables_json;
            return true;
        }
        json::object merged = plan.variables;
        for (const auto& kv : *recipient_variables) {
            merged[kv.key()] = kv.value();
        }
        payload = json::serialize(merged);
        return true;
    }
    if (!plan.body_has_variables) {
        payload = plan.rendered_fixed;
        return true;
    }
    // Escaping the pieces one by one escapes their concatenation: the body is written straight into place.
    payload.reserve(plan.rendered_head.size() + 64);
    payload.append(plan.rendered_head);
    payload.append(plan.rendered_head.size() > 1 ? ",\"body\":\"" : "\"body\":\"");
    std::string missing;
    std::string number;
    for (const auto& piece : plan.body) {
        if (!piece.variable) {
            append_json_chars(payload, piece.text);
            continue;
        }
        const std::string_view name = piece.text;
        const json::value* v = lookup(recipient_variables, name);
        v = v != nullptr ? v : lookup(&plan.variables, name);
        if (v == nullptr && name.starts_with("custom.")) {
            v = lookup(recipient_variables, name.substr(7));
            v = v != nullptr ? v : lookup(&plan.variables, name.substr(7));
        }
        if (v == nullptr) {
            missing += missing.empty() ? "" : ", ";
            missing.append("{{").append(name).append("}}");
        } else if (v->is_string()) {
            append_json_chars(payload, v->get_string());
        } else {
            number.clear();
            append_variable(number, *v);
            append_json_chars(payload, number);
        }
    }
    if (!missing.empty()) {
        payload.clear();
        problems.add(line, cat(path, "variables"), template_variables_missing,
                     "no value for " + missing + " in the recipient's or the message's variables");
        return false;
    }
    payload.append("\"}");
    return true;
}

bool check_destination(const json::object& o, std::string_view path, std::uint64_t line,
                       problem_list& problems, job_spec& job) {
    bool ok = true;
    const auto* to = string_field(o, "to", path, line, problems);
    if (to == nullptr) {
        if (find_field(o, "to") == nullptr) {
            problems.add(line, cat(path, "to"), missing_field, "required: the recipient's number in E.164");
        }
        ok = false;
    } else if (!is_e164(*to)) {
        problems.add(line, cat(path, "to"), invalid_destination,
                     "\"" + std::string(*to) + "\" is not E.164: + then 8 to 15 digits, e.g. +33612345678");
        ok = false;
    } else {
        job.to.assign(to->data(), to->size());
    }
    const auto* ref_value = find_field(o, "ref");
    if (ref_value == nullptr) {
        job.ref = job.to;
    } else if (!ref_value->is_string() || !printable_id(ref_value->get_string())) {
        problems.add(
            line, cat(path, "ref"), invalid_ref,
            "must be a string of 1 to " + std::to_string(max_id_bytes) + " bytes without control characters");
        ok = false;
    } else {
        const auto& ref = ref_value->get_string();
        job.ref.assign(ref.data(), ref.size());
    }
    return ok;
}

}  // namespace msgflash::spool
