// The queue's write operations as typed commands: submit one to queue_store (`store.submit(claim_jobs{r})`,
// or `co_await store.async_submit(claim_jobs{r}, use_awaitable)`) and it runs on the writer thread inside the
// group's transaction. Commands marked "chunked" move many jobs a few thousand per transaction.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "store/queue_types.hpp"
#include "store/store_error.hpp"
#include "store/write_context.hpp"

namespace msgflash::store {

// The next ready jobs of an account — by priority, then fairly across its batches (fair_seq), then by age —
// marked inflight with their attempt number. Due waiting jobs are promoted first; expired jobs and jobs of
// paused/cancelled batches or held numbers met on the way are moved out of the line. An account with an
// active key hold claims nothing (claim_result::account_hold); a hold whose `until` has passed is lifted.
struct claim_jobs {
    claim_request request{};
    claim_result operator()(write_context& w) const;
};

// The claim's SQL, exposed so a test can check its plan (an index range scan, no sort, no table scan).
const char* claim_candidates_sql() noexcept;
const char* promote_due_sql() noexcept;

// Records one answer: the attempt row, the job's new state (checked against the model and the batch's state:
// a retry in a cancelled batch ends cancelled), its message id, the delivery row to reconcile, the number's
// counters. Fails with stale_result unless the job is inflight with attempt.n.
struct record_result {
    job_result result{};
    job_state operator()(write_context& w) const;

    // Consecutive record_result operations of one group run as one (the writer calls this): a savepoint for
    // all, the jobs read a few at a time, attempt and delivery rows inserted many per statement. Each keeps
    // its own verdict; if SQLite itself fails, the writer runs them again one by one.
    static std::vector<store_result<job_state>> run_many(write_context& w,
                                                         std::span<const record_result* const> ops);
};

// Several results in one operation; each one's failure (stale_result…) is reported in its slot.
struct record_results {
    std::vector<job_result> results{};
    std::vector<store_result<job_state>> operator()(write_context& w) const;
};

// Gives a claimed job back, no attempt made (its request was never written).
struct unclaim_job {
    unclaim_request request{};
    job_state operator()(write_context& w) const;
};

// Jobs found inflight at start (the daemon died with their requests possibly written): each gets an
// ambiguous attempt (outcome crash-recovery) and goes back to ready or held per the policy. open() runs it.
struct recover_inflight {
    recovery_policy policy{};
    timestamp now{};
    recovery_report operator()(write_context& w) const;
};

// Places a hold (or updates the active one on the same subject). A batch hold sets the batch `held` and holds
// its pending jobs (chunked); a number hold holds that number's pinned jobs as claims meet them; a key hold
// stops the account's claims.
class place_hold {
  public:
    explicit place_hold(hold_request r) : request_(std::move(r)) {}
    chunk_step<hold_info> operator()(write_context& w);

  private:
    friend class pause_batch;
    hold_request request_;
    std::optional<batch_state> batch_state_;  // pause_batch: paused; otherwise held
    std::optional<hold_info> placed_;
    std::int64_t batch_rowid_ = 0;
    bool started_ = false;
    std::string cursor_;
    std::uint64_t moved_ = 0;
};

// Lifts the active hold on a subject; its held jobs go back to ready (or waiting if not due). Chunked.
class release_hold {
  public:
    release_hold(hold_scope scope, std::string subject, timestamp now)
        : scope_(scope), subject_(std::move(subject)), now_(now) {}
    chunk_step<release_report> operator()(write_context& w);

  private:
    hold_scope scope_;
    std::string subject_;
    timestamp now_;
    bool started_ = false;
    std::int64_t hold_id_ = 0;
    release_report report_;
};

// Lifts every hold whose `until` has passed; returns how many. Chunked.
class release_due_holds {
  public:
    explicit release_due_holds(timestamp now) : now_(now) {}
    chunk_step<std::uint64_t> operator()(write_context& w);

  private:
    timestamp now_;
    std::optional<std::vector<std::pair<hold_scope, std::string>>> due_;
    std::size_t index_ = 0;
    std::optional<release_hold> current_;
};

// Operator commands on one batch (by its idempotency id). Chunked.
class pause_batch {
  public:
    pause_batch(std::string batch, timestamp now);
    chunk_step<batch_change_report> operator()(write_context& w);

  private:
    place_hold hold_;
};

class resume_batch {
  public:
    resume_batch(std::string batch, timestamp now)
        : batch_(batch), now_(now), release_(hold_scope::batch, std::move(batch), now) {}
    chunk_step<batch_change_report> operator()(write_context& w);

  private:
    std::string batch_;
    timestamp now_;
    release_hold release_;
};

// Ends every pending job of the batch as cancelled; inflight ones end as cancelled when their answer is a
// retry. Chunked.
class cancel_batch {
  public:
    cancel_batch(std::string batch, timestamp now) : batch_(std::move(batch)), now_(now) {}
    chunk_step<batch_change_report> operator()(write_context& w);

  private:
    std::string batch_;
    timestamp now_;
    std::int64_t batch_rowid_ = 0;
    std::string cursor_;
    batch_change_report report_;
};

// `msgflashctl retry`: the batch's dead jobs (attempts reset) and its jobs held as ambiguous go back to
// ready. Chunked. Fails with invalid_argument for a cancelled batch.
class retry_batch {
  public:
    retry_batch(std::string batch, timestamp now) : batch_(std::move(batch)), now_(now) {}
    chunk_step<std::uint64_t> operator()(write_context& w);

  private:
    std::string batch_;
    timestamp now_;
    std::int64_t batch_rowid_ = 0;
    std::string cursor_;
    std::uint64_t changed_ = 0;
};

// Pending jobs past their expiry become expired (batches whose expiresAt has passed). Chunked.
class expire_due {
  public:
    explicit expire_due(timestamp now) : now_(now) {}
    chunk_step<std::uint64_t> operator()(write_context& w);

  private:
    timestamp now_;
    std::optional<std::vector<std::int64_t>> batches_;
    std::size_t index_ = 0;
    bool started_ = false;
    std::string cursor_;
    std::uint64_t expired_ = 0;
};

// Batches whose every job has ended, not reported yet: marks them finished and returns their ids (the
// reporter writes reports/<batch>.csv for each).
struct collect_finished_batches {
    timestamp now{};
    std::vector<std::string> operator()(write_context& w) const;
};

// Per-number send counters (minute/hour/day windows, UTC).
struct add_sends {
    std::string instance_id{};
    timestamp now{};
    std::int64_t count = 1;
    void operator()(write_context& w) const;
};

struct read_usage {
    std::string instance_id{};
    timestamp now{};
    number_usage operator()(write_context& w) const;
};

// Deletes windows no budget looks at any more (minutes > 2 h, hours > 2 days, days > 90 days old).
struct prune_counters {
    timestamp now{};
    std::uint64_t operator()(write_context& w) const;
};

// Sent messages of an account whose delivery status is due for a check, leased until `lease_until` so the
// next call does not return them again.
struct claim_deliveries {
    std::string account{};
    timestamp now{};
    std::size_t limit = 100;
    timestamp lease_until{};
    std::vector<delivery_check> operator()(write_context& w) const;
};

struct record_delivery {
    delivery_update update{};
    void operator()(write_context& w) const;
};

// `msgflashctl reconcile [BATCH]`: the batch's deliveries not settled yet (every batch's when `batch` is
// empty), leased ones included, are due at `now`. Returns how many; not_found for an unknown batch.
struct make_deliveries_due {
    std::string batch{};
    timestamp now{};
    std::uint64_t operator()(write_context& w) const;
};

// A batch as stored (the engine renders messages from message_json).
struct get_batch {
    std::optional<std::int64_t> rowid{};
    std::string id{};  // when rowid is not given
    batch_info operator()(write_context& w) const;
};

// Helpers shared with the read-only side and ingest (queue_ops.cpp).
namespace detail {
std::int64_t window_start(timestamp t, std::int64_t window_ms) noexcept;
}

}  // namespace msgflash::store
