// The queue's schema and its migrations: version N → N+1 functions applied in order, one transaction each,
// recorded in schema_version. A database newer than this code is refused, never guessed at.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

struct sqlite3;

namespace msgflash::store {

class connection;

// v1: the placeholder (schema_version only). v2: the queue (issue 4). v3: attempts.settled. v4: campaign
// stats (deliveries.kind, campaign_stats).
inline constexpr int current_schema_version = 4;

// PRAGMA application_id of a queue database: "MSGF". A database with another id is not ours.
inline constexpr std::int32_t queue_application_id = 0x4D534746;

struct migration {
    int from;  // applies to a database at this version and leaves it at from + 1
    std::string_view description;
    void (*apply)(connection&);
};

// Every migration, in order (migrations()[i].from == i).
std::span<const migration> migrations();

// 0 for an empty database; throws store_exception(not_a_queue) for a database that has tables but is not
// a queue, and (schema_too_new) for one newer than current_schema_version when `refuse_newer`.
int read_schema_version(connection& c);

// Brings the database to `target` (default: current), each step in its own IMMEDIATE transaction, stamping
// `now_ms` in schema_version. Throws store_exception: schema_too_new, not_a_queue, or SQLite's error.
void migrate(connection& c, std::int64_t now_ms, int target = current_schema_version);

// Checks a database a read-only connection opened: exactly current_schema_version, else schema_outdated or
// schema_too_new (throws).
void check_schema_for_reading(connection& c);

}  // namespace msgflash::store
