// Ingesting one file of incoming/ (SPEC §3, DESIGN "Durable before acknowledged"): safe open → SHA-256 →
// the reader streams its jobs into one store ingest session → commit → move to accepted/ (then fsync of both
// directories); a refused file goes to rejected/ beside <name>.error.json. A failure that is not the file's
// fault (I/O, the store) leaves it in incoming/ for the next scan. Blocking: run it on the spool thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <set>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <vector>

#include <spdlog/logger.h>

#include "config/config.hpp"
#include "core/job.hpp"
#include "spool/job_reader.hpp"
#include "spool/spool_dirs.hpp"

namespace msgflash::store {
class queue_store;
}

namespace msgflash::spool {

struct ingester_options {
    std::uint64_t max_file_bytes = 268'435'456;  // SPEC §3 default, spool.max_file_bytes
    std::uint64_t max_line_bytes = 1'048'576;
    invalid_recipient_policy on_invalid_recipient = invalid_recipient_policy::skip;
    std::vector<std::string> accounts{};
    std::size_t max_problems = default_max_problems;
    std::function<timestamp()> now{};  // the daemon's clock; stamps batches and jobs. Empty: system_clock
    std::shared_ptr<spdlog::logger> logger{};  // null: spdlog's default logger

    static ingester_options from_config(const config& c);
};

enum class file_outcome {
    accepted,  // committed, moved to accepted/ (problems, if any, in rejected/<name>.error.json)
    rejected,  // nothing committed, moved to rejected/ with <name>.error.json
    retry,     // left in incoming/ for the next scan (I/O error, store unavailable, file still changing)
    ignored,   // not ours to take: a dot-file or *.tmp, a directory, a name already gone
};

std::string_view to_string(file_outcome o) noexcept;

// What became of one file: logged, and returned for the admin metrics (issue 6).
struct file_report {
    std::string file{};  // the name in incoming/
    file_outcome outcome = file_outcome::ignored;
    std::string code{};  // why it was refused before reading (safe_open: SYMLINK, DIRECTORY, …), or empty
    std::string moved_to{};     // the name in accepted/ or rejected/ (a re-dropped name gets "~N")
    std::string report_file{};  // the name in rejected/ of the error report, if one was written
    std::uint64_t batches = 0;
    std::uint64_t jobs = 0;             // jobs the reader produced
    std::uint64_t inserted = 0;         // newly queued
    std::uint64_t already_present = 0;  // (batch, ref) already queued: a re-drop
    std::uint64_t duplicates = 0;       // a `to` repeated inside a batch
    std::uint64_t skipped = 0;          // bad recipients or lines left out
    std::uint64_t conflicts = 0;        // batch ids already queued with other content
    std::vector<problem> problems{};    // as written to the error report
    std::string reason{};               // retry / ignored / a failed move: why, for logs
};

// The bytes of an open job file, at most `limit` (the size it had when it was opened: a file that keeps
// growing cannot keep the reader busy; the change is noticed after the read). The ingester and msgflashctl
// validate read through it.
class file_source final : public byte_source {
  public:
    file_source(int fd, std::uint64_t limit) : fd_(fd), limit_(limit) {}
    std::size_t read(std::span<char> into) override;
    void rewind() override;

  private:
    int fd_;
    std::uint64_t limit_;
    std::uint64_t pos_ = 0;
};

// The file's SHA-256 in hex (a batch's fingerprint when its file gives none), read through `buffer`; the
// source is left at its end. msgflashctl validate uses it too, so both see the same fingerprint.
std::string sha256_hex(byte_source& source, std::vector<char>& buffer);

class spool_ingester {
  public:
    spool_ingester(const spool_dirs& dirs, store::queue_store& store, ingester_options options);

    // Handles incoming/<name> completely; never throws for anything the file or the disk does. A stop
    // request gives the file up between two chunks (outcome retry, nothing committed).
    file_report ingest(std::string_view name, std::stop_token stop = {});

  private:
    void run(std::string_view name, std::stop_token stop, file_report& out);
    void reject(std::string_view name, file_report& out);
    void accept(std::string_view name, file_report& out);
    // Writes the report (if out.problems) and moves the file into `to_dir`; false if it is still in
    // incoming/.
    bool write_report_and_move(std::string_view name, int to_dir, file_report& out);
    void log(const file_report& r);

    const spool_dirs& dirs_;
    store::queue_store& store_;
    ingester_options options_;
    std::shared_ptr<spdlog::logger> logger_;
    std::set<std::string> directories_seen_;  // logged once each
    std::vector<char> buffer_;
};

}  // namespace msgflash::spool
