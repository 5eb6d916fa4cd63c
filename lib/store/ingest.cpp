#include "store/ingest.hpp"

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>

#include <sqlite3.h>

#include "store/queue_store.hpp"
#include "store/store_rows.hpp"
#include "store/writer_caches.hpp"

namespace msgflash::store {
namespace detail {

// The bounded hand-off between one producer and the writer's ingest operation.
class ingest_channel {
  public:
    explicit ingest_channel(std::size_t capacity) : capacity_(std::max<std::size_t>(1, capacity)) {}

    // Producer: blocks while full. Fails once the writer side has ended.
    store_result<void> push(ingest_chunk c) {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return result_.has_value() || q_.size() < capacity_; });
        if (result_) {
            return ended_error();
        }
        q_.push_back(std::move(c));
        cv_.notify_all();
        return {};
    }

    void push_async(ingest_chunk c, std::unique_ptr<completion<store_result<void>>> done) {
        std::unique_lock lock(m_);
        if (result_) {
            auto e = ended_error();
            lock.unlock();
            done->complete(std::move(e));
            return;
        }
        if (q_.size() < capacity_) {
            q_.push_back(std::move(c));
            cv_.notify_all();
            lock.unlock();
            done->complete({});
            return;
        }
        // One producer: at most one chunk waits for room; pop() takes it in.
        pending_ = std::move(c);
        pending_done_ = std::move(done);
    }

    // The end of the file may exceed the capacity by one chunk: it never waits.
    void push_last(ingest_chunk c) {
        std::lock_guard lock(m_);
        c.last = true;
        q_.push_back(std::move(c));
        cv_.notify_all();
    }

    void abort(std::string reason) {
        std::lock_guard lock(m_);
        aborted_ = true;
        abort_reason_ = std::move(reason);
        cv_.notify_all();
    }

    enum class pop_status { chunk, aborted, timeout };

    // Writer: the next chunk, waiting at most `idle` for it.
    pop_status pop(ingest_chunk& out, std::chrono::milliseconds idle, std::string& why) {
        std::unique_ptr<completion<store_result<void>>> room;
        {
            std::unique_lock lock(m_);
            if (!cv_.wait_for(lock, idle, [&] { return aborted_ || !q_.empty(); })) {
                return pop_status::timeout;
            }
            if (aborted_) {
                why = abort_reason_;
                return pop_status::aborted;
            }
            out = std::move(q_.front());
            q_.pop_front();
            if (pending_) {
                q_.push_back(std::move(*pending_));
                pending_.reset();
                room = std::move(pending_done_);
            }
            cv_.notify_all();
        }
        if (room) {
            room->complete({});
        }
        return pop_status::chunk;
    }

    // Writer: the operation has committed or failed. Wakes and answers every waiting producer.
    void writer_done(store_result<ingest_report> r) {
        std::unique_ptr<completion<store_result<void>>> room;
        std::unique_ptr<completion<store_result<ingest_report>>> waiter;
        std::optional<store_result<void>> room_result;
        std::optional<store_result<ingest_report>> waiter_result;
        {
            std::lock_guard lock(m_);
            result_ = std::move(r);
            q_.clear();
            pending_.reset();
            room = std::move(pending_done_);
            waiter = std::move(result_waiter_);
            if (room) {
                room_result = ended_error();
            }
            if (waiter) {
                waiter_result = *result_;
            }
            cv_.notify_all();
        }
        if (room) {
            room->complete(std::move(*room_result));
        }
        if (waiter) {
            waiter->complete(std::move(*waiter_result));
        }
    }

    store_result<ingest_report> wait_result() {
        std::unique_lock lock(m_);
        cv_.wait(lock, [&] { return result_.has_value(); });
        return *result_;
    }

    void on_result(std::unique_ptr<completion<store_result<ingest_report>>> done) {
        std::unique_lock lock(m_);
        if (result_) {
            auto r = *result_;
            lock.unlock();
            done->complete(std::move(r));
            return;
        }
        result_waiter_ = std::move(done);
    }

  private:
    static store_result<void> ended_error_of(const store_result<ingest_report>& r) {
        if (r.has_error()) {
            return r.error();
        }
        return store_result<void>(
            boost::system::in_place_error,
            make_store_error(store_errc::invalid_argument, "the ingest has already ended"));
    }

    store_result<void> ended_error() const { return ended_error_of(*result_); }

    std::mutex m_;
    std::condition_variable cv_;
    std::deque<ingest_chunk> q_;
    const std::size_t capacity_;
    bool aborted_ = false;
    std::string abort_reason_;
    std::optional<ingest_chunk> pending_;
    std::unique_ptr<completion<store_result<void>>> pending_done_;
    std::optional<store_result<ingest_report>> result_;
    std::unique_ptr<completion<store_result<ingest_report>>> result_waiter_;
};

namespace {

// The numbers one batch has seen during this ingest, for the duplicate-`to` check, in memory: an E.164
// number (`+` and 1..15 digits) maps exactly onto 51 bits (10^digits + value), and the other 13 bits of the
// 64-bit slot keep a tag of the ref that brought it first. 256 shards (by hash), each an open-addressing
// table with linear probing, at most 4/5 full, grown by a quarter: 1,000,000 numbers take about 11 MiB, and
// growing never holds two copies of more than one shard. A number that does not encode (not E.164) or does
// not fit (the session's budget of slots is spent) goes to temp.ingest_seen_to instead.
class seen_numbers {
  public:
    enum class seen { first, same_tag, other_tag, no_room };

    static std::uint64_t encode(std::string_view to) noexcept {
        if (to.size() < 2 || to.size() > 16 || to[0] != '+') {
            return 0;
        }
        std::uint64_t v = 0;
        std::uint64_t scale = 1;
        for (const char ch : to.substr(1)) {
            if (ch < '0' || ch > '9') {
                return 0;
            }
            v = v * 10 + static_cast<std::uint64_t>(ch - '0');
            scale *= 10;
        }
        return scale + v;  // < 2 * 10^15 < 2^51, and 0 never
    }

    static std::uint64_t tag(std::string_view ref) noexcept {
        return std::hash<std::string_view>{}(ref) >> (64 - tag_bits);
    }

    // Looks `key` (from encode(), not 0) up and remembers it with `ref_tag` if it is new. `budget`: the slots
    // this session may still allocate; growing takes from it.
    seen find_or_add(std::uint64_t key, std::uint64_t ref_tag, std::size_t& budget) {
        if (shards_.empty()) {
            shards_.resize(std::size_t{1} << shard_bits);
        }
        const std::uint64_t h = mix(key);
        shard& s = shards_[h >> (64 - shard_bits)];
        const std::uint64_t where = h << shard_bits;
        if ((s.count + 1) * 5 > s.slots.size() * 4) {
            const std::size_t bigger = std::max<std::size_t>(16, s.slots.size() + s.slots.size() / 4);
            if (bigger - s.slots.size() > budget) {
                if (!s.slots.empty()) {
                    const std::uint64_t e = s.slots[probe(s, key, where)];
                    if (e != 0) {
                        return verdict(e, ref_tag);
                    }
                }
                return seen::no_room;
            }
            budget -= bigger - s.slots.size();
            grow(s, bigger);
        }
        std::uint64_t& e = s.slots[probe(s, key, where)];
        if (e != 0) {
            return verdict(e, ref_tag);
        }
        e = (key << tag_bits) | ref_tag;
        ++s.count;
        return seen::first;
    }

  private:
    static constexpr unsigned tag_bits = 13;
    static constexpr unsigned shard_bits = 8;
    static constexpr std::uint64_t tag_mask = (std::uint64_t{1} << tag_bits) - 1;

    struct shard {
        std::vector<std::uint64_t> slots;
        std::size_t count = 0;
    };

    static seen verdict(std::uint64_t e, std::uint64_t ref_tag) noexcept {
        return (e & tag_mask) == ref_tag ? seen::same_tag : seen::other_tag;
    }

    static std::uint64_t mix(std::uint64_t x) noexcept {  // splitmix64's finaliser
        x ^= x >> 30;
        x *= 0xBF58476D1CE4E5B9ULL;
        x ^= x >> 27;
        x *= 0x94D049BB133111EBULL;
        return x ^ (x >> 31);
    }

    // The slot holding `key`, or the empty one where it goes (a table at most 4/5 full always has one).
    static std::size_t probe(const shard& s, std::uint64_t key, std::uint64_t where) noexcept {
        const std::size_t n = s.slots.size();
        auto i = static_cast<std::size_t>(((where >> 32) * n) >> 32);  // n < 2^32
        while (s.slots[i] != 0 && (s.slots[i] >> tag_bits) != key) {
            i = i + 1 == n ? 0 : i + 1;
        }
        return i;
    }

    static void grow(shard& s, std::size_t n) {
        std::vector<std::uint64_t> old(n, 0);
        old.swap(s.slots);
        for (const std::uint64_t e : old) {
            if (e != 0) {
                const std::uint64_t key = e >> tag_bits;
                s.slots[probe(s, key, mix(key) << shard_bits)] = e;
            }
        }
    }

    std::vector<shard> shards_;  // empty until the first number
};

// One batch as this ingest sees it.
struct session_batch {
    std::int64_t rowid = 0;
    std::int64_t account = 0;
    std::int64_t fair_base = 0;
    std::int64_t ordinal = 0;
    bool skip = false;
    bool allow_duplicates = false;
    bool campaign = false;                                  // batch_spec::campaign: its one job has no `to`
    placement blocked{job_state::ready, std::nullopt, {}};  // where new jobs of an inactive batch go
    int priority = 0;
    std::optional<std::int64_t> send_at;
    std::optional<std::int64_t> expires_at;
    std::string single_instance;
    std::int64_t n_waiting = 0;
    std::int64_t n_ready = 0;
    std::int64_t n_held = 0;
    std::int64_t n_cancelled = 0;
    seen_numbers seen;
};

class ingest_state {
  public:
    ingest_state(write_context& w, const ingest_options& o)
        : w_(w), o_(o), now_(to_millis(o.now)), seen_budget_(w.options().ingest_seen_kib * 1024 / 8) {
        w_.prepared("DELETE FROM temp.ingest_seen_to").run();
    }

    void apply(ingest_chunk& c) {
        for (batch_spec& b : c.batches) {
            begin(b);
        }
        for (auto& [index, job] : c.jobs) {
            if (index >= batches_.size()) {
                throw_store_error(store_errc::invalid_argument, "a job refers to a batch that was not begun");
            }
            add(index, job);
        }
        flush();  // the rows point into this chunk
    }

    ingest_report finish() {
        for (std::size_t i = 0; i < batches_.size(); ++i) {
            session_batch& b = batches_[i];
            batch_ingest_report& r = report_.batches[i];
            report_.inserted += r.inserted;
            report_.already_present += r.already_present;
            report_.duplicates += r.duplicates;
            report_.conflicts += r.conflict ? 1 : 0;
            if (r.inserted == 0) {
                continue;
            }
            w_.count_new_jobs(b.rowid, job_state::waiting, b.n_waiting);
            w_.count_new_jobs(b.rowid, job_state::ready, b.n_ready);
            w_.count_new_jobs(b.rowid, job_state::held, b.n_held);
            w_.count_new_jobs(b.rowid, job_state::cancelled, b.n_cancelled);
            if (r.existed) {
                // A finished batch that gets new jobs is not finished any more.
                w_.prepared("UPDATE batches SET finished_at = NULL, updated_at = ?2 WHERE id = ?1")
                    .bind(1, b.rowid)
                    .bind(2, now_)
                    .run();
            }
        }
        if (any_seen_) {
            w_.prepared("DELETE FROM temp.ingest_seen_to").run();
        }
        return std::move(report_);
    }

  private:
    void begin(const batch_spec& spec) {
        if (spec.id.empty() || spec.account.empty()) {
            throw_store_error(store_errc::invalid_argument, "a batch needs an id and an account");
        }
        session_batch b;
        batch_ingest_report r;
        r.id = spec.id;
        b.account = account_id(w_, spec.account, true);
        b.allow_duplicates = spec.allow_duplicates;
        b.campaign = spec.campaign;
        b.priority = spec.priority;
        b.send_at = opt_millis(spec.send_at);
        b.expires_at = opt_millis(spec.expires_at);
        if (spec.instance_ids.size() == 1) {
            b.single_instance = spec.instance_ids.front();
        }
        auto& round = w_.prepared("SELECT dispatch_round FROM accounts WHERE id = ?1");
        round.bind(1, b.account);
        b.fair_base = round.step() ? round.int64(0) : 0;
        round.reset();

        auto& existing = w_.prepared(
            "SELECT b.id, b.account_id, b.fingerprint, b.state, coalesce(b.hold_reason, ''), "
            "(SELECT h.id FROM holds h WHERE h.scope = 'batch' AND h.subject = b.name AND h.released_at IS "
            "NULL) "
            "FROM batches b WHERE b.name = ?1");
        existing.bind(1, spec.id);
        if (existing.step()) {
            b.rowid = existing.int64(0);
            r.existed = true;
            r.stored_fingerprint = existing.str(2);
            // Read here, not from the guard cache: that one only knows batches with jobs still pending.
            const batch_state state = parse_batch_state(existing.text(3)).value_or(batch_state::active);
            if (state == batch_state::cancelled) {
                b.blocked = {job_state::cancelled, std::nullopt, {}};
            } else if (state != batch_state::active) {
                const std::string reason = existing.str(4);
                b.blocked = {job_state::held, existing.opt_int64(5),
                             reason.empty() ? std::string(to_string(state)) : reason};
            }
            const bool other_account = existing.int64(1) != b.account;
            const bool other_content = !spec.fingerprint.empty() && !r.stored_fingerprint.empty() &&
                                       spec.fingerprint != r.stored_fingerprint;
            existing.reset();
            if (other_account || other_content) {
                r.conflict = true;
                b.skip = true;
                if (o_.on_conflict == conflict_policy::reject_file) {
                    throw_store_error(
                        store_errc::batch_conflict,
                        "batch " + spec.id + " is already queued " +
                            (other_account ? std::string("for another account")
                                           : "with other content (fingerprint " + r.stored_fingerprint +
                                                 ", this file " + spec.fingerprint + ")"));
                }
            }
        } else {
            existing.reset();
            w_.prepared(
                  "INSERT INTO batches(name, account_id, source_file, fingerprint, priority, send_at, "
                  "expires_at, "
                  "window_from, window_to, window_tz, instance_ids, message, allow_duplicates, fair_base, "
                  "created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
                  "?14, "
                  "?15, ?15)")
                .bind(1, spec.id)
                .bind(2, b.account)
                .bind(3, spec.source_file.empty() ? o_.source : spec.source_file)
                .bind(4, spec.fingerprint)
                .bind(5, spec.priority)
                .bind(6, b.send_at)
                .bind(7, b.expires_at)
                .bind_text_or_null(8, spec.window ? std::string_view(spec.window->from) : std::string_view())
                .bind_text_or_null(9, spec.window ? std::string_view(spec.window->to) : std::string_view())
                .bind_text_or_null(10, spec.window ? std::string_view(spec.window->tz) : std::string_view())
                .bind(11, json_string_array(spec.instance_ids))
                .bind(12, spec.message_json.empty() ? std::string_view("null")
                                                    : std::string_view(spec.message_json))
                .bind(13, spec.allow_duplicates ? 1 : 0)
                .bind(14, b.fair_base)
                .bind(15, now_)
                .run();
            b.rowid = ::sqlite3_last_insert_rowid(w_.handle());
            w_.prepared("INSERT INTO batch_counters(batch_id) VALUES (?1)").bind(1, b.rowid).run();
        }
        r.batch_rowid = b.rowid;
        batches_.push_back(std::move(b));
        report_.batches.push_back(std::move(r));
    }

    // A `to` repeated inside the batch under another ref (allowDuplicates off; the same ref again is the same
    // job, which the identity (batch, ref) keeps out). Every number of this ingest is remembered with (a tag
    // of) the ref that brought it first, so a repeat is found wherever the first one waits (buffered or
    // inserted): in memory (seen_numbers) for E.164 numbers, in temp.ingest_seen_to for the others and past
    // the memory budget. A batch queued before this ingest may also hold the number as an earlier job's own
    // ref (ref defaults to `to`): that job is in the jobs table already, so the lookup needs no flush of what
    // is buffered, and a batch new in this ingest needs no lookup at all.
    bool duplicate_to(session_batch& b, bool batch_existed, const job_spec& j) {
        if (b.allow_duplicates || b.campaign) {
            return false;
        }
        const std::uint64_t key = seen_numbers::encode(j.to);
        if (key != 0) {
            switch (b.seen.find_or_add(key, seen_numbers::tag(j.ref), seen_budget_)) {
                case seen_numbers::seen::other_tag:
                    return true;  // another ref brought this number first
                case seen_numbers::seen::same_tag:
                    return repeated_ref_is_duplicate(b, j);
                case seen_numbers::seen::first:
                    return batch_existed && queued_under_own_ref(b, j);
                case seen_numbers::seen::no_room:
                    break;
            }
        }
        return duplicate_to_in_temp(b, batch_existed, j);
    }

    // The number came before with a ref of the same tag: most likely the same ref, i.e. the same job again,
    // which the INSERT counts as already present. Decided exactly from the jobs table, after inserting what
    // is buffered: if the ref is not queued, the first one was another ref (or was itself a duplicate) — a
    // duplicate. Whatever the tags, a job is never dropped for another's number nor queued twice; only a
    // repeat whose ref is queued with another number may count as already present instead of duplicate.
    bool repeated_ref_is_duplicate(const session_batch& b, const job_spec& j) {
        flush();
        auto& s = w_.prepared("SELECT 1 FROM jobs WHERE batch_id = ?1 AND ref = ?2");
        s.bind(1, b.rowid).bind_static(2, j.ref);
        const bool queued = s.step();
        s.reset();
        return !queued;
    }

    bool queued_under_own_ref(const session_batch& b, const job_spec& j) {
        if (j.ref == j.to) {
            return false;
        }
        auto& s = w_.prepared("SELECT 1 FROM jobs WHERE batch_id = ?1 AND ref = ?2");
        s.bind(1, b.rowid).bind_static(2, j.to);
        const bool found = s.step();
        s.reset();
        return found;
    }

    bool duplicate_to_in_temp(const session_batch& b, bool batch_existed, const job_spec& j) {
        const int added =
            w_.prepared(
                  "INSERT INTO temp.ingest_seen_to(batch_id, to_number, ref) VALUES (?1, ?2, ?3) "
                  "ON CONFLICT DO NOTHING")
                .bind(1, b.rowid)
                .bind_static(2, j.to)
                .bind_static(3, j.ref)
                .run();
        any_seen_ = true;
        if (added == 0) {
            auto& first =
                w_.prepared("SELECT ref FROM temp.ingest_seen_to WHERE batch_id = ?1 AND to_number = ?2");
            first.bind(1, b.rowid).bind_static(2, j.to);
            const bool other_ref = first.step() && first.text(0) != j.ref;
            first.reset();
            return other_ref;
        }
        return batch_existed && queued_under_own_ref(b, j);
    }

    void add(std::size_t index, const job_spec& j) {
        session_batch& b = batches_[index];
        batch_ingest_report& r = report_.batches[index];
        ++r.received;
        if (b.skip) {
            return;
        }
        if (j.ref.empty() || (j.to.empty() && !b.campaign)) {
            throw_store_error(store_errc::invalid_argument,
                              "a job needs a ref and a to (line " + std::to_string(j.line) + ")");
        }
        if (duplicate_to(b, r.existed, j)) {
            ++r.duplicates;
            return;
        }
        ++b.ordinal;
        job_state state = b.blocked.state;
        std::int64_t next = now_;
        const auto send_at = j.send_at ? std::optional<std::int64_t>(to_millis(*j.send_at)) : b.send_at;
        if (send_at && *send_at > now_) {
            next = *send_at;
            if (state == job_state::ready) {
                state = job_state::waiting;
            }
        }
        if (!rows_.empty() && (pending_batch_ != index || pending_state_ != state)) {
            flush();
        }
        pending_batch_ = index;
        pending_state_ = state;
        rows_.push_back(pending_row{
            j.ref, j.to, j.payload_json.empty() ? std::string_view("null") : std::string_view(j.payload_json),
            j.instance_id.empty() ? std::string_view(b.single_instance) : std::string_view(j.instance_id),
            next, j.expires_at ? std::optional<std::int64_t>(to_millis(*j.expires_at)) : b.expires_at,
            fair_seq(b.fair_base, b.ordinal), j.priority.value_or(b.priority)});
    }

  public:
    // Inserts what is buffered: runs of rows of one batch and one initial state, rows_per_insert at a time
    // (one INSERT of many rows costs SQLite far less per row than one INSERT each). Before the chunk whose
    // text the rows point into goes away.
    void flush() {
        if (rows_.empty()) {
            return;
        }
        session_batch& b = batches_[pending_batch_];
        batch_ingest_report& r = report_.batches[pending_batch_];
        const job_state state = pending_state_;
        std::size_t i = 0;
        while (i < rows_.size()) {
            const std::size_t left = rows_.size() - i;
            const std::size_t n = left >= rows_per_insert         ? rows_per_insert
                                  : left >= rows_per_short_insert ? rows_per_short_insert
                                                                  : 1;
            statement& st = w_.prepared(insert_sql(n).c_str());
            st.bind(1, b.rowid)
                .bind_static(2, to_string(state))
                .bind(3, b.blocked.hold_id)
                .bind_text_or_null(4, b.blocked.hold_reason)
                .bind(5, b.account)
                .bind(6, now_);
            for (std::size_t k = 0; k < n; ++k) {
                const pending_row& row = rows_[i + k];
                const int base = 7 + static_cast<int>(k) * 8;
                st.bind_static(base, row.ref)
                    .bind_static(base + 1, row.to)
                    .bind_static(base + 2, row.payload)
                    .bind(base + 3, row.next)
                    .bind(base + 4, row.expires)
                    .bind_static_or_null(base + 5, row.instance)
                    .bind(base + 6, row.fair)
                    .bind(base + 7, row.priority);
            }
            const auto inserted = static_cast<std::uint64_t>(st.run());
            r.inserted += inserted;
            r.already_present += n - inserted;
            switch (state) {
                case job_state::waiting:
                    b.n_waiting += static_cast<std::int64_t>(inserted);
                    break;
                case job_state::held:
                    b.n_held += static_cast<std::int64_t>(inserted);
                    break;
                case job_state::cancelled:
                    b.n_cancelled += static_cast<std::int64_t>(inserted);
                    break;
                default:
                    b.n_ready += static_cast<std::int64_t>(inserted);
                    break;
            }
            i += n;
        }
        rows_.clear();
    }

  private:
    // 128 rows a statement: a quarter of the per-statement work (reset, bindings, halt) of 32, measured 2 %
    // of the writer's instructions; the tail of a run goes 16 then 1 at a time.
    static constexpr std::size_t rows_per_insert = 128;
    static constexpr std::size_t rows_per_short_insert = 16;

    // INSERT … VALUES (…), (…) … ON CONFLICT DO NOTHING for `rows` rows: ?1..?6 are the batch's (batch_id,
    // state, hold_id, hold_reason, account_id, now), then eight per row.
    static const std::string& insert_sql(std::size_t rows) {
        static const std::string many = make_insert_sql(rows_per_insert);
        static const std::string some = make_insert_sql(rows_per_short_insert);
        static const std::string one = make_insert_sql(1);
        return rows == rows_per_insert ? many : rows == rows_per_short_insert ? some : one;
    }
    static std::string make_insert_sql(std::size_t rows) {
        std::string q =
            "INSERT INTO jobs(batch_id, ref, to_number, payload, state, next_attempt_at, expires_at, "
            "instance_id, "
            "hold_id, hold_reason, fair_seq, account_id, priority, created_at, updated_at) VALUES ";
        for (std::size_t k = 0; k < rows; ++k) {
            const std::size_t p = 7 + k * 8;
            auto n = [&](std::size_t i) { return "?" + std::to_string(p + i); };
            q += (k == 0 ? "" : ", ");
            q += "(?1, " + n(0) + ", " + n(1) + ", " + n(2) + ", ?2, " + n(3) + ", " + n(4) + ", " + n(5) +
                 ", ?3, ?4, " + n(6) + ", ?5, " + n(7) + ", ?6, ?6)";
        }
        return q + " ON CONFLICT (batch_id, ref) DO NOTHING";
    }

    struct pending_row {
        std::string_view ref;
        std::string_view to;
        std::string_view payload;
        std::string_view instance;
        std::int64_t next;
        std::optional<std::int64_t> expires;
        std::int64_t fair;
        int priority;
    };

    std::vector<pending_row> rows_;
    std::size_t pending_batch_ = 0;
    job_state pending_state_ = job_state::ready;

    write_context& w_;
    const ingest_options& o_;
    const std::int64_t now_;
    std::vector<session_batch> batches_;
    ingest_report report_;
    bool any_seen_ = false;
    std::size_t seen_budget_;  // slots (8 bytes each) the batches' seen_numbers may still take
};

class ingest_op final : public write_op {
  public:
    ingest_op(std::shared_ptr<ingest_channel> ch, ingest_options o) : ch_(std::move(ch)), o_(std::move(o)) {}

    // A file's ingest is a transaction of its own: no savepoint, whose journal would copy every page it
    // touches; if it fails, the transaction is rolled back and it was alone in it.
    bool exclusive() const noexcept override { return true; }
    // Its rows refer to the batch it just read or inserted, the batch's account and the batch's active hold,
    // all read or created in this transaction: checking them again costs a parent lookup per reference per
    // row.
    bool references_checked_by_itself() const noexcept override { return true; }

    bool run(write_context& w) override {
        ingest_state state(w, o_);
        for (;;) {
            ingest_chunk c;
            std::string why;
            switch (ch_->pop(c, w.options().ingest_idle_timeout, why)) {
                case ingest_channel::pop_status::aborted:
                    throw_store_error(store_errc::ingest_aborted,
                                      "ingest of " + o_.source + " aborted: " + why);
                case ingest_channel::pop_status::timeout:
                    throw_store_error(store_errc::ingest_timeout,
                                      "ingest of " + o_.source + ": the producer sent nothing for " +
                                          std::to_string(w.options().ingest_idle_timeout.count()) + " ms");
                case ingest_channel::pop_status::chunk:
                    break;
            }
            state.apply(c);
            if (c.last) {
                break;
            }
        }
        result_.emplace(boost::system::in_place_value, state.finish());
        return false;
    }

    void fail(store_error e) noexcept override {
        result_.emplace(boost::system::in_place_error, std::move(e));
    }

    void complete() noexcept override {
        if (!result_) {
            result_.emplace(boost::system::in_place_error, make_store_error(store_errc::operation_failed));
        }
        ch_->writer_done(std::move(*result_));
    }

  private:
    std::shared_ptr<ingest_channel> ch_;
    ingest_options o_;
    std::optional<store_result<ingest_report>> result_;
};

}  // namespace
}  // namespace detail

ingest_session::ingest_session(std::shared_ptr<detail::ingest_channel> channel, std::size_t chunk_jobs)
    : channel_(std::move(channel)), chunk_jobs_(std::max<std::size_t>(1, chunk_jobs)) {
    buffer_.jobs.reserve(chunk_jobs_);
}

ingest_session::~ingest_session() {
    if (!ended_) {
        channel_->abort("the ingest session was dropped unfinished");
    }
}

std::size_t ingest_session::begin_batch(batch_spec spec) {
    buffer_.batches.push_back(std::move(spec));
    return batches_++;
}

void ingest_session::add_job(std::size_t batch, job_spec job) {
    buffer_.jobs.emplace_back(static_cast<std::uint32_t>(batch), std::move(job));
}

detail::ingest_chunk ingest_session::take_buffer() {
    detail::ingest_chunk c = std::move(buffer_);
    buffer_ = {};
    buffer_.jobs.reserve(chunk_jobs_);
    return c;
}

store_result<void> ingest_session::flush() {
    if (ended_) {
        return make_store_error(store_errc::invalid_argument, "the ingest session has ended");
    }
    if (buffer_.jobs.empty() && buffer_.batches.empty()) {
        return {};
    }
    return channel_->push(take_buffer());
}

void ingest_session::flush_async(std::unique_ptr<detail::completion<store_result<void>>> done) {
    if (ended_) {
        done->complete(make_store_error(store_errc::invalid_argument, "the ingest session has ended"));
        return;
    }
    if (buffer_.jobs.empty() && buffer_.batches.empty()) {
        done->complete({});
        return;
    }
    channel_->push_async(take_buffer(), std::move(done));
}

store_result<ingest_report> ingest_session::finish() {
    if (!ended_) {
        ended_ = true;
        channel_->push_last(take_buffer());
    }
    return channel_->wait_result();
}

void ingest_session::finish_async(std::unique_ptr<detail::completion<store_result<ingest_report>>> done) {
    if (!ended_) {
        ended_ = true;
        channel_->push_last(take_buffer());
    }
    channel_->on_result(std::move(done));
}

void ingest_session::abort(std::string reason) {
    if (!ended_) {
        ended_ = true;
        channel_->abort(std::move(reason));
    }
}

std::unique_ptr<ingest_session> queue_store::begin_ingest(ingest_options options) {
    const store_options& o = this->options();
    auto channel = std::make_shared<detail::ingest_channel>(o.ingest_channel_chunks);
    std::unique_ptr<ingest_session> session(new ingest_session(channel, o.ingest_chunk_jobs));
    enqueue(std::make_unique<detail::ingest_op>(std::move(channel), std::move(options)));
    return session;
}

}  // namespace msgflash::store
