#include "api/api_decode.hpp"

#include <array>
#include <cmath>
#include <limits>
#include <optional>
#include <utility>
#include <vector>

#include <boost/json/monotonic_resource.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "core/retry_after.hpp"

namespace msgflash::api {
namespace {

namespace json = boost::json;

// ---- where a problem is: "data.messages[3].id", built only when there is a problem -------------------

struct path {
    const path* parent = nullptr;
    std::string_view key;  // a member name, or empty for an array index
    std::size_t index = 0;

    path member(std::string_view k) const { return path{this, k, 0}; }
    path element(std::size_t i) const { return path{this, {}, i}; }

    std::string to_string() const {
        std::string out = parent != nullptr ? parent->to_string() : std::string();
        if (!key.empty()) {
            if (!out.empty()) {
                out += '.';
            }
            out += key;
        } else {
            out += '[' + std::to_string(index) + ']';
        }
        return out;
    }
};

// The first shape problem, as "path: what"; reading goes on but only the first is kept.
class reader {
  public:
    bool ok() const { return problem_.empty(); }
    const std::string& problem() const { return problem_; }

    void fail(const path& at, std::string_view what) {
        if (problem_.empty()) {
            problem_ = at.to_string() + ": " + std::string(what);
        }
    }

    const json::object* object(const json::value& v, const path& at) {
        if (const auto* o = v.if_object()) {
            return o;
        }
        fail(at, "expected an object");
        return nullptr;
    }

    const json::array* array(const json::value& v, const path& at) {
        if (const auto* a = v.if_array()) {
            return a;
        }
        fail(at, "expected an array");
        return nullptr;
    }

    // A required, non-null string (non-empty when asked).
    void required(const json::object& o, std::string_view key, const path& at, std::string& out,
                  bool non_empty = false) {
        const auto* v = o.if_contains(key);
        if (v == nullptr || v->is_null()) {
            fail(at.member(key), "required");
            return;
        }
        if (!v->is_string()) {
            fail(at.member(key), "expected a string");
            return;
        }
        if (non_empty && v->get_string().empty()) {
            fail(at.member(key), "must not be empty");
            return;
        }
        out.assign(v->get_string().begin(), v->get_string().end());
    }

    void optional(const json::object& o, std::string_view key, const path& at,
                  std::optional<std::string>& out) {
        const auto* v = o.if_contains(key);
        if (v == nullptr || v->is_null()) {
            return;
        }
        if (!v->is_string()) {
            fail(at.member(key), "expected a string");
            return;
        }
        out.emplace(v->get_string().begin(), v->get_string().end());
    }

    void optional(const json::object& o, std::string_view key, const path& at, std::optional<bool>& out) {
        const auto* v = o.if_contains(key);
        if (v == nullptr || v->is_null()) {
            return;
        }
        if (!v->is_bool()) {
            fail(at.member(key), "expected true or false");
            return;
        }
        out = v->get_bool();
    }

    // A whole number in [0, max]. Integral doubles (5.0) are accepted up to 2^53, where doubles stop being
    // exact.
    std::optional<std::uint64_t> count(const json::value& v, const path& at, std::uint64_t max) {
        constexpr double exact_double_limit = 9007199254740992.0;  // 2^53
        std::optional<std::uint64_t> n;
        if (v.is_uint64()) {
            n = v.get_uint64();
        } else if (v.is_int64() && v.get_int64() >= 0) {
            n = static_cast<std::uint64_t>(v.get_int64());
        } else if (v.is_double()) {
            const double d = v.get_double();
            if (std::isfinite(d) && d >= 0 && d <= exact_double_limit && std::floor(d) == d) {
                n = static_cast<std::uint64_t>(d);
            }
        }
        if (!n || *n > max) {
            fail(at, "expected a whole number from 0 to " + std::to_string(max));
            return std::nullopt;
        }
        return n;
    }

    template <class Int>
    void optional_count(const json::object& o, std::string_view key, const path& at,
                        std::optional<Int>& out) {
        const auto* v = o.if_contains(key);
        if (v == nullptr || v->is_null()) {
            return;
        }
        if (auto n = count(*v, at.member(key), std::numeric_limits<Int>::max())) {
            out = static_cast<Int>(*n);
        }
    }

    // Absent or null reads as 0.
    void count_or_zero(const json::object& o, std::string_view key, const path& at, std::uint64_t& out) {
        std::optional<std::uint64_t> n;
        optional_count(o, key, at, n);
        out = n.value_or(0);
    }

    // A finite number in [lo, hi].
    std::optional<double> number(const json::value& v, const path& at, double lo, double hi) {
        std::optional<double> d;
        if (v.is_number()) {
            d = v.to_number<double>();
        }
        if (!d || !std::isfinite(*d) || *d < lo || *d > hi) {
            fail(at, "expected a number from " + format(lo) + " to " + format(hi));
            return std::nullopt;
        }
        return d;
    }

    void strings(const json::object& o, std::string_view key, const path& at, std::vector<std::string>& out) {
        const auto* v = o.if_contains(key);
        if (v == nullptr || v->is_null()) {
            return;
        }
        const path here = at.member(key);
        const auto* a = array(*v, here);
        if (a == nullptr) {
            return;
        }
        out.reserve(a->size());
        for (std::size_t i = 0; i < a->size(); ++i) {
            if (!(*a)[i].is_string()) {
                fail(here.element(i), "expected a string");
                return;
            }
            const auto& s = (*a)[i].get_string();
            out.emplace_back(s.begin(), s.end());
        }
    }

    // An optional member that must be an object when present and not null.
    const json::object* optional_object(const json::object& o, std::string_view key, const path& at) {
        const auto* v = o.if_contains(key);
        if (v == nullptr || v->is_null()) {
            return nullptr;
        }
        return object(*v, at.member(key));
    }

  private:
    static std::string format(double d) {
        return std::floor(d) == d && std::fabs(d) < 1e15 ? std::to_string(static_cast<long long>(d))
                                                         : std::to_string(d);
    }

    std::string problem_;
};

// ---- one reader per answer type ---------------------------------------------------------------------------

template <class T>
struct shape;

template <>
struct shape<message_ref> {
    static void read(reader& r, const json::value& v, const path& at, message_ref& out) {
        if (const auto* o = r.object(v, at)) {
            r.required(*o, "id", at, out.id, true);
            r.required(*o, "status", at, out.status);
        }
    }
};

template <>
struct shape<message_details> {
    static void read(reader& r, const json::value& v, const path& at, message_details& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        r.required(*o, "id", at, out.id, true);
        r.required(*o, "status", at, out.status);
        r.optional(*o, "instanceId", at, out.instance_id);
        r.optional(*o, "to", at, out.to);
        r.optional(*o, "type", at, out.type);
        r.optional(*o, "body", at, out.body);
        r.optional(*o, "mediaUrl", at, out.media_url);
        r.optional(*o, "templateId", at, out.template_id);
        r.optional(*o, "createdAt", at, out.created_at);
        r.optional(*o, "sendAt", at, out.send_at);
        r.optional(*o, "sentAt", at, out.sent_at);
        r.optional(*o, "deliveredAt", at, out.delivered_at);
        r.optional(*o, "readAt", at, out.read_at);
        r.optional(*o, "failedAt", at, out.failed_at);
    }
};

// A JSON array of T.
template <class T>
struct shape<std::vector<T>> {
    static void read(reader& r, const json::value& v, const path& at, std::vector<T>& out) {
        const auto* a = r.array(v, at);
        if (a == nullptr) {
            return;
        }
        out.resize(a->size());
        for (std::size_t i = 0; i < a->size() && r.ok(); ++i) {
            shape<T>::read(r, (*a)[i], at.element(i), out[i]);
        }
    }
};

template <>
struct shape<message_page> {
    static void read(reader& r, const json::value& v, const path& at, message_page& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        const auto* messages = o->if_contains("messages");
        if (messages == nullptr || messages->is_null()) {
            r.fail(at.member("messages"), "required");
            return;
        }
        shape<std::vector<message_details>>::read(r, *messages, at.member("messages"), out.messages);
        r.optional(*o, "nextCursor", at, out.next_cursor);
        std::optional<bool> more;
        r.optional(*o, "hasMore", at, more);
        if (!more) {
            r.fail(at.member("hasMore"), "required");
            return;
        }
        out.has_more = *more;
        if (out.has_more && (!out.next_cursor || out.next_cursor->empty())) {
            r.fail(at.member("nextCursor"), "required when hasMore is true");
        }
        if (!out.has_more) {
            out.next_cursor.reset();
        }
    }
};

template <>
struct shape<instance> {
    static void read(reader& r, const json::value& v, const path& at, instance& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        r.required(*o, "id", at, out.id, true);
        r.required(*o, "status", at, out.status);
        r.optional(*o, "name", at, out.name);
        r.optional(*o, "waNumber", at, out.wa_number);
        r.optional(*o, "createdAt", at, out.created_at);
        r.optional(*o, "updatedAt", at, out.updated_at);
        r.optional(*o, "deletedAt", at, out.deleted_at);
    }
};

template <>
struct shape<instance_state> {
    static void read(reader& r, const json::value& v, const path& at, instance_state& out) {
        if (const auto* o = r.object(v, at)) {
            r.required(*o, "instanceId", at, out.instance_id, true);
            r.required(*o, "status", at, out.status);
            r.optional(*o, "providerState", at, out.provider_state);
        }
    }
};

// SPEC §11: safetyState healthy | warning | at_risk | critical.
safety_state to_safety_state(std::string_view s) {
    if (s == "healthy") {
        return safety_state::healthy;
    }
    if (s == "warning") {
        return safety_state::warning;
    }
    if (s == "at_risk") {
        return safety_state::at_risk;
    }
    if (s == "critical") {
        return safety_state::critical;
    }
    return safety_state::unknown;
}

// The health document's fields (SPEC §11) and those of its two objects.
constexpr std::array<std::string_view, 5> health_fields{"safetyState", "safetyScore", "warmupPolicy",
                                                        "usageWindowSummary", "recommendations"};
constexpr std::array<std::string_view, 4> warmup_fields{"maxPerMinute", "maxPerHour", "maxPerDay",
                                                        "minIntervalSeconds"};
constexpr std::array<std::string_view, 3> usage_window_fields{"lastMinute", "lastHour", "last24h"};
// safetyScore's range (SPEC §11: 0–100).
constexpr double max_safety_score = 100.0;
// minIntervalSeconds above this would overflow milliseconds arithmetic downstream; it is 68 years anyway.
constexpr double max_interval_seconds = 2147483648.0;

template <std::size_t N>
void note_unknown(const json::object& o, const std::array<std::string_view, N>& known,
                  std::string_view prefix, std::vector<std::string>& out) {
    for (const auto& kv : o) {
        bool found = false;
        for (auto k : known) {
            found = found || kv.key() == k;
        }
        if (!found) {
            out.push_back(std::string(prefix) + std::string(kv.key()));
        }
    }
}

template <>
struct shape<instance_health> {
    static void read(reader& r, const json::value& v, const path& at, instance_health& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        note_unknown(*o, health_fields, "", out.unknown_fields);
        std::optional<std::string> state;
        r.optional(*o, "safetyState", at, state);
        if (state) {
            out.safety = to_safety_state(*state);
            out.safety_text = std::move(*state);
        }
        if (const auto* score = o->if_contains("safetyScore"); score != nullptr && !score->is_null()) {
            out.safety_score = r.number(*score, at.member("safetyScore"), 0.0, max_safety_score);
        }
        if (const auto* w = r.optional_object(*o, "warmupPolicy", at)) {
            const path wp = at.member("warmupPolicy");
            note_unknown(*w, warmup_fields, "warmupPolicy.", out.unknown_fields);
            warmup_policy policy;
            r.optional_count(*w, "maxPerMinute", wp, policy.max_per_minute);
            r.optional_count(*w, "maxPerHour", wp, policy.max_per_hour);
            r.optional_count(*w, "maxPerDay", wp, policy.max_per_day);
            if (const auto* gap = w->if_contains("minIntervalSeconds"); gap != nullptr && !gap->is_null()) {
                if (auto s = r.number(*gap, wp.member("minIntervalSeconds"), 0.0, max_interval_seconds)) {
                    policy.min_interval = std::chrono::milliseconds(std::llround(*s * 1000.0));
                }
            }
            out.warmup = policy;
        }
        if (const auto* u = r.optional_object(*o, "usageWindowSummary", at)) {
            const path up = at.member("usageWindowSummary");
            note_unknown(*u, usage_window_fields, "usageWindowSummary.", out.unknown_fields);
            usage_window_summary usage;
            r.optional_count(*u, "lastMinute", up, usage.last_minute);
            r.optional_count(*u, "lastHour", up, usage.last_hour);
            r.optional_count(*u, "last24h", up, usage.last_24h);
            out.usage = usage;
        }
        r.strings(*o, "recommendations", at, out.recommendations);
    }
};

template <>
struct shape<campaign> {
    static void read(reader& r, const json::value& v, const path& at, campaign& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        r.required(*o, "id", at, out.id, true);
        r.required(*o, "status", at, out.status);
        r.optional(*o, "name", at, out.name);
        r.optional(*o, "instanceId", at, out.instance_id);
        r.optional(*o, "schedule", at, out.schedule);
        r.optional(*o, "repeat", at, out.repeat);
        r.optional_count(*o, "recipientCount", at, out.recipient_count);
        r.optional(*o, "createdAt", at, out.created_at);
        if (const auto* s = r.optional_object(*o, "safety", at)) {
            const path sp = at.member("safety");
            campaign_safety safety;
            std::optional<std::string> decision;
            r.optional(*s, "decision", sp, decision);
            safety.decision = decision.value_or("");
            r.strings(*s, "reasons", sp, safety.reasons);
            out.safety = std::move(safety);
        }
    }
};

template <>
struct shape<campaign_stats> {
    static void read(reader& r, const json::value& v, const path& at, campaign_stats& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        r.optional(*o, "campaignId", at, out.campaign_id);
        r.count_or_zero(*o, "total", at, out.total);
        r.count_or_zero(*o, "pending", at, out.pending);
        r.count_or_zero(*o, "sent", at, out.sent);
        r.count_or_zero(*o, "delivered", at, out.delivered);
        r.count_or_zero(*o, "read", at, out.read);
        r.count_or_zero(*o, "failed", at, out.failed);
    }
};

template <>
struct shape<message_template> {
    static void read(reader& r, const json::value& v, const path& at, message_template& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        r.required(*o, "id", at, out.id, true);
        r.optional(*o, "name", at, out.name);
        r.optional(*o, "body", at, out.body);
        r.optional(*o, "status", at, out.status);
        r.strings(*o, "variables", at, out.variables);
    }
};

template <>
struct shape<template_preview> {
    static void read(reader& r, const json::value& v, const path& at, template_preview& out) {
        if (const auto* o = r.object(v, at)) {
            r.optional(*o, "templateId", at, out.template_id);
            r.required(*o, "rendered", at, out.rendered);
        }
    }
};

void read_period(reader& r, const json::object& o, const path& at, billing_period& out) {
    if (const auto* p = r.optional_object(o, "period", at)) {
        const path pp = at.member("period");
        r.optional(*p, "start", pp, out.start);
        r.optional(*p, "end", pp, out.end);
    }
}

template <>
struct shape<usage_summary> {
    static void read(reader& r, const json::value& v, const path& at, usage_summary& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        r.optional(*o, "plan", at, out.plan);
        read_period(r, *o, at, out.period);
        if (const auto* a = r.optional_object(*o, "apiRequests", at)) {
            const path ap = at.member("apiRequests");
            r.optional_count(*a, "used", ap, out.api_requests_used);
            r.optional_count(*a, "limit", ap, out.api_requests_limit);
            r.optional_count(*a, "remaining", ap, out.api_requests_remaining);
        }
        if (const auto* m = r.optional_object(*o, "messages", at)) {
            r.optional_count(*m, "sent", at.member("messages"), out.messages_sent);
        }
    }
};

template <>
struct shape<subscription> {
    static void read(reader& r, const json::value& v, const path& at, subscription& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        r.optional(*o, "plan", at, out.plan);
        r.optional(*o, "status", at, out.status);
        r.optional(*o, "currentPeriodStart", at, out.current_period_start);
        r.optional(*o, "currentPeriodEnd", at, out.current_period_end);
        r.optional(*o, "cancelAtPeriodEnd", at, out.cancel_at_period_end);
    }
};

template <>
struct shape<billing_usage> {
    static void read(reader& r, const json::value& v, const path& at, billing_usage& out) {
        const auto* o = r.object(v, at);
        if (o == nullptr) {
            return;
        }
        read_period(r, *o, at, out.period);
        if (const auto* u = r.optional_object(*o, "usage", at)) {
            const path up = at.member("usage");
            r.optional_count(*u, "apiRequests", up, out.api_requests);
            r.optional_count(*u, "messagesSent", up, out.messages_sent);
            r.optional_count(*u, "instances", up, out.instances);
        }
        if (const auto* l = r.optional_object(*o, "limits", at)) {
            const path lp = at.member("limits");
            r.optional_count(*l, "monthlyApiRequestQuota", lp, out.monthly_api_request_quota);
            r.optional_count(*l, "instances", lp, out.instance_limit);
        }
        if (const auto* f = r.optional_object(*o, "features", at)) {
            const path fp = at.member("features");
            for (const auto& kv : *f) {
                if (!kv.value().is_bool()) {
                    r.fail(fp.member(kv.key()), "expected true or false");
                    return;
                }
                out.features.emplace(std::string(kv.key()), kv.value().get_bool());
            }
        }
    }
};

// ---- envelopes --------------------------------------------------------------------------------------------

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    if (from.empty()) {
        return;
    }
    for (std::size_t pos = s.find(from); pos != std::string::npos; pos = s.find(from, pos + to.size())) {
        s.replace(pos, from.size(), to);
    }
}

void scrub(json::value& v, const redaction& redact) {
    if (redact.secret.empty()) {
        return;
    }
    if (auto* s = v.if_string()) {
        if (std::string_view(*s).find(redact.secret) != std::string_view::npos) {
            std::string copy(*s);
            replace_all(copy, redact.secret, redact.replacement);
            *s = copy;
        }
    } else if (auto* a = v.if_array()) {
        for (auto& e : *a) {
            scrub(e, redact);
        }
    } else if (auto* o = v.if_object()) {
        for (auto& kv : *o) {
            scrub(kv.value(), redact);
        }
    }
}

api_failure unparseable(const raw_answer& a, client_errc why, std::string detail, const redaction& redact) {
    api_failure f;
    f.outcome = transport_outcome::unparseable;
    f.http_status = a.status;
    f.ec = why;
    f.detail = std::move(detail);
    f.body_excerpt = sanitize_excerpt(a.body, body_excerpt_chars, redact);
    return f;
}

// Small answers parse without touching the heap for the DOM; the buffer grows if a body needs more.
constexpr std::size_t parse_buffer_bytes = 4096;

}  // namespace

bool is_json_content_type(std::string_view ct) {
    const auto semi = ct.find(';');
    std::string_view media = ct.substr(0, semi);
    while (!media.empty() && (media.front() == ' ' || media.front() == '\t')) {
        media.remove_prefix(1);
    }
    while (!media.empty() && (media.back() == ' ' || media.back() == '\t')) {
        media.remove_suffix(1);
    }
    constexpr std::string_view json_type = "application/json";
    if (media.size() != json_type.size()) {
        return false;
    }
    for (std::size_t i = 0; i < media.size(); ++i) {
        const char c = media[i];
        const char lower = c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;  // ASCII only
        if (lower != json_type[i]) {
            return false;
        }
    }
    return true;
}

std::string sanitize_excerpt(std::string_view text, std::size_t max_chars, const redaction& redact) {
    // Scrub a window one secret longer than the excerpt, so a secret straddling the cut is still whole.
    std::string out(text.substr(0, max_chars + redact.secret.size()));
    replace_all(out, redact.secret, redact.replacement);
    const bool cut = out.size() > max_chars || text.size() > max_chars + redact.secret.size();
    if (out.size() > max_chars) {
        out.resize(max_chars);
    }
    if (cut && !redact.secret.empty()) {
        // What the cut left of a secret is a prefix of it at the very end: drop it.
        for (std::size_t k = std::min(out.size(), redact.secret.size() - 1); k > 0; --k) {
            if (std::string_view(out).substr(out.size() - k) == redact.secret.substr(0, k)) {
                out.resize(out.size() - k);
                break;
            }
        }
    }
    for (char& c : out) {
        if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) >= 0x7f) {
            c = '.';
        }
    }
    if (cut) {
        out += "...";
    }
    return out;
}

template <class T>
decoded<T> decode_answer(const raw_answer& a, std::chrono::system_clock::time_point now,
                         const redaction& redact) {
    std::optional<std::chrono::seconds> retry_after;
    if (!a.retry_after.empty()) {
        retry_after = parse_retry_after(a.retry_after, now);
    }
    auto fail = [&](client_errc why, std::string detail) {
        auto f = unparseable(a, why, std::move(detail), redact);
        f.retry_after = retry_after;
        return f;
    };
    if (!is_json_content_type(a.content_type)) {
        return fail(client_errc::wrong_content_type, "Content-Type \"" +
                                                         sanitize_excerpt(a.content_type, 60, redact) +
                                                         "\", expected application/json");
    }
    std::array<unsigned char, parse_buffer_bytes> buffer;  // NOLINT(cppcoreguidelines-pro-type-member-init)
    json::monotonic_resource arena(buffer.data(), buffer.size());
    boost::system::error_code ec;
    const json::value root = json::parse(a.body, ec, &arena);
    if (ec) {
        return fail(client_errc::not_json, "body is not JSON: " + ec.message());
    }
    const auto* top = root.if_object();
    const bool success = a.status >= 200 && a.status < 300;
    if (success) {
        const auto* data = top != nullptr ? top->if_contains("data") : nullptr;
        if (data == nullptr) {
            return fail(client_errc::unexpected_shape,
                        "a " + std::to_string(a.status) + " answer without \"data\"");
        }
        reader r;
        T value{};
        shape<T>::read(r, *data, path{nullptr, "data", 0}, value);
        if (!r.ok()) {
            return fail(client_errc::unexpected_shape, r.problem());
        }
        return value;
    }
    const auto* error = top != nullptr ? top->if_contains("error") : nullptr;
    const auto* envelope = error != nullptr ? error->if_object() : nullptr;
    const auto* code = envelope != nullptr ? envelope->if_contains("code") : nullptr;
    if (code == nullptr || !code->is_string() || code->get_string().empty()) {
        return fail(
            client_errc::unexpected_shape,
            "a " + std::to_string(a.status) + " answer without an error envelope {\"error\":{\"code\":…}}");
    }
    api_error e;
    e.http_status = a.status;
    e.code.assign(code->get_string().begin(), code->get_string().end());
    replace_all(e.code, redact.secret, redact.replacement);
    if (const auto* m = envelope->if_contains("message"); m != nullptr && m->is_string()) {
        e.message.assign(m->get_string().begin(), m->get_string().end());
        replace_all(e.message, redact.secret, redact.replacement);
    }
    if (const auto* d = envelope->if_contains("details")) {
        e.details = json::value(*d, json::storage_ptr());  // out of the arena
        scrub(e.details, redact);
    }
    e.retry_after = retry_after;
    api_failure f;
    f.outcome = transport_outcome::answered;
    f.http_status = a.status;
    f.ec = boost::system::error_code(make_error_code(e.errc()));
    f.retry_after = retry_after;
    f.detail = std::to_string(a.status) + " " + e.code + (e.message.empty() ? "" : ": " + e.message);
    f.error = std::move(e);
    return f;
}

template decoded<message_ref> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                            const redaction&);
template decoded<message_details> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                                const redaction&);
template decoded<message_page> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                             const redaction&);
template decoded<std::vector<instance>> decode_answer(const raw_answer&,
                                                      std::chrono::system_clock::time_point,
                                                      const redaction&);
template decoded<instance> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                         const redaction&);
template decoded<instance_state> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                               const redaction&);
template decoded<instance_health> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                                const redaction&);
template decoded<campaign> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                         const redaction&);
template decoded<campaign_stats> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                               const redaction&);
template decoded<std::vector<message_template>> decode_answer(const raw_answer&,
                                                              std::chrono::system_clock::time_point,
                                                              const redaction&);
template decoded<message_template> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                                 const redaction&);
template decoded<template_preview> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                                 const redaction&);
template decoded<usage_summary> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                              const redaction&);
template decoded<subscription> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                             const redaction&);
template decoded<billing_usage> decode_answer(const raw_answer&, std::chrono::system_clock::time_point,
                                              const redaction&);

}  // namespace msgflash::api
