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
    // Reports (SPEC §7). Batches every job of which has ended (finished_at set by collect_finished_batches,
    // nothing pending), by rowid after `after_rowid`.
    store_result<std::vector<finished_batch>> finished_batches(std::int64_t after_rowid = 0,
                                                               std::size_t limit = 1000);
    // How far reconciliation has got with a batch's sent jobs (reads every delivery of the batch), and a
    // campaign batch's last stats.
    store_result<delivery_progress> deliveries_of(std::int64_t batch_rowid);
    // One page of a batch's report rows in ref order: the first page without `after_ref`, then after the last
    // ref read. report_cursor does the paging.
    store_result<std::vector<report_row>> report_rows(std::int64_t batch_rowid,
                                                      const std::optional<std::string>& after_ref,
                                                      std::size_t limit);
    store_result<std::vector<delivery_backlog>> deliveries_backlog(timestamp now);
    store_result<int> schema_version();
    // "ok", or SQLite's list of problems.
    store_result<std::string> integrity_check();

    sqlite3* handle() const noexcept { return db_.get(); }

  private:
    explicit queue_reader(connection db) : db_(std::move(db)) {}
    connection db_;
};

// A batch's report rows, page by page: each next() is one read transaction of at most `page_rows` rows, so
// a batch of a million recipients holds neither its rows in memory nor a snapshot (and the WAL) for as long
// as its report takes to write or its export to be read.
class report_cursor {
  public:
    report_cursor(queue_reader& reader, std::int64_t batch_rowid, std::size_t page_rows = 1'000)
        : reader_(&reader), batch_rowid_(batch_rowid), page_rows_(page_rows > 0 ? page_rows : 1) {}
    // The next rows in ref order; empty once every row was read.
    store_result<std::vector<report_row>> next();

  private:
    queue_reader* reader_;
    std::int64_t batch_rowid_;
    std::size_t page_rows_;
    std::optional<std::string> after_;
    bool done_ = false;
};

}  // namespace msgflash::store
