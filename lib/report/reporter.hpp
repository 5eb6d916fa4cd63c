// The reporter (SPEC §7): a thread of its own that marks finished batches and writes their reports —
// reports/<stem>.csv and <stem>.summary.json — from a read-only connection, page by page, never on the
// store's writer thread nor on the engine's io_context.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stop_token>
#include <string>
#include <thread>

#include "core/job.hpp"
#include "report/atomic_file.hpp"
#include "store/queue_reader.hpp"
#include "store/queue_types.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::store {
class queue_store;
}

namespace msgflash::report {

struct reporter_options {
    std::filesystem::path reports_dir{};  // <spool.dir>/reports
    std::chrono::milliseconds interval{5'000};
    std::chrono::milliseconds min_rewrite_interval{60'000};
    std::size_t page_rows = 1'000;             // rows per read transaction
    std::function<timestamp()> clock{};        // the wall clock; empty: system_clock
    std::shared_ptr<spdlog::logger> logger{};  // null: spdlog's default logger
};

struct report_written {
    std::int64_t rows = 0;
    bool final = false;
    std::optional<timestamp> deliveries_checked_at{};
};

// Writes one batch's report into `dir_fd`: the CSV, then the summary, each replaced atomically. The delivery
// watermark is read before the rows, so a check made meanwhile makes the next pass write it again. false (and
// `error`) when the queue or the file system failed; the previous report, if any, is left as it was. Stops,
// leaving the previous report, when `stop` is requested.
bool write_batch_report(store::queue_reader& reader, int dir_fd, const store::finished_batch& batch,
                        timestamp now, std::size_t page_rows, std::stop_token stop, report_written& out,
                        std::string& error);

// Every `interval`: has the batches whose every job ended marked finished (collect_finished_batches, through
// the writer like any write), then writes the reports that are due. Due: none yet (or one it cannot read);
// the batch changed since (its job counts differ: jobs added to it, or dead ones retried); or, until the
// report is final, reconciliation checked one of its deliveries after it was written (max(last_checked) newer
// than the summary's deliveries_checked_at_ms) — looked at, and so rewritten, at most once per
// `min_rewrite_interval`. A final report (every job ended, every delivery settled) is not rewritten. What was
// written is remembered in the summaries themselves: no table of its own, nothing to migrate.
class reporter {
  public:
    reporter(store::queue_store& store, reporter_options options);
    ~reporter();
    reporter(const reporter&) = delete;
    reporter& operator=(const reporter&) = delete;

    // Runs run_once() on its own thread every interval until stop().
    void start();
    // Interrupts a report being written (its previous version stays) and joins the thread.
    void stop();

    // One pass, on the caller's thread: the number of reports written.
    std::size_t run_once(std::stop_token stop = {});

  private:
    // What the reporter knows of a batch's current report.
    struct known_report {
        bool final = false;
        std::optional<std::int64_t> deliveries_checked_ms{};
        store::batch_counts counts{};
        // When this process last wrote it or read its batch's deliveries.
        std::optional<std::chrono::steady_clock::time_point> looked_at{};
    };

    bool consider(const store::finished_batch& b, timestamp now, std::stop_token stop);
    std::optional<known_report> read_known(const std::string& stem);
    timestamp now() const;

    store::queue_store& store_;
    reporter_options options_;
    std::shared_ptr<spdlog::logger> log_;
    std::optional<store::queue_reader> reader_;
    dir_handle dir_;
    std::map<std::string, known_report, std::less<>> known_;  // by batch id
    // Batches whose last write failed, and when: tried again after min_rewrite_interval.
    std::map<std::string, std::chrono::steady_clock::time_point, std::less<>> failed_;
    std::mutex mutex_;
    std::condition_variable_any wake_;
    std::jthread thread_;
};

}  // namespace msgflash::report
