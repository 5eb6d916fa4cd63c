// What the queue's operations take and give back: plain structs, no SQLite. Times are injected (`now`),
// never read from a clock inside the store.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/job.hpp"

namespace spdlog {
class logger;
}

namespace msgflash::store {

// retry.on_ambiguous, as the store applies it to jobs found inflight at start (the daemon maps its config).
enum class ambiguous_action { retry, hold };

// The reason of a job held alone after an ambiguous attempt (retry.on_ambiguous = "hold"): no hold row, it
// waits for `msgflashctl retry` (or reconciliation) rather than for a cause to clear.
inline constexpr std::string_view ambiguous_hold_reason = "ambiguous";

struct recovery_policy {
    ambiguous_action on_ambiguous = ambiguous_action::retry;
    int max_attempts = 0;  // retry.max_attempts: a recovered job that used them all is dead; 0: no limit
};

struct store_options {
    std::filesystem::path path{};
    std::chrono::milliseconds busy_timeout{5'000};
    // SQLite's page cache for the writer. Bounded memory (DESIGN): the ingest benchmark's RSS cap is 64 MiB.
    std::int64_t cache_kib = 16 * 1024;
    // Group commit: the writer takes at most this many pending operations into one transaction… Large: the
    // more results of one key a transaction holds, the fewer pages each writes to the WAL (its jobs, index
    // entries and deliveries sit together). bench/scale, 1,000 keys: 512 → 6,365 sends/s and 35 KiB written
    // per send, 4,096 → 8,268 and 23.5 KiB, 16,384 → 8,646 and 19.5 KiB.
    std::size_t max_group_ops = 16'384;
    // …and, when fewer are pending, waits at most this long for more before it begins (0: take what is
    // there; operations that arrive during a commit form the next group anyway).
    std::chrono::microseconds group_linger{0};
    // Ingest: chunks of jobs buffered between the producer and the writer, and how long the writer waits for
    // the next one before giving up on a stalled producer (the writer is blocked meanwhile).
    std::size_t ingest_chunk_jobs = 2'048;
    std::size_t ingest_channel_chunks = 4;
    std::chrono::milliseconds ingest_idle_timeout{30'000};
    // Memory for the duplicate-`to` check of one ingest (8 bytes per slot, about 1.5 million E.164 numbers in
    // 16 MiB); numbers past it, and those that are not E.164, are remembered in a temporary table on disk.
    std::size_t ingest_seen_kib = 16 * 1024;
    // Bulk changes (pause, cancel, release, retry, expire) move at most this many jobs per transaction, so
    // that dispatch never waits long behind them.
    std::size_t bulk_chunk_jobs = 5'000;
    // Recovery of jobs left inflight, run by open() before any other operation.
    recovery_policy recovery{};
    timestamp now{};                           // the time recovery stamps (the daemon passes its clock's now)
    std::shared_ptr<spdlog::logger> logger{};  // null: spdlog's default logger
};

struct recovery_report {
    std::size_t inflight_found = 0;  // each became an ambiguous attempt (outcome crash-recovery)
    std::size_t retried = 0;         // back to ready, due now
    std::size_t held = 0;            // held with reason 'ambiguous'
    std::size_t dead = 0;            // already at retry.max_attempts
};

// Upper bounds (µs) of the commit latency histogram's buckets (/metrics: msgflash_store_commit_seconds): from
// a page-cache fsync to a slow disk's.
inline constexpr std::array<std::uint32_t, 10> commit_latency_bounds_us{
    250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 100'000, 250'000, 1'000'000};

struct writer_stats {
    std::uint64_t groups = 0;       // transactions begun
    std::uint64_t commits = 0;      // transactions committed (counted by SQLite's commit hook)
    std::uint64_t ops = 0;          // operations run (each chunk of a chunked one counts)
    std::uint64_t failed_ops = 0;   // operations rolled back to their savepoint
    std::uint64_t max_group = 0;    // the most operations one transaction carried
    std::uint64_t lost_groups = 0;  // transactions that failed to commit
    // How long each COMMIT (the fsync of the WAL) took: per bucket of commit_latency_bounds_us, the last one
    // for the slower ones, and the sum.
    std::array<std::uint64_t, commit_latency_bounds_us.size() + 1> commit_latency{};
    std::uint64_t commit_latency_sum_us = 0;
};

// ---- what the queue holds -------------------------------------------------------------------------------

struct batch_counts {
    std::int64_t total = 0;
    std::int64_t waiting = 0;
    std::int64_t ready = 0;
    std::int64_t inflight = 0;
    std::int64_t sent = 0;
    std::int64_t failed = 0;
    std::int64_t dead = 0;
    std::int64_t expired = 0;
    std::int64_t cancelled = 0;
    std::int64_t held = 0;

    std::int64_t pending() const noexcept { return waiting + ready + inflight + held; }
    friend bool operator==(const batch_counts&, const batch_counts&) = default;
};

struct batch_info {
    std::int64_t rowid = 0;
    std::string id{};  // the idempotency id
    std::string account{};
    std::string source_file{};
    std::string fingerprint{};
    int priority = 0;
    std::optional<timestamp> send_at{};
    std::optional<timestamp> expires_at{};
    std::optional<sending_window> window{};
    std::vector<std::string> instance_ids{};
    std::string message_json{};
    bool allow_duplicates = false;
    batch_state state = batch_state::active;
    std::string hold_reason{};
    timestamp created_at{};
    std::optional<timestamp> finished_at{};
    batch_counts counts{};
};

struct job_info {
    std::int64_t id = 0;
    std::int64_t batch_id = 0;
    std::string ref{};
    std::string to{};
    std::string payload_json{};
    job_state state = job_state::ready;
    int attempts = 0;
    timestamp next_attempt_at{};
    std::optional<timestamp> expires_at{};
    std::string last_code{};
    std::string message_id{};
    std::string api_status{};
    bool ambiguous = false;
    std::string instance_id{};
    std::optional<std::int64_t> hold_id{};
    std::string hold_reason{};
    std::int64_t fair_seq = 0;
    int priority = 0;
    timestamp created_at{};
    timestamp updated_at{};
    std::optional<timestamp> sent_at{};
};

// ---- reports (SPEC §7) ------------------------------------------------------------------------------------

// One recipient's line of reports/<batch>.csv and of `msgflashctl export`, with what its summary counts.
struct report_row {
    std::string ref{};
    std::string to{};
    job_state state = job_state::ready;
    std::string message_id{};
    int attempts = 0;
    std::string last_code{};
    std::optional<timestamp> sent_at{};
    std::string delivery_status{};  // the reconciled status (deliveries.status); empty: never sent
    bool ambiguous = false;         // some attempt may have been sent without an answer
    bool ambiguous_settled =
        false;  // …and that doubt has been settled (queue_reader.cpp says how it is read)
    bool delivery_tracked = false;  // the job has a deliveries row (it was sent with a message id)
    bool delivery_settled = false;  // …whose status is final (or reconciliation gave up)
};

// A batch every job of which has ended (batches.finished_at set, nothing pending): its report is due.
struct finished_batch {
    std::int64_t rowid = 0;
    std::string id{};
    std::string account{};
    timestamp finished_at{};
    batch_counts counts{};
};

// A campaign batch's recipients by delivery state, as GET /campaigns/{id}/stats last gave them (SPEC §3
// campaign files; the batch's campaign_stats row).
struct campaign_counts {
    std::string campaign_id{};
    std::int64_t total = 0;
    std::int64_t pending = 0;
    std::int64_t sent = 0;
    std::int64_t delivered = 0;
    std::int64_t read = 0;
    std::int64_t failed = 0;
    timestamp checked_at{};
    bool operator==(const campaign_counts&) const = default;
};

// How far reconciliation has got with a batch's sent jobs.
struct delivery_progress {
    std::optional<timestamp> last_checked{};    // the newest deliveries.last_checked of the batch's jobs
    std::int64_t tracked = 0;                   // jobs with a deliveries row
    std::int64_t unsettled = 0;                 // …whose status is not final yet
    std::optional<campaign_counts> campaign{};  // a campaign batch's last stats, once read
};

// ---- ingest ----------------------------------------------------------------------------------------------

enum class conflict_policy {
    reject_file,  // a batch id already queued with another fingerprint fails the whole ingest
    skip_batch,   // that batch's jobs are skipped and reported; the file's other batches go in
};

struct ingest_options {
    timestamp now{};
    conflict_policy on_conflict = conflict_policy::reject_file;
    std::string source{};  // the file, for logs
};

struct batch_ingest_report {
    std::string id{};
    std::int64_t batch_rowid = 0;
    bool existed = false;   // the batch id was already queued (a re-drop, or a line file adding to it)
    bool conflict = false;  // …with another fingerprint (stored_fingerprint); its jobs were not queued
    std::string stored_fingerprint{};
    std::uint64_t received = 0;         // jobs the producer sent for this batch
    std::uint64_t inserted = 0;         // newly queued
    std::uint64_t already_present = 0;  // (batch, ref) already queued: not queued again
    std::uint64_t duplicates = 0;       // a `to` repeated inside the batch (allow_duplicates off)
};

struct ingest_report {
    std::vector<batch_ingest_report> batches{};  // in the order the producer began them
    std::uint64_t inserted = 0;
    std::uint64_t already_present = 0;
    std::uint64_t duplicates = 0;
    std::uint64_t conflicts = 0;
};

// ---- dispatch --------------------------------------------------------------------------------------------

struct claim_request {
    std::string account{};
    std::size_t max_jobs = 1;
    timestamp now{};
    // Waiting jobs of the account that became due are promoted to ready first, at most this many per claim.
    std::size_t promote_budget = 1'024;
    // Ready jobs found unusable (expired, batch paused/cancelled, number held) are moved out of the way as
    // the claim meets them; at most this many per claim, so one claim's cost stays bounded.
    std::size_t skip_budget = 4'096;
};

// An earlier attempt of a claimed job that a crash left ambiguous (outcome crash-recovery) and that nothing
// has settled yet: the engine asks the account's messages about it before the claim sends anything.
// Several crashes in a row leave one each; this stands for them all.
struct unsettled_attempt {
    int n = 0;               // the latest one's number (a result settles every one up to it)
    timestamp started_at{};  // when the oldest one's claim began: its request left then or later
};

struct claimed_job {
    std::int64_t id = 0;
    std::int64_t batch_id = 0;
    std::string ref{};
    std::string to{};
    std::string payload_json{};
    std::string instance_id{};  // pinned at ingest; empty: the engine picks one of the batch's numbers
    int attempt = 0;            // this attempt's number (1 for the first)
    int priority = 0;
    std::int64_t fair_seq = 0;
    bool ambiguous_before = false;                 // an earlier attempt may have been sent
    std::optional<unsettled_attempt> unsettled{};  // its unsettled crash-left attempts, if any
    std::optional<timestamp> expires_at{};
    timestamp created_at{};
};

struct hold_info {
    std::int64_t id = 0;
    hold_scope scope = hold_scope::key;
    std::string subject{};
    std::string cause{};
    std::string reason_code{};
    timestamp since{};
    std::optional<timestamp> until{};
};

struct claim_result {
    std::vector<claimed_job> jobs{};          // now inflight (committed), in claim order
    std::size_t promoted = 0;                 // waiting → ready on the way
    std::size_t expired = 0;                  // met past their expiry
    std::size_t held = 0;                     // met with their batch or number held
    std::size_t cancelled = 0;                // met with their batch cancelled
    std::optional<hold_info> account_hold{};  // the account is held: nothing was claimed
};

// The hold a job result or a hold request refers to; created when no hold on that subject is active.
struct hold_target {
    hold_scope scope = hold_scope::key;
    std::string subject{};
    std::string cause{};
    std::string reason_code{};
    std::optional<timestamp> until{};
};

// What a sent job's id is, for reconciliation: a message (GET /messages/{id}), a campaign
// (GET /campaigns/{id}/stats, whose counts go into the batch's campaign_stats), or nothing to read.
enum class delivery_kind { message, campaign, none };

// How an earlier crash-left attempt (claimed_job::unsettled) was settled before this claim's send.
struct earlier_settlement {
    int n = 0;
    settle_outcome outcome = settle_outcome::none;
};

// What one attempt's answer did to its job (the engine decides; the store records and checks).
struct job_result {
    attempt_record attempt{};  // attempt.job_id and attempt.n identify the claim this answers
    job_state new_state = job_state::sent;
    std::optional<timestamp> next_attempt_at{};  // waiting (required), ready (default: now)
    std::string last_code{};                     // empty: attempt.api_code
    std::string api_status{};                    // sent: the API's data.status
    std::string instance_id{};                   // the number used; empty: as claimed
    // held: which hold. Without one the job is held alone with ambiguous_hold_reason, which only an
    // ambiguous attempt may ask for (retry.on_ambiguous = "hold").
    std::optional<hold_target> hold{};
    bool count_send = false;                  // add one send to instance_id's minute/hour/day counters
    std::optional<timestamp> reconcile_at{};  // sent: first delivery check (default: attempt.finished_at)
    delivery_kind delivery = delivery_kind::message;  // sent: what reconciliation reads about its id
    // The crash-left attempt this claim settled first: its `settled` is recorded. found: the earlier attempt
    // did send attempt.message_id, this claim made no request (no attempt row of its own, none counted), and
    // the message id is recorded on the earlier attempt too.
    std::optional<earlier_settlement> settles{};
    timestamp now{};
};

// Gives a claimed job back without an attempt (its request was never written): shutdown, a closed sending
// window, a number that cannot take it now (waiting), or one that is disconnected (held on its hold).
struct unclaim_request {
    std::int64_t job_id = 0;
    int attempt = 0;                         // the claim's attempt number
    job_state new_state = job_state::ready;  // ready, waiting or held
    std::optional<timestamp> next_attempt_at{};
    timestamp now{};
    std::optional<hold_target> hold{};  // held: the hold it waits on (placed if none is active)
};

// ---- holds and operator commands -------------------------------------------------------------------------

struct hold_request {
    hold_target target{};
    timestamp now{};
};

struct release_report {
    bool was_held = false;
    std::uint64_t jobs_resumed = 0;
};

struct batch_change_report {
    batch_state state = batch_state::active;
    std::uint64_t jobs_changed = 0;
};

// ---- counters and reconciliation -------------------------------------------------------------------------

// Sends by one number: the current fixed UTC windows and sliding sums over the last hour and day.
struct number_usage {
    std::int64_t this_minute = 0;
    std::int64_t this_hour = 0;
    std::int64_t this_day = 0;
    std::int64_t last_60_minutes = 0;  // sum of the minute windows that started within the last hour
    std::int64_t last_24_hours = 0;    // sum of the hour windows that started within the last 24 h
};

struct delivery_check {
    std::int64_t job_id = 0;
    std::string message_id{};  // a campaign's id when `campaign`
    std::string status{};      // last known, empty if none yet
    timestamp sent_at{};
    bool campaign = false;  // the job created a campaign (delivery_kind::campaign)
};

struct delivery_update {
    std::int64_t job_id = 0;
    std::string status{};  // as the API reports it (queued, sent, delivered, read, failed)
    std::optional<timestamp> status_at{};
    timestamp checked_at{};
    std::optional<timestamp> next_check_at{};   // NULL with settled: done
    std::string settled{};                      // the final status, or "gave-up"; empty: keep polling
    std::optional<campaign_counts> campaign{};  // a campaign's stats: kept as its batch's campaign_stats
};

}  // namespace msgflash::store
