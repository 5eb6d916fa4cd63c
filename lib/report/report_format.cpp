#include "report/report_format.hpp"

#include <cmath>
#include <ctime>

#include <boost/json.hpp>
#include <fmt/format.h>
#include <openssl/evp.h>

#include "report/csv.hpp"

namespace msgflash::report {

namespace json = boost::json;

namespace {

// Summary numbers are rounded to this many decimals (a pace of 9.783/s, not 9.7826086956521738).
constexpr double pace_decimals = 1000.0;
// Hex digits of the SHA-256 that end a cut stem: 64 bits, no collision between batch names in practice.
constexpr std::size_t stem_hash_hex = 16;

json::value opt_time_json(const std::optional<timestamp>& t) {
    return t ? json::value(utc_seconds(*t)) : json::value(nullptr);
}

json::object states_json(const store::batch_counts& c) {
    // Every state, zeros included, in the order of SPEC §4, so a reader never has to guess a missing key.
    return json::object{{"waiting", c.waiting}, {"ready", c.ready},     {"inflight", c.inflight},
                        {"held", c.held},       {"sent", c.sent},       {"failed", c.failed},
                        {"dead", c.dead},       {"expired", c.expired}, {"cancelled", c.cancelled}};
}

void count_state(store::batch_counts& c, job_state s) {
    ++c.total;
    switch (s) {
        case job_state::waiting:
            ++c.waiting;
            break;
        case job_state::ready:
            ++c.ready;
            break;
        case job_state::inflight:
            ++c.inflight;
            break;
        case job_state::sent:
            ++c.sent;
            break;
        case job_state::failed:
            ++c.failed;
            break;
        case job_state::dead:
            ++c.dead;
            break;
        case job_state::expired:
            ++c.expired;
            break;
        case job_state::cancelled:
            ++c.cancelled;
            break;
        case job_state::held:
            ++c.held;
            break;
    }
}

std::int64_t int_at(const json::object& o, std::string_view key) {
    const json::value* v = o.if_contains(key);
    return v != nullptr && v->is_int64() ? v->as_int64() : -1;
}

bool plain_byte(unsigned char ch, bool first) {
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '-' ||
           ch == '_' || (ch == '.' && !first);
}

json::object campaign_json(const store::campaign_counts& k) {
    return json::object{{"id", k.campaign_id},      {"total", k.total},
                        {"pending", k.pending},     {"sent", k.sent},
                        {"delivered", k.delivered}, {"read", k.read},
                        {"failed", k.failed},       {"checked_at", utc_seconds(k.checked_at)}};
}

}  // namespace

std::string utc_seconds(timestamp t) {
    const std::time_t secs =
        static_cast<std::time_t>(std::chrono::floor<std::chrono::seconds>(t).time_since_epoch().count());
    std::tm tm{};
    ::gmtime_r(&secs, &tm);
    return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                       tm.tm_hour, tm.tm_min, tm.tm_sec);
}

std::string csv_header() {
    std::string out;
    for (std::size_t i = 0; i < columns.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        out += columns[i];
    }
    out += "\r\n";
    return out;
}

void append_csv_row(std::string& out, const store::report_row& r) {
    append_csv_field(out, r.ref);
    out += ',';
    append_csv_field(out, r.to);
    out += ',';
    out += to_string(r.state);
    out += ',';
    append_csv_field(out, r.message_id);
    out += ',';
    out += std::to_string(r.attempts);
    out += ',';
    append_csv_field(out, r.last_code);
    out += ',';
    if (r.sent_at) {
        out += utc_seconds(*r.sent_at);
    }
    out += ',';
    append_csv_field(out, r.delivery_status);
    out += ',';
    out += r.ambiguous ? "true" : "false";
    out += "\r\n";
}

void append_ndjson_row(std::string& out, const store::report_row& r) {
    const json::object o{{"ref", r.ref},
                         {"to", r.to},
                         {"state", to_string(r.state)},
                         {"message_id", r.message_id},
                         {"attempts", r.attempts},
                         {"last_code", r.last_code},
                         {"sent_at", opt_time_json(r.sent_at)},
                         {"delivery_status", r.delivery_status},
                         {"ambiguous", r.ambiguous}};
    out += json::serialize(o);
    out += '\n';
}

void summary_builder::add(const store::report_row& r) {
    count_state(states_, r.state);
    if (!r.delivery_status.empty()) {
        auto it = statuses_.find(r.delivery_status);
        if (it != statuses_.end()) {
            ++it->second;
        } else if (statuses_.size() < max_statuses) {
            statuses_.emplace(r.delivery_status, 1);
        } else {
            ++statuses_["other"];
        }
    }
    tracked_ += r.delivery_tracked ? 1 : 0;
    settled_ += r.delivery_tracked && r.delivery_settled ? 1 : 0;
    ambiguous_ += r.ambiguous ? 1 : 0;
    ambiguous_settled_ += r.ambiguous && r.ambiguous_settled ? 1 : 0;
    if (r.sent_at) {
        ++sends_;
        if (!first_sent_ || *r.sent_at < *first_sent_) {
            first_sent_ = r.sent_at;
        }
        if (!last_sent_ || *r.sent_at > *last_sent_) {
            last_sent_ = r.sent_at;
        }
    }
}

std::optional<double> summary_builder::mean_pace() const noexcept {
    if (sends_ < 2 || !first_sent_ || !last_sent_ || *last_sent_ <= *first_sent_) {
        return std::nullopt;
    }
    const double seconds = std::chrono::duration<double>(*last_sent_ - *first_sent_).count();
    return static_cast<double>(sends_ - 1) / seconds;
}

std::string summary_builder::json(const summary_info& info) const {
    json::object statuses;
    for (const auto& [status, n] : statuses_) {
        statuses[status] = n;
    }
    const std::optional<double> pace = mean_pace();
    const json::object doc{
        {"batch", info.batch},
        {"account", info.account},
        {"final", final()},
        {"generated_at", utc_seconds(info.generated_at)},
        {"finished_at", opt_time_json(info.finished_at)},
        {"jobs", states_.total},
        {"states", states_json(states_)},
        {"delivery_statuses", std::move(statuses)},
        {"deliveries",
         json::object{{"tracked", tracked_}, {"settled", settled_}, {"unsettled", unsettled_deliveries()}}},
        {"ambiguous", ambiguous_},
        {"ambiguous_settled", ambiguous_settled_},
        {"sends", sends_},
        {"first_sent_at", opt_time_json(first_sent_)},
        {"last_sent_at", opt_time_json(last_sent_)},
        {"mean_pace",
         pace ? json::value(std::round(*pace * pace_decimals) / pace_decimals) : json::value(nullptr)},
        {"campaign", info.campaign ? json::value(campaign_json(*info.campaign)) : json::value(nullptr)},
        {"deliveries_checked_at_ms", info.deliveries_checked_at
                                         ? json::value(to_millis(*info.deliveries_checked_at))
                                         : json::value(nullptr)}};
    std::string out = json::serialize(doc);
    out += '\n';
    return out;
}

std::optional<summary_state> read_summary_state(std::string_view json_text) {
    boost::system::error_code ec;
    const json::value v = json::parse(json_text, ec);
    if (ec || !v.is_object()) {
        return std::nullopt;
    }
    const json::object& o = v.as_object();
    const json::value* final = o.if_contains("final");
    const json::value* checked = o.if_contains("deliveries_checked_at_ms");
    const json::value* states = o.if_contains("states");
    if (final == nullptr || !final->is_bool() || checked == nullptr || states == nullptr ||
        !states->is_object() || int_at(o, "jobs") < 0) {
        return std::nullopt;
    }
    summary_state s;
    s.final = final->as_bool();
    if (checked->is_int64()) {
        s.deliveries_checked_ms = checked->as_int64();
    } else if (!checked->is_null()) {
        return std::nullopt;
    }
    const json::object& st = states->as_object();
    s.states.total = int_at(o, "jobs");
    s.states.waiting = int_at(st, "waiting");
    s.states.ready = int_at(st, "ready");
    s.states.inflight = int_at(st, "inflight");
    s.states.held = int_at(st, "held");
    s.states.sent = int_at(st, "sent");
    s.states.failed = int_at(st, "failed");
    s.states.dead = int_at(st, "dead");
    s.states.expired = int_at(st, "expired");
    s.states.cancelled = int_at(st, "cancelled");
    return s;
}

std::string file_stem(std::string_view batch) {
    std::string stem;
    for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto ch = static_cast<unsigned char>(batch[i]);
        if (plain_byte(ch, i == 0)) {
            stem += static_cast<char>(ch);
        } else {
            stem += fmt::format("%{:02X}", ch);
        }
    }
    if (stem.empty()) {
        return "%";  // no batch is called "", but a name must never be empty
    }
    if (stem.size() <= max_stem_bytes) {
        return stem;
    }
    std::size_t cut = max_stem_bytes - 1 - stem_hash_hex;
    // Never cut inside a %XX escape.
    if (cut >= 1 && stem[cut - 1] == '%') {
        cut -= 1;
    } else if (cut >= 2 && stem[cut - 2] == '%') {
        cut -= 2;
    }
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    ::EVP_Digest(batch.data(), batch.size(), md, &md_len, ::EVP_sha256(), nullptr);
    std::string hex;
    for (std::size_t i = 0; i < stem_hash_hex / 2 && i < md_len; ++i) {
        hex += fmt::format("{:02x}", md[i]);
    }
    return stem.substr(0, cut) + "~" + hex;
}

}  // namespace msgflash::report
