// What a write operation sees on the writer thread: the one writable connection, inside the group's
// transaction and the operation's own savepoint, with prepared statements cached for the connection's life.
#pragma once

#include <cstdint>
#include <memory>
#include <string_view>
#include <unordered_map>

#include "store/queue_types.hpp"
#include "store/sqlite.hpp"

namespace msgflash::store {

namespace detail {
struct writer_caches;  // account ids and hold guards (queue_ops.cpp)
struct totals;         // counter changes not written yet (queue_ops.cpp)
}  // namespace detail

class write_context {
  public:
    write_context(connection& db, const store_options& options);
    ~write_context();
    write_context(const write_context&) = delete;
    write_context& operator=(const write_context&) = delete;

    sqlite3* handle() const noexcept { return db_.get(); }
    const store_options& options() const noexcept { return options_; }

    // A statement prepared once per connection and reset for use. Keyed by the text's address: pass string
    // literals (or other text that lives as long as the store).
    statement& prepared(const char* sql);
    void exec(const char* sql) { db_.exec(sql); }

    // What the store keeps in memory between operations. Derived from the database: dropped whenever an
    // operation rolls back or a transaction is lost, and rebuilt on use.
    detail::writer_caches& caches();
    void invalidate_caches() noexcept;

    // Counters that many jobs change — jobs per state of each batch (batch_counters) and sends per number and
    // window (number_counters) — are summed in memory over the transaction and written once before it
    // commits. An operation's own changes are dropped with it if it rolls back.
    void count_transition(std::int64_t batch_rowid, job_state from, job_state to);
    void count_new_jobs(std::int64_t batch_rowid, job_state state, std::int64_t n);
    void count_sends(std::string_view instance_id, timestamp at, std::int64_t n);
    // Writes what is pending now: operations that read those counters call it first.
    void flush_totals();

    // The writer's side (queue_store.cpp).
    void op_succeeded();
    void op_failed() noexcept;
    void before_commit();               // writes what is pending; throws like any write
    void transaction_ended() noexcept;  // committed or lost: nothing pending any more

  private:
    void write_totals(detail::totals& t);

    connection& db_;
    const store_options& options_;
    std::unordered_map<const char*, statement> statements_;
    std::unique_ptr<detail::writer_caches> caches_;
    std::unique_ptr<detail::totals> staged_;      // the running operation's changes
    std::unique_ptr<detail::totals> pending_;     // earlier operations' changes, not written yet
    std::unique_ptr<detail::totals> flushed_op_;  // pending_ written during the running operation
};

// An operation that works in chunks, each in its own transaction, returns chunk_step<T>: `again` asks to be
// run once more after this chunk commits (other operations go in between); `value` is the result when done.
template <typename T>
struct chunk_step {
    bool again = false;
    T value{};
};

}  // namespace msgflash::store
