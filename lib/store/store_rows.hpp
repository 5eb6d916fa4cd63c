// Reading the queue's rows into the structs of queue_types.hpp, shared by the writer's operations and the
// read-only connection. Internal to lib/store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/queue_types.hpp"
#include "store/sqlite.hpp"

namespace msgflash::store::detail {

// SELECT list for batch_info, then " WHERE b.id = ?1" or " WHERE b.name = ?1" and so on.
inline constexpr std::string_view batch_select_sql =
    "SELECT b.id, b.name, a.name, b.source_file, b.fingerprint, b.priority, b.send_at, b.expires_at, "
    "b.window_from, b.window_to, b.window_tz, b.instance_ids, b.message, b.allow_duplicates, b.state, "
    "coalesce(b.hold_reason, ''), b.created_at, b.finished_at, c.total, c.waiting, c.ready, c.inflight, "
    "c.sent, "
    "c.failed, c.dead, c.expired, c.cancelled, c.held "
    "FROM batches b JOIN accounts a ON a.id = b.account_id JOIN batch_counters c ON c.batch_id = b.id";

// The current row of a batch_select_sql statement.
batch_info read_batch_row(sqlite3* db, const statement& s);

inline constexpr std::string_view job_select_sql =
    "SELECT id, batch_id, ref, to_number, payload, state, attempts, next_attempt_at, expires_at, "
    "coalesce(last_code, ''), coalesce(message_id, ''), coalesce(api_status, ''), ambiguous, "
    "coalesce(instance_id, ''), hold_id, coalesce(hold_reason, ''), fair_seq, priority, created_at, "
    "updated_at, "
    "sent_at FROM jobs";

job_info read_job_row(const statement& s);

inline constexpr std::string_view attempt_select_sql =
    "SELECT job_id, n, started_at, finished_at, coalesce(http_status, 0), coalesce(api_code, ''), "
    "coalesce(latency_ms, 0), coalesce(message_id, ''), ambiguous, outcome, counted, coalesce(settled, '') "
    "FROM attempts";

attempt_record read_attempt_row(const statement& s);

inline constexpr std::string_view hold_select_sql =
    "SELECT id, scope, subject, cause, reason_code, since, until FROM holds";

hold_info read_hold_row(const statement& s);

// The counters of one number at `now` (read_usage and queue_reader::usage).
number_usage read_number_usage(sqlite3* db, std::string_view instance_id, timestamp now);

// ["a","b"] with JSON string escapes; and back, through SQLite's json_each.
std::string json_string_array(const std::vector<std::string>& items);
std::vector<std::string> parse_string_array(sqlite3* db, std::string_view json);

std::optional<timestamp> opt_time(const statement& s, int col);
inline std::optional<std::int64_t> opt_millis(const std::optional<timestamp>& t) {
    return t ? std::optional<std::int64_t>(to_millis(*t)) : std::nullopt;
}

// Fixed UTC windows for the per-number counters.
inline constexpr std::int64_t minute_ms = 60'000;
inline constexpr std::int64_t hour_ms = 3'600'000;
inline constexpr std::int64_t day_ms = 86'400'000;

}  // namespace msgflash::store::detail
