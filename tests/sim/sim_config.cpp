// Reads msgflash-sim's TOML world strictly: every key known, every value checked, every error naming the
// source, the key path (accounts[1].team_id, 0-based) and the line. Also holds the built-in world.
#include "tests/sim/sim_config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <limits>
#include <set>
#include <sstream>
#include <stdexcept>

#include <boost/json.hpp>
#include <toml++/toml.h>

#include "core/duration.hpp"

namespace msgflash::sim {
namespace {

namespace json = boost::json;

constexpr std::string_view personal_prefix = "msgf_live_";  // docs: faq.txt, personal keys
constexpr std::string_view team_prefix = "msgf_team_";      // docs: faq.txt, team keys

// docs: faq.txt lists these plans (Free: 1 instance, Starter: 3, Pro: 10, Plus: 10).
constexpr std::array<std::string_view, 4> plans{"free", "starter", "pro", "plus"};
// docs: instances.txt, "États possibles".
constexpr std::array<std::string_view, 3> instance_statuses{"disconnected", "connecting", "connected"};
// SPEC §11: the health document's safetyState values.
constexpr std::array<std::string_view, 4> safety_states{"healthy", "warning", "at_risk", "critical"};
constexpr std::array<std::string_view, 3> retry_after_modes{"seconds", "date", "none"};

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

bool is_e164(std::string_view s) {
    if (s.size() < 9 || s.size() > 16 || s[0] != '+') {
        return false;
    }
    return std::all_of(s.begin() + 1, s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

std::string child(std::string_view parent, std::string_view key) {
    std::string out(parent);
    if (!out.empty()) {
        out += '.';
    }
    out += key;
    return out;
}

std::string indexed(std::string_view parent, std::size_t i) {
    return std::string(parent) + "[" + std::to_string(i) + "]";
}

class reader {
  public:
    explicit reader(std::string_view source) : source_(source) {}

    [[noreturn]] void fail(const toml::node& where, std::string_view path, std::string_view what) const {
        fail_at(where.source().begin.line, path, what);
    }

    [[noreturn]] void fail_at(std::size_t line, std::string_view path, std::string_view what) const {
        std::string msg(source_);
        if (line > 0) {
            msg += ':' + std::to_string(line);
        }
        msg += ": ";
        if (!path.empty()) {
            msg += path;
            msg += ": ";
        }
        msg += what;
        throw std::runtime_error(msg);
    }

    std::string string(const toml::node& n, std::string_view path) const {
        const auto* v = n.as_string();
        if (v == nullptr) {
            fail(n, path, "expected a string");
        }
        return v->get();
    }

    std::string nonempty_string(const toml::node& n, std::string_view path) const {
        auto s = string(n, path);
        if (s.empty()) {
            fail(n, path, "must not be empty");
        }
        return s;
    }

    bool boolean(const toml::node& n, std::string_view path) const {
        const auto* v = n.as_boolean();
        if (v == nullptr) {
            fail(n, path, "expected a boolean");
        }
        return v->get();
    }

    std::int64_t integer(const toml::node& n, std::string_view path, std::int64_t min,
                         std::int64_t max) const {
        const auto* v = n.as_integer();
        if (v == nullptr) {
            fail(n, path, "expected an integer");
        }
        if (v->get() < min || v->get() > max) {
            fail(n, path, "must be between " + std::to_string(min) + " and " + std::to_string(max));
        }
        return v->get();
    }

    double probability(const toml::node& n, std::string_view path) const {
        double p = 0;
        if (const auto* f = n.as_floating_point()) {
            p = f->get();
        } else if (const auto* i = n.as_integer()) {
            p = static_cast<double>(i->get());
        } else {
            fail(n, path, "expected a number between 0 and 1");
        }
        if (!(p >= 0.0 && p <= 1.0)) {
            fail(n, path, "must be between 0 and 1");
        }
        return p;
    }

    milliseconds duration(const toml::node& n, std::string_view path) const {
        const auto* v = n.as_string();
        if (v == nullptr) {
            fail(n, path, "expected a duration string such as \"250ms\" or \"2s\"");
        }
        auto d = parse_duration(v->get());
        if (!d) {
            fail(n, path, "bad duration \"" + v->get() + "\" (use e.g. \"250ms\", \"2s\", \"1m30s\")");
        }
        return *d;
    }

    const toml::table& table(const toml::node& n, std::string_view path) const {
        const auto* t = n.as_table();
        if (t == nullptr) {
            fail(n, path, "expected a table");
        }
        return *t;
    }

    json::value to_json(const toml::node& n, std::string_view path) const {
        if (const auto* t = n.as_table()) {
            json::object o;
            for (auto&& [k, v] : *t) {
                o[k.str()] = to_json(v, child(path, k.str()));
            }
            return o;
        }
        if (const auto* a = n.as_array()) {
            json::array out;
            for (std::size_t i = 0; i < a->size(); ++i) {
                out.push_back(to_json(*a->get(i), indexed(path, i)));
            }
            return out;
        }
        if (const auto* s = n.as_string()) {
            return json::string(s->get());
        }
        if (const auto* i = n.as_integer()) {
            return i->get();
        }
        if (const auto* f = n.as_floating_point()) {
            return f->get();
        }
        if (const auto* b = n.as_boolean()) {
            return b->get();
        }
        // Dates and times: their TOML spelling, which is ISO 8601.
        std::ostringstream text;
        if (const auto* dt = n.as_date_time()) {
            text << dt->get();
        } else if (const auto* d = n.as_date()) {
            text << d->get();
        } else if (const auto* t = n.as_time()) {
            text << t->get();
        } else {
            fail(n, path, "unsupported value");
        }
        return json::string(text.str());
    }

    // Calls `on_key(name, node)` for every key; `on_key` returns false for a key it does not know.
    template <class F>
    void keys(const toml::table& t, std::string_view path, F&& on_key) const {
        for (auto&& [k, v] : t) {
            if (!on_key(k.str(), v)) {
                fail(v, child(path, k.str()), "unknown key");
            }
        }
    }

    const toml::array& array_of_tables(const toml::node& n, std::string_view path) const {
        const auto* a = n.as_array();
        if (a == nullptr || !a->is_array_of_tables()) {
            fail(n, path, "expected an array of tables ([[" + std::string(path) + "]])");
        }
        return *a;
    }

  private:
    std::string_view source_;
};

void read_server(const reader& r, const toml::table& t, server_config& out) {
    r.keys(t, "server", [&](std::string_view k, const toml::node& v) {
        const auto path = child("server", k);
        if (k == "host") {
            out.host = r.nonempty_string(v, path);
        } else if (k == "port") {
            out.port = static_cast<std::uint16_t>(r.integer(v, path, 0, 65535));
        } else if (k == "threads") {
            out.threads = static_cast<unsigned>(r.integer(v, path, 1, 256));
        } else if (k == "tls_cert") {
            out.tls_cert = r.string(v, path);
        } else if (k == "tls_key") {
            out.tls_key = r.string(v, path);
        } else if (k == "idle_timeout") {
            out.idle_timeout = r.duration(v, path);
        } else {
            return false;
        }
        return true;
    });
    if (out.tls_cert.empty() != out.tls_key.empty()) {
        r.fail(t, "server", "tls_cert and tls_key go together: give both or neither");
    }
}

void read_limits(const reader& r, const toml::table& t, limit_config& out) {
    r.keys(t, "limits", [&](std::string_view k, const toml::node& v) {
        const auto path = child("limits", k);
        if (k == "enabled") {
            out.enabled = r.boolean(v, path);
        } else if (k == "window") {
            out.window = r.duration(v, path);
            if (out.window.count() <= 0) {
                r.fail(v, path, "must be longer than 0");
            }
        } else if (k == "retry_after") {
            out.retry_after = r.string(v, path);
            if (!one_of(out.retry_after, retry_after_modes)) {
                r.fail(v, path, "must be one of " + list_of(retry_after_modes));
            }
        } else if (k == "count_rejected") {
            out.count_rejected = r.boolean(v, path);
        } else {
            return false;
        }
        return true;
    });
}

void read_faults(const reader& r, const toml::table& t, fault_config& out) {
    // The mutually exclusive per-request faults, whose probabilities must sum to at most 1.
    const std::array<std::pair<std::string_view, double*>, 10> exclusive{{
        {"provider_timeout", &out.provider_timeout},
        {"provider_unavailable", &out.provider_unavailable},
        {"provider_error", &out.provider_error},
        {"internal_error", &out.internal_error},
        {"service_unavailable", &out.service_unavailable},
        {"ambiguous", &out.ambiguous},
        {"slow", &out.slow},
        {"garbage", &out.garbage},
        {"wrong_content_type", &out.wrong_content_type},
        {"huge_body", &out.huge_body},
    }};
    const std::array<std::pair<std::string_view, milliseconds*>, 5> durations{{
        {"latency_min", &out.latency_min},
        {"latency_max", &out.latency_max},
        {"jitter_min", &out.jitter_min},
        {"jitter_max", &out.jitter_max},
        {"slow_chunk_interval", &out.slow_chunk_interval},
    }};
    r.keys(t, "faults", [&](std::string_view k, const toml::node& v) {
        const auto path = child("faults", k);
        for (const auto& [name, field] : exclusive) {
            if (k == name) {
                *field = r.probability(v, path);
                return true;
            }
        }
        for (const auto& [name, field] : durations) {
            if (k == name) {
                *field = r.duration(v, path);
                return true;
            }
        }
        if (k == "seed") {
            out.seed =
                static_cast<std::uint64_t>(r.integer(v, path, 0, std::numeric_limits<std::int64_t>::max()));
        } else if (k == "reset") {
            out.reset = r.probability(v, path);
        } else if (k == "on_reads") {
            out.on_reads = r.boolean(v, path);
        } else if (k == "slow_chunk_bytes") {
            out.slow_chunk_bytes = static_cast<std::size_t>(r.integer(v, path, 1, 1 << 20));
        } else if (k == "huge_body_bytes") {
            out.huge_body_bytes = static_cast<std::size_t>(r.integer(v, path, 1, std::int64_t{1} << 32));
        } else {
            return false;
        }
        return true;
    });
    double sum = 0;
    for (const auto& [name, field] : exclusive) {
        sum += *field;
    }
    // A little slack for decimal spellings such as 0.1 + 0.2 + 0.7.
    if (sum > 1.0 + 1e-9) {
        r.fail(t, "faults", "the fault probabilities sum to " + std::to_string(sum) + ", more than 1");
    }
    if (out.latency_min > out.latency_max) {
        r.fail(t, "faults.latency_min", "must not exceed faults.latency_max");
    }
    if (out.jitter_min > out.jitter_max) {
        r.fail(t, "faults.jitter_min", "must not exceed faults.jitter_max");
    }
}

void read_delivery(const reader& r, const toml::table& t, delivery_config& out) {
    r.keys(t, "delivery", [&](std::string_view k, const toml::node& v) {
        const auto path = child("delivery", k);
        if (k == "step") {
            out.step = r.duration(v, path);
            if (out.step.count() <= 0) {
                r.fail(v, path, "must be longer than 0");
            }
        } else if (k == "failed_share") {
            out.failed_share = r.probability(v, path);
        } else {
            return false;
        }
        return true;
    });
}

void read_health(const reader& r, const toml::node& n, std::string_view path, json::object& out) {
    const auto& t = r.table(n, path);
    for (auto&& [k, v] : t) {
        const auto key_path = child(path, k.str());
        if (k.str() == "safetyState") {
            if (!one_of(r.string(v, key_path), safety_states)) {
                r.fail(v, key_path, "must be one of " + list_of(safety_states));
            }
        } else if (k.str() == "safetyScore") {
            r.integer(v, key_path, 0, 100);
        } else if (k.str() == "warmupPolicy" || k.str() == "usageWindowSummary") {
            const auto& inner = r.table(v, key_path);
            for (auto&& [ik, iv] : inner) {
                const auto* num_int = iv.as_integer();
                const auto* num_float = iv.as_floating_point();
                if ((num_int == nullptr || num_int->get() < 0) &&
                    (num_float == nullptr || !(num_float->get() >= 0))) {
                    r.fail(iv, child(key_path, ik.str()), "expected a number, at least 0");
                }
            }
        } else if (k.str() == "recommendations") {
            const auto* a = v.as_array();
            if (a == nullptr) {
                r.fail(v, key_path, "expected an array of strings");
            }
            for (std::size_t i = 0; i < a->size(); ++i) {
                r.string(*a->get(i), indexed(key_path, i));
            }
        }
        // Other keys pass through untouched: the daemon must ignore unknown health fields (SPEC §11).
    }
    out = r.to_json(n, path).as_object();
}

account_config read_account(const reader& r, const toml::table& t, std::string_view path) {
    account_config a;
    bool has_name = false;
    bool has_key = false;
    const toml::node* team_id_node = nullptr;
    const toml::node* key_node = nullptr;
    r.keys(t, path, [&](std::string_view k, const toml::node& v) {
        const auto p = child(path, k);
        if (k == "name") {
            a.name = r.nonempty_string(v, p);
            has_name = true;
        } else if (k == "key") {
            a.key = r.string(v, p);
            key_node = &v;
            has_key = true;
        } else if (k == "team_id") {
            a.team_id = r.string(v, p);
            team_id_node = &v;
        } else if (k == "monthly_quota") {
            a.monthly_quota =
                static_cast<std::uint64_t>(r.integer(v, p, 0, std::numeric_limits<std::int64_t>::max()));
        } else if (k == "quota_used") {
            a.quota_used =
                static_cast<std::uint64_t>(r.integer(v, p, 0, std::numeric_limits<std::int64_t>::max()));
        } else if (k == "rate") {
            a.rate = static_cast<unsigned>(r.integer(v, p, 1, 1'000'000));
        } else if (k == "plan") {
            a.plan = r.string(v, p);
            if (!one_of(a.plan, plans)) {
                r.fail(v, p, "must be one of " + list_of(plans));
            }
        } else if (k == "business") {
            a.business = r.boolean(v, p);
        } else if (k == "campaigns") {
            a.campaigns = r.boolean(v, p);
        } else if (k == "subscription_active") {
            a.subscription_active = r.boolean(v, p);
        } else if (k == "revoked") {
            a.revoked = r.boolean(v, p);
        } else {
            return false;
        }
        return true;
    });
    if (!has_name) {
        r.fail(t, child(path, "name"), "required");
    }
    if (!has_key) {
        r.fail(t, child(path, "key"), "required");
    }
    const bool personal = a.key.starts_with(personal_prefix) && a.key.size() > personal_prefix.size();
    const bool team = a.key.starts_with(team_prefix) && a.key.size() > team_prefix.size();
    if (!personal && !team) {
        r.fail(*key_node, child(path, "key"), "must start with msgf_live_ (personal) or msgf_team_ (team)");
    }
    if (team && a.team_id.empty()) {
        r.fail(team_id_node != nullptr ? *team_id_node : static_cast<const toml::node&>(t),
               child(path, "team_id"), "required for a team key (msgf_team_…)");
    }
    if (personal && !a.team_id.empty()) {
        r.fail(*team_id_node, child(path, "team_id"), "not allowed with a personal key (msgf_live_…)");
    }
    if (team && !is_uuid(a.team_id)) {
        r.fail(*team_id_node, child(path, "team_id"), "must be a UUID");
    }
    return a;
}

instance_config read_instance(const reader& r, const toml::table& t, std::string_view path) {
    instance_config inst;
    r.keys(t, path, [&](std::string_view k, const toml::node& v) {
        const auto p = child(path, k);
        if (k == "id") {
            inst.id = r.string(v, p);
            if (!is_uuid(inst.id)) {
                r.fail(v, p, "must be a UUID");
            }
        } else if (k == "account") {
            inst.account = r.nonempty_string(v, p);
        } else if (k == "name") {
            inst.name = r.nonempty_string(v, p);
        } else if (k == "wa_number") {
            inst.wa_number = r.string(v, p);
            if (!is_e164(inst.wa_number)) {
                r.fail(v, p, "must be an E.164 number (+ then 8 to 15 digits)");
            }
        } else if (k == "status") {
            inst.status = r.string(v, p);
            if (!one_of(inst.status, instance_statuses)) {
                r.fail(v, p, "must be one of " + list_of(instance_statuses));
            }
        } else if (k == "health") {
            read_health(r, v, p, inst.health);
        } else {
            return false;
        }
        return true;
    });
    for (auto [field, value] : {std::pair<std::string_view, const std::string*>{"id", &inst.id},
                                {"account", &inst.account},
                                {"name", &inst.name},
                                {"wa_number", &inst.wa_number}}) {
        if (value->empty()) {
            r.fail(t, child(path, field), "required");
        }
    }
    return inst;
}

template_config read_template(const reader& r, const toml::table& t, std::string_view path) {
    template_config tpl;
    bool has_body = false;
    r.keys(t, path, [&](std::string_view k, const toml::node& v) {
        const auto p = child(path, k);
        if (k == "id") {
            tpl.id = r.string(v, p);
            if (!is_uuid(tpl.id)) {
                r.fail(v, p, "must be a UUID");
            }
        } else if (k == "account") {
            tpl.account = r.nonempty_string(v, p);
        } else if (k == "name") {
            tpl.name = r.nonempty_string(v, p);
        } else if (k == "body") {
            tpl.body = r.nonempty_string(v, p);
            has_body = true;
        } else if (k == "valid") {
            tpl.valid = r.boolean(v, p);
        } else {
            return false;
        }
        return true;
    });
    for (auto [field, value] : {std::pair<std::string_view, const std::string*>{"id", &tpl.id},
                                {"account", &tpl.account},
                                {"name", &tpl.name}}) {
        if (value->empty()) {
            r.fail(t, child(path, field), "required");
        }
    }
    if (!has_body) {
        r.fail(t, child(path, "body"), "required");
    }
    return tpl;
}

std::string lowercase(std::string_view s) {
    std::string out(s);
    for (auto& c : out) {
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
    return out;
}

// msgflash-sim with no --config: docs/simulator.md prints this text. Keys are obviously fake.
constexpr std::string_view built_in_world = R"toml(# msgflash-sim's built-in world
[limits]
enabled = true
window = "1s"
retry_after = "seconds"

[delivery]
step = "1s"
failed_share = 0.05

[[accounts]]
name = "shop"
key = "msgf_live_FAKE_shop_key"
plan = "pro"

[[accounts]]
name = "agency"
key = "msgf_team_FAKE_agency_key"
team_id = "5f0c2a7e-3b1d-4c8e-9a6f-2d4b8e1c7a90"
plan = "plus"

[[accounts]]
name = "tiny"
key = "msgf_live_FAKE_tiny_key"
plan = "free"
monthly_quota = 1000
business = false
campaigns = false

[[instances]]
id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
account = "shop"
name = "boutique-principale"
wa_number = "+33612345678"
status = "connected"
[instances.health]
safetyState = "healthy"
safetyScore = 92
recommendations = ["Keep a steady pace while the number warms up"]
[instances.health.warmupPolicy]
maxPerMinute = 20
maxPerHour = 200
maxPerDay = 1000
minIntervalSeconds = 2

[[instances]]
id = "1b4e28ba-2fa1-41d2-883f-0016d3cca427"
account = "shop"
name = "boutique-secondaire"
wa_number = "+33698765432"
status = "connected"
[instances.health]
safetyState = "warning"
safetyScore = 64
recommendations = ["Reduce volume for the next 24 hours", "Avoid sending identical texts to many recipients"]

[[instances]]
id = "9f8b2c4d-6e1a-4b3c-8d7e-5a2f1c0b9e84"
account = "agency"
name = "agency-main"
wa_number = "+4915112345678"
status = "connected"
[instances.health]
safetyState = "healthy"
safetyScore = 88

[[instances]]
id = "3d6f9a2b-8c4e-4f1a-b7d5-e0c9a8b6f321"
account = "agency"
name = "agency-backup"
wa_number = "+4915187654321"
status = "disconnected"
[instances.health]
safetyState = "at_risk"
safetyScore = 35
recommendations = ["Reconnect the number from the dashboard"]

[[instances]]
id = "c2a1e7f4-5b3d-4e9a-8f6c-1d0b2a9e7c53"
account = "tiny"
name = "tiny-shop"
wa_number = "+32470123456"
status = "connecting"
[instances.health]
safetyState = "healthy"
safetyScore = 100
[instances.health.warmupPolicy]
maxPerMinute = 5
maxPerHour = 50
maxPerDay = 200
minIntervalSeconds = 10

[[templates]]
id = "e1f2a3b4-c5d6-4e7f-8a9b-0c1d2e3f4a5b"
account = "shop"
name = "welcome"
body = "Hi {{name}}, welcome to {{instance.name}}!"

[[templates]]
id = "0a9b8c7d-6e5f-4a3b-9c2d-1e0f9a8b7c6d"
account = "shop"
name = "order-ready"
body = "Hello {{name}}, your order {{orderId}} is ready."

[[templates]]
id = "5e4d3c2b-1a0f-4e9d-8c7b-6a5f4e3d2c1b"
account = "shop"
name = "broken"
body = "Hi {{first name}}, {{"
valid = false

[[templates]]
id = "b7c6d5e4-f3a2-4b1c-8d0e-9f8a7b6c5d4e"
account = "shop"
name = "loyalty"
body = "Hi {{contact.firstName}}, you have {{points}} points."

[[templates]]
id = "2c3d4e5f-6a7b-4c8d-9e0f-1a2b3c4d5e6f"
account = "agency"
name = "agency-promo"
body = "Hello {{name}}, use code {{code}} today."

[[templates]]
id = "8f7e6d5c-4b3a-4c2d-9e1f-0a9b8c7d6e5f"
account = "tiny"
name = "tiny-hello"
body = "Hello from {{instance.waNumber}}"
)toml";

}  // namespace

sim_config parse_sim_config(std::string_view toml_text, std::string_view source_name) {
    const reader r(source_name);
    toml::table root;
    try {
        root = toml::parse(toml_text, source_name);
    } catch (const toml::parse_error& e) {
        r.fail_at(e.source().begin.line, "", "TOML syntax error: " + std::string(e.description()));
    }

    sim_config cfg;
    r.keys(root, "", [&](std::string_view k, const toml::node& v) {
        if (k == "server") {
            read_server(r, r.table(v, k), cfg.server);
        } else if (k == "limits") {
            read_limits(r, r.table(v, k), cfg.limits);
        } else if (k == "faults") {
            read_faults(r, r.table(v, k), cfg.faults);
        } else if (k == "delivery") {
            read_delivery(r, r.table(v, k), cfg.delivery);
        } else if (k == "accounts") {
            const auto& a = r.array_of_tables(v, k);
            for (std::size_t i = 0; i < a.size(); ++i) {
                cfg.accounts.push_back(read_account(r, *a.get(i)->as_table(), indexed(k, i)));
            }
        } else if (k == "instances") {
            const auto& a = r.array_of_tables(v, k);
            for (std::size_t i = 0; i < a.size(); ++i) {
                cfg.instances.push_back(read_instance(r, *a.get(i)->as_table(), indexed(k, i)));
            }
        } else if (k == "templates") {
            const auto& a = r.array_of_tables(v, k);
            for (std::size_t i = 0; i < a.size(); ++i) {
                cfg.templates.push_back(read_template(r, *a.get(i)->as_table(), indexed(k, i)));
            }
        } else {
            return false;
        }
        return true;
    });

    // Cross-checks: uniqueness and references, each reported at the offending entry.
    auto line_of = [&](std::string_view array, std::size_t i, std::string_view key) -> std::size_t {
        const auto* t = root[array][i].as_table();
        if (t == nullptr) {
            return 0;
        }
        if (const auto* n = t->get(key)) {
            return n->source().begin.line;
        }
        return t->source().begin.line;
    };
    std::set<std::string, std::less<>> names;
    std::set<std::string, std::less<>> keys;
    for (std::size_t i = 0; i < cfg.accounts.size(); ++i) {
        if (!names.insert(cfg.accounts[i].name).second) {
            r.fail_at(line_of("accounts", i, "name"), child(indexed("accounts", i), "name"),
                      "duplicate account name \"" + cfg.accounts[i].name + "\"");
        }
        if (!keys.insert(cfg.accounts[i].key).second) {
            r.fail_at(line_of("accounts", i, "key"), child(indexed("accounts", i), "key"),
                      "the same key is configured for two accounts");
        }
    }
    std::set<std::string, std::less<>> ids;
    for (std::size_t i = 0; i < cfg.instances.size(); ++i) {
        if (!ids.insert(lowercase(cfg.instances[i].id)).second) {
            r.fail_at(line_of("instances", i, "id"), child(indexed("instances", i), "id"),
                      "duplicate instance id " + cfg.instances[i].id);
        }
        if (!names.contains(cfg.instances[i].account)) {
            r.fail_at(line_of("instances", i, "account"), child(indexed("instances", i), "account"),
                      "unknown account \"" + cfg.instances[i].account + "\"");
        }
    }
    std::set<std::string, std::less<>> template_ids;
    for (std::size_t i = 0; i < cfg.templates.size(); ++i) {
        if (!template_ids.insert(lowercase(cfg.templates[i].id)).second) {
            r.fail_at(line_of("templates", i, "id"), child(indexed("templates", i), "id"),
                      "duplicate template id " + cfg.templates[i].id);
        }
        if (!names.contains(cfg.templates[i].account)) {
            r.fail_at(line_of("templates", i, "account"), child(indexed("templates", i), "account"),
                      "unknown account \"" + cfg.templates[i].account + "\"");
        }
    }
    return cfg;
}

sim_config load_sim_config(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        throw std::runtime_error(path.string() + ": cannot open the simulator configuration");
    }
    std::ostringstream text;
    text << in.rdbuf();
    if (in.bad()) {
        throw std::runtime_error(path.string() + ": cannot read the simulator configuration");
    }
    return parse_sim_config(text.str(), path.string());
}

sim_config default_sim_config() {
    return parse_sim_config(built_in_world, "<built-in world>");
}

bool is_uuid(std::string_view s) {
    if (s.size() != 36) {
        return false;
    }
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash != (s[i] == '-')) {
            return false;
        }
        if (!dash && std::isxdigit(static_cast<unsigned char>(s[i])) == 0) {
            return false;
        }
    }
    return true;
}

}  // namespace msgflash::sim
