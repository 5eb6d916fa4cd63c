#include "store/queue_ops.hpp"

#include <algorithm>
#include <array>
#include <map>
#include <span>
#include <string>
#include <tuple>
#include <unordered_map>
#include <utility>

#include <sqlite3.h>

#include "store/store_rows.hpp"
#include "store/writer_caches.hpp"

namespace msgflash::store {

// ---- write_context ---------------------------------------------------------------------------------------

namespace detail {

struct totals {
    // Per batch: [0] total, then one slot per job_state in enum order (the batch_counters columns).
    std::unordered_map<std::int64_t, std::array<std::int64_t, 10>> batches;
    std::map<std::tuple<std::string, int, std::int64_t>, std::int64_t> sends;  // (instance, window, start)

    bool empty() const noexcept { return batches.empty() && sends.empty(); }
    void clear() noexcept {
        batches.clear();
        sends.clear();
    }
    void merge(totals& other) {
        for (const auto& [b, d] : other.batches) {
            auto& t = batches[b];
            for (std::size_t i = 0; i < t.size(); ++i) {
                t[i] += d[i];
            }
        }
        for (const auto& [k, n] : other.sends) {
            sends[k] += n;
        }
        other.clear();
    }
};

}  // namespace detail

namespace {

constexpr std::array<const char*, 3> window_kinds{"minute", "hour", "day"};
constexpr std::array<std::int64_t, 3> window_lengths{detail::minute_ms, detail::hour_ms, detail::day_ms};

std::size_t state_slot(job_state s) noexcept {
    return 1 + static_cast<std::size_t>(s);
}

}  // namespace

write_context::write_context(connection& db, const store_options& options)
    : db_(db),
      options_(options),
      caches_(std::make_unique<detail::writer_caches>()),
      staged_(std::make_unique<detail::totals>()),
      pending_(std::make_unique<detail::totals>()),
      flushed_op_(std::make_unique<detail::totals>()) {}

void write_context::count_transition(std::int64_t batch_rowid, job_state from, job_state to) {
    if (from == to) {
        return;
    }
    auto& t = staged_->batches[batch_rowid];
    --t[state_slot(from)];
    ++t[state_slot(to)];
}

void write_context::count_new_jobs(std::int64_t batch_rowid, job_state state, std::int64_t n) {
    if (n == 0) {
        return;
    }
    auto& t = staged_->batches[batch_rowid];
    t[0] += n;
    t[state_slot(state)] += n;
}

void write_context::count_sends(std::string_view instance_id, timestamp at, std::int64_t n) {
    for (std::size_t k = 0; k < window_kinds.size(); ++k) {
        staged_->sends[{std::string(instance_id), static_cast<int>(k),
                        detail::window_start(at, window_lengths[k])}] += n;
    }
}

void write_context::write_totals(detail::totals& t) {
    if (!t.batches.empty()) {
        auto& u = prepared(
            "UPDATE batch_counters SET total = total + ?2, waiting = waiting + ?3, ready = ready + ?4, "
            "inflight = inflight + ?5, sent = sent + ?6, failed = failed + ?7, dead = dead + ?8, "
            "expired = expired + ?9, cancelled = cancelled + ?10, held = held + ?11 WHERE batch_id = ?1");
        for (const auto& [batch, d] : t.batches) {
            u.bind(1, batch);
            for (std::size_t i = 0; i < d.size(); ++i) {
                u.bind(static_cast<int>(i) + 2, d[i]);
            }
            u.run();
        }
    }
    if (!t.sends.empty()) {
        auto& u = prepared(
            "INSERT INTO number_counters(instance_id, window_kind, window_start, count) VALUES (?1, ?2, ?3, "
            "?4) "
            "ON CONFLICT (instance_id, window_kind, window_start) DO UPDATE SET count = count + "
            "excluded.count");
        for (const auto& [key, n] : t.sends) {
            const auto& [instance, kind, start] = key;
            u.bind(1, instance)
                .bind(2, window_kinds[static_cast<std::size_t>(kind)])
                .bind(3, start)
                .bind(4, n)
                .run();
        }
    }
}

void write_context::flush_totals() {
    if (pending_->empty() && staged_->empty()) {
        return;
    }
    // Written inside the running operation's savepoint: if it rolls back, so do these writes, and op_failed()
    // puts the earlier operations' part back in pending_.
    write_totals(*pending_);
    write_totals(*staged_);
    flushed_op_->merge(*pending_);
    staged_->clear();
}

void write_context::op_succeeded() {
    pending_->merge(*staged_);
    flushed_op_->clear();
}

void write_context::op_failed() noexcept {
    staged_->clear();
    pending_->merge(*flushed_op_);
}

void write_context::before_commit() {
    write_totals(*pending_);
}

void write_context::transaction_ended() noexcept {
    staged_->clear();
    pending_->clear();
    flushed_op_->clear();
}

write_context::~write_context() = default;

statement& write_context::prepared(const char* sql) {
    auto it = statements_.find(sql);
    if (it == statements_.end()) {
        it = statements_.emplace(sql, statement(db_.get(), sql)).first;
    } else {
        it->second.reset();
    }
    return it->second;
}

detail::writer_caches& write_context::caches() {
    return *caches_;
}

void write_context::invalidate_caches() noexcept {
    caches_->account_ids.clear();
    caches_->guards_loaded = false;
}

namespace detail {

std::int64_t window_start(timestamp t, std::int64_t window_ms) noexcept {
    const std::int64_t ms = to_millis(t);
    const std::int64_t q = ms / window_ms;
    return (ms % window_ms < 0 ? q - 1 : q) * window_ms;
}

std::int64_t account_id(write_context& w, std::string_view name, bool create) {
    auto& ids = w.caches().account_ids;
    if (auto it = ids.find(std::string(name)); it != ids.end()) {
        return it->second;
    }
    auto& sel = w.prepared("SELECT id FROM accounts WHERE name = ?1");
    sel.bind(1, name);
    std::int64_t id = sel.step() ? sel.int64(0) : 0;
    sel.reset();
    if (id == 0 && create) {
        w.prepared("INSERT INTO accounts(name) VALUES (?1)").bind(1, name).run();
        id = ::sqlite3_last_insert_rowid(w.handle());
    }
    if (id != 0) {
        ids.emplace(std::string(name), id);
    }
    return id;
}

void guards_changed(write_context& w) noexcept {
    w.caches().guards_loaded = false;
}

writer_caches& guards(write_context& w) {
    writer_caches& c = w.caches();
    if (c.guards_loaded) {
        return c;
    }
    w.flush_totals();  // the batch query below reads batch_counters
    c.held_accounts.clear();
    c.held_numbers.clear();
    c.inactive_batches.clear();
    auto& holds = w.prepared(
        "SELECT h.id, h.scope, h.subject, h.cause, h.reason_code, h.since, h.until, a.id FROM holds h "
        "LEFT JOIN accounts a ON h.scope = 'key' AND a.name = h.subject WHERE h.released_at IS NULL");
    while (holds.step()) {
        hold_info h = read_hold_row(holds);
        if (h.scope == hold_scope::key && !holds.is_null(7)) {
            c.held_accounts.emplace(holds.int64(7), std::move(h));
        } else if (h.scope == hold_scope::number) {
            c.held_numbers.emplace(h.subject, h.id);
        }
    }
    holds.reset();
    auto& batches = w.prepared(
        "SELECT b.id, b.state, coalesce(b.hold_reason, ''), "
        "(SELECT h.id FROM holds h WHERE h.scope = 'batch' AND h.subject = b.name AND h.released_at IS NULL) "
        "FROM batches b JOIN batch_counters c ON c.batch_id = b.id "
        "WHERE b.state <> 'active' AND c.waiting + c.ready + c.inflight + c.held > 0");
    while (batches.step()) {
        batch_guard g;
        g.state = parse_batch_state(batches.text(1)).value_or(batch_state::held);
        g.reason = batches.str(2);
        g.hold_id = batches.opt_int64(3);
        c.inactive_batches.emplace(batches.int64(0), std::move(g));
    }
    batches.reset();
    c.guards_loaded = true;
    return c;
}

batch_guard batch_guard_of(write_context& w, std::int64_t batch_rowid) {
    const auto& m = guards(w).inactive_batches;
    if (auto it = m.find(batch_rowid); it != m.end()) {
        return it->second;
    }
    return {};
}

placement place_in_batch(write_context& w, std::int64_t batch_rowid, placement wanted) {
    const batch_guard g = batch_guard_of(w, batch_rowid);
    switch (g.state) {
        case batch_state::active:
            return wanted;
        case batch_state::cancelled:
            return {job_state::cancelled, std::nullopt, {}};
        case batch_state::paused:
        case batch_state::held:
            if (wanted.state == job_state::held) {
                return wanted;  // already held for its own reason; the batch's release will not free it
            }
            return {job_state::held, g.hold_id,
                    g.reason.empty() ? std::string(to_string(g.state)) : g.reason};
    }
    return wanted;
}

std::optional<std::int64_t> find_batch(write_context& w, std::string_view batch_id) {
    auto& s = w.prepared("SELECT id FROM batches WHERE name = ?1");
    s.bind(1, batch_id);
    std::optional<std::int64_t> id;
    if (s.step()) {
        id = s.int64(0);
    }
    s.reset();
    return id;
}

namespace {

std::int64_t require_batch(write_context& w, std::string_view batch_id) {
    auto id = find_batch(w, batch_id);
    if (!id) {
        throw_store_error(store_errc::not_found, "no batch " + std::string(batch_id));
    }
    return *id;
}

std::optional<hold_info> active_hold(write_context& w, hold_scope scope, std::string_view subject) {
    static const std::string sql =
        std::string(hold_select_sql) + " WHERE scope = ?1 AND subject = ?2 AND released_at IS NULL";
    auto& s = w.prepared(sql.c_str());
    s.bind(1, to_string(scope)).bind(2, subject);
    std::optional<hold_info> h;
    if (s.step()) {
        h = read_hold_row(s);
    }
    s.reset();
    return h;
}

// The active hold on the target's subject, created (or its cause, reason and end updated) as given.
hold_info ensure_hold(write_context& w, const hold_target& t, timestamp now) {
    if (t.subject.empty() || t.cause.empty()) {
        throw_store_error(store_errc::invalid_argument, "a hold needs a subject and a cause");
    }
    guards_changed(w);
    if (auto h = active_hold(w, t.scope, t.subject)) {
        w.prepared("UPDATE holds SET cause = ?2, reason_code = ?3, until = ?4 WHERE id = ?1")
            .bind(1, h->id)
            .bind(2, t.cause)
            .bind(3, t.reason_code)
            .bind(4, opt_millis(t.until))
            .run();
        h->cause = t.cause;
        h->reason_code = t.reason_code;
        h->until = t.until;
        return *h;
    }
    w.prepared(
         "INSERT INTO holds(scope, subject, cause, reason_code, since, until) VALUES (?1, ?2, ?3, ?4, ?5, "
         "?6)")
        .bind(1, to_string(t.scope))
        .bind(2, t.subject)
        .bind(3, t.cause)
        .bind(4, t.reason_code)
        .bind(5, to_millis(now))
        .bind(6, opt_millis(t.until))
        .run();
    return hold_info{
        ::sqlite3_last_insert_rowid(w.handle()), t.scope, t.subject, t.cause, t.reason_code, now, t.until};
}

struct chunk_row {
    std::int64_t id;
    job_state state;
    std::int64_t next_attempt_at;
    std::optional<std::int64_t> hold_id;
    std::string hold_reason;
};

// The batch's next `limit` jobs after `cursor` in ref order (the (batch_id, ref) index), read before any is
// changed. Advances the cursor; returns false when the batch has no more.
bool batch_chunk(write_context& w, std::int64_t batch_rowid, std::string& cursor, bool& started,
                 std::vector<chunk_row>& rows) {
    const auto limit = static_cast<std::int64_t>(std::max<std::size_t>(1, w.options().bulk_chunk_jobs));
    statement& s =
        started ? w.prepared(
                      "SELECT id, state, next_attempt_at, hold_id, coalesce(hold_reason, ''), ref FROM jobs "
                      "WHERE batch_id = ?1 AND ref > ?2 ORDER BY ref LIMIT ?3")
                : w.prepared(
                      "SELECT id, state, next_attempt_at, hold_id, coalesce(hold_reason, ''), ref FROM jobs "
                      "WHERE batch_id = ?1 ORDER BY ref LIMIT ?3");
    s.bind(1, batch_rowid).bind(3, limit);
    if (started) {
        s.bind(2, cursor);
    }
    rows.clear();
    std::string last;
    while (s.step()) {
        rows.push_back(chunk_row{s.int64(0), parse_job_state(s.text(1)).value_or(job_state::ready),
                                 s.int64(2), s.opt_int64(3), s.str(4)});
        last = s.str(5);
    }
    s.reset();
    started = true;
    if (!rows.empty()) {
        cursor = std::move(last);
    }
    return static_cast<std::int64_t>(rows.size()) == limit;
}

void set_state(write_context& w, std::int64_t job, std::int64_t batch, job_state from, job_state to,
               timestamp now) {
    w.prepared(
         "UPDATE jobs SET state = ?2, hold_id = NULL, hold_reason = NULL, updated_at = ?3 WHERE id = ?1")
        .bind(1, job)
        .bind_static(2, to_string(to))
        .bind(3, to_millis(now))
        .run();
    w.count_transition(batch, from, to);
}

void set_held(write_context& w, std::int64_t job, std::int64_t batch, job_state from,
              std::optional<std::int64_t> hold_id, std::string_view reason, timestamp now) {
    w.prepared(
         "UPDATE jobs SET state = 'held', hold_id = ?2, hold_reason = ?3, updated_at = ?4 WHERE id = ?1")
        .bind(1, job)
        .bind(2, hold_id)
        .bind(3, reason)
        .bind(4, to_millis(now))
        .run();
    w.count_transition(batch, from, job_state::held);
}

// Back in line from held: ready if due, else waiting.
void set_back_in_line(write_context& w, std::int64_t job, std::int64_t batch, std::int64_t next_attempt_at,
                      timestamp now) {
    const job_state to = next_attempt_at <= to_millis(now) ? job_state::ready : job_state::waiting;
    w.prepared(
         "UPDATE jobs SET state = ?2, hold_id = NULL, hold_reason = NULL, updated_at = ?3 WHERE id = ?1")
        .bind(1, job)
        .bind_static(2, to_string(to))
        .bind(3, to_millis(now))
        .run();
    w.count_transition(batch, job_state::held, to);
}

}  // namespace
}  // namespace detail

using namespace detail;

// ---- claims ----------------------------------------------------------------------------------------------

namespace {

constexpr const char* claim_sql =
    "SELECT id, batch_id, ref, to_number, payload, coalesce(instance_id, ''), attempts, priority, fair_seq, "
    "ambiguous, expires_at, created_at FROM jobs "
    "WHERE account_id = ?1 AND state = 'ready' ORDER BY priority DESC, fair_seq, id LIMIT ?2";

constexpr const char* promote_sql =
    "UPDATE jobs SET state = 'ready', updated_at = ?3 WHERE id IN (SELECT id FROM jobs "
    "WHERE account_id = ?1 AND state = 'waiting' AND next_attempt_at <= ?2 ORDER BY next_attempt_at LIMIT "
    "?4) "
    "RETURNING batch_id";

constexpr std::size_t mark_batch = 32;

// UPDATE … WHERE id IN (?2, …, ?33); unused slots are bound to NULL.
const std::string& mark_inflight_sql() {
    static const std::string sql = [] {
        std::string q =
            "UPDATE jobs SET state = 'inflight', attempts = attempts + 1, updated_at = ?1 WHERE id IN (";
        for (std::size_t k = 0; k < mark_batch; ++k) {
            q += (k == 0 ? "?" : ", ?") + std::to_string(k + 2);
        }
        return q + ")";
    }();
    return sql;
}

}  // namespace

const char* claim_candidates_sql() noexcept {
    return claim_sql;
}
const char* promote_due_sql() noexcept {
    return promote_sql;
}

claim_result claim_jobs::operator()(write_context& w) const {
    const claim_request& r = request;
    claim_result out;
    if (r.max_jobs == 0) {
        return out;
    }
    const std::int64_t now = to_millis(r.now);
    const std::int64_t account = account_id(w, r.account, false);
    if (account == 0) {
        return out;  // the account never had a batch
    }
    writer_caches* g = &guards(w);
    if (auto it = g->held_accounts.find(account); it != g->held_accounts.end()) {
        if (it->second.until && *it->second.until <= r.now) {
            // The hold said when it lifts (a quota's billing period): that time has come.
            w.prepared("UPDATE holds SET released_at = ?2 WHERE id = ?1")
                .bind(1, it->second.id)
                .bind(2, now)
                .run();
            guards_changed(w);
            g = &guards(w);
        } else {
            out.account_hold = it->second;
            return out;
        }
    }
    auto& due = w.prepared(
        "SELECT 1 FROM jobs WHERE account_id = ?1 AND state = 'waiting' AND next_attempt_at <= ?2 LIMIT 1");
    due.bind(1, account).bind(2, now);
    const bool any_due = due.step();
    due.reset();
    if (r.promote_budget > 0 && any_due) {
        auto& promote = w.prepared(promote_sql);
        promote.bind(1, account)
            .bind(2, now)
            .bind(3, now)
            .bind(4, static_cast<std::int64_t>(r.promote_budget));
        while (promote.step()) {
            w.count_transition(promote.int64(0), job_state::waiting, job_state::ready);
            ++out.promoted;
        }
        promote.reset();
    }

    struct skipped {
        std::int64_t id;
        std::int64_t batch;
        job_state to;
        std::optional<std::int64_t> hold_id;
        std::string reason;
    };
    std::vector<skipped> skips;
    std::int64_t max_fair_seq = 0;
    auto& sel = w.prepared(claim_sql);
    sel.bind(1, account).bind(2, static_cast<std::int64_t>(r.max_jobs + r.skip_budget));
    while (out.jobs.size() < r.max_jobs && skips.size() <= r.skip_budget && sel.step()) {
        const std::int64_t id = sel.int64(0);
        const std::int64_t batch = sel.int64(1);
        const auto expires = sel.opt_int64(10);
        if (expires && *expires <= now) {
            skips.push_back({id, batch, job_state::expired, std::nullopt, {}});
            continue;
        }
        if (auto it = g->inactive_batches.find(batch); it != g->inactive_batches.end()) {
            const batch_guard& bg = it->second;
            if (bg.state == batch_state::cancelled) {
                skips.push_back({id, batch, job_state::cancelled, std::nullopt, {}});
            } else {
                skips.push_back({id, batch, job_state::held, bg.hold_id,
                                 bg.reason.empty() ? std::string(to_string(bg.state)) : bg.reason});
            }
            continue;
        }
        std::string instance = sel.str(5);
        if (!instance.empty()) {
            if (auto it = g->held_numbers.find(instance); it != g->held_numbers.end()) {
                skips.push_back({id, batch, job_state::held, it->second, "number held"});
                continue;
            }
        }
        claimed_job j;
        j.id = id;
        j.batch_id = batch;
        j.ref = sel.str(2);
        j.to = sel.str(3);
        j.payload_json = sel.str(4);
        j.instance_id = std::move(instance);
        j.attempt = sel.int32(6) + 1;
        j.priority = sel.int32(7);
        j.fair_seq = sel.int64(8);
        j.ambiguous_before = sel.int64(9) != 0;
        j.expires_at = expires ? std::optional<timestamp>(from_millis(*expires)) : std::nullopt;
        j.created_at = from_millis(sel.int64(11));
        max_fair_seq = std::max(max_fair_seq, j.fair_seq);
        out.jobs.push_back(std::move(j));
    }
    sel.reset();
    for (claimed_job& j : out.jobs) {
        if (!j.ambiguous_before) {
            continue;  // only an ambiguous job can have a crash-left attempt
        }
        // Several crashes in a row may each have left one: the search goes back to the oldest.
        auto& a = w.prepared(
            "SELECT max(n), min(started_at) FROM attempts WHERE job_id = ?1 AND outcome = 'crash-recovery' "
            "AND settled IS NULL");
        a.bind(1, j.id);
        if (a.step()) {
            if (const std::optional<std::int64_t> n = a.opt_int64(0)) {
                j.unsettled =
                    unsettled_attempt{.n = static_cast<int>(*n), .started_at = from_millis(a.int64(1))};
            }
        }
        a.reset();
    }

    for (const skipped& s : skips) {
        switch (s.to) {
            case job_state::expired:
                ++out.expired;
                set_state(w, s.id, s.batch, job_state::ready, s.to, r.now);
                break;
            case job_state::cancelled:
                ++out.cancelled;
                set_state(w, s.id, s.batch, job_state::ready, s.to, r.now);
                break;
            default:
                ++out.held;
                set_held(w, s.id, s.batch, job_state::ready, s.hold_id, s.reason, r.now);
                break;
        }
    }
    // DESIGN: inflight, with its attempt number, in a committed transaction before the request is written.
    // Up to mark_batch rows per statement: one UPDATE of many rows costs SQLite about half as much per row.
    auto& mark = w.prepared(mark_inflight_sql().c_str());
    for (std::size_t i = 0; i < out.jobs.size(); i += mark_batch) {
        mark.bind(1, now);
        for (std::size_t k = 0; k < mark_batch; ++k) {
            if (i + k < out.jobs.size()) {
                mark.bind(static_cast<int>(k) + 2, out.jobs[i + k].id);
            } else {
                mark.bind_null(static_cast<int>(k) + 2);
            }
        }
        mark.run();
    }
    for (const claimed_job& j : out.jobs) {
        w.count_transition(j.batch_id, job_state::ready, job_state::inflight);
    }
    if (max_fair_seq > 0) {
        w.prepared("UPDATE accounts SET dispatch_round = ?2 WHERE id = ?1 AND dispatch_round < ?2")
            .bind(1, account)
            .bind(2, max_fair_seq)
            .run();
    }
    return out;
}

// ---- results ---------------------------------------------------------------------------------------------

namespace {

struct inflight_row {
    std::int64_t batch_id;
    std::int64_t account_id;
    int attempts;
    std::string instance_id;
};

inflight_row check_inflight(write_context& w, std::int64_t job, int attempt) {
    auto& s = w.prepared(
        "SELECT state, attempts, batch_id, account_id, coalesce(instance_id, '') FROM jobs WHERE id = ?1");
    s.bind(1, job);
    if (!s.step()) {
        s.reset();
        throw_store_error(store_errc::not_found, "no job " + std::to_string(job));
    }
    const std::string state = s.str(0);
    inflight_row row{s.int64(2), s.int64(3), s.int32(1), s.str(4)};
    s.reset();
    if (state != "inflight" || row.attempts != attempt) {
        throw_store_error(store_errc::stale_result, "job " + std::to_string(job) + " is " + state +
                                                        " at attempt " + std::to_string(row.attempts) +
                                                        ", not inflight at attempt " +
                                                        std::to_string(attempt));
    }
    return row;
}

void validate_result(const job_result& r) {
    if (r.new_state == job_state::inflight || !is_valid_transition(job_state::inflight, r.new_state)) {
        throw_store_error(store_errc::invalid_transition,
                          "an answer cannot leave a job " + std::string(to_string(r.new_state)));
    }
    if (r.new_state == job_state::waiting && !r.next_attempt_at) {
        throw_store_error(store_errc::invalid_argument, "a waiting job needs next_attempt_at");
    }
    if (r.new_state == job_state::held && !r.hold && !r.attempt.ambiguous) {
        throw_store_error(
            store_errc::invalid_argument,
            "a held job needs the hold it waits on (only an ambiguous attempt holds a job alone)");
    }
    if (r.settles &&
        (r.settles->outcome == settle_outcome::none || r.settles->n < 1 || r.settles->n >= r.attempt.n)) {
        throw_store_error(store_errc::invalid_argument,
                          "a settled earlier attempt needs an outcome and a number below the claim's");
    }
    if (r.settles && r.settles->outcome == settle_outcome::found &&
        (r.new_state != job_state::sent || r.attempt.counted || r.attempt.message_id.empty())) {
        throw_store_error(store_errc::invalid_argument,
                          "an earlier attempt found sent makes the job sent with its message id, counting no "
                          "attempt of its own");
    }
}

// The attempt and delivery rows of applied results, inserted together.
struct result_rows {
    struct attempt_row {
        const job_result* r;
        std::string instance;
    };
    struct delivery_row {
        const job_result* r;
        std::int64_t account_id;
    };
    std::vector<attempt_row> attempts;
    std::vector<delivery_row> deliveries;
};

constexpr std::size_t rows_per_insert = 32;

std::string multi_row_sql(const char* head, std::size_t columns, std::size_t rows, const char* tail = "") {
    std::string q = head;
    for (std::size_t k = 0; k < rows; ++k) {
        q += k == 0 ? " (" : ", (";
        for (std::size_t c = 0; c < columns; ++c) {
            q += (c == 0 ? "?" : ", ?") + std::to_string(k * columns + c + 1);
        }
        q += ')';
    }
    return q + tail;
}

constexpr const char* attempts_head =
    "INSERT INTO attempts(job_id, n, started_at, finished_at, http_status, api_code, latency_ms, message_id, "
    "instance_id, ambiguous, outcome, counted, settled) VALUES";
constexpr std::size_t attempts_columns = 13;
constexpr const char* deliveries_head =
    "INSERT INTO deliveries(job_id, account_id, message_id, status, status_at, next_check_at, kind) VALUES";
constexpr std::size_t deliveries_columns = 7;
constexpr const char* deliveries_tail =
    " ON CONFLICT (job_id) DO UPDATE SET message_id = excluded.message_id, kind = excluded.kind, status = "
    "excluded.status, "
    "status_at = excluded.status_at, next_check_at = excluded.next_check_at, settled = NULL, settled_at = "
    "NULL";

// Rows `rows_per_insert` at a time, then one at a time.
template <typename Row, typename Bind>
void insert_rows(write_context& w, const std::vector<Row>& rows, const std::string& many,
                 const std::string& one, std::size_t columns, Bind bind) {
    std::size_t i = 0;
    while (i < rows.size()) {
        const std::size_t n = rows.size() - i >= rows_per_insert ? rows_per_insert : 1;
        statement& st = w.prepared(n == 1 ? one.c_str() : many.c_str());
        for (std::size_t k = 0; k < n; ++k) {
            bind(st, static_cast<int>(k * columns) + 1, rows[i + k]);
        }
        st.run();
        i += n;
    }
}

void write_result_rows(write_context& w, const result_rows& rows) {
    static const std::string attempts_many = multi_row_sql(attempts_head, attempts_columns, rows_per_insert);
    static const std::string attempts_one = multi_row_sql(attempts_head, attempts_columns, 1);
    static const std::string deliveries_many =
        multi_row_sql(deliveries_head, deliveries_columns, rows_per_insert, deliveries_tail);
    static const std::string deliveries_one =
        multi_row_sql(deliveries_head, deliveries_columns, 1, deliveries_tail);
    insert_rows(w, rows.attempts, attempts_many, attempts_one, attempts_columns,
                [](statement& st, int p, const result_rows::attempt_row& row) {
                    const attempt_record& a = row.r->attempt;
                    st.bind(p, a.job_id)
                        .bind(p + 1, a.n)
                        .bind(p + 2, to_millis(a.started_at))
                        .bind(p + 3, to_millis(a.finished_at))
                        .bind(p + 4, a.http_status == 0 ? std::optional<std::int64_t>()
                                                        : std::optional<std::int64_t>(a.http_status))
                        .bind_static_or_null(p + 5, a.api_code)
                        .bind(p + 6, a.latency_ms)
                        .bind_static_or_null(p + 7, a.message_id)
                        .bind_static_or_null(p + 8, row.instance)
                        .bind(p + 9, a.ambiguous ? 1 : 0)
                        .bind_static(p + 10, to_string(a.outcome))
                        .bind(p + 11, a.counted ? 1 : 0)
                        .bind_static_or_null(p + 12, to_string(a.settled));
                });
    insert_rows(w, rows.deliveries, deliveries_many, deliveries_one, deliveries_columns,
                [](statement& st, int p, const result_rows::delivery_row& row) {
                    const job_result& r = *row.r;
                    st.bind(p, r.attempt.job_id)
                        .bind(p + 1, row.account_id)
                        .bind_static(p + 2, r.attempt.message_id)
                        .bind_static_or_null(p + 3, r.api_status)
                        .bind(p + 4, to_millis(r.attempt.finished_at))
                        .bind(p + 5, to_millis(r.reconcile_at.value_or(r.attempt.finished_at)))
                        .bind_static(p + 6, r.delivery == delivery_kind::campaign ? "campaign" : "message");
                });
}

// A result that found an earlier crash-left attempt's message records no attempt of its own: it needs that
// attempt (unsettled) to hold the message, or the job would be sent with a message no attempt records.
void check_settles(write_context& w, const job_result& r) {
    if (!r.settles || r.settles->outcome != settle_outcome::found) {
        return;
    }
    auto& q = w.prepared(
        "SELECT count(*) FROM attempts WHERE job_id = ?1 AND n <= ?2 AND outcome = 'crash-recovery' AND "
        "settled IS NULL");
    q.bind(1, r.attempt.job_id).bind(2, r.settles->n);
    const bool present = q.step() && q.int64(0) > 0;
    q.reset();
    if (!present) {
        throw_store_error(store_errc::stale_result, "job " + std::to_string(r.attempt.job_id) +
                                                        " has no unsettled crash-left attempt up to " +
                                                        std::to_string(r.settles->n));
    }
}

// Applies a validated result to a job known to be inflight with that attempt: the job's new state (through
// its batch's guard unless it ends), counters; the attempt and delivery rows go to `rows`.
job_state apply_checked(write_context& w, const job_result& r, const inflight_row& row, result_rows& rows) {
    const attempt_record& a = r.attempt;
    const std::int64_t now = to_millis(r.now);
    placement p{r.new_state, std::nullopt, {}};
    const std::int64_t next = r.next_attempt_at ? to_millis(*r.next_attempt_at) : now;
    if (!is_terminal(p.state)) {
        if (p.state == job_state::ready && next > now) {
            p.state = job_state::waiting;
        }
        if (p.state == job_state::held && r.hold) {
            const hold_info h = ensure_hold(w, *r.hold, r.now);
            p.hold_id = h.id;
            p.hold_reason = h.reason_code.empty() ? h.cause : h.reason_code;
        } else if (p.state == job_state::held) {
            p.hold_reason = std::string(ambiguous_hold_reason);
        }
        p = place_in_batch(w, row.batch_id, std::move(p));
    }
    const std::string_view last_code = r.last_code.empty() ? std::string_view(a.api_code) : r.last_code;
    // Claims take only ready jobs, which never carry a hold: hold_id and hold_reason are NULL here and only a
    // held outcome sets them. Leaving hold_id out of the common statement matters: an UPDATE that sets a
    // foreign-key column opens a statement journal, a copy of every page it touches (two per job).
    const bool held = p.hold_id.has_value() || !p.hold_reason.empty();
    statement& u = held ? w.prepared(
                              "UPDATE jobs SET state = ?2, attempts = attempts - ?3, next_attempt_at = ?4, "
                              "last_code = coalesce(?5, last_code), message_id = coalesce(?6, message_id), "
                              "api_status = coalesce(?7, api_status), ambiguous = ambiguous | ?8, "
                              "instance_id = coalesce(?9, instance_id), updated_at = ?10, "
                              "sent_at = CASE WHEN ?2 = 'sent' THEN ?11 ELSE sent_at END, "
                              "hold_id = ?12, hold_reason = ?13 WHERE id = ?1")
                        : w.prepared(
                              "UPDATE jobs SET state = ?2, attempts = attempts - ?3, next_attempt_at = ?4, "
                              "last_code = coalesce(?5, last_code), message_id = coalesce(?6, message_id), "
                              "api_status = coalesce(?7, api_status), ambiguous = ambiguous | ?8, "
                              "instance_id = coalesce(?9, instance_id), updated_at = ?10, "
                              "sent_at = CASE WHEN ?2 = 'sent' THEN ?11 ELSE sent_at END WHERE id = ?1");
    u.bind(1, a.job_id)
        .bind_static(2, to_string(p.state))
        .bind(3, a.counted ? 0 : 1)
        .bind(4, next)
        .bind_static_or_null(5, last_code)
        .bind_static_or_null(6, a.message_id)
        .bind_static_or_null(7, r.api_status)
        .bind(8, a.ambiguous ? 1 : 0)
        .bind_static_or_null(9, r.instance_id)
        .bind(10, now)
        .bind(11, to_millis(a.finished_at));
    if (held) {
        u.bind(12, p.hold_id).bind_static_or_null(13, p.hold_reason);
    }
    u.run();
    const bool found_earlier = r.settles && r.settles->outcome == settle_outcome::found;
    if (r.settles) {
        w.prepared(
             "UPDATE attempts SET settled = ?3, message_id = coalesce(?4, message_id) WHERE job_id = ?1 AND "
             "n <= ?2 AND outcome = 'crash-recovery' AND settled IS NULL")
            .bind(1, a.job_id)
            .bind(2, r.settles->n)
            .bind_static_or_null(3, to_string(r.settles->outcome))
            .bind_static_or_null(4, found_earlier ? std::string_view(a.message_id) : std::string_view())
            .run();
    }
    const std::string& instance = r.instance_id.empty() ? row.instance_id : r.instance_id;
    if (!found_earlier) {
        rows.attempts.push_back({&r, instance});  // found earlier: this claim made no request
    }
    if (p.state == job_state::sent && !a.message_id.empty() && r.delivery != delivery_kind::none) {
        rows.deliveries.push_back({&r, row.account_id});
    }
    w.count_transition(row.batch_id, job_state::inflight, p.state);
    if (r.count_send && !instance.empty()) {
        w.count_sends(instance, a.finished_at == timestamp{} ? r.now : a.finished_at, 1);
    }
    return p.state;
}

job_state apply_result(write_context& w, const job_result& r) {
    validate_result(r);
    const inflight_row row = check_inflight(w, r.attempt.job_id, r.attempt.n);
    check_settles(w, r);
    result_rows rows;
    const job_state st = apply_checked(w, r, row, rows);
    write_result_rows(w, rows);
    return st;
}

// Many results in one go: validated, their jobs read with a few SELECTs, updated, and their attempt and
// delivery rows inserted many per statement. A refused result (stale, not found, invalid) gets its error in
// its slot and leaves nothing behind; an SQLite failure throws (the caller's savepoint undoes everything).
std::vector<store_result<job_state>> apply_results(write_context& w, std::span<const job_result* const> in) {
    std::vector<store_result<job_state>> out(in.size(), store_result<job_state>(job_state::inflight));
    std::vector<bool> ok(in.size(), true);
    auto refuse = [&](std::size_t i, const store_error& e) {
        out[i] = store_result<job_state>(boost::system::in_place_error, e);
        ok[i] = false;
    };
    std::unordered_map<std::int64_t, std::size_t> index;  // job id → its result
    for (std::size_t i = 0; i < in.size(); ++i) {
        try {
            validate_result(*in[i]);
        } catch (const store_exception& e) {
            refuse(i, e.error());
            continue;
        }
        if (!index.emplace(in[i]->attempt.job_id, i).second) {
            // Only one answer can match a claim: the first one takes it, as if they had run one by one.
            refuse(i, make_store_error(store_errc::stale_result,
                                       "job " + std::to_string(in[i]->attempt.job_id) +
                                           " was answered by an earlier result of the same group"));
        }
    }
    // The jobs, 32 per SELECT.
    static const std::string select_many = [] {
        std::string q =
            "SELECT id, state, attempts, batch_id, account_id, coalesce(instance_id, '') FROM jobs WHERE id "
            "IN (";
        for (std::size_t k = 0; k < rows_per_insert; ++k) {
            q += (k == 0 ? "?" : ", ?") + std::to_string(k + 1);
        }
        return q + ")";
    }();
    std::vector<std::int64_t> ids;
    ids.reserve(index.size());
    for (const auto& [id, i] : index) {
        ids.push_back(id);
    }
    std::unordered_map<std::int64_t, std::pair<std::string, inflight_row>> found;
    for (std::size_t i = 0; i < ids.size(); i += rows_per_insert) {
        statement& st = w.prepared(select_many.c_str());
        for (std::size_t k = 0; k < rows_per_insert; ++k) {
            if (i + k < ids.size()) {
                st.bind(static_cast<int>(k) + 1, ids[i + k]);
            } else {
                st.bind_null(static_cast<int>(k) + 1);
            }
        }
        while (st.step()) {
            found.emplace(st.int64(0), std::pair{st.str(1), inflight_row{st.int64(3), st.int64(4),
                                                                         st.int32(2), st.str(5)}});
        }
        st.reset();
    }
    result_rows rows;
    rows.attempts.reserve(in.size());
    rows.deliveries.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (!ok[i]) {
            continue;
        }
        const attempt_record& a = in[i]->attempt;
        auto it = found.find(a.job_id);
        if (it == found.end()) {
            refuse(i, make_store_error(store_errc::not_found, "no job " + std::to_string(a.job_id)));
            continue;
        }
        const auto& [state, row] = it->second;
        if (state != "inflight" || row.attempts != a.n) {
            refuse(i, make_store_error(store_errc::stale_result,
                                       "job " + std::to_string(a.job_id) + " is " + state + " at attempt " +
                                           std::to_string(row.attempts) + ", not inflight at attempt " +
                                           std::to_string(a.n)));
            continue;
        }
        try {
            check_settles(w, *in[i]);
        } catch (const store_exception& e) {
            refuse(i, e.error());
            continue;
        }
        out[i] = store_result<job_state>(apply_checked(w, *in[i], row, rows));
    }
    write_result_rows(w, rows);
    return out;
}

}  // namespace

job_state record_result::operator()(write_context& w) const {
    return apply_result(w, result);
}

std::vector<store_result<job_state>> record_result::run_many(write_context& w,
                                                             std::span<const record_result* const> ops) {
    std::vector<const job_result*> in;
    in.reserve(ops.size());
    for (const record_result* op : ops) {
        in.push_back(&op->result);
    }
    return apply_results(w, in);
}

std::vector<store_result<job_state>> record_results::operator()(write_context& w) const {
    std::vector<const job_result*> in;
    in.reserve(results.size());
    for (const job_result& r : results) {
        in.push_back(&r);
    }
    return apply_results(w, in);
}

job_state unclaim_job::operator()(write_context& w) const {
    const unclaim_request& r = request;
    if (r.new_state != job_state::ready && r.new_state != job_state::waiting &&
        r.new_state != job_state::held) {
        throw_store_error(store_errc::invalid_argument,
                          "an unclaimed job goes back to ready, waiting or held");
    }
    if (r.new_state == job_state::waiting && !r.next_attempt_at) {
        throw_store_error(store_errc::invalid_argument, "a waiting job needs next_attempt_at");
    }
    if (r.new_state == job_state::held && !r.hold) {
        throw_store_error(store_errc::invalid_argument, "a held job needs the hold it waits on");
    }
    const inflight_row row = check_inflight(w, r.job_id, r.attempt);
    placement p{r.new_state, std::nullopt, {}};
    const std::int64_t next = r.next_attempt_at ? to_millis(*r.next_attempt_at) : to_millis(r.now);
    if (p.state == job_state::ready && next > to_millis(r.now)) {
        p.state = job_state::waiting;
    }
    if (p.state == job_state::held) {
        const hold_info h = ensure_hold(w, *r.hold, r.now);
        p.hold_id = h.id;
        p.hold_reason = h.reason_code.empty() ? h.cause : h.reason_code;
    }
    p = place_in_batch(w, row.batch_id, std::move(p));
    w.prepared(
         "UPDATE jobs SET state = ?2, attempts = attempts - 1, next_attempt_at = ?3, hold_id = ?4, "
         "hold_reason = ?5, "
         "updated_at = ?6 WHERE id = ?1")
        .bind(1, r.job_id)
        .bind_static(2, to_string(p.state))
        .bind(3, next)
        .bind(4, p.hold_id)
        .bind_text_or_null(5, p.hold_reason)
        .bind(6, to_millis(r.now))
        .run();
    w.count_transition(row.batch_id, job_state::inflight, p.state);
    return p.state;
}

recovery_report recover_inflight::operator()(write_context& w) const {
    recovery_report rep;
    struct row {
        std::int64_t id;
        std::int64_t batch_id;
        int attempts;
        std::int64_t since;
        std::string instance;
        bool campaign;  // a campaign file's job (the only kind without a recipient)
    };
    std::vector<row> rows;
    auto& s = w.prepared(
        "SELECT id, batch_id, attempts, updated_at, coalesce(instance_id, ''), to_number = '' "
        "FROM jobs WHERE state = 'inflight'");
    while (s.step()) {
        rows.push_back(row{s.int64(0), s.int64(1), s.int32(2), s.int64(3), s.str(4), s.int64(5) != 0});
    }
    s.reset();
    const std::int64_t t = to_millis(now);
    for (const row& r : rows) {
        ++rep.inflight_found;
        w.prepared(
             "INSERT INTO attempts(job_id, n, started_at, finished_at, instance_id, ambiguous, outcome, "
             "counted) "
             "VALUES (?1, ?2, ?3, ?4, ?5, 1, 'crash-recovery', 1)")
            .bind(1, r.id)
            .bind(2, r.attempts)
            .bind(3, r.since)
            .bind(4, t)
            .bind_text_or_null(5, r.instance)
            .run();
        placement p{job_state::ready, std::nullopt, {}};
        if (policy.max_attempts > 0 && r.attempts >= policy.max_attempts) {
            p.state = job_state::dead;
        } else if (policy.on_ambiguous == ambiguous_action::hold || r.campaign) {
            // A campaign may have been created: creating it again could start it twice, and no message of
            // ours would tell (the engine holds an unanswered creation the same way).
            p = {job_state::held, std::nullopt, std::string(ambiguous_hold_reason)};
        }
        if (!is_terminal(p.state)) {
            p = place_in_batch(w, r.batch_id, std::move(p));
        }
        switch (p.state) {
            case job_state::ready:
                ++rep.retried;
                break;
            case job_state::held:
                ++rep.held;
                break;
            case job_state::dead:
                ++rep.dead;
                break;
            default:
                break;
        }
        // retry: backoff-free, due now.
        w.prepared(
             "UPDATE jobs SET state = ?2, ambiguous = 1, next_attempt_at = ?3, hold_id = ?4, hold_reason = "
             "?5, "
             "updated_at = ?3 WHERE id = ?1")
            .bind(1, r.id)
            .bind_static(2, to_string(p.state))
            .bind(3, t)
            .bind(4, p.hold_id)
            .bind_text_or_null(5, p.hold_reason)
            .run();
        w.count_transition(r.batch_id, job_state::inflight, p.state);
    }
    return rep;
}

// ---- holds -----------------------------------------------------------------------------------------------

chunk_step<hold_info> place_hold::operator()(write_context& w) {
    if (!placed_) {
        const hold_target& t = request_.target;
        if (t.scope == hold_scope::batch) {
            batch_rowid_ = require_batch(w, t.subject);
            auto& st = w.prepared("SELECT state FROM batches WHERE id = ?1");
            st.bind(1, batch_rowid_);
            const std::string state = st.step() ? st.str(0) : std::string();
            st.reset();
            if (state == "cancelled") {
                throw_store_error(store_errc::invalid_argument, "batch " + t.subject + " is cancelled");
            }
        }
        placed_ = ensure_hold(w, t, request_.now);
        if (t.scope != hold_scope::batch) {
            // Key holds stop the account's claims; number holds hold the number's jobs as claims meet them.
            return {false, *placed_};
        }
        const batch_state bs = batch_state_.value_or(batch_state::held);
        w.prepared("UPDATE batches SET state = ?2, hold_reason = ?3, updated_at = ?4 WHERE id = ?1")
            .bind(1, batch_rowid_)
            .bind_static(2, to_string(bs))
            .bind(3, t.reason_code.empty() ? t.cause : t.reason_code)
            .bind(4, to_millis(request_.now))
            .run();
        guards_changed(w);
    }
    std::vector<chunk_row> rows;
    const bool more = batch_chunk(w, batch_rowid_, cursor_, started_, rows);
    const std::string reason = placed_->reason_code.empty() ? placed_->cause : placed_->reason_code;
    for (const chunk_row& r : rows) {
        if (r.state == job_state::waiting || r.state == job_state::ready) {
            set_held(w, r.id, batch_rowid_, r.state, placed_->id, reason, request_.now);
            ++moved_;
        }
    }
    return {more, *placed_};
}

chunk_step<release_report> release_hold::operator()(write_context& w) {
    if (!started_) {
        started_ = true;
        const auto h = active_hold(w, scope_, subject_);
        if (scope_ == hold_scope::batch) {
            w.prepared(
                 "UPDATE batches SET state = 'active', hold_reason = NULL, updated_at = ?2 "
                 "WHERE name = ?1 AND state IN ('paused', 'held')")
                .bind(1, subject_)
                .bind(2, to_millis(now_))
                .run();
            guards_changed(w);
        }
        if (!h) {
            return {false, report_};
        }
        hold_id_ = h->id;
        report_.was_held = true;
        w.prepared("UPDATE holds SET released_at = ?2 WHERE id = ?1")
            .bind(1, hold_id_)
            .bind(2, to_millis(now_))
            .run();
        guards_changed(w);
    }
    const auto limit = static_cast<std::int64_t>(std::max<std::size_t>(1, w.options().bulk_chunk_jobs));
    struct held_row {
        std::int64_t id;
        std::int64_t batch;
        std::int64_t next_attempt_at;
    };
    std::vector<held_row> rows;
    auto& s = w.prepared(
        "SELECT id, batch_id, next_attempt_at FROM jobs WHERE state = 'held' AND hold_id = ?1 LIMIT ?2");
    s.bind(1, hold_id_).bind(2, limit);
    while (s.step()) {
        rows.push_back({s.int64(0), s.int64(1), s.int64(2)});
    }
    s.reset();
    for (const held_row& r : rows) {
        set_back_in_line(w, r.id, r.batch, r.next_attempt_at, now_);
    }
    report_.jobs_resumed += rows.size();
    return {static_cast<std::int64_t>(rows.size()) == limit, report_};
}

chunk_step<std::uint64_t> release_due_holds::operator()(write_context& w) {
    if (!due_) {
        due_.emplace();
        auto& s = w.prepared(
            "SELECT scope, subject FROM holds WHERE released_at IS NULL AND until IS NOT NULL AND until <= "
            "?1");
        s.bind(1, to_millis(now_));
        while (s.step()) {
            due_->emplace_back(parse_hold_scope(s.text(0)).value_or(hold_scope::key), s.str(1));
        }
        s.reset();
    }
    if (index_ < due_->size()) {
        if (!current_) {
            current_.emplace((*due_)[index_].first, (*due_)[index_].second, now_);
        }
        if ((*current_)(w).again) {
            return {true, 0};
        }
        current_.reset();
        ++index_;
    }
    return {index_ < due_->size(), index_};
}

pause_batch::pause_batch(std::string batch, timestamp now)
    : hold_(hold_request{hold_target{hold_scope::batch, std::move(batch), "operator", "paused", std::nullopt},
                         now}) {
    hold_.batch_state_ = batch_state::paused;
}

chunk_step<batch_change_report> pause_batch::operator()(write_context& w) {
    const auto step = hold_(w);
    return {step.again, batch_change_report{batch_state::paused, hold_.moved_}};
}

chunk_step<batch_change_report> resume_batch::operator()(write_context& w) {
    require_batch(w, batch_);
    const auto step = release_(w);
    return {step.again, batch_change_report{batch_state::active, step.value.jobs_resumed}};
}

chunk_step<batch_change_report> cancel_batch::operator()(write_context& w) {
    const bool first = batch_rowid_ == 0;
    if (first) {
        batch_rowid_ = require_batch(w, batch_);
        const std::int64_t t = to_millis(now_);
        w.prepared(
             "UPDATE batches SET state = 'cancelled', hold_reason = NULL, updated_at = ?2 WHERE id = ?1")
            .bind(1, batch_rowid_)
            .bind(2, t)
            .run();
        w.prepared(
             "UPDATE holds SET released_at = ?2 WHERE scope = 'batch' AND subject = ?1 AND released_at IS "
             "NULL")
            .bind(1, batch_)
            .bind(2, t)
            .run();
        guards_changed(w);
        report_.state = batch_state::cancelled;
    }
    std::vector<chunk_row> rows;
    bool started = !first;
    const bool more = batch_chunk(w, batch_rowid_, cursor_, started, rows);
    for (const chunk_row& r : rows) {
        if (is_pending(r.state)) {
            set_state(w, r.id, batch_rowid_, r.state, job_state::cancelled, now_);
            ++report_.jobs_changed;
        }
    }
    return {more, report_};
}

chunk_step<std::uint64_t> retry_batch::operator()(write_context& w) {
    const bool first = batch_rowid_ == 0;
    if (first) {
        batch_rowid_ = require_batch(w, batch_);
        auto& st = w.prepared("SELECT state FROM batches WHERE id = ?1");
        st.bind(1, batch_rowid_);
        const bool cancelled = st.step() && st.text(0) == "cancelled";
        st.reset();
        if (cancelled) {
            throw_store_error(store_errc::invalid_argument, "batch " + batch_ + " is cancelled");
        }
    }
    std::vector<chunk_row> rows;
    bool started = !first;
    const bool more = batch_chunk(w, batch_rowid_, cursor_, started, rows);
    const std::int64_t t = to_millis(now_);
    for (const chunk_row& r : rows) {
        const bool dead = r.state == job_state::dead;
        const bool ambiguous_hold =
            r.state == job_state::held && !r.hold_id && r.hold_reason == ambiguous_hold_reason;
        if (!dead && !ambiguous_hold) {
            continue;
        }
        const placement p = place_in_batch(w, batch_rowid_, {job_state::ready, std::nullopt, {}});
        w.prepared(
             "UPDATE jobs SET state = ?2, attempts = CASE WHEN ?3 THEN 0 ELSE attempts END, next_attempt_at "
             "= ?4, "
             "hold_id = ?5, hold_reason = ?6, updated_at = ?4 WHERE id = ?1")
            .bind(1, r.id)
            .bind_static(2, to_string(p.state))
            .bind(3, dead ? 1 : 0)
            .bind(4, t)
            .bind(5, p.hold_id)
            .bind_text_or_null(6, p.hold_reason)
            .run();
        w.count_transition(batch_rowid_, r.state, p.state);
        ++changed_;
    }
    return {more, changed_};
}

chunk_step<std::uint64_t> expire_due::operator()(write_context& w) {
    const std::int64_t t = to_millis(now_);
    if (!batches_) {
        batches_.emplace();
        w.flush_totals();
        auto& s = w.prepared(
            "SELECT b.id FROM batches b JOIN batch_counters c ON c.batch_id = b.id "
            "WHERE b.finished_at IS NULL AND b.expires_at <= ?1 AND c.waiting + c.ready + c.held > 0");
        s.bind(1, t);
        while (s.step()) {
            batches_->push_back(s.int64(0));
        }
        s.reset();
    }
    if (index_ >= batches_->size()) {
        return {false, expired_};
    }
    std::vector<chunk_row> rows;
    const bool more = batch_chunk(w, (*batches_)[index_], cursor_, started_, rows);
    auto& exp = w.prepared(
        "UPDATE jobs SET state = 'expired', hold_id = NULL, hold_reason = NULL, updated_at = ?2 "
        "WHERE id = ?1 AND expires_at IS NOT NULL AND expires_at <= ?2");
    for (const chunk_row& r : rows) {
        if (is_pending(r.state) && exp.bind(1, r.id).bind(2, t).run() > 0) {
            w.count_transition((*batches_)[index_], r.state, job_state::expired);
            ++expired_;
        }
    }
    if (!more) {
        cursor_.clear();
        started_ = false;
        ++index_;
    }
    return {index_ < batches_->size(), expired_};
}

std::vector<std::string> collect_finished_batches::operator()(write_context& w) const {
    std::vector<std::pair<std::int64_t, std::string>> done;
    w.flush_totals();
    auto& s = w.prepared(
        "SELECT b.id, b.name FROM batches b JOIN batch_counters c ON c.batch_id = b.id "
        "WHERE b.finished_at IS NULL AND c.waiting + c.ready + c.inflight + c.held = 0");
    while (s.step()) {
        done.emplace_back(s.int64(0), s.str(1));
    }
    s.reset();
    std::vector<std::string> names;
    for (auto& [id, name] : done) {
        w.prepared("UPDATE batches SET finished_at = ?2 WHERE id = ?1")
            .bind(1, id)
            .bind(2, to_millis(now))
            .run();
        names.push_back(std::move(name));
    }
    return names;
}

// ---- counters and reconciliation -------------------------------------------------------------------------

void add_sends::operator()(write_context& w) const {
    if (instance_id.empty() || count <= 0) {
        throw_store_error(store_errc::invalid_argument,
                          "add_sends needs an instance id and a positive count");
    }
    w.count_sends(instance_id, now, count);
}

number_usage read_usage::operator()(write_context& w) const {
    w.flush_totals();
    return read_number_usage(w.handle(), instance_id, now);
}

std::uint64_t prune_counters::operator()(write_context& w) const {
    const std::int64_t t = to_millis(now);
    w.flush_totals();
    auto& d = w.prepared("DELETE FROM number_counters WHERE window_kind = ?1 AND window_start < ?2");
    std::uint64_t n = 0;
    n += static_cast<std::uint64_t>(d.bind(1, "minute").bind(2, t - 2 * hour_ms).run());
    n += static_cast<std::uint64_t>(d.bind(1, "hour").bind(2, t - 2 * day_ms).run());
    n += static_cast<std::uint64_t>(d.bind(1, "day").bind(2, t - 90 * day_ms).run());
    return n;
}

std::vector<delivery_check> claim_deliveries::operator()(write_context& w) const {
    std::vector<delivery_check> out;
    const std::int64_t account_row = account_id(w, account, false);
    if (account_row == 0 || limit == 0) {
        return out;
    }
    auto& s = w.prepared(
        "SELECT d.job_id, d.message_id, coalesce(d.status, ''), coalesce(j.sent_at, 0), d.kind = 'campaign' "
        "FROM deliveries d "
        "JOIN jobs j ON j.id = d.job_id WHERE d.account_id = ?1 AND d.settled IS NULL AND d.next_check_at <= "
        "?2 "
        "ORDER BY d.next_check_at LIMIT ?3");
    s.bind(1, account_row).bind(2, to_millis(now)).bind(3, static_cast<std::int64_t>(limit));
    while (s.step()) {
        out.push_back(
            delivery_check{s.int64(0), s.str(1), s.str(2), from_millis(s.int64(3)), s.int64(4) != 0});
    }
    s.reset();
    auto& lease = w.prepared("UPDATE deliveries SET next_check_at = ?2 WHERE job_id = ?1");
    for (const delivery_check& d : out) {
        lease.bind(1, d.job_id).bind(2, to_millis(lease_until)).run();
    }
    return out;
}

void record_delivery::operator()(write_context& w) const {
    const delivery_update& u = update;
    const int n =
        w.prepared(
             "UPDATE deliveries SET status = coalesce(?2, status), status_at = coalesce(?3, status_at), "
             "last_checked = ?4, next_check_at = ?5, settled = ?6, "
             "settled_at = CASE WHEN ?6 IS NULL THEN NULL ELSE ?4 END WHERE job_id = ?1")
            .bind(1, u.job_id)
            .bind_text_or_null(2, u.status)
            .bind(3, opt_millis(u.status_at))
            .bind(4, to_millis(u.checked_at))
            .bind(5, u.settled.empty() ? opt_millis(u.next_check_at) : std::nullopt)
            .bind_text_or_null(6, u.settled)
            .run();
    if (n == 0) {
        throw_store_error(store_errc::not_found, "no delivery for job " + std::to_string(u.job_id));
    }
    if (u.campaign) {
        const campaign_counts& k = *u.campaign;
        w.prepared(
             "INSERT INTO campaign_stats(batch_id, campaign_id, total, pending, sent, delivered, read, "
             "failed, checked_at) SELECT batch_id, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9 FROM jobs WHERE id = ?1 "
             "ON CONFLICT (batch_id) DO UPDATE SET campaign_id = excluded.campaign_id, total = "
             "excluded.total, pending = excluded.pending, sent = excluded.sent, delivered = "
             "excluded.delivered, read = excluded.read, failed = excluded.failed, checked_at = "
             "excluded.checked_at")
            .bind(1, u.job_id)
            .bind(2, k.campaign_id)
            .bind(3, k.total)
            .bind(4, k.pending)
            .bind(5, k.sent)
            .bind(6, k.delivered)
            .bind(7, k.read)
            .bind(8, k.failed)
            .bind(9, to_millis(k.checked_at))
            .run();
    }
}

std::uint64_t make_deliveries_due::operator()(write_context& w) const {
    if (batch.empty()) {
        return static_cast<std::uint64_t>(
            w.prepared("UPDATE deliveries SET next_check_at = ?1 WHERE settled IS NULL")
                .bind(1, to_millis(now))
                .run());
    }
    auto& find = w.prepared("SELECT id FROM batches WHERE name = ?1");
    find.bind(1, batch);
    if (!find.step()) {
        find.reset();
        throw_store_error(store_errc::not_found, "no batch " + batch);
    }
    const std::int64_t rowid = find.int64(0);
    find.reset();
    return static_cast<std::uint64_t>(
        w.prepared("UPDATE deliveries SET next_check_at = ?2 WHERE settled IS NULL AND job_id IN "
                   "(SELECT id FROM jobs WHERE batch_id = ?1)")
            .bind(1, rowid)
            .bind(2, to_millis(now))
            .run());
}

batch_info get_batch::operator()(write_context& w) const {
    static const std::string by_id = std::string(batch_select_sql) + " WHERE b.id = ?1";
    static const std::string by_name = std::string(batch_select_sql) + " WHERE b.name = ?1";
    w.flush_totals();
    statement& s = rowid ? w.prepared(by_id.c_str()) : w.prepared(by_name.c_str());
    if (rowid) {
        s.bind(1, *rowid);
    } else {
        s.bind(1, id);
    }
    if (!s.step()) {
        s.reset();
        throw_store_error(store_errc::not_found, "no batch " + (rowid ? std::to_string(*rowid) : id));
    }
    batch_info b = read_batch_row(w.handle(), s);
    s.reset();
    return b;
}

}  // namespace msgflash::store
