#include "store/store_rows.hpp"

#include <cstdio>

#include "store/queue_ops.hpp"
#include "store/store_error.hpp"

namespace msgflash::store::detail {

std::optional<timestamp> opt_time(const statement& s, int col) {
    if (s.is_null(col)) {
        return std::nullopt;
    }
    return from_millis(s.int64(col));
}

batch_info read_batch_row(sqlite3* db, const statement& s) {
    batch_info b;
    b.rowid = s.int64(0);
    b.id = s.str(1);
    b.account = s.str(2);
    b.source_file = s.str(3);
    b.fingerprint = s.str(4);
    b.priority = s.int32(5);
    b.send_at = opt_time(s, 6);
    b.expires_at = opt_time(s, 7);
    if (!s.is_null(8)) {
        b.window = sending_window{s.str(8), s.str(9), s.str(10)};
    }
    b.instance_ids = parse_string_array(db, s.text(11));
    b.message_json = s.str(12);
    b.allow_duplicates = s.int64(13) != 0;
    b.state = parse_batch_state(s.text(14)).value_or(batch_state::active);
    b.hold_reason = s.str(15);
    b.created_at = from_millis(s.int64(16));
    b.finished_at = opt_time(s, 17);
    b.counts.total = s.int64(18);
    b.counts.waiting = s.int64(19);
    b.counts.ready = s.int64(20);
    b.counts.inflight = s.int64(21);
    b.counts.sent = s.int64(22);
    b.counts.failed = s.int64(23);
    b.counts.dead = s.int64(24);
    b.counts.expired = s.int64(25);
    b.counts.cancelled = s.int64(26);
    b.counts.held = s.int64(27);
    return b;
}

job_info read_job_row(const statement& s) {
    job_info j;
    j.id = s.int64(0);
    j.batch_id = s.int64(1);
    j.ref = s.str(2);
    j.to = s.str(3);
    j.payload_json = s.str(4);
    j.state = parse_job_state(s.text(5)).value_or(job_state::ready);
    j.attempts = s.int32(6);
    j.next_attempt_at = from_millis(s.int64(7));
    j.expires_at = opt_time(s, 8);
    j.last_code = s.str(9);
    j.message_id = s.str(10);
    j.api_status = s.str(11);
    j.ambiguous = s.int64(12) != 0;
    j.instance_id = s.str(13);
    j.hold_id = s.opt_int64(14);
    j.hold_reason = s.str(15);
    j.fair_seq = s.int64(16);
    j.priority = s.int32(17);
    j.created_at = from_millis(s.int64(18));
    j.updated_at = from_millis(s.int64(19));
    j.sent_at = opt_time(s, 20);
    return j;
}

attempt_record read_attempt_row(const statement& s) {
    attempt_record a;
    a.job_id = s.int64(0);
    a.n = s.int32(1);
    a.started_at = from_millis(s.int64(2));
    a.finished_at = from_millis(s.int64(3));
    a.http_status = static_cast<unsigned>(s.int64(4));
    a.api_code = s.str(5);
    a.latency_ms = s.int64(6);
    a.message_id = s.str(7);
    a.ambiguous = s.int64(8) != 0;
    a.outcome = parse_attempt_outcome(s.text(9)).value_or(attempt_outcome::retry);
    a.counted = s.int64(10) != 0;
    a.settled = parse_settle_outcome(s.text(11)).value_or(settle_outcome::none);
    return a;
}

hold_info read_hold_row(const statement& s) {
    hold_info h;
    h.id = s.int64(0);
    h.scope = parse_hold_scope(s.text(1)).value_or(hold_scope::key);
    h.subject = s.str(2);
    h.cause = s.str(3);
    h.reason_code = s.str(4);
    h.since = from_millis(s.int64(5));
    h.until = opt_time(s, 6);
    return h;
}

number_usage read_number_usage(sqlite3* db, std::string_view instance_id, timestamp now) {
    const std::int64_t t = to_millis(now);
    number_usage u;
    statement one(db,
                  "SELECT coalesce(sum(count), 0) FROM number_counters "
                  "WHERE instance_id = ?1 AND window_kind = ?2 AND window_start = ?3");
    auto fixed = [&](const char* kind, std::int64_t window_ms) {
        one.bind(1, instance_id).bind(2, kind).bind(3, window_start(now, window_ms));
        const std::int64_t v = one.step() ? one.int64(0) : 0;
        one.reset();
        return v;
    };
    u.this_minute = fixed("minute", minute_ms);
    u.this_hour = fixed("hour", hour_ms);
    u.this_day = fixed("day", day_ms);
    statement since(db,
                    "SELECT coalesce(sum(count), 0) FROM number_counters "
                    "WHERE instance_id = ?1 AND window_kind = ?2 AND window_start > ?3");
    auto sliding = [&](const char* kind, std::int64_t span_ms) {
        since.bind(1, instance_id).bind(2, kind).bind(3, t - span_ms);
        const std::int64_t v = since.step() ? since.int64(0) : 0;
        since.reset();
        return v;
    };
    u.last_60_minutes = sliding("minute", hour_ms);
    u.last_24_hours = sliding("hour", day_ms);
    return u;
}

std::string json_string_array(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) {
            out += ',';
        }
        out += '"';
        for (const unsigned char c : items[i]) {
            switch (c) {
                case '"':
                    out += "\\\"";
                    break;
                case '\\':
                    out += "\\\\";
                    break;
                default:
                    if (c < 0x20) {
                        char buf[8];
                        std::snprintf(buf, sizeof buf, "\\u%04x", c);
                        out += buf;
                    } else {
                        out += static_cast<char>(c);
                    }
            }
        }
        out += '"';
    }
    out += ']';
    return out;
}

std::vector<std::string> parse_string_array(sqlite3* db, std::string_view json) {
    std::vector<std::string> out;
    if (json.empty() || json == "[]") {
        return out;
    }
    statement s(db, "SELECT value FROM json_each(?1)");
    s.bind(1, json);
    while (s.step()) {
        out.push_back(s.str(0));
    }
    return out;
}

}  // namespace msgflash::store::detail
