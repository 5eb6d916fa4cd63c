// What the writer keeps in memory between operations — account ids and the hold guards a claim checks — and
// the helpers write operations share. Everything here is derived from the database and rebuilt on demand;
// write_context drops it when an operation rolls back. Internal to lib/store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "store/queue_types.hpp"
#include "store/write_context.hpp"

namespace msgflash::store::detail {

struct batch_guard {
    batch_state state = batch_state::active;
    std::optional<std::int64_t> hold_id;  // the batch's active hold (paused or held)
    std::string reason;
};

struct writer_caches {
    std::unordered_map<std::string, std::int64_t> account_ids;
    bool guards_loaded = false;
    std::unordered_map<std::int64_t, hold_info> held_accounts;   // by account id
    std::unordered_map<std::string, std::int64_t> held_numbers;  // instance id → hold id
    // Batches that are not active and still have jobs that are not finished.
    std::unordered_map<std::int64_t, batch_guard> inactive_batches;
};

// The account's id; 0 when it has none and `create` is false.
std::int64_t account_id(write_context& w, std::string_view name, bool create);

// Loads the hold guards if an operation changed holds or batch states since they were read.
writer_caches& guards(write_context& w);
void guards_changed(write_context& w) noexcept;

// The batch's guard (state active with no hold when it is not in the map).
batch_guard batch_guard_of(write_context& w, std::int64_t batch_rowid);

// Where a job that goes back in line (ready, waiting or held) ends up given its batch: a cancelled batch
// cancels it, a paused or held batch holds it with the batch's hold.
struct placement {
    job_state state;
    std::optional<std::int64_t> hold_id;
    std::string hold_reason;
};
placement place_in_batch(write_context& w, std::int64_t batch_rowid, placement wanted);

std::optional<std::int64_t> find_batch(write_context& w, std::string_view batch_id);

}  // namespace msgflash::store::detail
