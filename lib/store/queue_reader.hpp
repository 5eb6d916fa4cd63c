// A read-only connection to the queue (SQLITE_OPEN_READONLY, query_only): what msgflashctl and the reporter
// use, from this process or another one, while the daemon writes. Never writes, never checkpoints. Each call
// reads one consistent snapshot; the object is used by one thread at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "store/queue_types.hpp"
#include "store/sqlite.hpp"
#include "store/store_error.hpp"

namespace msgflash::store {

struct reader_options {
    std::filesystem::path path;
    std::chrono::milliseconds busy_timeout{5'000};
    std::int64_t cache_kib = 4 * 1024;
};

// Jobs per state of one account (msgflashctl status, like qshape).
struct account_shape {
    std::string account;
    batch_counts counts;  // summed over the account's batches
};

// Reconciliation's progress for one account (/metrics): sent messages whose delivery is not settled, how many
// of them are due for a check now, and since when the oldest due one waits.
struct delivery_backlog {
    std::string account;
    std::int64_t unsettled = 0;
    std::int64_t due = 0;
    std::optional<timestamp> oldest_due{};
};

class queue_reader {
  public:
    // Fails with schema_outdated / schema_too_new unless the database is at current_schema_version.
    static store_result<queue_reader> open(const reader_options& options);

    store_result<std::optional<batch_info>> batch(const std::string& id);
    store_result<std::vector<batch_info>> batches(std::size_t limit = 1000);
    // A batch's jobs in ref order, after `after_ref` (paging), optionally in one state.
    store_result<std::vector<job_info>> jobs(const std::string& batch_id, std::optional<job_state> state = {},
                                             const std::string& after_ref = {}, std::size_t limit = 1000);
    store_result<std::optional<job_info>> job(std::int64_t id);
    store_result<std::vector<attempt_record>> attempts(std::int64_t job_id);
    store_result<std::vector<hold_info>> active_holds();
    store_result<std::vector<account_shape>> shape();
    store_result<number_usage> usage(const std::string& instance_id, timestamp now);
    store_result<std::vector<delivery_backlog>> deliveries_backlog(timestamp now);
    store_result<int> schema_version();
    // "ok", or SQLite's list of problems.
    store_result<std::string> integrity_check();

    sqlite3* handle() const noexcept { return db_.get(); }

  private:
    explicit queue_reader(connection db) : db_(std::move(db)) {}
    connection db_;
};

}  // namespace msgflash::store
